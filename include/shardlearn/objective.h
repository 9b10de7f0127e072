/* objective.h - L2-regularised logistic regression over a shard.
 *
 *   F(w,b) = (1/n) sum_i log(1 + exp(-y_i (w.x_i + b))) + (lambda/2) ||w||^2
 *
 * n is the global row count, b is not regularised. The optimisers see the
 * loss only through sl_obj_fg / sl_obj_hv and never the data format. Each
 * evaluation is one fused pass over the local shard followed by one
 * allreduce, so every rank ends with the same global value and gradient.
 *
 * Vectors have length dim = n_cols (+1 when fit_intercept, the intercept
 * last). n_cols is the number of columns that occur in some row of some
 * shard (sl_colmap_build), not the file's d: columns that carry no data
 * have weight 0 at the optimum and are left out of every vector. */
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
    double inv_n;              /* 1 / n_rows_global */
    double *dhess;             /* (n_rows) sigma(z)(1 - sigma(z)) at the last fg point */
    double *dhess_trial;       /* (n_rows) scratch for a trial point, swapped on accept */
    double *tmp;               /* (n_rows) scratch for the dense kernels */
    double *rec;               /* (2*n_cols) sparse kernels: [x_j, sum_j] per column */
    double *buf;               /* (2*n_cols + 5) allreduce buffer */
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

/* Collective. g: (dim) <- grad F at w; diag (may be NULL): (dim) <- the
 * diagonal of the Hessian at w. Keeps sigma(1-sigma) at w for sl_obj_hv only
 * after sl_obj_accept (a trial point that is rejected leaves it untouched).
 * Returns SL_ERR_INTERRUPTED on every rank when any rank's stop_flag is set. */
enum sl_status sl_obj_fg(struct sl_objective *o, const double *w, double *g, double *diag,
                         struct sl_fg_info *info) SL_WARN_UNUSED;
/* Makes the last sl_obj_fg point the one sl_obj_hv differentiates at. */
void sl_obj_accept(struct sl_objective *o);
/* Collective. hv: (dim) <- Hessian at the accepted point times v: (dim). */
void sl_obj_hv(struct sl_objective *o, const double *v, double *hv);

/* Stable pieces, exposed for tests: log(1 + exp(-z)) and 1/(1 + exp(-z)). */
double sl_log1pexp_neg(double z);
double sl_sigmoid(double z);

#endif
