/* objective.h - an L2-regularised linear model's objective over a shard,
 * summed over the ranks.
 *
 *   F(w,b) = (1/n) sum_i s_i l(y_i, w.x_i + b) + (lambda/2) ||w||^2 + a ||w||_1
 *
 * l is the loss (model.h: logistic by default, squared hinge, squared),
 * s_i the row's sample weight (the shard's weights, 1 without them), n the
 * global row count (not the sum of the weights: a weight scales its row's
 * loss, as scikit-learn's sample_weight does), b is not regularised. The optimisers see the
 * loss only through these functions and never the data format.
 *
 * Vectors have length dim = n_cols (+1 when fit_intercept, the intercept
 * last). n_cols is the number of columns in the working space: the columns
 * that occur in some row of some shard, renumbered (sl_train does this), not
 * the file's d.
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
#include "shardlearn/model.h"
#include "shardlearn/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_objective; /* opaque */

/* What an optimiser needs to know of the objective's vectors and data. */
struct sl_obj_shape {
    int64_t n_cols;    /* weights in the working space */
    int64_t dim;       /* n_cols + fit_intercept */
    int64_t lo, n_loc; /* this rank's slice of every optimiser vector */
    int fit_intercept;
    double l2;             /* lambda */
    int64_t n_rows;        /* rows of this rank's shard */
    int64_t n_rows_global; /* n */
    double l1;             /* a: 0 unless sl_obj_set_l1 */
};

/* What one evaluation learned besides the gradient. */
struct sl_fg_info {
    double objective; /* F(w,b) */
    double logloss;   /* (1/n) sum_i s_i loss_i, without the regulariser (any loss) */
    double accuracy;  /* fraction of rows with sign(margin) == y, margin 0 -> -1; NaN for
                         squared */
    double grad_norm; /* ||grad F||_2; with l1 > 0 that of the pseudo-gradient
                         (sl_obj_pseudo_grad), 0 exactly at the optimum */
};

/* Not collective. s must stay alive and unchanged while the objective lives;
 * its CSR indices must be < n_cols. Caller owns *out; free it with
 * sl_obj_destroy. SL_ERR_ARG when the shard is empty everywhere or too
 * large for the dense kernels. */
enum sl_status sl_obj_create(struct sl_objective **out, const struct sl_shard *s, int64_t n_cols,
                             double l2, int fit_intercept, struct sl_comm *c) SL_WARN_UNUSED;
/* The multinomial (softmax) objective of K classes (objective of the
 * shard's y, class indices 0..K-1):
 *   F(W, b) = (1/n) sum_i s_i (log sum_k exp(W_k.x_i + b_k) - (W_y_i.x_i + b_y_i))
 *             + (lambda/2) ||W||_F^2,
 * scikit-learn's multinomial LogisticRegression with C = 1/(lambda n). The
 * optimiser's vector is class-major, dim = K n_cols (+ K intercepts, last):
 * the shape's n_cols is K n_cols (the penalised part), its dim K n_cols + K.
 * Otherwise as sl_obj_create. */
enum sl_status sl_obj_create_multi(struct sl_objective **out, const struct sl_shard *s,
                                   int64_t n_cols, int64_t K, double l2, int fit_intercept,
                                   struct sl_comm *c) SL_WARN_UNUSED;
/* K for a multinomial objective, 0 for the others. */
int64_t sl_obj_classes(const struct sl_objective *o);
void sl_obj_destroy(struct sl_objective *o);
/* Collective, before the first evaluation. The optimiser's vectors become
 * the weights of the columns scaled to unit standard deviation (population
 * sd over all ranks' rows, one allreduce of 2 n_cols sums; not centred, so
 * sparse rows stay sparse): v_j = w_j sd_j, and the penalty (lambda/2)|v|^2
 * applies in that space, as Spark's standardization. A constant column
 * gets weight 0. The data is not rescaled: each pass reads v_j / sd_j. */
enum sl_status sl_obj_standardize(struct sl_objective *o) SL_WARN_UNUSED;
/* Not collective. w: (dim) <- the model in the data's units from the whole
 * optimiser vector v: (dim) (a copy without standardisation). */
void sl_obj_to_model(const struct sl_objective *o, const double *v, double *w);
/* The optimiser's element j for a model weight w_j in the data's units. */
double sl_obj_from_model(const struct sl_objective *o, int64_t j, double w);
/* The loss (logistic unless set); set it before the first evaluation. */
void sl_obj_set_loss(struct sl_objective *o, enum sl_loss loss);
enum sl_loss sl_obj_loss(const struct sl_objective *o);
/* a >= 0 of the L1 term (0 unless set); set it before the first evaluation.
 * F is then not differentiable where a weight is 0: sl_obj_fg's g stays the
 * gradient of the smooth part, its objective and grad_norm are F's, and
 * only an orthant-wise optimiser (L-BFGS's OWL-QN) handles it. */
void sl_obj_set_l1(struct sl_objective *o, double l1);
/* Not collective. pg: (n_loc) <- this rank's slice of F's pseudo-gradient
 * at w (Andrew and Gao 2007) from g, the smooth part's gradient there: the
 * one-sided derivative of steepest descent, 0 for a weight at 0 whose
 * |g_j| <= a; the intercept's is g's. pg may be g. */
void sl_obj_pseudo_grad(const struct sl_objective *o, const double *w, const double *g, double *pg);

const struct sl_obj_shape *sl_obj_shape(const struct sl_objective *o);
struct sl_comm *sl_obj_comm(const struct sl_objective *o);
/* A flag set by a signal handler; may be NULL. Read at every evaluation
 * and agreed by the evaluation's allreduce. */
void sl_obj_set_stop_flag(struct sl_objective *o, const volatile sig_atomic_t *flag);
/* Wall time of the local passes and mini-batch steps, and passes made. */
double sl_obj_compute_seconds(const struct sl_objective *o);
int64_t sl_obj_passes(const struct sl_objective *o);

/* Collective. w: (n_loc) this rank's slice of the point; g: (n_loc) <- the
 * same slice of grad F at w; diag (may be NULL): (n_loc) <- that slice of the
 * Hessian's diagonal at w (squared hinge: the generalised Hessian's, as
 * LIBLINEAR's). info is global. Keeps the loss's D_i at w for
 * sl_obj_hv only after sl_obj_accept (a trial point that is rejected leaves
 * it untouched). Returns SL_ERR_INTERRUPTED on every rank when any rank's
 * stop flag is set. */
enum sl_status sl_obj_fg(struct sl_objective *o, const double *w, double *g, double *diag,
                         struct sl_fg_info *info) SL_WARN_UNUSED;
/* Makes the last sl_obj_fg point the one sl_obj_hv differentiates at. */
void sl_obj_accept(struct sl_objective *o);
/* Collective. hv: (n_loc) <- this rank's slice of the Hessian at the accepted
 * point times v, v: (n_loc) its slice. */
void sl_obj_hv(struct sl_objective *o, const double *v, double *hv);
/* Collective. As sl_obj_hv on whole vectors, v and hv: (dim), v the same on
 * every rank; hv comes out the same on every rank, from one allreduce (no
 * gather). For solvers that keep whole vectors (small dim). */
void sl_obj_hv_full(struct sl_objective *o, const double *v, double *hv);
/* Collective. H: (dim, dim) row-major <- the Hessian of F at the accepted
 * point, lambda I (not on the intercept) + (1/n) X^T D X, in the optimiser's
 * space (standardised when set): its lower triangle (row >= column); the
 * upper one is left 0. The same on every rank: one pass over the shard and
 * one allreduce of dim^2 values. For dim small enough to hold H. */
void sl_obj_hessian(struct sl_objective *o, double *H);
/* Collective. The wall time of sl_obj_hessian plus a Cholesky factorisation
 * of it, estimated from the shards' sizes, in Hessian-vector passes (so
 * against the CG steps it would replace); the same on every rank. */
double sl_obj_hessian_cost(struct sl_objective *o);
/* 1 when sl_obj_hessian can form this objective's Hessian (the binary and
 * regression losses); 0 for multinomial, whose Newton solves with CG. */
int sl_obj_has_hessian(const struct sl_objective *o);
/* Collective. v: (k) each rank's partial sums (dot products over its slices)
 * <- their sums over the ranks, the same on every rank. */
void sl_obj_sum(struct sl_objective *o, double *v, int k);
/* sl_obj_sum with the stop flag carried along: returns 1 on every rank
 * when any rank's stop flag is set (v is then summed all the same). For a
 * long inner loop (Newton's CG steps) to notice a stop. */
int sl_obj_sum_poll(struct sl_objective *o, double *v, int k);
/* Not collective: whether this rank's stop flag is set (the caller agrees
 * on it with the other ranks, e.g. in a sum it makes anyway). */
int sl_obj_stop_requested(const struct sl_objective *o);
/* Sets the pass count (a resumed run continues the count it saved). */
void sl_obj_set_passes(struct sl_objective *o, int64_t passes);
/* Collective. The whole vector (dim) of which x: (n_loc) is this rank's
 * slice. Read-only, in the communicator's buffer (shared by a host's ranks):
 * valid until the end of the next collective on vectors (comm.h). */
const double *sl_obj_gather(struct sl_objective *o, const double *x);

/* Mini-batches, for stochastic optimisers: local to this rank, no
 * collective. The model is whole here, w = scale * v (v: (n_cols)) and the
 * intercepts b: (dim - n_cols, 1 or K; 0 without). rows: (nb) rows of this
 * rank's shard. r: (nb) <- the loss's derivative by the margin,
 * d loss_i / d m_i, at m_i = scale * (x_i . v) + b for i = rows[q], times
 * s_i. Multinomial: r: (nb, K) <- s_i (p_i - e_y_i), the derivatives by the
 * K margins scale * (x_i . v_k) + b_k (v_k class k's block of v). */
void sl_obj_batch_residuals(struct sl_objective *o, const int64_t *rows, int64_t nb,
                            const double *v, double scale, const double *b, double *r);
/* v += a[q] x_i for i = rows[q], q in [0, nb) (multinomial: a: (nb, K),
 * v_k += a[q K + k] x_i). */
void sl_obj_batch_update(struct sl_objective *o, const int64_t *rows, int64_t nb, const double *a,
                         double *v);
/* The regulariser's part of a gradient step of size lr: the factor that
 * scales w (1 - lr lambda for (lambda/2) ||w||^2). */
double sl_obj_reg_shrink(const struct sl_objective *o, double lr);

#ifdef __cplusplus
}
#endif

#endif
