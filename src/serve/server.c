/* server.c - libmicrohttpd glue: routes, body collection under a limit,
 * the model swap, draining on stop, the access log. */
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "serve/metrics.h"
#include "serve/request.h"
#include "serve/serve.h"
#include "shardlearn/clock.h"
#include "shardlearn/log.h"
#include "shardlearn/version.h"

struct sl_server {
    struct MHD_Daemon *d;
    struct sl_serve_config cfg;
    char predict[512], health[512];
    const char *route_names[SL_N_ROUTES];
    int port;
    pthread_mutex_t lock; /* guards model */
    struct sl_serve_model *model;
    atomic_llong in_flight;
    atomic_int stopping;
    pthread_mutex_t log_lock; /* guards cfg.access_log */
    atomic_int logging;       /* cfg.access_log is set: worth formatting a line */
    struct sl_serve_metrics mt;
};

/* A body up to this size is allocated whole from its Content-Length. */
#define BODY_PREALLOC ((size_t)1 << 20)
/* Each connection's buffer (MHD's default is 32 KB): a request of 100 rows
 * (some 50 KB) is read with two recv calls instead of four. Not more: MHD
 * 0.9.75 zeroes all of it after every request (256 KB cost 6% of the CPU
 * of a 100-row request, and a 1-row request pays it too). */
#define CONNECTION_MEMORY ((size_t)64 << 10)

/* One request, from its headers to its completion. */
struct request {
    double t0;
    enum sl_route route;
    int status;
    int64_t instances;
    char *body; /* (len) bytes so far, at most cfg.max_body */
    size_t len, cap;
    int too_large;
    size_t answer_len;
    char method[16];
    char path[256];
};

static enum sl_route route_of(const struct sl_server *s, const char *url) {
    if (strcmp(url, s->predict) == 0) return SL_ROUTE_PREDICT;
    if (strcmp(url, s->health) == 0) return SL_ROUTE_HEALTH;
    if (strcmp(url, "/invocations") == 0) return SL_ROUTE_INVOCATIONS;
    if (strcmp(url, "/ping") == 0) return SL_ROUTE_PING;
    if (strcmp(url, "/health") == 0) return SL_ROUTE_MLFLOW_HEALTH;
    if (strcmp(url, "/version") == 0) return SL_ROUTE_VERSION;
    if (strcmp(url, "/metrics") == 0) return SL_ROUTE_METRICS;
    return SL_ROUTE_OTHER;
}

static int is_post_route(enum sl_route r) {
    return r == SL_ROUTE_PREDICT || r == SL_ROUTE_INVOCATIONS;
}

static enum MHD_Result answer(struct sl_server *s, struct MHD_Connection *c, struct request *rq,
                              int status, const char *type, char *body, size_t len) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    SL_ASSERT(resp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (rq->route != SL_ROUTE_OTHER && status == 405)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                is_post_route(rq->route) ? "POST" : "GET, HEAD");
    /* Draining: the client opens its next connection elsewhere. */
    if (atomic_load(&s->stopping))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result r = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    rq->status = status;
    rq->answer_len = len;
    /* Counted now, not when the answer has gone out: a client that reads
     * /metrics right after its answer finds its request counted. */
    sl_serve_metrics_add(&s->mt, rq->route, status, sl_wtime() - rq->t0, rq->instances);
    return r;
}

static enum MHD_Result error(struct sl_server *s, struct MHD_Connection *c, struct request *rq,
                             int status, const char *msg) {
    size_t len;
    char *body = sl_serve_error_json(status, msg, &len);
    return answer(s, c, rq, status, "application/json", body, len);
}

/* A fixed answer (MHD frees what it is given). */
static enum MHD_Result text(struct sl_server *s, struct MHD_Connection *c, struct request *rq,
                            const char *type, const char *t) {
    size_t len = strlen(t);
    char *p = sl_malloc(len + 1);
    memcpy(p, t, len + 1);
    return answer(s, c, rq, 200, type, p, len);
}

static enum MHD_Result score(struct sl_server *s, struct MHD_Connection *c, struct request *rq) {
    struct sl_serve_model *sm = sl_server_model(s);
    if (!sm) return error(s, c, rq, 503, "no model is loaded yet");
    const char *type =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    struct sl_serve_answer a;
    sl_serve_score(&sm->m, rq->route == SL_ROUTE_PREDICT ? SL_PROTO_VERTEX : SL_PROTO_MLFLOW, type,
                   rq->body ? rq->body : "", rq->len, &a);
    sl_serve_model_release(sm);
    rq->instances = a.n_instances;
    return answer(s, c, rq, a.status, "application/json", a.body, a.len);
}

static enum MHD_Result get_route(struct sl_server *s, struct MHD_Connection *c,
                                 struct request *rq) {
    if (rq->route == SL_ROUTE_VERSION) return text(s, c, rq, "text/plain", SL_VERSION_STRING);
    if (rq->route == SL_ROUTE_METRICS) {
        char *body = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&body, &len);
        SL_ASSERT(f);
        struct sl_serve_model *sm = sl_server_model(s);
        sl_serve_metrics_write(&s->mt, f, s->route_names, sm, atomic_load(&s->in_flight));
        sl_serve_model_release(sm);
        SL_ASSERT(fclose(f) == 0);
        return answer(s, c, rq, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
    }
    /* The health routes: ready once a model is loaded. */
    struct sl_serve_model *sm = sl_server_model(s);
    sl_serve_model_release(sm);
    if (!sm) return error(s, c, rq, 503, "no model is loaded yet");
    /* MLflow's /ping and /health answer "\n". */
    return text(s, c, rq, "application/json", rq->route == SL_ROUTE_HEALTH ? "{}" : "\n");
}

/* The body is collected (up to the limit) before the answer: MHD calls
 * this once with the headers, once per piece of body, once at the end. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls) {
    (void)version;
    struct sl_server *s = cls;
    struct request *rq = *con_cls;
    if (!rq) {
        rq = sl_calloc(1, sizeof *rq);
        rq->t0 = sl_wtime();
        rq->route = route_of(s, url);
        snprintf(rq->method, sizeof rq->method, "%s", method);
        snprintf(rq->path, sizeof rq->path, "%s", url);
        atomic_fetch_add(&s->in_flight, 1);
        *con_cls = rq;
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long want = cl ? strtoull(cl, NULL, 10) : 0;
        if (want > s->cfg.max_body) rq->too_large = 1;
        if (!rq->too_large) {
            /* The announced length in one piece, so the body is copied
             * once; a claim above BODY_PREALLOC is grown into as it comes. */
            if (want) {
                rq->cap = (size_t)(want < BODY_PREALLOC ? want : BODY_PREALLOC) + 1;
                rq->body = sl_malloc(rq->cap);
            }
            return MHD_YES;
        }
    }
    if (*data_size) {
        size_t n = *data_size;
        *data_size = 0;
        if (rq->too_large || rq->len + n > s->cfg.max_body) {
            rq->too_large = 1;
            free(rq->body);
            rq->body = NULL;
            rq->len = 0;
            return MHD_YES; /* read and dropped; answered 413 at the end */
        }
        if (rq->len + n + 1 > rq->cap) {
            rq->cap = (rq->len + n + 1) * 2;
            if (rq->cap > s->cfg.max_body + 1) rq->cap = s->cfg.max_body + 1;
            rq->body = sl_realloc(rq->body, rq->cap);
        }
        memcpy(rq->body + rq->len, data, n);
        rq->len += n;
        rq->body[rq->len] = '\0';
        return MHD_YES;
    }
    if (rq->too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body is larger than %zu bytes", s->cfg.max_body);
        return error(s, c, rq, 413, msg);
    }
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int post = strcmp(method, "POST") == 0;
    if (rq->route == SL_ROUTE_OTHER) return error(s, c, rq, 404, "no such route");
    if (is_post_route(rq->route) ? !post : !get) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s takes %s", rq->route == SL_ROUTE_PREDICT ? s->predict : url,
                 is_post_route(rq->route) ? "POST" : "GET");
        return error(s, c, rq, 405, msg);
    }
    return is_post_route(rq->route) ? score(s, c, rq) : get_route(s, c, rq);
}

static void access_line(struct sl_server *s, struct MHD_Connection *c, const struct request *rq,
                        double seconds) {
    char addr[64] = "-";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr)
        getnameinfo(ci->client_addr,
                    ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                           : sizeof(struct sockaddr_in),
                    addr, sizeof addr, NULL, 0, NI_NUMERICHOST);
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    /* The path as received, with anything unprintable shown as '?'. */
    char path[sizeof rq->path];
    size_t i = 0;
    for (; rq->path[i]; i++)
        path[i] = rq->path[i] > ' ' && rq->path[i] < 127 && rq->path[i] != '"' ? rq->path[i] : '?';
    path[i] = '\0';
    pthread_mutex_lock(&s->log_lock);
    if (s->cfg.access_log) {
        fprintf(s->cfg.access_log, "%s %s \"%s %s\" %d %zu %lld %.6f\n", when, addr, rq->method,
                path, rq->status, rq->answer_len, (long long)rq->instances, seconds);
        fflush(s->cfg.access_log);
    }
    pthread_mutex_unlock(&s->log_lock);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    struct sl_server *s = cls;
    struct request *rq = *con_cls;
    if (!rq) return;
    double seconds = sl_wtime() - rq->t0;
    /* Cut off before its answer (client gone: 499, as nginx logs it; timed
     * out: 408): counted here. */
    if (!rq->status) {
        rq->status = toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? 408 : 499;
        sl_serve_metrics_add(&s->mt, rq->route, rq->status, seconds, 0);
    }
    if (atomic_load(&s->logging)) access_line(s, c, rq, seconds);
    free(rq->body);
    free(rq);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    sl_warn("serve: %s", line);
}

/* The address to bind: host (a name or a numeric address) and port. */
static enum sl_status resolve(const struct sl_serve_config *cfg, struct sockaddr_storage *sa,
                              int *v6, struct sl_err *err) {
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(cfg->host, port, &hints, &res);
    if (rc != 0 || !res)
        return sl_err_set(err, SL_ERR_ARG, "--host %s: %s", cfg->host, gai_strerror(rc));
    memset(sa, 0, sizeof *sa);
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return SL_OK;
}

enum sl_status sl_server_start(struct sl_server **out, const struct sl_serve_config *cfg,
                               struct sl_serve_model *model, struct sl_err *err) {
    *out = NULL;
    struct sockaddr_storage sa;
    int v6 = 0;
    enum sl_status st = resolve(cfg, &sa, &v6, err);
    if (st) return st;
    struct sl_server *s = sl_calloc(1, sizeof *s);
    s->cfg = *cfg;
    snprintf(s->predict, sizeof s->predict, "%s", cfg->predict_route);
    snprintf(s->health, sizeof s->health, "%s", cfg->health_route);
    const char *names[SL_N_ROUTES] = {s->predict, s->health,  "/invocations", "/ping",
                                      "/health",  "/version", "/metrics",     "other"};
    memcpy(s->route_names, names, sizeof names);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->log_lock, NULL);
    atomic_init(&s->logging, cfg->access_log != NULL);
    if (model) {
        sl_serve_model_retain(model);
        s->model = model;
        atomic_fetch_add(&s->mt.loads, 1);
    }
    /* ITC: MHD_quiesce_daemon (the drain) needs it with internal threads. */
    unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    /* A pool of 1 is no pool: MHD warns about it, so it is left out. */
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &sa},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)cfg->timeout_s, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)cfg->max_connections, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)CONNECTION_MEMORY, NULL},
        {cfg->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, cfg->threads, NULL},
        {MHD_OPTION_END, 0, NULL}};
    s->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_ARRAY, opts,
                            MHD_OPTION_END);
    if (!s->d) {
        sl_serve_model_release(s->model);
        free(s);
        return sl_err_set(err, SL_ERR_IO,
                          "cannot listen on %s port %d (in use, or not an address "
                          "of this machine)",
                          cfg->host, cfg->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : cfg->port;
    *out = s;
    return SL_OK;
}

int sl_server_port(const struct sl_server *s) {
    return s->port;
}

void sl_server_swap(struct sl_server *s, struct sl_serve_model *model) {
    sl_serve_model_retain(model);
    pthread_mutex_lock(&s->lock);
    struct sl_serve_model *old = s->model;
    s->model = model;
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add(&s->mt.loads, 1);
    sl_serve_model_release(old); /* freed here, or by its last request */
}

struct sl_serve_model *sl_server_model(struct sl_server *s) {
    pthread_mutex_lock(&s->lock);
    struct sl_serve_model *sm = s->model;
    if (sm) sl_serve_model_retain(sm);
    pthread_mutex_unlock(&s->lock);
    return sm;
}

FILE *sl_server_set_access_log(struct sl_server *s, FILE *log) {
    pthread_mutex_lock(&s->log_lock);
    FILE *old = s->cfg.access_log;
    s->cfg.access_log = log;
    atomic_store(&s->logging, log != NULL);
    pthread_mutex_unlock(&s->log_lock);
    return old;
}

void sl_server_note_load_failure(struct sl_server *s) {
    atomic_fetch_add(&s->mt.load_failures, 1);
}

int64_t sl_server_stop(struct sl_server *s, double drain_s) {
    atomic_store(&s->stopping, 1);
    /* No new connections: the listening socket is shut down at once (a
     * client is refused and goes elsewhere instead of waiting in the
     * backlog), but closed only after MHD_stop_daemon, as MHD asks (one of
     * its threads may still hold it). */
    MHD_socket ls = MHD_quiesce_daemon(s->d);
    if (ls != MHD_INVALID_SOCKET) shutdown(ls, SHUT_RDWR);
    double deadline = sl_wtime() + drain_s;
    while (atomic_load(&s->in_flight) > 0 && sl_wtime() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int64_t cut = atomic_load(&s->in_flight);
    MHD_stop_daemon(s->d);
    if (ls != MHD_INVALID_SOCKET) close(ls);
    sl_serve_model_release(s->model);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->log_lock);
    free(s);
    return cut;
}
