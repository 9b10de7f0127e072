/* kernels.h - private to the model: local (one-rank) passes over a shard.
 * Accumulating outputs (g, gb, diag, hv, sums) are added to, not set, so the
 * caller zeroes them once and may sum several passes. */
#ifndef SHARDLEARN_MODEL_KERNELS_H
#define SHARDLEARN_MODEL_KERNELS_H

#include "shardlearn/data.h"
#include "shardlearn/model.h"

/* The sparse passes read and accumulate through one interleaved record per
 * column, wg: (2 * n_cols), wg[2j] = w_j (read) and wg[2j + 1] = g_j (added
 * to); hv_csr likewise vh[2j] = v_j, vh[2j + 1] = (Hv)_j. A row's columns are
 * scattered over the whole vector, so each one is a random memory access:
 * reading w_j brings g_j's cache line in with it, and the scatter of the same
 * row then finds it in cache, one random access per nonzero instead of two.
 * diag: (n_cols) or NULL; D: (n_rows) <- the loss's second derivative by the
 * margin (sigma(1-sigma) for logistic). The loss, r and D of row i are
 * times s->weights[i] when the shard has weights; loss_sum is the
 * weighted sum, correct the unweighted count of rows with sign(m) == y. */
void sl_kernel_fg_csr(const struct sl_shard *s, enum sl_loss kind, double *wg, double b, double *gb,
                      double *diag, double *diagb, double *D, double *loss_sum, double *correct);
void sl_kernel_hv_csr(const struct sl_shard *s, const double *D, double *vh, double vb,
                      double *hvb);
/* tmp: (n_rows) scratch. */
void sl_kernel_fg_dense(const struct sl_shard *s, enum sl_loss kind, const double *w, double b,
                        double *g, double *gb, double *diag, double *diagb, double *D, double *tmp,
                        double *loss_sum, double *correct);
void sl_kernel_hv_dense(const struct sl_shard *s, const double *D, const double *v, double vb,
                        double *hv, double *hvb, double *tmp);
/* m: (n_rows) <- w.x_i + b. */
void sl_kernel_margins(const struct sl_shard *s, const double *w, double b, double *m);
/* acc + w.x_i over row i's values in column order (dense or CSR). */
double sl_kernel_row_dot(const struct sl_shard *s, int64_t i, const double *w, double acc);
/* w += a x_i. */
void sl_kernel_row_axpy(const struct sl_shard *s, int64_t i, double a, double *w);
/* The same with each column j's value times sc[j] (sc NULL: the above). */
double sl_kernel_row_dot_scaled(const struct sl_shard *s, int64_t i, const double *w,
                                const double *sc, double acc);
void sl_kernel_row_axpy_scaled(const struct sl_shard *s, int64_t i, double a, const double *sc,
                               double *w);
/* Multinomial (kernels_mn.c), K classes. wt, gt, diag, vt, hvt: (d, K)
 * row-major, the K weights of column j together; b, gb, diagb, vb, hvb:
 * (K) (b, vb may be NULL: no intercepts); P, M, tmp: (n_rows, K). y holds
 * class indices. fg: P <- the softmax probabilities, gt += sum_i x_i r_i^T
 * with r_i = s_i (p_i - e_y), diag += the Hessian's diagonal (may be NULL);
 * loss_sum += sum_i s_i loss_i, correct += rows whose argmax is y. hv:
 * hvt += sum_i x_i t_i^T, t_i = s_i (diag(p_i) - p_i p_i^T)(V x_i + vb). */
void sl_kernel_mn_margins(const struct sl_shard *s, int64_t K, const double *wt, const double *b,
                          double *M);
void sl_kernel_mn_fg(const struct sl_shard *s, int64_t K, const double *wt, const double *b,
                     double *gt, double *gb, double *diag, double *diagb, double *P, double *tmp,
                     double *loss_sum, double *correct);
void sl_kernel_mn_hv(const struct sl_shard *s, int64_t K, const double *P, const double *vt,
                     const double *vb, double *hvt, double *hvb, double *tmp);
/* OpenBLAS threads of this process (the dense kernels'). */
void sl_kernel_set_threads(int n);

#endif
