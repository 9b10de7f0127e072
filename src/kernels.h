/* kernels.h - private to the engine: local (one-rank) passes over a shard.
 * Accumulating outputs (g, gb, diag, hv, sums) are added to, not set, so the
 * caller zeroes them once and may sum several passes. */
#ifndef SHARDLEARN_KERNELS_H
#define SHARDLEARN_KERNELS_H

#include "shardlearn/data.h"

/* w, g, diag: (n_cols); D: (n_rows) <- sigma(1-sigma); diag may be NULL. */
void sl_kernel_fg_csr(const struct sl_shard *s, const double *w, double b, double *g, double *gb,
                      double *diag, double *diagb, double *D, double *loss_sum, double *correct);
void sl_kernel_hv_csr(const struct sl_shard *s, const double *D, const double *v, double vb,
                      double *hv, double *hvb);
/* tmp: (n_rows) scratch. */
void sl_kernel_fg_dense(const struct sl_shard *s, const double *w, double b, double *g,
                        double *gb, double *diag, double *diagb, double *D, double *tmp,
                        double *loss_sum, double *correct);
void sl_kernel_hv_dense(const struct sl_shard *s, const double *D, const double *v, double vb,
                        double *hv, double *hvb, double *tmp);
/* m: (n_rows) <- w.x_i + b. */
void sl_kernel_margins(const struct sl_shard *s, const double *w, double b, double *m);

#endif
