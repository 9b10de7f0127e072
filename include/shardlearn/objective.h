/* objective.h - L2-regularised logistic regression over a shard.
 *
 *   F(w,b) = (1/n) sum_i log(1 + exp(-y_i (w.x_i + b))) + (lambda/2) ||w||^2
 *
 * n is the global row count, b is not regularised. The optimisers see the
 * loss only through sl_obj_fg / sl_obj_hv and never the data format.
 *
 * Vectors have length dim = n_cols (+1 when fit_intercept, the intercept
 * last). n_cols is the number of columns that occur in some row of some
 * shard (sl_colmap_build), not the file's d: columns that carry no data
 * have weight 0 at the optimum and are left out of every vector.
 *
 * The optimisers' vectors are split over the ranks: each rank holds only its
 * slice [lo, lo + n_loc) of w, of the gradient and of every other vector, so
 * their memory and their vector work shrink with the rank count, as the
 * shard does. An evaluation gathers the point from the slices (allgather),
 * makes one fused pass over the local shard, sums the pass's gradient (and
 * loss) over the ranks with one in-place allreduce and keeps this rank's
 * slice of it. Dot products over slices are summed with sl_obj_sum. */
#ifndef SHARDLEARN_OBJECTIVE_H
#define SHARDLEARN_OBJECTIVE_H

#include <signal.h>
#include <stdint.h>

#include "shardlearn/comm.h"
#include "shardlearn/data.h"
#include "shardlearn/status.h"

/* Columns that occur on any rank, and the map back to the file's numbering. */
struct sl_colmap {
    int64_t n_features; /* d of the file */
    int64_t n_used;     /* columns kept */
    int32_t *cols;      /* (n_used) original column of each kept column; NULL: identity */
};

/* Collective. Counts each column's nonzeros over all ranks, keeps the
 * columns that occur and renumbers the CSR indices of s in place to
 * 0..n_used-1, most frequent column first (ties by column; the same map on
 * any rank count). Dense shards keep every column (identity map). Free with
 * sl_colmap_free. */
void sl_colmap_build(struct sl_colmap *m, struct sl_shard *s, struct sl_comm *c);
void sl_colmap_free(struct sl_colmap *m);
/* w_full: (n_features) <- compact w: (n_used); columns left out get 0. */
void sl_colmap_expand(const struct sl_colmap *m, const double *w, double *w_full);

struct sl_objective {
    const struct sl_shard *shard; /* indices already compacted */
    struct sl_comm *comm;
    double l2;                 /* lambda */
    int fit_intercept;
    int64_t n_cols;            /* columns in the working space */
    int64_t dim;               /* n_cols + fit_intercept */
    int64_t lo, n_loc;         /* this rank's slice of every optimiser vector */
    int64_t *counts;           /* (ranks) every rank's n_loc, in rank order */
    double inv_n;              /* 1 / n_rows_global */
    double *dhess;             /* (n_rows) sigma(z)(1 - sigma(z)) at the last fg point */
    double *dhess_trial;       /* (n_rows) scratch for a trial point, swapped on accept */
    double *tmp;               /* (n_rows) scratch for the dense kernels */
    double *rec;               /* sparse: (2*n_cols) the kernels' [x_j, sum_j] per column;
                                  dense: (dim) the gathered point */
    double *buf;               /* (2*dim + 4) sparse: the gathered point, then the
                                  allreduce of [g | diag | loss...]; dense: the sums */
    const volatile sig_atomic_t *stop_flag; /* set by a signal handler; may be NULL */
    double compute_seconds;    /* wall time in local passes */
    int64_t passes;            /* passes over the shard */
};

/* What one evaluation learned besides F and the gradient. */
struct sl_fg_info {
    double objective;  /* F(w,b) */
    double logloss;    /* (1/n) sum_i loss_i, without the regulariser */
    double accuracy;   /* fraction of rows with sign(margin) == y, margin 0 -> -1 */
    double grad_norm;  /* ||grad F||_2 */
};

enum sl_status sl_obj_init(struct sl_objective *o, const struct sl_shard *s, int64_t n_cols,
                           double l2, int fit_intercept, struct sl_comm *c) SL_WARN_UNUSED;
void sl_obj_free(struct sl_objective *o);

/* Collective. w: (n_loc) this rank's slice of the point; g: (n_loc) <- the
 * same slice of grad F at w; diag (may be NULL): (n_loc) <- that slice of the
 * Hessian's diagonal at w. info is global. Keeps sigma(1-sigma) at w for
 * sl_obj_hv only after sl_obj_accept (a trial point that is rejected leaves
 * it untouched). Returns SL_ERR_INTERRUPTED on every rank when any rank's
 * stop_flag is set. */
enum sl_status sl_obj_fg(struct sl_objective *o, const double *w, double *g, double *diag,
                         struct sl_fg_info *info) SL_WARN_UNUSED;
/* Makes the last sl_obj_fg point the one sl_obj_hv differentiates at. */
void sl_obj_accept(struct sl_objective *o);
/* Collective. hv: (n_loc) <- this rank's slice of the Hessian at the accepted
 * point times v, v: (n_loc) its slice. */
void sl_obj_hv(struct sl_objective *o, const double *v, double *hv);
/* Collective. v: (k) each rank's partial sums (dot products over its slices)
 * <- their sums over the ranks, the same on every rank. */
void sl_obj_sum(struct sl_objective *o, double *v, int k);
/* Collective. The whole vector (dim) of which x: (n_loc) is this rank's
 * slice. Points into the objective's buffer: valid until its next call. */
const double *sl_obj_gather(struct sl_objective *o, const double *x);

/* Stable pieces, exposed for tests: log(1 + exp(-z)) and 1/(1 + exp(-z)). */
double sl_log1pexp_neg(double z);
double sl_sigmoid(double z);

#endif
