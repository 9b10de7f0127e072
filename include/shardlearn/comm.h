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
    int quiet; /* nonzero: collectives are not counted and do not call the hook */
};

/* Not collective. MPI must be initialised; comm stays the caller's. Also
 * sets the rank that log messages carry (log.h). */
void sl_comm_init(struct sl_comm *c, MPI_Comm comm);

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
