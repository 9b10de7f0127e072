/* status.c - status strings, detail messages, assertions, checked allocation. */
#include "shardlearn/status.h"

#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "shardlearn/log.h"

const char *sl_strerror(enum sl_status s) {
    switch (s) {
    case SL_OK: return "ok";
    case SL_ERR_ARG: return "bad argument";
    case SL_ERR_IO: return "input/output error";
    case SL_ERR_PARSE: return "malformed input";
    case SL_ERR_NOMEM: return "out of memory";
    case SL_ERR_NET: return "tracking server error";
    case SL_ERR_STATE: return "inconsistent state";
    case SL_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

enum sl_status sl_err_set(struct sl_err *err, enum sl_status s, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return s;
}

void sl_err_clear(struct sl_err *err) {
    if (err) err->msg[0] = '\0';
}

_Noreturn void sl_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "[rank %d] %s:%d: assertion failed: %s\n", sl_log_rank(), file, line, expr);
    fflush(stderr);
    int up = 0;
    MPI_Initialized(&up);
    if (up) MPI_Abort(MPI_COMM_WORLD, 70);
    abort();
}

void *sl_malloc_check(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) sl_assert_fail("out of memory", file, line);
    return p;
}

void *sl_calloc_check(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) sl_assert_fail("out of memory", file, line);
    return p;
}

void *sl_realloc_check(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) sl_assert_fail("out of memory", file, line);
    return q;
}
