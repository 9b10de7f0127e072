/* status.h - status codes, detail messages and always-on assertions.
 *
 * Two kinds of failure (see STYLE.md): a programmer's mistake is caught by
 * SL_ASSERT, which prints "[rank N] file:line" and ends the whole job
 * (MPI_Abort, through comm); a fault of the environment or the input is
 * returned as an enum sl_status with a detail message in a caller-owned
 * struct sl_err. The library never exits: only the caller decides. */
#ifndef SHARDLEARN_STATUS_H
#define SHARDLEARN_STATUS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sl_status {
    SL_OK = 0,
    SL_ERR_ARG,        /* bad option or value */
    SL_ERR_IO,         /* file missing, unreadable, unwritable */
    SL_ERR_PARSE,      /* malformed input data */
    SL_ERR_NET,        /* tracking server unreachable or refused */
    SL_ERR_INTERRUPTED /* a stop was requested (SIGINT/SIGTERM) */
};

/* A detail message. Caller-allocated; filled by the callee that fails.
 * Collective calls fill it on the one rank that should report it and leave
 * msg empty on the others, so a caller prints the error exactly once. */
struct sl_err {
    char msg[1024];
};

/* A short name for a status ("malformed input"); static storage. */
const char *sl_status_str(enum sl_status s);

/* Formats into err (if non-NULL) and returns s, so a caller can write
 * `return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));`. */
enum sl_status sl_err_set(struct sl_err *err, enum sl_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void sl_err_clear(struct sl_err *err);

/* Always on, also in release builds. */
#define SL_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) sl_assert_fail(#cond, __FILE__, __LINE__);                                    \
    } while (0)

#ifdef __cplusplus
#define SL_NORETURN [[noreturn]]
#else
#define SL_NORETURN _Noreturn
#endif

/* Prints "[rank N] file:line: assertion failed: expr" and ends the whole job
 * (an MPI_Abort of MPI_COMM_WORLD through comm, so no rank is left waiting). */
SL_NORETURN void sl_assert_fail(const char *expr, const char *file, int line);

/* Checked allocation: on failure reports the call site and ends the job
 * (an out-of-memory rank cannot take part in collectives any more). */
void *sl_malloc_check(size_t n, const char *file, int line);
void *sl_calloc_check(size_t n, size_t size, const char *file, int line);
void *sl_realloc_check(void *p, size_t n, const char *file, int line);
#define sl_malloc(n) sl_malloc_check((n), __FILE__, __LINE__)
#define sl_calloc(n, s) sl_calloc_check((n), (s), __FILE__, __LINE__)
#define sl_realloc(p, n) sl_realloc_check((p), (n), __FILE__, __LINE__)

#if defined(__GNUC__)
#define SL_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define SL_WARN_UNUSED
#endif

#ifdef __cplusplus
}
#endif

#endif
