/* http.h - the HTTP client for one tracking server: libcurl configured from
 * MLflow's environment variables (MLFLOW_HTTP_REQUEST_*, token or basic
 * auth, TLS), requests with MLflow's retry policy, and messages free of
 * credentials. Knows nothing of runs or journals. */
#ifndef SHARDLEARN_TRACK_HTTP_H
#define SHARDLEARN_TRACK_HTTP_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <stddef.h>

/* How a request, or a whole delivery attempt, ended. */
enum sl_deliver {
    SL_DELIVER_DONE = 0, /* request: a 2xx answer; delivery: the journal is acked to its end */
    SL_DELIVER_RETRY,    /* a transient fault: try again later */
    SL_DELIVER_REJECTED  /* the server refused (4xx other than 408/429): do not retry */
};

/* The longest answer taken: a metric's whole history of a million points is
 * about 100 MB; anything longer is a server gone wrong. */
#define SL_HTTP_MAX_ANSWER ((size_t)256 << 20)

struct sl_http {
    CURL *curl;
    char base[2048];  /* tracking URI without a trailing '/' */
    char shown[2048]; /* the same with any user:password@ removed, for messages */
    struct curl_slist *headers;
    long timeout;    /* MLFLOW_HTTP_REQUEST_TIMEOUT, seconds */
    int max_retries; /* MLFLOW_HTTP_REQUEST_MAX_RETRIES */
    double backoff;  /* MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR */
    const atomic_int *stop;
    double deadline; /* sl_wtime() seconds, 0: none */
    char *body;      /* response, NUL-terminated; at most SL_HTTP_MAX_ANSWER bytes */
    size_t body_len, body_cap;
    int too_large;      /* the last answer was cut off at SL_HTTP_MAX_ANSWER */
    double retry_after; /* seconds from a Retry-After header, or -1 */
    long status;        /* HTTP status of the last answer, 0: no answer */
    int in_flight; /* the last request was abandoned unanswered: the server may still apply it */
    double waited; /* seconds the last request went unanswered */
    int unsent;    /* the last request never reached the server (no connection) */
    char err[512]; /* one line, no credentials */
};

/* Sets up *h for the server at uri. 0, or -1 when libcurl cannot start.
 * Either way the caller frees it with sl_http_free. */
int sl_http_init(struct sl_http *h, const char *uri);
void sl_http_free(struct sl_http *h);

/* One request to base + path with MLflow's retry policy (see http.c).
 * body may be NULL (GET); content_type NULL keeps the JSON content type.
 * DONE with h->status 2xx and h->body the answer; REJECTED for other 4xx
 * (h->status, h->body set); RETRY when retries ran out or are not allowed.
 * On failure h->err holds a one-line reason. */
enum sl_deliver sl_http_request(struct sl_http *h, const char *method, const char *path,
                                const char *body, size_t body_len, const char *content_type,
                                int retry);

/* *h->stop is set or h->deadline has passed. */
int sl_http_stopped(const struct sl_http *h);
/* The MLflow error code of a rejected call is code, e.g. RESOURCE_ALREADY_EXISTS. */
int sl_http_error_code_is(const struct sl_http *h, const char *code);
/* out (cap bytes) <- in, %-escaped for a URL query. */
void sl_http_escape(struct sl_http *h, const char *in, char *out, size_t cap);

/* Seconds to wait before the first retry of a failed delivery, doubled after
 * each failure that made no progress (at most SL_MAX_BACKOFF):
 * MLflow's MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR, default 2, at least 0.1. */
double sl_mlflow_first_backoff(void);
#define SL_MAX_BACKOFF 60.0

/* The tracking URI from the argument or MLFLOW_TRACKING_URI, or NULL. */
const char *sl_tracking_uri(const char *arg);

#endif
