/* comm.h - the only module that calls MPI.
 *
 * An sl_comm wraps a communicator the caller owns (MPI_COMM_WORLD, or a
 * sub-communicator from MPI_Comm_split), so the library can run on part of a
 * job. Every function here but sl_comm_init is collective over it: all its
 * ranks call it in the same order. Reductions are in place and split into
 * chunks of at most INT_MAX elements, so counts above 2^31 work. Time spent
 * in the optimisers' collectives is accumulated so they can report it, and
 * every collective's time and bytes in `total` (sysmetrics.h reports them). */
#ifndef SHARDLEARN_COMM_H
#define SHARDLEARN_COMM_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* This rank's collectives so far. bytes: the payload as this rank sees it
 * (n * element size for a reduction, broadcast or scan of n; for a gather,
 * the gathered whole where it is received, the rank's own part elsewhere),
 * not what MPI's algorithm sends on the wire. */
struct sl_comm_stats {
    double seconds; /* wall time inside them */
    double bytes;
    int64_t calls; /* the same on every rank: the collectives are called in order */
};

/* Called on every rank after the collective that brings total.calls to
 * hook_at, so at the same point of the program on every rank; it may call
 * collectives, which are then neither counted nor hooked (quiet is set). */
struct sl_comm;
struct sl_comm_shm; /* private to comm.c */
typedef void (*sl_comm_hook_fn)(struct sl_comm *c, void *ctx);

struct sl_comm {
    MPI_Comm comm; /* the caller's; not duplicated, not freed */
    int rank;
    int size;
    double allreduce_seconds; /* wall time inside the sums and gathers of vectors */
    int64_t allreduce_calls;
    struct sl_comm_stats total; /* every collective but the quiet ones */
    sl_comm_hook_fn hook;       /* NULL: none (sysmetrics.h sets it) */
    void *hook_ctx;
    int64_t hook_at;
    int quiet;               /* nonzero: collectives are not counted and do not call the hook */
    struct sl_comm_shm *shm; /* node-shared reductions: NULL until the first large one */
    int shm_state;           /* 0: not decided yet, 1: on, -1: off */
    double *own[2];          /* sl_comm_sum_begin's and gather_view's buffers without the window */
    size_t own_cap[2];       /* doubles in each */
    int own_half;            /* the one the last of those used */
};

/* Not collective. MPI must be initialised; comm stays the caller's. Also
 * sets the rank that log messages carry (log.h). */
void sl_comm_init(struct sl_comm *c, MPI_Comm comm);
/* Collective: frees what the communicator made (the node-shared window);
 * call it on every rank before MPI_Finalize. c may be used again after. */
void sl_comm_free(struct sl_comm *c);

/* Sums of f64 vectors of SL_COMM_SHM_MIN elements or more, and the
 * allgather of the optimisers' vectors, go through one MPI-3 shared-memory
 * window per node (MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)): each rank
 * writes its vector there, the node's ranks sum it in parallel slices, each
 * slice in node-rank order, and one leader per node sums the nodes' results
 * with MPI_Allreduce. The order is fixed, so results are the same bits run
 * after run for a given rank count and placement (on 2 ranks, the same bits
 * as MPI_Allreduce: a sum of two is exact in either order). Set
 * SL_SHM_REDUCE=0 (on any rank) to use MPI_Allreduce and MPI_Allgatherv
 * only. Decided, and the window made, in the first such collective. */
#define SL_COMM_SHM_MIN 256
/* Larger sums (an explicit Hessian of thousands of columns) go through
 * MPI_Allreduce, so the window stays small. */
#define SL_COMM_SHM_MAX (1 << 22)

/* A sum without copies: sl_comm_sum_begin returns where this rank puts the
 * n values it adds (in the node's window, or a buffer of c's own when the
 * window is off; contents undefined: set every value); sl_comm_sum_end sums
 * them over the ranks and returns the sums (n), the same on every rank,
 * read-only. Both collective, called with the same n. The sums stay valid
 * until the end of the next vector collective on c (sl_comm_sum_end,
 * sl_comm_gather_view, sl_comm_sum_f64, sl_comm_allgather_f64). */
double *sl_comm_sum_begin(struct sl_comm *c, size_t n);
const double *sl_comm_sum_end(struct sl_comm *c, size_t n);
/* Collective. The whole vector of every rank's in: (counts[rank]), in rank
 * order, read-only, where it was gathered (the node's window when all ranks
 * share one host; c's own buffer otherwise); valid as the sums above. */
const double *sl_comm_gather_view(struct sl_comm *c, const double *in, const int64_t *counts);
/* Whether this communicator reduces through node-shared memory (1), not (0),
 * or has not decided yet (-1). */
int sl_comm_shm_active(const struct sl_comm *c);

void sl_comm_sum_f64(struct sl_comm *c, double *buf, size_t n);
void sl_comm_sum_i64(struct sl_comm *c, int64_t *buf, size_t n);
void sl_comm_max_i64(struct sl_comm *c, int64_t *buf, size_t n);
void sl_comm_min_i64(struct sl_comm *c, int64_t *buf, size_t n);

/* out: (total of counts) <- every rank's in: (counts[rank]), in rank order;
 * in and out do not overlap. Timed with the allreduces (it is the
 * optimisers' other collective: objective.h). */
void sl_comm_allgather_f64(struct sl_comm *c, const double *in, double *out, const int64_t *counts);

/* Sum of v over ranks below this one (0 on rank 0). */
int64_t sl_comm_exscan_i64(struct sl_comm *c, int64_t v);
/* out: (size) - every rank's v. */
void sl_comm_allgather_i64(struct sl_comm *c, int64_t v, int64_t *out);
/* out: (size * n) bytes - every rank's n bytes of in, in rank order. */
void sl_comm_allgather_bytes(struct sl_comm *c, const void *in, size_t n, void *out);
void sl_comm_bcast(struct sl_comm *c, void *buf, size_t bytes, int root);

/* Agree on an error: returns the rank that should report it - among ranks
 * with has_error != 0, the one with the smallest key (for example the global
 * line number of its first bad line), ties to the lowest rank - or -1 when no
 * rank has an error. */
int sl_comm_first_error(struct sl_comm *c, int has_error, int64_t key);

/* Gathers variable-length double arrays to root in rank order.
 * out (on root): sum of all n; ignored elsewhere. */
void sl_comm_gather_f64(struct sl_comm *c, const double *in, int64_t n, double *out, int root);
/* The same for n doubles from every rank: out (on root): (size * n). */
void sl_comm_gather_fixed_f64(struct sl_comm *c, const double *in, int n, double *out, int root);

#ifdef __cplusplus
}
#endif

#endif
