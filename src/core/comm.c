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
    c->shm = NULL;
    c->shm_state = 0;
    c->own[0] = c->own[1] = NULL;
    c->own_cap[0] = c->own_cap[1] = 0;
    c->own_half = 0;
    sl_log_init(c->rank);
}

static void done(struct sl_comm *c, double t0, double bytes);

/* ---- Node-shared reductions (comm.h) ----
 * One window per node. Each node rank's segment holds two halves of cap
 * doubles, used in turn by successive collectives: a rank may still be
 * copying the result of one collective out of segment 0 while the others
 * write the next one's inputs, into the other half. */
struct sl_comm_shm {
    MPI_Comm node;    /* this node's ranks, in the caller's rank order */
    MPI_Comm leaders; /* node rank 0 of every node; MPI_COMM_NULL elsewhere */
    int node_rank, node_size, n_nodes;
    MPI_Win win;    /* MPI_WIN_NULL before the first */
    MPI_Win old[8]; /* outgrown windows: a view into one may still be read */
    int n_old;
    size_t cap;   /* doubles in each half */
    double **seg; /* (node_size) every node rank's segment, mapped here */
    int half;     /* the half the last collective used */
};

/* Every rank's stores to the window are visible to the node's ranks. */
static void shm_barrier(struct sl_comm_shm *s) {
    MPI_Win_sync(s->win);
    MPI_Barrier(s->node);
    MPI_Win_sync(s->win);
}

static void shm_window_free(struct sl_comm_shm *s) {
    if (s->win == MPI_WIN_NULL) return;
    MPI_Barrier(s->node); /* nobody reads the windows any more */
    for (int i = 0; i < s->n_old; i++) {
        MPI_Win_unlock_all(s->old[i]);
        MPI_Win_free(&s->old[i]);
    }
    s->n_old = 0;
    MPI_Win_unlock_all(s->win);
    MPI_Win_free(&s->win);
    s->cap = 0;
}

/* A window of two halves of n doubles a rank (collective on the node).
 * The first one has room for twice its first n: the objective gathers a
 * point of dim and then sums [g | diag] of 2 dim + 4 through it. An
 * outgrown window is kept (a view into it may still be read) until
 * sl_comm_free, or freed when 8 are kept. */
static void shm_window(struct sl_comm_shm *s, size_t n) {
    if (n <= s->cap) return;
    if (s->win != MPI_WIN_NULL) {
        if (s->n_old == 8) {
            for (int i = 0; i < s->n_old; i++) {
                MPI_Win_unlock_all(s->old[i]);
                MPI_Win_free(&s->old[i]);
            }
            s->n_old = 0;
        }
        s->old[s->n_old++] = s->win;
        s->win = MPI_WIN_NULL;
    }
    size_t cap = s->cap == 0 ? 2 * n + 8 : n + n / 4;
    if (cap < 4096) cap = 4096;
    MPI_Info info;
    MPI_Info_create(&info);
    /* Each rank's segment in its own pages, near the core that writes it. */
    MPI_Info_set(info, "alloc_shared_noncontig", "true");
    double *mine = NULL;
    int rc = MPI_Win_allocate_shared((MPI_Aint)(2 * cap * sizeof(double)), (int)sizeof(double),
                                     info, s->node, &mine, &s->win);
    MPI_Info_free(&info);
    SL_ASSERT(rc == MPI_SUCCESS);
    for (int r = 0; r < s->node_size; r++) {
        MPI_Aint size = 0;
        int disp = 0;
        rc = MPI_Win_shared_query(s->win, r, &size, &disp, &s->seg[r]);
        SL_ASSERT(rc == MPI_SUCCESS);
    }
    MPI_Win_lock_all(MPI_MODE_NOCHECK, s->win);
    s->cap = cap;
}

/* Decides once, on every rank alike, whether to reduce through the node's
 * shared memory: not when any rank sets SL_SHM_REDUCE=0, nor when no node
 * holds two ranks. */
static struct sl_comm_shm *shm_get(struct sl_comm *c, size_t n) {
    if (c->size == 1) c->shm_state = -1; /* nothing to share */
    if (c->shm_state < 0 || n < SL_COMM_SHM_MIN || n > SL_COMM_SHM_MAX) return NULL;
    if (c->shm_state == 0) {
        const char *e = getenv("SL_SHM_REDUCE");
        int on = !(e && strcmp(e, "0") == 0);
        MPI_Allreduce(MPI_IN_PLACE, &on, 1, MPI_INT, MPI_MIN, c->comm);
        c->shm_state = -1;
        if (!on) return NULL;
        struct sl_comm_shm *s = sl_calloc(1, sizeof *s);
        MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &s->node);
        MPI_Comm_rank(s->node, &s->node_rank);
        MPI_Comm_size(s->node, &s->node_size);
        int v[2] = {s->node_rank == 0 ? 1 : 0, s->node_size};
        MPI_Allreduce(MPI_IN_PLACE, &v[0], 1, MPI_INT, MPI_SUM, c->comm);
        MPI_Allreduce(MPI_IN_PLACE, &v[1], 1, MPI_INT, MPI_MAX, c->comm);
        if (v[1] < 2) { /* one rank a node: nothing to share */
            MPI_Comm_free(&s->node);
            free(s);
            return NULL;
        }
        s->n_nodes = v[0];
        MPI_Comm_split(c->comm, s->node_rank == 0 ? 0 : MPI_UNDEFINED, c->rank, &s->leaders);
        s->seg = sl_calloc((size_t)s->node_size, sizeof(double *));
        s->win = MPI_WIN_NULL;
        c->shm = s;
        c->shm_state = 1;
    }
    shm_window(c->shm, n);
    return c->shm;
}

void sl_comm_free(struct sl_comm *c) {
    free(c->own[0]);
    free(c->own[1]);
    c->own[0] = c->own[1] = NULL;
    c->own_cap[0] = c->own_cap[1] = 0;
    struct sl_comm_shm *s = c->shm;
    c->shm_state = 0;
    if (!s) return;
    shm_window_free(s);
    if (s->leaders != MPI_COMM_NULL) MPI_Comm_free(&s->leaders);
    MPI_Comm_free(&s->node);
    free(s->seg);
    free(s);
    c->shm = NULL;
    c->shm_state = 0;
}

int sl_comm_shm_active(const struct sl_comm *c) {
    return c->shm_state == 0 ? -1 : c->shm_state > 0;
}

/* The node's sum of every rank's n values in its segment's current half,
 * into segment 0's (returned). */
static double *shm_reduce(struct sl_comm_shm *s, size_t n) {
    const size_t off = (size_t)s->half * s->cap;
    shm_barrier(s);
    /* This rank's slice [lo, hi), summed in node-rank order into segment 0. */
    const size_t k = (size_t)s->node_size, r = (size_t)s->node_rank;
    const size_t lo = n * r / k, hi = n * (r + 1) / k;
    double *out = s->seg[0] + off;
    for (int q = 1; q < s->node_size; q++) {
        const double *in = s->seg[q] + off;
        for (size_t i = lo; i < hi; i++)
            out[i] += in[i];
    }
    shm_barrier(s);
    if (s->n_nodes > 1) {
        if (s->leaders != MPI_COMM_NULL) {
            for (size_t at = 0; at < n;) {
                int m = n - at > (size_t)INT_MAX ? INT_MAX : (int)(n - at);
                int rc = MPI_Allreduce(MPI_IN_PLACE, out + at, m, MPI_DOUBLE, MPI_SUM, s->leaders);
                SL_ASSERT(rc == MPI_SUCCESS);
                at += (size_t)m;
            }
        }
        shm_barrier(s);
    }
    return out;
}

/* buf: (n) <- its sum over the ranks, through the node's window. */
static void shm_sum(struct sl_comm_shm *s, double *buf, size_t n) {
    s->half ^= 1;
    memcpy(s->seg[s->node_rank] + (size_t)s->half * s->cap, buf, n * sizeof(double));
    memcpy(buf, shm_reduce(s, n), n * sizeof(double));
}

/* c's own buffer for the next sum or view without the window, (n). Only
 * that one may move: the other may hold a view still being read. */
static double *own_next(struct sl_comm *c, size_t n) {
    const int h = c->own_half ^ 1;
    if (n > c->own_cap[h]) {
        free(c->own[h]);
        c->own_cap[h] = n + n / 4;
        c->own[h] = sl_malloc(sizeof(double) * c->own_cap[h]);
    }
    c->own_half = h;
    return c->own[h];
}

double *sl_comm_sum_begin(struct sl_comm *c, size_t n) {
    struct sl_comm_shm *s = shm_get(c, n);
    if (!s) return own_next(c, n);
    s->half ^= 1;
    return s->seg[s->node_rank] + (size_t)s->half * s->cap;
}

const double *sl_comm_sum_end(struct sl_comm *c, size_t n) {
    struct sl_comm_shm *s = shm_get(c, n);
    double t0 = sl_wtime();
    const double *out;
    if (s) {
        out = shm_reduce(s, n);
    } else {
        double *b = c->own[c->own_half];
        if (c->size > 1) {
            for (size_t at = 0; at < n;) {
                int m = n - at > (size_t)INT_MAX ? INT_MAX : (int)(n - at);
                int rc = MPI_Allreduce(MPI_IN_PLACE, b + at, m, MPI_DOUBLE, MPI_SUM, c->comm);
                SL_ASSERT(rc == MPI_SUCCESS);
                at += (size_t)m;
            }
        }
        out = b;
    }
    c->allreduce_seconds += sl_wtime() - t0;
    c->allreduce_calls++;
    done(c, t0, (double)n * sizeof(double));
    return out;
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
    struct sl_comm_shm *s = shm_get(c, n);
    if (!s) {
        allreduce(c, buf, n, sizeof *buf, MPI_DOUBLE, MPI_SUM);
        return;
    }
    double t0 = sl_wtime();
    shm_sum(s, buf, n);
    c->allreduce_seconds += sl_wtime() - t0;
    c->allreduce_calls++;
    done(c, t0, (double)n * sizeof *buf);
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

/* The whole of every rank's in, in rank order: into out, or, out NULL,
 * wherever it was gathered (the node's window, or c's own buffer). */
static const double *gather(struct sl_comm *c, const double *in, double *out,
                            const int64_t *counts) {
    double t0 = sl_wtime();
    if (c->size == 1) {
        if (!out) out = own_next(c, (size_t)counts[0]);
        memcpy(out, in, sizeof(double) * (size_t)counts[0]);
        done(c, t0, 0.0); /* no MPI call, but the call counts stay alike */
        return out;
    }
    int *ic = int_counts(c, counts);
    const size_t total = (size_t)ic[2 * c->size - 1] + (size_t)ic[c->size - 1];
    struct sl_comm_shm *s = shm_get(c, total);
    const double *all;
    if (s && s->n_nodes == 1) {
        /* One node: every rank writes its part into segment 0, then reads
         * the whole (node ranks are the caller's ranks, in order). */
        s->half ^= 1;
        double *w = s->seg[0] + (size_t)s->half * s->cap;
        memcpy(w + ic[c->size + c->rank], in, sizeof(double) * (size_t)ic[c->rank]);
        shm_barrier(s);
        all = w;
        if (out) memcpy(out, w, sizeof(double) * total);
    } else {
        if (!out) out = own_next(c, total);
        int rc =
            MPI_Allgatherv(in, ic[c->rank], MPI_DOUBLE, out, ic, ic + c->size, MPI_DOUBLE, c->comm);
        SL_ASSERT(rc == MPI_SUCCESS);
        all = out;
    }
    free(ic);
    c->allreduce_seconds += sl_wtime() - t0;
    c->allreduce_calls++;
    done(c, t0, (double)sizeof(double) * (double)total);
    return all;
}

void sl_comm_allgather_f64(struct sl_comm *c, const double *in, double *out,
                           const int64_t *counts) {
    (void)gather(c, in, out, counts);
}

const double *sl_comm_gather_view(struct sl_comm *c, const double *in, const int64_t *counts) {
    return gather(c, in, NULL, counts);
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
