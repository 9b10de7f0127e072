/* http_stub.c - see http_stub.h; replaces src/track/http.c. */
#define _GNU_SOURCE /* memmem */
#include "http_stub.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/clock.h"
#include "shardlearn/status.h"
#include "track/http.h"

static fuzz_server_fn g_server;
static long g_count;
static long g_last_status;

void fuzz_http_set_server(fuzz_server_fn fn) {
    g_server = fn;
}

/* The answers still to give. */
static struct {
    const uint8_t *p, *end;
    int exhausted;
} g_script;

#define SEP "\n~~~\n"
#define HUGE_BODY (64 * 1024)

static void scripted_server(const char *method, const char *path, const char *body, size_t body_len,
                            struct fuzz_answer *out) {
    (void)method, (void)path, (void)body, (void)body_len;
    *out = (struct fuzz_answer){.status = 0, .transport = FUZZ_REFUSED};
    if (g_script.exhausted) return;
    const uint8_t *p = g_script.p, *end = g_script.end;
    const uint8_t *sep = memmem(p, (size_t)(end - p), SEP, sizeof SEP - 1);
    const uint8_t *chunk_end = sep ? sep : end;
    if (sep)
        g_script.p = sep + sizeof SEP - 1;
    else
        g_script.exhausted = 1;
    size_t n = (size_t)(chunk_end - p);
    long status = 200;
    size_t repeat = 1;
    if (n >= 4 && p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
        p[2] <= '9' && (p[3] == ' ' || p[3] == '*' || p[3] == '\n')) {
        status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
        if (p[3] == '*') repeat = n > 4 ? HUGE_BODY / (n - 4) + 1 : 1;
        p += 4;
        n -= 4;
    }
    if (status < 100) {
        out->transport = (enum fuzz_transport)(status % 3);
        return;
    }
    *out =
        (struct fuzz_answer){.status = status, .body = (const char *)p, .len = n, .repeat = repeat};
}

void fuzz_http_script(const uint8_t *script, size_t len) {
    g_script.p = script;
    g_script.end = script + len;
    g_script.exhausted = 0;
    g_server = scripted_server;
}

long fuzz_http_last_status(void) {
    return g_last_status;
}

long fuzz_http_take_count(void) {
    long n = g_count;
    g_count = 0;
    return n;
}

/* As in http.c. */
const char *sl_tracking_uri(const char *arg) {
    if (arg && *arg) return arg;
    const char *e = getenv("MLFLOW_TRACKING_URI");
    return e && *e ? e : NULL;
}

double sl_mlflow_first_backoff(void) {
    return 0.1;
}

int sl_http_stopped(const struct sl_http *h) {
    return (h->stop && *h->stop) || (h->deadline > 0 && sl_wtime() > h->deadline);
}

int sl_http_init(struct sl_http *h, const char *uri) {
    *h = (struct sl_http){.timeout = 120, .max_retries = 2, .backoff = 0};
    snprintf(h->base, sizeof h->base, "%s", uri);
    snprintf(h->shown, sizeof h->shown, "%s", uri);
    return 0;
}

void sl_http_free(struct sl_http *h) {
    free(h->body);
    *h = (struct sl_http){0};
}

/* The answer to one request into h, as http.c's perform() leaves it. */
static void perform(struct sl_http *h, const char *method, const char *path, const char *body,
                    size_t body_len) {
    free(h->body);
    h->body = NULL;
    h->body_len = 0;
    h->retry_after = -1;
    h->status = 0;
    h->in_flight = h->unsent = 0;
    h->waited = 0;
    g_count++;
    struct fuzz_answer a = {.status = 0, .transport = FUZZ_REFUSED};
    if (g_server) g_server(method, path, body, body_len, &a);
    g_last_status = a.status;
    static int trace = -1; /* FUZZ_HTTP_TRACE=1: each request and its answer on stderr */
    if (trace < 0) trace = getenv("FUZZ_HTTP_TRACE") && *getenv("FUZZ_HTTP_TRACE") == '1';
    if (trace)
        fprintf(stderr, "http: %s %s -> %ld%s %.*s\n", method, path, a.status,
                a.status                      ? ""
                : a.transport == FUZZ_TIMEOUT ? " (timeout)"
                                              : " (no connection)",
                (int)(a.len < 160 ? a.len : 160), a.body ? a.body : "");
    if (a.status == 0) {
        h->in_flight = a.transport == FUZZ_TIMEOUT;
        h->unsent = a.transport == FUZZ_REFUSED;
        h->waited = a.transport == FUZZ_TIMEOUT ? (double)h->timeout : 0;
        return;
    }
    h->status = a.status;
    size_t times = a.repeat ? a.repeat : 1;
    if (a.len == 0) return; /* libcurl never calls the write callback: no body */
    h->body_len = a.len * times;
    h->body = sl_malloc(h->body_len + 1);
    for (size_t i = 0; i < times; i++)
        memcpy(h->body + i * a.len, a.body, a.len);
    h->body[h->body_len] = '\0';
}

/* As http.c's note_failure: h->err, and 1 when trying again may help. */
static int note_failure(struct sl_http *h, int transport, const char *path) {
    if (h->status == 0) {
        snprintf(h->err, sizeof h->err, "%s: %s", h->shown,
                 transport == FUZZ_TIMEOUT   ? "Timeout was reached"
                 : transport == FUZZ_BAD_URL ? "URL using bad/illegal format or missing URL"
                                             : "Couldn't connect to server");
        return transport != FUZZ_BAD_URL;
    }
    snprintf(h->err, sizeof h->err, "%s%s: HTTP %ld%s%.200s", h->shown, path, h->status,
             h->body_len ? ": " : "", h->body ? h->body : "");
    return h->status == 408 || h->status == 429 || h->status >= 500;
}

enum sl_deliver sl_http_request(struct sl_http *h, const char *method, const char *path,
                                const char *body, size_t body_len, const char *content_type,
                                int retry) {
    (void)content_type;
    for (int attempt = 0;; attempt++) {
        perform(h, method, path, body, body_len);
        if (h->status >= 200 && h->status < 300) return SL_DELIVER_DONE;
        int transport = h->in_flight ? FUZZ_TIMEOUT : h->unsent ? FUZZ_REFUSED : FUZZ_BAD_URL;
        if (!note_failure(h, transport, path)) return SL_DELIVER_REJECTED;
        if (!retry || sl_http_stopped(h) || attempt >= h->max_retries) return SL_DELIVER_RETRY;
    }
}

int sl_http_error_code_is(const struct sl_http *h, const char *code) {
    return h->body && strstr(h->body, code) != NULL;
}

/* libcurl's own escaping, as http.c does it (curl_easy_escape ignores the
 * handle, which the stub does not have). */
void sl_http_escape(struct sl_http *h, const char *in, char *out, size_t cap) {
    (void)h;
    char *e = curl_easy_escape(NULL, in, 0);
    snprintf(out, cap, "%s", e ? e : "");
    curl_free(e);
}
