/* net.c - what every remote request shares: libcurl's setup, the retry
 * policy, and one-shot requests whose answers are small enough to hold. */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "io/remote.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void) {
    /* Failure here shows as curl_easy_init() returning NULL, checked there. */
    (void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

void sl_net_global_init(void) {
    pthread_once(&global_once, global_init);
}

void sl_net_setup(CURL *c) {
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    /* A connection that moves less than 1 byte/s for a minute is cut; the
     * stream then resumes where it was. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    /* Redirects stay on http(s); the Authorization header is never sent to
     * another host (libcurl's default, CURLOPT_UNRESTRICTED_AUTH off). */
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    /* libcurl does not read the curl tool's variables: a private CA (a proxy
     * that inspects TLS, a test server) is named by either. */
    const char *ca = getenv("CURL_CA_BUNDLE");
    if (!ca || !*ca) ca = getenv("SSL_CERT_FILE");
    if (ca && *ca) curl_easy_setopt(c, CURLOPT_CAINFO, ca);
}

void sl_net_backoff(int k) {
    long ms = SL_NET_BACKOFF_MS;
    for (int i = 1; i < k && ms < SL_NET_BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > SL_NET_BACKOFF_MAX_MS) ms = SL_NET_BACKOFF_MAX_MS;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

int sl_net_transient(long code) {
    return code == 408 || code == 429 || code >= 500;
}

int sl_net_transient_curl(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST: /* a DNS hiccup; a wrong name fails as fast */
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

struct resp_buf {
    struct sl_net_resp *r;
    size_t cap;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    struct resp_buf *b = ud;
    size_t add = size * n;
    if (b->r->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->r->len + add + 1)
            cap *= 2;
        b->r->body = sl_realloc(b->r->body, cap);
        b->cap = cap;
    }
    memcpy(b->r->body + b->r->len, p, add);
    b->r->len += add;
    b->r->body[b->r->len] = '\0';
    return add;
}

/* "Name: value" -> value (trimmed, into out) when the header is name. */
static int header_value(const char *line, size_t n, const char *name, char *out, size_t cap) {
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':') return 0;
    const char *v = line + k + 1, *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && isspace((unsigned char)e[-1]))
        e--;
    size_t m = (size_t)(e - v) < cap - 1 ? (size_t)(e - v) : cap - 1;
    memcpy(out, v, m);
    out[m] = '\0';
    return 1;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    struct sl_net_resp *r = ud;
    size_t len = size * n;
    char v[256];
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (redirect, 100) */
        r->etag[0] = '\0';
        r->content_length = r->range_total = -1;
    } else if (header_value(p, len, "ETag", v, sizeof v)) {
        snprintf(r->etag, sizeof r->etag, "%s", v);
    } else if (header_value(p, len, "Content-Length", v, sizeof v)) {
        r->content_length = strtoll(v, NULL, 10);
    } else if (header_value(p, len, "Content-Range", v, sizeof v)) {
        const char *slash = strchr(v, '/');
        if (slash && slash[1] != '*') r->range_total = strtoll(slash + 1, NULL, 10);
    }
    return len;
}

static CURLcode send_once(const struct sl_net_req *rq, struct sl_net_resp *out) {
    CURL *c = curl_easy_init();
    if (!c) return CURLE_FAILED_INIT;
    struct resp_buf b = {.r = out};
    sl_net_setup(c);
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    /* Small requests end within 5 minutes; a large upload may take longer
     * and is cut only by the low-speed limit. */
    if (rq->len < ((size_t)1 << 20)) curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, rq->headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->len);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->code);
    curl_easy_cleanup(c);
    return rc;
}

enum sl_status sl_net_request(const struct sl_net_req *rq, struct sl_net_resp *out,
                              struct sl_err *err) {
    sl_net_global_init();
    CURLcode rc = CURLE_OK;
    const int tries = rq->tries > 0 ? rq->tries : SL_NET_TRIES;
    for (int k = 0; k < tries; k++) {
        if (k > 0) sl_net_backoff(k);
        sl_net_resp_free(out);
        rc = send_once(rq, out);
        if (rc == CURLE_OK && !sl_net_transient(out->code)) return SL_OK;
        if (rc != CURLE_OK && !sl_net_transient_curl(rc))
            return sl_err_set(err, SL_ERR_IO, "%s: %s", rq->shown, curl_easy_strerror(rc));
    }
    if (rc == CURLE_OK) return SL_OK; /* a transient status, still failing: caller reports it */
    return sl_err_set(err, SL_ERR_IO, "%s: %s (after %d tries)", rq->shown, curl_easy_strerror(rc),
                      tries);
}

void sl_net_resp_free(struct sl_net_resp *r) {
    free(r->body);
    *r = (struct sl_net_resp){.content_length = -1, .range_total = -1};
}

static const char *status_meaning(long code) {
    switch (code) {
    case 400:
        return "bad request";
    case 401:
        return "not authenticated: check the credentials";
    case 403:
        return "access denied";
    case 404:
        return "not found";
    case 408:
        return "request timeout";
    case 412:
        return "precondition failed";
    case 416:
        return "range not satisfiable";
    case 429:
        return "too many requests";
    default:
        return code >= 500 ? "server error" : "unexpected answer";
    }
}

void sl_net_reason(const struct sl_net_resp *r, char *buf, size_t cap) {
    const char *meaning = status_meaning(r->code);
    cJSON *j = r->body ? cJSON_Parse(r->body) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "error_description");
    if (cJSON_IsString(m) && *m->valuestring)
        snprintf(buf, cap, "HTTP %ld, %s: %.200s", r->code, meaning, m->valuestring);
    else if (cJSON_IsString(e) && cJSON_IsString(d))
        snprintf(buf, cap, "HTTP %ld, %s: %.60s: %.200s", r->code, meaning, e->valuestring,
                 d->valuestring);
    else
        snprintf(buf, cap, "HTTP %ld, %s", r->code, meaning);
    cJSON_Delete(j);
}

enum sl_status sl_net_fail(const struct sl_net_resp *r, const char *what, const char *shown,
                           struct sl_err *err) {
    char why[512];
    sl_net_reason(r, why, sizeof why);
    if (sl_net_transient(r->code))
        return sl_err_set(err, SL_ERR_IO, "%s: %s failed: %s (after %d tries)", shown, what, why,
                          SL_NET_TRIES);
    return sl_err_set(err, SL_ERR_IO, "%s: %s failed: %s", shown, what, why);
}
