/* mlflow.c - ships a run journal to an MLflow tracking server over its REST
 * API (libcurl + cJSON), and `shardlearn mlflow-sync`.
 *
 * Delivery is exact: records go out in order, and after each request the
 * server accepted, state.json moves "acked" past them (written atomically).
 * The only uncertain window is a request the server took just before a
 * crash: state.json then still says "pending" for that range, and metric
 * points in it are checked against the server's history before being sent
 * again, so a point is never logged twice. Params and tags are idempotent;
 * the run itself is found again by its shardlearn.run_uuid tag. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "shardlearn/log.h"
#include "shardlearn/track.h"
#include "track_internal.h"

/* MLflow's limits for one runs/log-batch request. */
#define MAX_METRICS 1000
#define MAX_PARAMS 100
#define MAX_TAGS 100
#define MAX_ENTITIES 1000
#define MAX_BODY (900 * 1024) /* below the 1 MB request limit */
#define MAX_PARAM_VALUE 6000
#define MAX_TAG_VALUE 8000

/* ------------------------------------------------------------------ state */

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0, k;
    char *buf = sl_malloc(cap + 1);
    while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) buf = sl_realloc(buf, (cap *= 2) + 1);
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static void copy_str(char *dst, size_t cap, const cJSON *item) {
    if (cJSON_IsString(item)) snprintf(dst, cap, "%s", item->valuestring);
}

enum sl_status sl_state_load(const char *run_dir, struct sl_sync_state *st) {
    memset(st, 0, sizeof *st);
    st->pending_from = st->pending_to = -1;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/" SL_STATE_FILE, run_dir);
    char *text = slurp(path, NULL);
    if (!text) return SL_OK; /* nothing acknowledged yet */
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) return SL_ERR_PARSE;
    copy_str(st->experiment_id, sizeof st->experiment_id, cJSON_GetObjectItem(j, "experiment_id"));
    copy_str(st->run_id, sizeof st->run_id, cJSON_GetObjectItem(j, "run_id"));
    copy_str(st->artifact_uri, sizeof st->artifact_uri, cJSON_GetObjectItem(j, "artifact_uri"));
    const cJSON *a = cJSON_GetObjectItem(j, "acked");
    if (cJSON_IsNumber(a)) st->acked = (int64_t)a->valuedouble;
    a = cJSON_GetObjectItem(j, "pending_from");
    if (cJSON_IsNumber(a)) st->pending_from = (int64_t)a->valuedouble;
    a = cJSON_GetObjectItem(j, "pending_to");
    if (cJSON_IsNumber(a)) st->pending_to = (int64_t)a->valuedouble;
    st->finished_sent = cJSON_IsTrue(cJSON_GetObjectItem(j, "finished_sent"));
    a = cJSON_GetObjectItem(j, "unsettled_until_ms");
    if (cJSON_IsNumber(a)) st->unsettled_until_ms = (int64_t)a->valuedouble;
    cJSON_Delete(j);
    return SL_OK;
}

enum sl_status sl_state_save(const char *run_dir, const struct sl_sync_state *st) {
    char path[PATH_MAX + 32], tmp[PATH_MAX + 48];
    snprintf(path, sizeof path, "%s/" SL_STATE_FILE, run_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "experiment_id", st->experiment_id);
    cJSON_AddStringToObject(j, "run_id", st->run_id);
    cJSON_AddStringToObject(j, "artifact_uri", st->artifact_uri);
    cJSON_AddNumberToObject(j, "acked", (double)st->acked);
    cJSON_AddNumberToObject(j, "pending_from", (double)st->pending_from);
    cJSON_AddNumberToObject(j, "pending_to", (double)st->pending_to);
    cJSON_AddBoolToObject(j, "finished_sent", st->finished_sent);
    cJSON_AddNumberToObject(j, "unsettled_until_ms", (double)st->unsettled_until_ms);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    FILE *f = fopen(tmp, "w");
    int bad = !f || !text;
    if (f) {
        if (text) fputs(text, f);
        bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
        bad |= fclose(f) != 0;
    }
    cJSON_free(text);
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return SL_ERR_IO;
    }
    return SL_OK;
}

/* ------------------------------------------------------------------- http */

struct http {
    CURL *curl;
    char base[2048];       /* tracking URI without a trailing '/' */
    char shown[2048];      /* the same with any user:password@ removed, for messages */
    struct curl_slist *headers;
    long timeout;          /* MLFLOW_HTTP_REQUEST_TIMEOUT, seconds */
    int max_retries;       /* MLFLOW_HTTP_REQUEST_MAX_RETRIES */
    double backoff;        /* MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR */
    const volatile int *stop;
    double deadline;       /* CLOCK_MONOTONIC seconds, 0: none */
    char *body;            /* response */
    size_t body_len;
    double retry_after;    /* seconds from a Retry-After header, or -1 */
    long status;           /* HTTP status of the last answer, 0: no answer */
    int in_flight;         /* the last request was abandoned unanswered: the server may still apply it */
    double waited;         /* seconds the last request went unanswered */
    int unsent;            /* the last request never reached the server (no connection) */
    char err[512];         /* one line, no credentials */
};

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double env_num(const char *name, double dflt) {
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    char *end;
    double x = strtod(v, &end);
    return *end || !isfinite(x) || x < 0 ? dflt : x;
}

double sl_mlflow_first_backoff(void) {
    double b = env_num("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", 2);
    return b < 0.1 ? 0.1 : b > SL_MAX_BACKOFF ? SL_MAX_BACKOFF : b;
}

static int env_true(const char *name) {
    const char *v = getenv(name);
    return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    struct http *h = ud;
    size_t k = size * n;
    h->body = sl_realloc(h->body, h->body_len + k + 1);
    memcpy(h->body + h->body_len, p, k);
    h->body_len += k;
    h->body[h->body_len] = '\0';
    return k;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    struct http *h = ud;
    size_t k = size * n;
    if (k > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char *end;
        double s = strtod(p + 12, &end);
        if (end != p + 12 && isfinite(s) && s >= 0) h->retry_after = s;
    }
    return k;
}

/* Aborts a transfer when asked to stop or past the deadline. */
static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
    (void)a, (void)b, (void)c, (void)d;
    struct http *h = ud;
    return (h->stop && *h->stop) || (h->deadline > 0 && mono() > h->deadline);
}

static void redact(const char *uri, char *out, size_t cap) {
    const char *scheme = strstr(uri, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    if (at && (!slash || at < slash))
        snprintf(out, cap, "%.*s%s", (int)(scheme + 3 - uri), uri, at + 1);
    else
        snprintf(out, cap, "%s", uri);
}

static int http_init(struct http *h, const char *uri) {
    memset(h, 0, sizeof *h);
    snprintf(h->base, sizeof h->base, "%s", uri);
    size_t n = strlen(h->base);
    while (n > 0 && h->base[n - 1] == '/') h->base[--n] = '\0';
    redact(h->base, h->shown, sizeof h->shown);
    /* MLflow's own client defaults (mlflow/environment_variables.py). */
    h->timeout = (long)env_num("MLFLOW_HTTP_REQUEST_TIMEOUT", 120);
    h->max_retries = (int)env_num("MLFLOW_HTTP_REQUEST_MAX_RETRIES", 7);
    h->backoff = env_num("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", 2);
    h->curl = curl_easy_init();
    if (!h->curl) return -1;
    h->headers = curl_slist_append(NULL, "Content-Type: application/json");
    const char *token = getenv("MLFLOW_TRACKING_TOKEN");
    if (token && *token) {
        char hdr[4096];
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", token);
        h->headers = curl_slist_append(h->headers, hdr);
    }
    CURL *c = h->curl;
    const char *user = getenv("MLFLOW_TRACKING_USERNAME"), *pass = getenv("MLFLOW_TRACKING_PASSWORD");
    if (user && *user && !(token && *token)) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, pass ? pass : "");
    }
    if (env_true("MLFLOW_TRACKING_INSECURE_TLS")) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    const char *ca = getenv("MLFLOW_TRACKING_SERVER_CERT_PATH");
    if (ca && *ca) curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, h->timeout > 0 ? h->timeout : 120L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
    return 0;
}

static void http_free(struct http *h) {
    if (h->curl) curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    free(h->body);
    memset(h, 0, sizeof *h);
}

/* The connection outlives a delivery: libcurl keeps it open between the
 * sender's tries, so a run pays one TCP (and TLS) handshake, not one an
 * iteration. */
struct sl_mlflow_conn {
    struct http h;
};

struct sl_mlflow_conn *sl_mlflow_conn_create(const char *tracking_uri) {
    struct sl_mlflow_conn *c = sl_calloc(1, sizeof *c);
    if (http_init(&c->h, tracking_uri) != 0) {
        http_free(&c->h);
        free(c);
        return NULL;
    }
    return c;
}

void sl_mlflow_conn_destroy(struct sl_mlflow_conn *c) {
    if (!c) return;
    http_free(&c->h);
    free(c);
}

static int stopped(const struct http *h) {
    return (h->stop && *h->stop) || (h->deadline > 0 && mono() > h->deadline);
}

/* Sleeps up to s seconds, waking early to stop. */
static void nap(const struct http *h, double s) {
    double until = mono() + s;
    struct timespec tick = {0, 20 * 1000 * 1000};
    while (!stopped(h) && mono() < until) nanosleep(&tick, NULL);
}

/* One request with MLflow's retry policy: connection errors, 408, 429 and
 * 5xx are retried with exponential backoff (honouring Retry-After) - but
 * only when `retry` is set. A call the server may have applied although we
 * saw no answer (a timeout) must not be resent blindly: log-batch and the
 * create calls go out once, and their caller checks the server first.
 * Returns SL_DELIVER_DONE with h->status 2xx, SL_DELIVER_REJECTED for other
 * 4xx (h->status, h->body set), SL_DELIVER_RETRY when retries ran out. */
static enum sl_deliver request(struct http *h, const char *method, const char *path,
                               const char *body, size_t body_len, const char *content_type,
                               int retry) {
    char url[4096];
    snprintf(url, sizeof url, "%s%s", h->base, path);
    for (int attempt = 0;; attempt++) {
        free(h->body);
        h->body = NULL;
        h->body_len = 0;
        h->retry_after = -1;
        h->status = 0;
        h->in_flight = h->unsent = 0;
        CURL *c = h->curl;
        curl_easy_setopt(c, CURLOPT_URL, url);
        struct curl_slist *hdrs = h->headers;
        struct curl_slist *extra = NULL;
        if (content_type) {
            /* Artifacts: replace the JSON content type. */
            extra = curl_slist_append(NULL, content_type);
            for (struct curl_slist *s = h->headers; s; s = s->next)
                if (strncasecmp(s->data, "Content-Type:", 13) != 0) extra = curl_slist_append(extra, s->data);
            hdrs = extra;
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (body) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        } else {
            curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
        }
        double sent_at = mono();
        CURLcode rc = curl_easy_perform(c);
        h->waited = mono() - sent_at;
        curl_slist_free_all(extra);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
        if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
        if (rc == CURLE_OK && h->status >= 200 && h->status < 300) return SL_DELIVER_DONE;
        /* A bad URL or a certificate we cannot trust will not heal by waiting. */
        int misconfigured = rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT ||
                            rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
                            rc == CURLE_SSL_CERTPROBLEM;
        int transient = !misconfigured && (rc != CURLE_OK || h->status == 408 || h->status == 429 ||
                                           h->status >= 500);
        /* A timeout (or our own abort) leaves the request possibly queued in the
         * server or a proxy; a refused connection means it was never sent. */
        h->in_flight = rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_ABORTED_BY_CALLBACK;
        h->unsent = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                    rc == CURLE_COULDNT_RESOLVE_PROXY;
        if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
            snprintf(h->err, sizeof h->err, "%s: %s (point MLFLOW_TRACKING_SERVER_CERT_PATH at the "
                     "server's CA certificate, or set MLFLOW_TRACKING_INSECURE_TLS=true)",
                     h->shown, curl_easy_strerror(rc));
        else if (rc != CURLE_OK)
            snprintf(h->err, sizeof h->err, "%s: %s", h->shown, curl_easy_strerror(rc));
        else
            snprintf(h->err, sizeof h->err, "%s%s: HTTP %ld%s%.200s", h->shown, path, h->status,
                     h->body_len ? ": " : "", h->body ? h->body : "");
        if (!transient) return SL_DELIVER_REJECTED;
        if (!retry || stopped(h) || attempt >= h->max_retries) return SL_DELIVER_RETRY;
        /* urllib3's schedule: backoff_factor * 2^(attempt), at most 120 s. */
        double wait = h->backoff * pow(2.0, attempt);
        if (wait > 120) wait = 120;
        if (h->retry_after >= 0) wait = h->retry_after;
        nap(h, wait);
        if (stopped(h)) return SL_DELIVER_RETRY;
    }
}

/* After a non-idempotent request was abandoned unanswered, nothing is
 * checked or resent until it has had as long again as it went unanswered
 * (plus 5 s) to land: a proxy may still be holding it, and a check made
 * before it lands would send it twice. Returns r. */
static enum sl_deliver note_unsettled(const struct http *h, const char *run_dir,
                                      struct sl_sync_state *st, enum sl_deliver r) {
    if (r != SL_DELIVER_RETRY || !h->in_flight) return r;
    st->unsettled_until_ms = sl_now_ms() + (int64_t)(1000 * (h->waited + 5));
    (void)sl_state_save(run_dir, st); /* lost on a crash: then the process is gone anyway */
    return r;
}

/* A JSON API call; *out (may be NULL) gets the parsed answer. `once`: the
 * call is not idempotent, so it is not retried here (see request). */
static enum sl_deliver api_call(struct http *h, const char *method, const char *path, cJSON *req,
                                cJSON **out, int once) {
    char *body = req ? cJSON_PrintUnformatted(req) : NULL;
    enum sl_deliver r = request(h, method, path, body, body ? strlen(body) : 0, NULL, !once);
    cJSON_free(body);
    if (out) *out = r == SL_DELIVER_DONE && h->body ? cJSON_Parse(h->body) : NULL;
    return r;
}

static enum sl_deliver api(struct http *h, const char *method, const char *path, cJSON *req,
                           cJSON **out) {
    return api_call(h, method, path, req, out, 0);
}

/* The MLflow error code of a rejected call, e.g. RESOURCE_ALREADY_EXISTS. */
static int error_code_is(const struct http *h, const char *code) {
    return h->body && strstr(h->body, code) != NULL;
}

static void url_escape(struct http *h, const char *in, char *out, size_t cap) {
    char *e = curl_easy_escape(h->curl, in, 0);
    snprintf(out, cap, "%s", e ? e : "");
    curl_free(e);
}

/* ------------------------------------------------------------------- runs */

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static void take_run_info(struct sl_sync_state *st, const cJSON *run) {
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(run, "info");
    const char *id = jstr(info, "run_id"), *exp = jstr(info, "experiment_id");
    const char *art = jstr(info, "artifact_uri");
    if (id) snprintf(st->run_id, sizeof st->run_id, "%s", id);
    if (exp) snprintf(st->experiment_id, sizeof st->experiment_id, "%s", exp);
    if (art) snprintf(st->artifact_uri, sizeof st->artifact_uri, "%s", art);
}

static enum sl_deliver experiment_id(struct http *h, const char *name, char *out, size_t cap) {
    char esc[1024], path[1200];
    url_escape(h, name, esc, sizeof esc);
    snprintf(path, sizeof path, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=%s", esc);
    for (int round = 0; round < 2; round++) {
        cJSON *ans = NULL;
        enum sl_deliver r = api(h, "GET", path, NULL, &ans);
        if (r == SL_DELIVER_DONE) {
            const char *id = jstr(cJSON_GetObjectItem(ans, "experiment"), "experiment_id");
            if (id) snprintf(out, cap, "%s", id);
            cJSON_Delete(ans);
            return id ? SL_DELIVER_DONE : SL_DELIVER_RETRY;
        }
        if (r != SL_DELIVER_REJECTED || !error_code_is(h, "RESOURCE_DOES_NOT_EXIST")) return r;
        cJSON *req = cJSON_CreateObject();
        cJSON_AddStringToObject(req, "name", name);
        r = api(h, "POST", "/api/2.0/mlflow/experiments/create", req, &ans);
        cJSON_Delete(req);
        if (r == SL_DELIVER_DONE) {
            const char *id = jstr(ans, "experiment_id");
            if (id) snprintf(out, cap, "%s", id);
            cJSON_Delete(ans);
            return id ? SL_DELIVER_DONE : SL_DELIVER_RETRY;
        }
        /* Someone created it between our two calls: look it up again. */
        if (r != SL_DELIVER_REJECTED || !error_code_is(h, "RESOURCE_ALREADY_EXISTS")) return r;
    }
    return SL_DELIVER_RETRY;
}

/* Finds or creates the server's run for this journal; saves it in state. */
static enum sl_deliver ensure_run(struct http *h, const cJSON *start, const char *run_dir,
                                  struct sl_sync_state *st) {
    if (st->run_id[0]) return SL_DELIVER_DONE;
    enum sl_deliver r;
    cJSON *ans = NULL;
    const char *resume = jstr(start, "resume_run_id");
    if (resume) {
        char esc[256], path[512];
        url_escape(h, resume, esc, sizeof esc);
        snprintf(path, sizeof path, "/api/2.0/mlflow/runs/get?run_id=%s", esc);
        if ((r = api(h, "GET", path, NULL, &ans)) != SL_DELIVER_DONE) return r;
        take_run_info(st, cJSON_GetObjectItem(ans, "run"));
        cJSON_Delete(ans);
        /* An ended run takes no more metrics: make it active again, as
         * MLflow's own client does when it resumes a run. */
        cJSON *req = cJSON_CreateObject();
        cJSON_AddStringToObject(req, "run_id", st->run_id);
        cJSON_AddStringToObject(req, "status", "RUNNING");
        r = api(h, "POST", "/api/2.0/mlflow/runs/update", req, NULL);
        cJSON_Delete(req);
        if (r != SL_DELIVER_DONE) {
            st->run_id[0] = '\0'; /* not resumed yet: do it again next time */
            return r;
        }
        return sl_state_save(run_dir, st) ? SL_DELIVER_RETRY : SL_DELIVER_DONE;
    }
    char exp[64] = "";
    const char *name = jstr(start, "experiment_name"), *id = jstr(start, "experiment_id");
    if (name) {
        if ((r = experiment_id(h, name, exp, sizeof exp)) != SL_DELIVER_DONE) return r;
    } else {
        snprintf(exp, sizeof exp, "%s", id ? id : "0");
    }
    const char *uuid = jstr(start, "run_uuid");
    /* A run created before a crash, whose id never reached state.json. */
    cJSON *req = cJSON_CreateObject();
    cJSON *ids = cJSON_AddArrayToObject(req, "experiment_ids");
    cJSON_AddItemToArray(ids, cJSON_CreateString(exp));
    char filter[256];
    snprintf(filter, sizeof filter, "tags.`shardlearn.run_uuid` = '%s'", uuid ? uuid : "");
    cJSON_AddStringToObject(req, "filter", filter);
    cJSON_AddStringToObject(req, "run_view_type", "ALL");
    cJSON_AddNumberToObject(req, "max_results", 1);
    r = api(h, "POST", "/api/2.0/mlflow/runs/search", req, &ans);
    cJSON_Delete(req);
    if (r != SL_DELIVER_DONE) return r;
    const cJSON *runs = cJSON_GetObjectItem(ans, "runs");
    if (cJSON_GetArraySize(runs) > 0) {
        take_run_info(st, cJSON_GetArrayItem(runs, 0));
        cJSON_Delete(ans);
        return sl_state_save(run_dir, st) ? SL_DELIVER_RETRY : SL_DELIVER_DONE;
    }
    cJSON_Delete(ans);
    req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "experiment_id", exp);
    cJSON_AddNumberToObject(req, "start_time", jnum(start, "start_time", 0));
    if (jstr(start, "run_name")) cJSON_AddStringToObject(req, "run_name", jstr(start, "run_name"));
    cJSON *tags = cJSON_AddArrayToObject(req, "tags");
    cJSON *tag = cJSON_CreateObject();
    cJSON_AddStringToObject(tag, "key", "shardlearn.run_uuid");
    cJSON_AddStringToObject(tag, "value", uuid ? uuid : "");
    cJSON_AddItemToArray(tags, tag);
    r = api_call(h, "POST", "/api/2.0/mlflow/runs/create", req, &ans, 1);
    cJSON_Delete(req);
    if (r != SL_DELIVER_DONE) return note_unsettled(h, run_dir, st, r);
    take_run_info(st, cJSON_GetObjectItem(ans, "run"));
    cJSON_Delete(ans);
    if (!st->run_id[0]) return SL_DELIVER_RETRY;
    return sl_state_save(run_dir, st) ? SL_DELIVER_RETRY : SL_DELIVER_DONE;
}

/* ---------------------------------------------------------------- batches */

/* Metric histories fetched from the server, to drop points it already has
 * when resending a request whose acknowledgement was lost. */
struct history {
    char key[256];
    cJSON *points; /* array of {key, value, timestamp, step} */
};

struct batch {
    cJSON *req, *metrics, *params, *tags;
    int n_metrics, n_params, n_tags;
    size_t bytes;
    int64_t end; /* journal offset after the last record in it */
    struct history *hist;
    int n_hist;
    cJSON *run_params; /* a resumed run's params as they were ({key: value}), or NULL */
};

static void batch_reset(struct batch *b, const char *run_id) {
    if (b->req) cJSON_Delete(b->req);
    b->req = cJSON_CreateObject();
    cJSON_AddStringToObject(b->req, "run_id", run_id);
    b->metrics = cJSON_AddArrayToObject(b->req, "metrics");
    b->params = cJSON_AddArrayToObject(b->req, "params");
    b->tags = cJSON_AddArrayToObject(b->req, "tags");
    b->n_metrics = b->n_params = b->n_tags = 0;
    b->bytes = 64;
}

static int batch_empty(const struct batch *b) { return !b->n_metrics && !b->n_params && !b->n_tags; }

static int batch_full_for(const struct batch *b, const char *type, size_t bytes) {
    int total = b->n_metrics + b->n_params + b->n_tags;
    if (total + 1 > MAX_ENTITIES || b->bytes + bytes > MAX_BODY) return 1;
    if (strcmp(type, "metric") == 0) return b->n_metrics + 1 > MAX_METRICS;
    if (strcmp(type, "param") == 0) return b->n_params + 1 > MAX_PARAMS;
    return b->n_tags + 1 > MAX_TAGS;
}

static int same_value(const cJSON *a, const cJSON *b) {
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b)) return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a) && cJSON_IsString(b)) return strcmp(a->valuestring, b->valuestring) == 0;
    /* The server answers NaN/Inf as strings; ours may be numbers or strings. */
    double x = cJSON_IsNumber(a) ? a->valuedouble : (double)NAN;
    double y = cJSON_IsNumber(b) ? b->valuedouble : (double)NAN;
    return isnan(x) && isnan(y) && (cJSON_IsString(a) || cJSON_IsString(b));
}

/* 1: the server already has this metric point. */
static enum sl_deliver on_server(struct http *h, struct batch *b, const char *run_id,
                                 const cJSON *m, int *has) {
    const char *key = jstr(m, "key");
    *has = 0;
    struct history *hs = NULL;
    for (int i = 0; i < b->n_hist; i++)
        if (strcmp(b->hist[i].key, key) == 0) hs = &b->hist[i];
    if (!hs) {
        char ek[768], er[256], path[1200];
        url_escape(h, key, ek, sizeof ek);
        url_escape(h, run_id, er, sizeof er);
        snprintf(path, sizeof path, "/api/2.0/mlflow/metrics/get-history?run_id=%s&metric_key=%s", er, ek);
        cJSON *ans = NULL;
        enum sl_deliver r = api(h, "GET", path, NULL, &ans);
        if (r != SL_DELIVER_DONE) return r;
        b->hist = sl_realloc(b->hist, sizeof *b->hist * (size_t)(b->n_hist + 1));
        hs = &b->hist[b->n_hist++];
        snprintf(hs->key, sizeof hs->key, "%s", key);
        hs->points = cJSON_DetachItemFromObject(ans, "metrics");
        cJSON_Delete(ans);
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, hs->points) {
        if (jnum(p, "step", 0) == jnum(m, "step", 0) &&
            jnum(p, "timestamp", 0) == jnum(m, "timestamp", 0) &&
            same_value(cJSON_GetObjectItem(p, "value"), cJSON_GetObjectItem(m, "value"))) {
            *has = 1;
            break;
        }
    }
    return SL_DELIVER_DONE;
}

static cJSON *kv(const char *key, const char *value, size_t max_len) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", key);
    if (strlen(value) > max_len) {
        char *cut = sl_malloc(max_len + 1);
        memcpy(cut, value, max_len);
        cut[max_len] = '\0';
        cJSON_AddStringToObject(o, "value", cut);
        free(cut);
    } else {
        cJSON_AddStringToObject(o, "value", value);
    }
    return o;
}

/* Adds a param/tag/metric record to the batch. */
static void batch_add(struct batch *b, const char *type, const cJSON *rec, size_t bytes) {
    const char *key = jstr(rec, "key");
    if (!key) return;
    if (strcmp(type, "metric") == 0) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "key", key);
        const cJSON *v = cJSON_GetObjectItem(rec, "value");
        if (cJSON_IsNumber(v)) {
            char num[32]; /* every bit: cJSON's own printing may drop the last one */
            snprintf(num, sizeof num, "%.17g", v->valuedouble);
            cJSON_AddRawToObject(m, "value", num);
        } else {
            cJSON_AddItemToObject(m, "value", cJSON_Duplicate(v, 1));
        }
        cJSON_AddNumberToObject(m, "timestamp", jnum(rec, "timestamp", 0));
        cJSON_AddNumberToObject(m, "step", jnum(rec, "step", 0));
        cJSON_AddItemToArray(b->metrics, m);
        b->n_metrics++;
    } else if (strcmp(type, "param") == 0) {
        const char *v = jstr(rec, "value");
        const char *was = jstr(b->run_params, key);
        if (was && v && strcmp(was, v) != 0) {
            /* MLflow refuses to change a param, and would refuse the whole
             * batch with it: a resumed run keeps the old value and the new
             * one goes in a tag. */
            char tag[300];
            snprintf(tag, sizeof tag, "shardlearn.resumed.%s", key);
            sl_warn("tracking: param '%s' was '%.80s' in the resumed run; the new value '%.80s' "
                    "is logged as tag %s", key, was, v, tag);
            cJSON_AddItemToArray(b->tags, kv(tag, v, MAX_TAG_VALUE));
            b->n_tags++;
            b->bytes += bytes + 16;
            return;
        }
        if (v && strlen(v) > MAX_PARAM_VALUE)
            sl_warn("tracking: param '%s' is longer than MLflow's %d characters; truncated", key, MAX_PARAM_VALUE);
        cJSON_AddItemToArray(b->params, kv(key, v ? v : "", MAX_PARAM_VALUE));
        b->n_params++;
    } else {
        const char *v = jstr(rec, "value");
        cJSON_AddItemToArray(b->tags, kv(key, v ? v : "", MAX_TAG_VALUE));
        b->n_tags++;
    }
    b->bytes += bytes + 16;
}

static enum sl_deliver batch_send(struct http *h, struct batch *b, const char *run_dir,
                                  struct sl_sync_state *st) {
    if (batch_empty(b)) {
        st->acked = b->end > st->acked ? b->end : st->acked;
        return SL_DELIVER_DONE;
    }
    int64_t from = st->acked;
    int opened = st->pending_to < 0;
    if (opened) {
        st->pending_from = from;
        st->pending_to = b->end;
        if (sl_state_save(run_dir, st)) return SL_DELIVER_RETRY;
    }
    /* Once: if the answer is lost, the next delivery checks the server's
     * history for the pending range before sending its metrics again. */
    enum sl_deliver r = api_call(h, "POST", "/api/2.0/mlflow/runs/log-batch", b->req, NULL, 1);
    if (r != SL_DELIVER_DONE && h->unsent && opened) {
        /* Never reached the server: nothing to check next time. */
        st->pending_from = st->pending_to = -1;
        (void)sl_state_save(run_dir, st);
    }
    if (r != SL_DELIVER_DONE) return note_unsettled(h, run_dir, st, r);
    st->acked = b->end;
    if (st->acked >= st->pending_to) st->pending_from = st->pending_to = -1;
    if (sl_state_save(run_dir, st)) return SL_DELIVER_RETRY;
    batch_reset(b, st->run_id);
    return SL_DELIVER_DONE;
}

/* "mlflow-artifacts:/1/abc/artifacts" (or with //host:port) -> "1/abc/artifacts". */
static const char *proxied_root(const char *artifact_uri) {
    const char *p = "mlflow-artifacts:";
    if (strncmp(artifact_uri, p, strlen(p)) != 0) return NULL;
    const char *s = artifact_uri + strlen(p);
    if (s[0] == '/' && s[1] == '/') s = strchr(s + 2, '/');
    if (!s) return NULL;
    while (*s == '/') s++;
    return s;
}

static enum sl_deliver upload(struct http *h, const char *run_dir, const struct sl_sync_state *st,
                              const char *artifact_path, int *skipped) {
    *skipped = 0;
    const char *root = proxied_root(st->artifact_uri);
    if (!root) {
        sl_warn("tracking: the run's artifact store (%s) is not served by the tracking server "
                "(start it with --serve-artifacts); %s stays in %s/artifacts",
                st->artifact_uri, artifact_path, run_dir);
        *skipped = 1;
        return SL_DELIVER_DONE;
    }
    char local[PATH_MAX * 2], path[4096];
    snprintf(local, sizeof local, "%s/artifacts/%s", run_dir, artifact_path);
    size_t len = 0;
    char *data = slurp(local, &len);
    if (!data) {
        sl_warn("tracking: artifact %s is missing from %s", artifact_path, run_dir);
        *skipped = 1;
        return SL_DELIVER_DONE;
    }
    snprintf(path, sizeof path, "/api/2.0/mlflow-artifacts/artifacts/%s/%s", root, artifact_path);
    enum sl_deliver r = request(h, "PUT", path, data, len, "Content-Type: application/octet-stream", 1);
    free(data);
    return r;
}

static enum sl_deliver register_model(struct http *h, const char *run_dir,
                                      struct sl_sync_state *st, const cJSON *rec) {
    const char *name = jstr(rec, "name"), *ap = jstr(rec, "artifact_path");
    if (!name) return SL_DELIVER_DONE;
    cJSON *req = cJSON_CreateObject(), *ans = NULL;
    cJSON_AddStringToObject(req, "name", name);
    enum sl_deliver r = api(h, "POST", "/api/2.0/mlflow/registered-models/create", req, NULL);
    cJSON_Delete(req);
    if (r == SL_DELIVER_REJECTED && error_code_is(h, "RESOURCE_ALREADY_EXISTS")) r = SL_DELIVER_DONE;
    if (r != SL_DELIVER_DONE) return r;
    /* Idempotent: a version from this run already registered is kept. */
    char filter[512], esc[1024], path[1200];
    snprintf(filter, sizeof filter, "name='%s' and run_id='%s'", name, st->run_id);
    url_escape(h, filter, esc, sizeof esc);
    snprintf(path, sizeof path, "/api/2.0/mlflow/model-versions/search?filter=%s", esc);
    if ((r = api(h, "GET", path, NULL, &ans)) != SL_DELIVER_DONE) return r;
    int have = cJSON_GetArraySize(cJSON_GetObjectItem(ans, "model_versions")) > 0;
    cJSON_Delete(ans);
    if (have) return SL_DELIVER_DONE;
    char source[1200];
    snprintf(source, sizeof source, "runs:/%s/%s", st->run_id, ap ? ap : "model");
    req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "name", name);
    cJSON_AddStringToObject(req, "source", source);
    cJSON_AddStringToObject(req, "run_id", st->run_id);
    r = api_call(h, "POST", "/api/2.0/mlflow/model-versions/create", req, NULL, 1);
    cJSON_Delete(req);
    return note_unsettled(h, run_dir, st, r);
}

static enum sl_deliver finish_run(struct http *h, const struct sl_sync_state *st, const cJSON *rec) {
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "run_id", st->run_id);
    const char *status = jstr(rec, "status");
    cJSON_AddStringToObject(req, "status", status ? status : "FINISHED");
    cJSON_AddNumberToObject(req, "end_time", jnum(rec, "end_time", 0));
    enum sl_deliver r = api(h, "POST", "/api/2.0/mlflow/runs/update", req, NULL);
    cJSON_Delete(req);
    return r;
}

/* *out: the params a resumed run had on the server, as {key: value}. */
static enum sl_deliver resumed_params(struct http *h, const struct sl_sync_state *st, cJSON **out) {
    char esc[256], path[512];
    url_escape(h, st->run_id, esc, sizeof esc);
    snprintf(path, sizeof path, "/api/2.0/mlflow/runs/get?run_id=%s", esc);
    cJSON *ans = NULL;
    enum sl_deliver r = api(h, "GET", path, NULL, &ans);
    if (r != SL_DELIVER_DONE) return r;
    *out = cJSON_CreateObject();
    const cJSON *data = cJSON_GetObjectItem(cJSON_GetObjectItem(ans, "run"), "data");
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(data, "params")) {
        const char *k = jstr(p, "key"), *v = jstr(p, "value");
        if (k && v) cJSON_AddStringToObject(*out, k, v);
    }
    cJSON_Delete(ans);
    return SL_DELIVER_DONE;
}

/* The journal's first line (the start record), parsed. */
static cJSON *read_start(const char *run_dir) {
    char path[PATH_MAX + 32], line[8192];
    snprintf(path, sizeof path, "%s/" SL_JOURNAL_FILE, run_dir);
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    cJSON *j = fgets(line, sizeof line, f) ? cJSON_Parse(line) : NULL;
    fclose(f);
    const char *type = jstr(j, "type");
    if (!type || strcmp(type, "start") != 0) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* Journal bytes from offset to the last complete line. */
static char *read_tail(const char *run_dir, int64_t offset, size_t *len) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/" SL_JOURNAL_FILE, run_dir);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseeko(f, (off_t)offset, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0, k;
    char *buf = sl_malloc(cap + 1);
    while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) buf = sl_realloc(buf, (cap *= 2) + 1);
    }
    fclose(f);
    while (n > 0 && buf[n - 1] != '\n') n--; /* a line still being written */
    buf[n] = '\0';
    *len = n;
    return buf;
}

enum sl_deliver sl_mlflow_deliver(struct sl_mlflow_conn *conn, const char *run_dir,
                                  struct sl_sync_state *st, const volatile int *stop,
                                  double deadline, char *msg, size_t msg_len) {
    cJSON *start = read_start(run_dir);
    if (!start) {
        snprintf(msg, msg_len, "%s is not a shardlearn run journal", run_dir);
        return SL_DELIVER_REJECTED;
    }
    struct http *h = &conn->h;
    h->stop = stop;
    h->deadline = deadline;
    h->err[0] = '\0';
    enum sl_deliver r = SL_DELIVER_DONE;
    int64_t now = sl_now_ms();
    if (st->unsettled_until_ms > now) {
        r = SL_DELIVER_RETRY;
        snprintf(h->err, sizeof h->err, "waiting %.0fs for an unanswered request to settle",
                 1e-3 * (double)(st->unsettled_until_ms - now));
    } else if (st->unsettled_until_ms) {
        st->unsettled_until_ms = 0;
    }
    if (r == SL_DELIVER_DONE) r = ensure_run(h, start, run_dir, st);
    /* Offsets below are absolute journal offsets; the tail starts at base. */
    const int64_t base = st->acked;
    size_t len = 0, pos = 0;
    char *tail = r == SL_DELIVER_DONE ? read_tail(run_dir, base, &len) : NULL;
    /* A resumed run's params, when params are still to be sent (they all
     * come at the start of a run, so this is asked once, not once a try). */
    cJSON *run_params = NULL;
    if (tail && jstr(start, "resume_run_id") && strstr(tail, "\"type\":\"param\""))
        r = resumed_params(h, st, &run_params);
    cJSON_Delete(start);
    struct batch b;
    memset(&b, 0, sizeof b);
    b.run_params = run_params;
    batch_reset(&b, st->run_id);
    b.end = base;
    while (r == SL_DELIVER_DONE && tail && pos < len) {
        if (stopped(h)) {
            r = SL_DELIVER_RETRY;
            snprintf(h->err, sizeof h->err, "stopped before the journal was delivered");
            break;
        }
        char *nl = memchr(tail + pos, '\n', len - pos);
        size_t line_len = (size_t)(nl - (tail + pos));
        *nl = '\0';
        const int64_t at = base + (int64_t)pos, rec_end = at + (int64_t)line_len + 1;
        cJSON *rec = cJSON_Parse(tail + pos);
        const char *type = jstr(rec, "type");
        if (!type) type = "";
        if (!strcmp(type, "param") || !strcmp(type, "tag") || !strcmp(type, "metric")) {
            int skip = 0;
            /* Inside a window the server may already hold: check metrics. */
            if (!strcmp(type, "metric") && st->pending_to >= 0 && at < st->pending_to)
                r = on_server(h, &b, st->run_id, rec, &skip);
            if (r == SL_DELIVER_DONE && batch_full_for(&b, type, line_len))
                r = batch_send(h, &b, run_dir, st);
            if (r == SL_DELIVER_DONE) {
                if (!skip) batch_add(&b, type, rec, line_len);
                b.end = rec_end;
            }
        } else if (!strcmp(type, "artifact") || !strcmp(type, "register") || !strcmp(type, "finish")) {
            /* Everything before it first, in order. */
            r = batch_send(h, &b, run_dir, st);
            if (r == SL_DELIVER_DONE && !strcmp(type, "artifact")) {
                int skipped;
                r = upload(h, run_dir, st, jstr(rec, "path"), &skipped);
            } else if (r == SL_DELIVER_DONE && !strcmp(type, "register")) {
                r = register_model(h, run_dir, st, rec);
            } else if (r == SL_DELIVER_DONE) {
                r = finish_run(h, st, rec);
                if (r == SL_DELIVER_DONE) st->finished_sent = 1;
            }
            if (r == SL_DELIVER_DONE) {
                b.end = rec_end;
                st->acked = rec_end;
                if (sl_state_save(run_dir, st)) r = SL_DELIVER_RETRY;
            }
        } else {
            b.end = rec_end; /* the start record and anything unknown: nothing to send */
        }
        cJSON_Delete(rec);
        pos += line_len + 1;
    }
    if (r == SL_DELIVER_DONE) r = batch_send(h, &b, run_dir, st);
    free(tail);
    cJSON_Delete(b.req);
    cJSON_Delete(b.run_params);
    for (int i = 0; i < b.n_hist; i++) cJSON_Delete(b.hist[i].points);
    free(b.hist);
    if (r != SL_DELIVER_DONE) snprintf(msg, msg_len, "%s", h->err);
    return r;
}

enum sl_status sl_mlflow_sync(const char *run_dir, const char *tracking_uri, double timeout_s,
                              struct sl_err *err) {
    const char *uri = sl_tracking_uri(tracking_uri);
    if (!uri) return sl_err_set(err, SL_ERR_ARG, "mlflow-sync needs --tracking-uri or MLFLOW_TRACKING_URI");
    struct sl_sync_state st;
    if (sl_state_load(run_dir, &st) != SL_OK)
        return sl_err_set(err, SL_ERR_PARSE, "%s/" SL_STATE_FILE ": unreadable", run_dir);
    int64_t before = st.acked;
    char msg[512] = "";
    static const volatile int never = 0;
    double deadline = timeout_s > 0 ? mono() + timeout_s : 0;
    struct sl_mlflow_conn *conn = sl_mlflow_conn_create(uri);
    if (!conn) return sl_err_set(err, SL_ERR_NET, "mlflow-sync: cannot initialise libcurl");
    enum sl_deliver r = sl_mlflow_deliver(conn, run_dir, &st, &never, deadline, msg, sizeof msg);
    /* Transient faults: again, with backoff, until the timeout; a try that
     * moved the journal forward starts the backoff over. */
    double wait = sl_mlflow_first_backoff();
    while (r == SL_DELIVER_RETRY && (deadline == 0 || mono() + wait < deadline)) {
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        nanosleep(&ts, NULL);
        int64_t at = st.acked;
        r = sl_mlflow_deliver(conn, run_dir, &st, &never, deadline, msg, sizeof msg);
        wait = st.acked > at ? sl_mlflow_first_backoff() : fmin(2 * wait, SL_MAX_BACKOFF);
    }
    sl_mlflow_conn_destroy(conn);
    if (r == SL_DELIVER_REJECTED)
        return sl_err_set(err, SL_ERR_NET, "mlflow-sync %s: %s", run_dir, msg);
    if (r == SL_DELIVER_RETRY)
        return sl_err_set(err, SL_ERR_NET, "mlflow-sync %s: %s (the journal is kept; run it again)", run_dir, msg);
    sl_info("mlflow-sync: run %s is up to date (%lld journal bytes delivered now)%s", st.run_id,
            (long long)(st.acked - before), st.finished_sent ? "" : "; the run has not ended yet");
    return SL_OK;
}
