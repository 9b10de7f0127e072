/* comm.c - the only file that calls MPI: the collectives, each on the
 * caller's communicator, every reduction in place and split into chunks of
 * at most INT_MAX elements; and ending the job when an assertion or an
 * allocation fails, so that no rank is left waiting in a collective.
 * Each collective adds its time and bytes to c->total (one clock read on
 * each side) and may call the hook (comm.h) once it returns. */
#include "shardlearn/comm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fault.h"
#include "shardlearn/clock.h"
#include "shardlearn/log.h"
#include "shardlearn/status.h"

SL_NORETURN void sl_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "[rank %d] %s:%d: assertion failed: %s\n", sl_log_rank(), file, line, expr);
    fflush(stderr);
    /* The whole job, not the caller's communicator: a library on a
     * sub-communicator must not leave the rest of the job waiting either. */
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) MPI_Abort(MPI_COMM_WORLD, 70);
    abort();
}

void *sl_malloc_check(size_t n, const char *file, int line) {
    void *p = sl_fault("oom") ? NULL : malloc(n ? n : 1);
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

void sl_comm_init(struct sl_comm *c, MPI_Comm comm) {
    c->comm = comm;
    MPI_Comm_rank(comm, &c->rank);
    MPI_Comm_size(comm, &c->size);
    c->allreduce_seconds = 0.0;
    c->allreduce_calls = 0;
    c->total = (struct sl_comm_stats){.seconds = 0.0, .bytes = 0.0, .calls = 0};
    c->hook = NULL;
    c->hook_ctx = NULL;
    c->hook_at = 0;
    c->quiet = 0;
    sl_log_init(c->rank);
}

/* A collective that began at t0 (sl_wtime) is over: count it and, when due,
 * call the hook with collectives made quiet. */
static void done(struct sl_comm *c, double t0, double bytes) {
    if (c->quiet) return;
    c->total.seconds += sl_wtime() - t0;
    c->total.bytes += bytes;
    c->total.calls++;
    if (c->hook && c->total.calls >= c->hook_at) {
        c->quiet = 1;
        c->hook(c, c->hook_ctx);
        c->quiet = 0;
    }
}

static void allreduce(struct sl_comm *c, void *buf, size_t n, size_t elem, MPI_Datatype t,
                      MPI_Op op) {
    double t0 = sl_wtime();
    const double bytes = (double)n * (double)elem;
    char *p = buf;
    while (n > 0) {
        int k = n > (size_t)INT_MAX ? INT_MAX : (int)n;
        int rc = MPI_Allreduce(MPI_IN_PLACE, p, k, t, op, c->comm);
        SL_ASSERT(rc == MPI_SUCCESS);
        p += (size_t)k * elem;
        n -= (size_t)k;
    }
    c->allreduce_seconds += sl_wtime() - t0;
    c->allreduce_calls++;
    done(c, t0, bytes);
}

void sl_comm_sum_f64(struct sl_comm *c, double *buf, size_t n) {
    allreduce(c, buf, n, sizeof *buf, MPI_DOUBLE, MPI_SUM);
}
void sl_comm_sum_i64(struct sl_comm *c, int64_t *buf, size_t n) {
    allreduce(c, buf, n, sizeof *buf, MPI_INT64_T, MPI_SUM);
}
void sl_comm_max_i64(struct sl_comm *c, int64_t *buf, size_t n) {
    allreduce(c, buf, n, sizeof *buf, MPI_INT64_T, MPI_MAX);
}
void sl_comm_min_i64(struct sl_comm *c, int64_t *buf, size_t n) {
    allreduce(c, buf, n, sizeof *buf, MPI_INT64_T, MPI_MIN);
}

/* counts as MPI's ints, then their displacements: (2 * size). A slice of a
 * vector whose indices fit int32 stays below INT_MAX on 2 ranks or more (one
 * rank never calls MPI here). */
static int *int_counts(const struct sl_comm *c, const int64_t *counts) {
    int *ic = sl_malloc(sizeof(int) * 2 * (size_t)c->size);
    int64_t at = 0;
    for (int r = 0; r < c->size; r++) {
        SL_ASSERT(counts[r] >= 0 && counts[r] <= INT_MAX && at <= INT_MAX);
        ic[r] = (int)counts[r];
        ic[c->size + r] = (int)at;
        at += counts[r];
    }
    return ic;
}

void sl_comm_allgather_f64(struct sl_comm *c, const double *in, double *out,
                           const int64_t *counts) {
    double t0 = sl_wtime();
    if (c->size == 1) {
        memcpy(out, in, sizeof(double) * (size_t)counts[0]);
        done(c, t0, 0.0); /* no MPI call, but the call counts stay alike */
        return;
    }
    int *ic = int_counts(c, counts);
    int rc =
        MPI_Allgatherv(in, ic[c->rank], MPI_DOUBLE, out, ic, ic + c->size, MPI_DOUBLE, c->comm);
    SL_ASSERT(rc == MPI_SUCCESS);
    const double bytes = (double)sizeof(double) * (double)(ic[2 * c->size - 1] + ic[c->size - 1]);
    free(ic);
    c->allreduce_seconds += sl_wtime() - t0;
    c->allreduce_calls++;
    done(c, t0, bytes);
}

int64_t sl_comm_exscan_i64(struct sl_comm *c, int64_t v) {
    double t0 = sl_wtime();
    int64_t out = 0;
    MPI_Exscan(&v, &out, 1, MPI_INT64_T, MPI_SUM, c->comm);
    done(c, t0, sizeof v);
    return c->rank == 0 ? 0 : out; /* Exscan leaves rank 0's result undefined */
}

void sl_comm_allgather_i64(struct sl_comm *c, int64_t v, int64_t *out) {
    double t0 = sl_wtime();
    MPI_Allgather(&v, 1, MPI_INT64_T, out, 1, MPI_INT64_T, c->comm);
    done(c, t0, (double)sizeof v * c->size);
}

void sl_comm_allgather_bytes(struct sl_comm *c, const void *in, size_t n, void *out) {
    SL_ASSERT(n <= (size_t)INT_MAX);
    double t0 = sl_wtime();
    MPI_Allgather(in, (int)n, MPI_BYTE, out, (int)n, MPI_BYTE, c->comm);
    done(c, t0, (double)n * c->size);
}

void sl_comm_bcast(struct sl_comm *c, void *buf, size_t bytes, int root) {
    double t0 = sl_wtime();
    const double total = (double)bytes;
    char *p = buf;
    while (bytes > 0) {
        int k = bytes > (size_t)INT_MAX ? INT_MAX : (int)bytes;
        MPI_Bcast(p, k, MPI_BYTE, root, c->comm);
        p += k;
        bytes -= (size_t)k;
    }
    done(c, t0, total);
}

int sl_comm_first_error(struct sl_comm *c, int has_error, int64_t key) {
    /* INT64_MAX means "no error", so an error's key is kept below it. */
    int64_t mine = has_error ? (key < INT64_MAX ? key : INT64_MAX - 1) : INT64_MAX;
    int64_t v[2] = {mine, 0};
    sl_comm_min_i64(c, v, 1);
    if (v[0] == INT64_MAX) return -1;
    int64_t who = mine == v[0] ? c->rank : INT64_MAX;
    sl_comm_min_i64(c, &who, 1);
    return (int)who;
}

void sl_comm_gather_f64(struct sl_comm *c, const double *in, int64_t n, double *out, int root) {
    /* Point-to-point in rank order, chunked, so totals above INT_MAX work. */
    double t0 = sl_wtime();
    double bytes = (double)sizeof(double) * (double)n;
    const int64_t chunk = 1 << 24;
    int64_t *counts = NULL;
    if (c->rank == root) counts = sl_malloc(sizeof(int64_t) * (size_t)c->size);
    MPI_Gather(&n, 1, MPI_INT64_T, counts, 1, MPI_INT64_T, root, c->comm);
    if (c->rank == root) {
        int64_t at = 0;
        for (int r = 0; r < c->size; r++) {
            for (int64_t off = 0; off < counts[r]; off += chunk) {
                int k = (int)(counts[r] - off < chunk ? counts[r] - off : chunk);
                if (r == root) {
                    for (int i = 0; i < k; i++)
                        out[at + off + i] = in[off + i];
                } else {
                    MPI_Recv(out + at + off, k, MPI_DOUBLE, r, 7, c->comm, MPI_STATUS_IGNORE);
                }
            }
            at += counts[r];
        }
        bytes = (double)sizeof(double) * (double)at;
        free(counts);
    } else {
        for (int64_t off = 0; off < n; off += chunk) {
            int k = (int)(n - off < chunk ? n - off : chunk);
            MPI_Send(in + off, k, MPI_DOUBLE, root, 7, c->comm);
        }
    }
    done(c, t0, bytes);
}

void sl_comm_gather_fixed_f64(struct sl_comm *c, const double *in, int n, double *out, int root) {
    double t0 = sl_wtime();
    int rc = MPI_Gather(in, n, MPI_DOUBLE, out, n, MPI_DOUBLE, root, c->comm);
    SL_ASSERT(rc == MPI_SUCCESS);
    done(c, t0, (double)sizeof(double) * n * (c->rank == root ? c->size : 1));
}
