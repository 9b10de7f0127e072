/* http_stub.h - a stand-in for src/track/http.c in the fuzz build: the
 * functions http.h declares, with the same contract, but every request is
 * answered by a function the target sets (from the fuzz input, or a canned
 * server) instead of by libcurl over a socket. The retry policy is kept
 * (transient answers are retried up to h->max_retries, without sleeping), so
 * the callers see what they would see from a real server. */
#ifndef SHARDLEARN_FUZZ_HTTP_STUB_H
#define SHARDLEARN_FUZZ_HTTP_STUB_H

#include <stddef.h>
#include <stdint.h>

enum fuzz_transport {
    FUZZ_REFUSED = 0, /* no connection: the request never reached the server */
    FUZZ_TIMEOUT = 1, /* sent, then no answer: the server may still apply it */
    FUZZ_BAD_URL = 2  /* libcurl refuses the URL: not worth retrying */
};

/* One answer. status 0: no HTTP answer at all, see transport. The body is
 * body[0..len) repeated `repeat` times (0 or 1: once); len 0 is no body. */
struct fuzz_answer {
    long status;
    enum fuzz_transport transport;
    const char *body; /* borrowed until the request returns */
    size_t len;
    size_t repeat;
};

typedef void (*fuzz_server_fn)(const char *method, const char *path, const char *body,
                               size_t body_len, struct fuzz_answer *out);

/* The server that answers from now on; NULL: every request is refused. */
void fuzz_http_set_server(fuzz_server_fn fn);
/* A server that gives the answers in script, one per request, in order:
 * `STATUS body` separated by "\n~~~\n" (000 no connection, 001 timeout,
 * 002 bad URL; `STATUS*body` repeats the body to 64 KiB; a piece without
 * a status is a 200), then refuses every request. script must outlive the
 * requests. Installs it as the server. */
void fuzz_http_script(const uint8_t *script, size_t len);

/* Requests sent since the last call (each retry counts). */
long fuzz_http_take_count(void);
/* The HTTP status of the last answer (0: none). */
long fuzz_http_last_status(void);

#endif
