/* http.c - the libcurl client for one tracking server, with MLflow's own
 * client defaults and retry policy. */
#include "track/http.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "shardlearn/clock.h"
#include "shardlearn/status.h"
#include "shardlearn/track.h"

const char *sl_tracking_uri(const char *arg) {
    if (arg && *arg) return arg;
    const char *e = getenv("MLFLOW_TRACKING_URI");
    return e && *e ? e : NULL;
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

int sl_http_stopped(const struct sl_http *h) {
    return (h->stop && atomic_load(h->stop)) || (h->deadline > 0 && sl_wtime() > h->deadline);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    struct sl_http *h = ud;
    size_t k = size * n;
    if (h->body_len + k > SL_HTTP_MAX_ANSWER) {
        h->too_large = 1;
        return 0; /* libcurl ends the transfer with CURLE_WRITE_ERROR */
    }
    if (h->body_len + k + 1 > h->body_cap) {
        h->body_cap = 2 * (h->body_len + k + 1);
        h->body = sl_realloc(h->body, h->body_cap);
    }
    memcpy(h->body + h->body_len, p, k);
    h->body_len += k;
    h->body[h->body_len] = '\0';
    return k;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    struct sl_http *h = ud;
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
    return sl_http_stopped(ud);
}

int sl_tracking_uri_public(const char *uri, char *out, size_t cap) {
    CURLU *u = curl_url();
    char *shown = NULL;
    const unsigned flags = CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME;
    int ok = u && curl_url_set(u, CURLUPART_URL, uri, flags) == CURLUE_OK &&
             curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
             curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_URL, &shown, 0) == CURLUE_OK;
    snprintf(out, cap, "%s", ok ? shown : "");
    curl_free(shown);
    curl_url_cleanup(u);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0'; /* paths are appended after it */
    return ok ? 0 : -1;
}

/* out <- uri without its user and password, as libcurl itself reads the URI
 * (so a '/' or '@' in a password cannot leave a piece of it behind); a URI
 * that does not parse is shown as a placeholder, never as typed. */
static void redact(const char *uri, char *out, size_t cap) {
    if (sl_tracking_uri_public(uri, out, cap) != 0)
        snprintf(out, cap, "the tracking server (its URI does not parse)");
}

/* Credentials and TLS from MLflow's variables: a token wins over basic auth. */
static void set_auth(struct sl_http *h) {
    CURL *c = h->curl;
    const char *token = getenv("MLFLOW_TRACKING_TOKEN");
    if (token && *token) {
        char hdr[4096];
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", token);
        h->headers = curl_slist_append(h->headers, hdr);
    }
    const char *user = getenv("MLFLOW_TRACKING_USERNAME"),
               *pass = getenv("MLFLOW_TRACKING_PASSWORD");
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
}

int sl_http_init(struct sl_http *h, const char *uri) {
    /* MLflow's own client defaults (mlflow/environment_variables.py). */
    *h = (struct sl_http){
        .timeout = (long)env_num("MLFLOW_HTTP_REQUEST_TIMEOUT", 120),
        .max_retries = (int)env_num("MLFLOW_HTTP_REQUEST_MAX_RETRIES", 7),
        .backoff = env_num("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", 2),
    };
    snprintf(h->base, sizeof h->base, "%s", uri);
    size_t n = strlen(h->base);
    while (n > 0 && h->base[n - 1] == '/')
        h->base[--n] = '\0';
    redact(h->base, h->shown, sizeof h->shown);
    h->curl = curl_easy_init();
    if (!h->curl) return -1;
    h->headers = curl_slist_append(NULL, "Content-Type: application/json");
    set_auth(h);
    CURL *c = h->curl;
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

void sl_http_free(struct sl_http *h) {
    if (h->curl) curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    free(h->body);
    *h = (struct sl_http){0};
}

/* Sleeps up to s seconds, waking early to stop. */
static void nap(const struct sl_http *h, double s) {
    double until = sl_wtime() + s;
    struct timespec tick = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
    while (!sl_http_stopped(h) && sl_wtime() < until)
        nanosleep(&tick, NULL);
}

/* Artifacts: the headers with the JSON content type replaced. Caller frees. */
static struct curl_slist *with_content_type(const struct sl_http *h, const char *content_type) {
    struct curl_slist *extra = curl_slist_append(NULL, content_type);
    for (const struct curl_slist *s = h->headers; s; s = s->next)
        if (strncasecmp(s->data, "Content-Type:", 13) != 0)
            extra = curl_slist_append(extra, s->data);
    return extra;
}

/* One transfer; the answer goes to h->body, h->status, h->retry_after. */
static CURLcode perform(struct sl_http *h, const char *url, const char *method, const char *body,
                        size_t body_len, const char *content_type) {
    free(h->body);
    h->body = NULL;
    h->body_len = h->body_cap = 0;
    h->too_large = 0;
    h->retry_after = -1;
    h->status = 0;
    h->in_flight = h->unsent = 0;
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    struct curl_slist *extra = content_type ? with_content_type(h, content_type) : NULL;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, content_type ? extra : h->headers);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    }
    double sent_at = sl_wtime();
    CURLcode rc = curl_easy_perform(c);
    h->waited = sl_wtime() - sent_at;
    curl_slist_free_all(extra);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
    return rc;
}

/* A request that got no 2xx: sets h->in_flight, h->unsent and h->err.
 * Returns 1 when trying again may help. */
static int note_failure(struct sl_http *h, CURLcode rc, const char *path) {
    /* A bad URL or a certificate we cannot trust will not heal by waiting. */
    int misconfigured = rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT ||
                        rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
                        rc == CURLE_SSL_CERTPROBLEM;
    int transient = !misconfigured &&
                    (rc != CURLE_OK || h->status == 408 || h->status == 429 || h->status >= 500);
    /* A timeout (or our own abort) leaves the request possibly queued in the
     * server or a proxy; a refused connection means it was never sent. */
    h->in_flight = rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_ABORTED_BY_CALLBACK;
    h->unsent = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                rc == CURLE_COULDNT_RESOLVE_PROXY;
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
        snprintf(h->err, sizeof h->err,
                 "%s: %s (point MLFLOW_TRACKING_SERVER_CERT_PATH at the "
                 "server's CA certificate, or set MLFLOW_TRACKING_INSECURE_TLS=true)",
                 h->shown, curl_easy_strerror(rc));
    else if (h->too_large)
        snprintf(h->err, sizeof h->err, "%s%s: an answer longer than %zu MB", h->shown, path,
                 SL_HTTP_MAX_ANSWER >> 20);
    else if (rc != CURLE_OK)
        snprintf(h->err, sizeof h->err, "%s: %s", h->shown, curl_easy_strerror(rc));
    else
        snprintf(h->err, sizeof h->err, "%s%s: HTTP %ld%s%.200s", h->shown, path, h->status,
                 h->body_len ? ": " : "", h->body ? h->body : "");
    return transient;
}

/* MLflow's retry policy: connection errors, 408, 429 and 5xx are retried
 * with exponential backoff (honouring Retry-After) - but only when `retry`
 * is set. A call the server may have applied although we saw no answer (a
 * timeout) must not be resent blindly: log-batch and the create calls go
 * out once, and their caller checks the server first. */
enum sl_deliver sl_http_request(struct sl_http *h, const char *method, const char *path,
                                const char *body, size_t body_len, const char *content_type,
                                int retry) {
    char url[4096];
    snprintf(url, sizeof url, "%s%s", h->base, path);
    for (int attempt = 0;; attempt++) {
        CURLcode rc = perform(h, url, method, body, body_len, content_type);
        if (rc == CURLE_OK && h->status >= 200 && h->status < 300) return SL_DELIVER_DONE;
        if (!note_failure(h, rc, path)) return SL_DELIVER_REJECTED;
        if (!retry || sl_http_stopped(h) || attempt >= h->max_retries) return SL_DELIVER_RETRY;
        /* urllib3's schedule: backoff_factor * 2^(attempt), at most 120 s. */
        double wait = h->backoff * pow(2.0, attempt);
        if (wait > 120) wait = 120;
        if (h->retry_after >= 0) wait = h->retry_after;
        nap(h, wait);
        if (sl_http_stopped(h)) return SL_DELIVER_RETRY;
    }
}

int sl_http_error_code_is(const struct sl_http *h, const char *code) {
    return h->body && strstr(h->body, code) != NULL;
}

void sl_http_escape(struct sl_http *h, const char *in, char *out, size_t cap) {
    char *e = curl_easy_escape(h->curl, in, 0);
    snprintf(out, cap, "%s", e ? e : "");
    curl_free(e);
}
