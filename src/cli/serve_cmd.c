/* serve_cmd.c - `shardlearn serve`: turns --model SOURCE (a file, runs:/,
 * models:/) into a loaded model, runs the prediction server (src/serve),
 * reloads on SIGHUP, follows an alias with --refresh, drains on SIGTERM.
 * One process: no collectives (README: Serving predictions). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "serve/serve.h"
#include "shardlearn/clock.h"
#include "shardlearn/log.h"
#include "shardlearn/model.h"
#include "shardlearn/runs.h"

struct serve_args {
    const char *model, *host, *uri, *access_log, *predict_route, *health_route;
    int64_t port, threads, max_body, max_connections, conn_timeout;
    double refresh, timeout, drain;
};

/* Set by the handlers, read by the main loop. Any thread may take a signal
 * (Open MPI's, libmicrohttpd's, the loader), so the flags are lock-free
 * atomics, which a handler may write, not volatile sig_atomic_t. */
static atomic_int stop_seen, hup_seen;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "a signal handler needs a lock-free atomic");

static void on_signal(int sig) {
    if (sig == SIGHUP)
        atomic_store(&hup_seen, 1);
    else
        atomic_store(&stop_seen, sig);
}

static void install_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Reloads and refreshes run on this thread, so that a slow or unreachable
 * MLflow server never holds up a stop: the main thread watches the signals
 * and cancels the call under way. */
struct loader {
    const struct serve_args *a;
    struct sl_server *srv;
    pthread_mutex_t lock; /* guards the fields below */
    pthread_cond_t wake;
    int reload, refresh, quit;
    struct sl_mlflow *client; /* the call under way, to cancel */
    FILE *log;                /* the access log file (not stdout), reopened on SIGHUP */
    pthread_t thread;
};

/* SIGHUP: the access log is opened again by name (after logrotate moved
 * it); when it cannot be, the old one stays. */
static void reopen_log(struct loader *ld) {
    const char *path = ld->a->access_log;
    if (!ld->log) return;
    FILE *f = fopen(path, "a");
    if (!f) {
        sl_warn("serve: --access-log %s: %s; still writing to the file open before", path,
                strerror(errno));
        return;
    }
    FILE *old = sl_server_set_access_log(ld->srv, f);
    fclose(old);
    ld->log = f;
}

/* serve answers with a label and P(y = +1), or a multinomial model's class
 * and K probabilities: logistic and multinomial models only, so far (issue
 * #15: a squared model would need values, a squared-hinge one no
 * probability). Frees m when it is refused. */
static enum sl_status servable(struct sl_model *m, const char *path, struct sl_err *err) {
    if (m->loss == SL_LOSS_LOGISTIC || m->loss == SL_LOSS_MULTINOMIAL) return SL_OK;
    enum sl_status st =
        sl_err_set(err, SL_ERR_ARG,
                   "%s: a %s model; shardlearn serve answers logistic and multinomial models only",
                   path, sl_loss_name(m->loss));
    sl_model_free(m);
    return st;
}

/* Loads a.model. have_version: the version served now (a refresh: when the
 * alias still names it, *out stays NULL and nothing is downloaded). */
static enum sl_status load_source(const struct serve_args *a, struct loader *ld,
                                  const char *have_version, struct sl_serve_model **out,
                                  struct sl_err *err) {
    *out = NULL;
    struct sl_model m;
    enum sl_status st;
    if (!sl_is_mlflow_source(a->model)) {
        if ((st = sl_model_load(&m, a->model, err))) return st;
        if ((st = servable(&m, a->model, err))) return st;
        const char *base = strrchr(a->model, '/');
        *out = sl_serve_model_create(&m, a->model, base ? base + 1 : a->model, "", "");
        return SL_OK;
    }
    struct sl_mlflow *ml = NULL;
    if ((st = sl_mlflow_create(&ml, a->uri, a->timeout, err))) return st;
    if (ld) {
        pthread_mutex_lock(&ld->lock);
        if (ld->quit) sl_mlflow_cancel(ml);
        ld->client = ml;
        pthread_mutex_unlock(&ld->lock);
    }
    struct sl_model_ref ref;
    char *text = NULL;
    st = sl_mlflow_model_file(ml, a->model, have_version, &ref, &text, err);
    if (ld) {
        pthread_mutex_lock(&ld->lock);
        ld->client = NULL;
        pthread_mutex_unlock(&ld->lock);
    }
    sl_mlflow_destroy(ml);
    if (st || !text) return st;
    st = sl_model_parse(&m, text, a->model, err);
    free(text);
    if (st || (st = servable(&m, a->model, err))) return st;
    *out = sl_serve_model_create(&m, a->model, ref.name[0] ? ref.name : ref.run_id, ref.version,
                                 ref.run_id);
    return SL_OK;
}

static void describe(const struct sl_serve_model *sm, char *buf, size_t cap) {
    char size[64]; /* "2000 features", or "4 features, 3 classes" */
    if (sm && sm->m.n_classes)
        snprintf(size, sizeof size, "%lld features, %lld classes", (long long)sm->m.n_features,
                 (long long)sm->m.n_classes);
    else if (sm)
        snprintf(size, sizeof size, "%lld features", (long long)sm->m.n_features);
    if (!sm)
        snprintf(buf, cap, "no model");
    else if (sm->version[0])
        snprintf(buf, cap, "%s version %s (run %s, %s)", sm->name, sm->version, sm->run_id, size);
    else if (sm->run_id[0])
        snprintf(buf, cap, "run %s (%s)", sm->run_id, size);
    else
        snprintf(buf, cap, "%s (%s)", sm->source, size);
}

/* SIGHUP or a refresh: a new model goes into service, or the old one stays
 * and the failure is logged. */
static void reload(struct loader *ld, int refresh) {
    struct sl_server *srv = ld->srv;
    struct sl_serve_model *cur = sl_server_model(srv);
    struct sl_serve_model *next = NULL;
    struct sl_err err;
    sl_err_clear(&err);
    enum sl_status st = load_source(ld->a, ld, refresh && cur ? cur->version : NULL, &next, &err);
    char was[512], now[512];
    describe(cur, was, sizeof was);
    if (st) {
        sl_server_note_load_failure(srv);
        sl_warn("serve: %s failed, still serving %s: %s", refresh ? "refresh" : "reload", was,
                err.msg);
    } else if (next) {
        sl_server_swap(srv, next);
        describe(next, now, sizeof now);
        sl_info("serve: now serving %s (was %s)", now, was);
        sl_serve_model_release(next);
    }
    sl_serve_model_release(cur);
}

static int parse_args(int argc, char **argv, struct serve_args *a, struct sl_err *err) {
#define STR(n, d, mv, h)                                                                           \
    { .name = n, .kind = SL_ARG_STR, .dst = d, .metavar = mv, .help = h }
#define INT(n, d, mv, h, lo, hi)                                                                   \
    { .name = n, .kind = SL_ARG_INT, .dst = d, .metavar = mv, .help = h, .min = lo, .max = hi }
#define F64(n, d, mv, h, lo, hi)                                                                   \
    { .name = n, .kind = SL_ARG_F64, .dst = d, .metavar = mv, .help = h, .min = lo, .max = hi }
    const struct sl_opt opts[] = {
        STR("model", &a->model, "SOURCE",
            "model file (local, gs:// or https://), runs:/RUN_ID, models:/NAME/VERSION or "
            "models:/NAME@ALIAS (default $AIP_STORAGE_URI/model.json)"),
        STR("host", &a->host, "ADDR",
            "address to listen on (default 127.0.0.1; 0.0.0.0 under AIP_HTTP_PORT)"),
        INT("port", &a->port, "N", "port (default 8080, or $AIP_HTTP_PORT; 0: any free one)", 0,
            65535),
        INT("threads", &a->threads, "N", "request threads (default: the CPUs)", 1, 1024),
        STR("tracking-uri", &a->uri, "URI",
            "MLflow server for runs:/ and models:/ (default $MLFLOW_TRACKING_URI)"),
        F64("refresh", &a->refresh, "S",
            "models:/NAME@ALIAS: look the alias up every S seconds and swap to a new version", 0,
            1e9),
        F64("timeout", &a->timeout, "S",
            "give up on the MLflow server after S seconds (default 60)", 0, 1e9),
        STR("access-log", &a->access_log, "FILE",
            "one line per request, appended to FILE (- for stdout)"),
        INT("max-body", &a->max_body, "BYTES",
            "largest request body; longer ones get 413 (default 67108864)", 1, 1e12),
        INT("conn-timeout", &a->conn_timeout, "S",
            "close a connection idle or stalled for S seconds (default 30)", 1, 86400),
        INT("max-connections", &a->max_connections, "N", "open connections at most (default 512)",
            1, 1e6),
        F64("drain", &a->drain, "S",
            "on SIGTERM/SIGINT, wait up to S seconds for requests in flight (default 10)", 0,
            86400),
        STR("predict-route", &a->predict_route, "PATH",
            "Vertex AI predict route (default /predict, or $AIP_PREDICT_ROUTE)"),
        STR("health-route", &a->health_route, "PATH",
            "Vertex AI health route (default /health, or $AIP_HEALTH_ROUTE)"),
        {.name = NULL}};
#undef STR
#undef INT
#undef F64
    int help = 0, npos = 0;
    enum sl_status st = sl_opts_parse(opts, argc, argv, 2, NULL, 0, &npos, &help, err);
    if (help) {
        sl_opts_usage(stdout, "usage: shardlearn serve --model SOURCE [--host ADDR] [--port N]",
                      opts);
        return SL_EXIT_OK;
    }
    /* Vertex AI copies a model's artifacts to AIP_STORAGE_URI (gs://...) and
     * sets it for the container: the model file is model.json there. */
    static char aip_model[4096];
    const char *aip = getenv("AIP_STORAGE_URI");
    if (!st && !a->model && aip && *aip) {
        size_t n = strlen(aip);
        snprintf(aip_model, sizeof aip_model, "%s%smodel.json", aip,
                 aip[n - 1] == '/' ? "" : "/");
        a->model = aip_model;
    }
    if (!st && !a->model)
        st = sl_err_set(err, SL_ERR_ARG, "serve needs --model SOURCE (or $AIP_STORAGE_URI)");
    if (!st && a->refresh > 0 && (strncmp(a->model, "models:/", 8) != 0 || !strchr(a->model, '@')))
        st = sl_err_set(err, SL_ERR_ARG,
                        "--refresh follows an alias: give --model models:/NAME@ALIAS");
    const char *routes[2] = {a->predict_route, a->health_route};
    for (int i = 0; !st && i < 2; i++)
        if (routes[i] && routes[i][0] != '/')
            st = sl_err_set(err, SL_ERR_ARG, "route '%s' does not start with '/'", routes[i]);
    return st ? SL_EXIT_USAGE : -1;
}

/* Vertex AI's container contract: its variables, when set, decide the port
 * and routes, and the server listens on every interface. */
static enum sl_status apply_vertex(struct serve_args *a, int host_given, int port_given,
                                   struct sl_err *err) {
    const char *port = getenv("AIP_HTTP_PORT");
    const char *pr = getenv("AIP_PREDICT_ROUTE"), *hr = getenv("AIP_HEALTH_ROUTE");
    if (port && *port) {
        char *end;
        errno = 0;
        long p = strtol(port, &end, 10);
        if (errno || *end || p < 1 || p > 65535)
            return sl_err_set(err, SL_ERR_ARG, "AIP_HTTP_PORT=%s is not a port", port);
        if (!port_given) a->port = p;
        if (!host_given) a->host = "0.0.0.0";
    }
    if (pr && *pr && !a->predict_route) a->predict_route = pr;
    if (hr && *hr && !a->health_route) a->health_route = hr;
    if (!a->predict_route) a->predict_route = "/predict";
    if (!a->health_route) a->health_route = "/health";
    if (a->predict_route[0] != '/' || a->health_route[0] != '/')
        return sl_err_set(err, SL_ERR_ARG,
                          "AIP_PREDICT_ROUTE/AIP_HEALTH_ROUTE must start with '/'");
    return SL_OK;
}

static void *loader_main(void *arg) {
    struct loader *ld = arg;
    pthread_mutex_lock(&ld->lock);
    while (!ld->quit) {
        if (!ld->reload && !ld->refresh) {
            pthread_cond_wait(&ld->wake, &ld->lock);
            continue;
        }
        int refresh = !ld->reload; /* a SIGHUP reloads whatever the version */
        ld->reload = ld->refresh = 0;
        pthread_mutex_unlock(&ld->lock);
        if (!refresh) {
            sl_info("serve: SIGHUP: reloading %s", ld->a->model);
            reopen_log(ld);
        }
        reload(ld, refresh);
        pthread_mutex_lock(&ld->lock);
    }
    pthread_mutex_unlock(&ld->lock);
    return NULL;
}

static void loader_ask(struct loader *ld, int *what) {
    pthread_mutex_lock(&ld->lock);
    *what = 1;
    pthread_cond_signal(&ld->wake);
    pthread_mutex_unlock(&ld->lock);
}

/* Until SIGTERM/SIGINT: SIGHUP reloads (and reopens the access log file
 * *log, which it may replace), --refresh re-resolves the alias; then the
 * loader is stopped, cancelling a call to MLflow under way. */
static void run_until_stopped(const struct serve_args *a, struct sl_server *srv, FILE **log) {
    struct loader ld = {.a = a, .srv = srv, .log = *log != stdout ? *log : NULL};
    pthread_mutex_init(&ld.lock, NULL);
    pthread_cond_init(&ld.wake, NULL);
    int started = pthread_create(&ld.thread, NULL, loader_main, &ld) == 0;
    if (!started) sl_warn("serve: cannot start the reload thread: SIGHUP and --refresh are off");
    double next = a->refresh > 0 ? sl_wtime() + a->refresh : 0;
    while (!atomic_load(&stop_seen)) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (started && atomic_exchange(&hup_seen, 0)) loader_ask(&ld, &ld.reload);
        if (next > 0 && sl_wtime() >= next && started) {
            loader_ask(&ld, &ld.refresh);
            next = sl_wtime() + a->refresh;
        }
    }
    pthread_mutex_lock(&ld.lock);
    ld.quit = 1;
    if (ld.client) sl_mlflow_cancel(ld.client);
    pthread_cond_signal(&ld.wake);
    pthread_mutex_unlock(&ld.lock);
    if (started) pthread_join(ld.thread, NULL);
    if (ld.log) *log = ld.log;
    pthread_cond_destroy(&ld.wake);
    pthread_mutex_destroy(&ld.lock);
}

static int serve_with_log(struct serve_args *a, FILE **log) {
    struct sl_err err;
    sl_err_clear(&err);
    struct sl_serve_model *sm = NULL;
    if (load_source(a, NULL, NULL, &sm, &err)) {
        sl_error("%s", err.msg);
        return SL_EXIT_FAIL;
    }
    struct sl_serve_config cfg = {.host = a->host,
                                  .port = (int)a->port,
                                  .threads = (int)a->threads,
                                  .predict_route = a->predict_route,
                                  .health_route = a->health_route,
                                  .max_body = (size_t)a->max_body,
                                  .timeout_s = (unsigned)a->conn_timeout,
                                  .max_connections = (unsigned)a->max_connections,
                                  .access_log = *log};
    struct sl_server *srv = NULL;
    enum sl_status st = sl_server_start(&srv, &cfg, sm, &err);
    char what[512];
    describe(sm, what, sizeof what);
    sl_serve_model_release(sm);
    if (st) {
        sl_error("%s", err.msg);
        return SL_EXIT_FAIL;
    }
    sl_info("serving %s on http://%s:%d (predict POST %s and /invocations, health GET %s and "
            "/ping, /metrics)",
            what, a->host, sl_server_port(srv), a->predict_route, a->health_route);
    run_until_stopped(a, srv, log);
    sl_info("serve: stopping on signal %d: draining requests in flight (up to %g s)",
            atomic_load(&stop_seen), a->drain);
    int64_t cut = sl_server_stop(srv, a->drain);
    if (cut) {
        sl_error("serve: %lld request(s) were still running after --drain %g s and were cut off",
                 (long long)cut, a->drain);
        return SL_EXIT_FAIL;
    }
    sl_info("serve: stopped");
    return SL_EXIT_OK;
}

/* log: the access log (NULL, stdout, or a file this closes). */
static int serve(struct serve_args *a, FILE *log) {
    int code = serve_with_log(a, &log);
    if (log && log != stdout) fclose(log);
    return code;
}

int sl_cmd_serve(int argc, char **argv, struct sl_comm *c) {
    if (c->size > 1) {
        sl_error("serve runs as one process: start it without mpirun, or with mpirun -np 1");
        return SL_EXIT_USAGE;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct serve_args a = {.port = -1,
                           .threads = cpus > 0 ? cpus : 1,
                           .max_body = (int64_t)64 << 20,
                           .max_connections = 512,
                           .timeout = 60,
                           .conn_timeout = 30,
                           .drain = 10};
    struct sl_err err;
    sl_err_clear(&err);
    int code = parse_args(argc, argv, &a, &err);
    int host_given = a.host != NULL, port_given = a.port >= 0;
    if (code < 0 && apply_vertex(&a, host_given, port_given, &err)) code = SL_EXIT_USAGE;
    if (code == SL_EXIT_USAGE) sl_error("%s (see shardlearn serve --help)", err.msg);
    if (code >= 0) return code;
    if (!a.host) a.host = "127.0.0.1";
    if (a.port < 0) a.port = 8080;
    install_handlers();
    FILE *log = NULL;
    if (a.access_log && strcmp(a.access_log, "-") == 0) {
        log = stdout;
    } else if (a.access_log && !(log = fopen(a.access_log, "a"))) {
        sl_error("--access-log %s: %s", a.access_log, strerror(errno));
        return SL_EXIT_FAIL;
    }
    return serve(&a, log);
}
