/* hessian.c - the explicit Hessian X^T D X of a shard (hessian.h). */
#include "model/hessian.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "shardlearn/status.h"

/* Rows per dsyrk call: the scaled block (HESS_BLOCK, d) stays small next to
 * the shard, and each call still has enough rows to run at BLAS-3 speed. */
#define HESS_BLOCK 256

static void hessian_dense(const struct sl_shard *s, const double *D, int64_t nc, int icpt,
                          double *H) {
    const int64_t n = s->n_rows, d = s->n_features, dim = nc + icpt;
    /* blk: (HESS_BLOCK, nc) rows sqrt(D_i) x_i. */
    double *blk = sl_malloc(sizeof(double) * (size_t)(HESS_BLOCK * (nc ? nc : 1)));
    for (int64_t i0 = 0; i0 < n; i0 += HESS_BLOCK) {
        const int64_t nb = n - i0 < HESS_BLOCK ? n - i0 : HESS_BLOCK;
        for (int64_t q = 0; q < nb; q++) {
            const double r = sqrt(D[i0 + q]);
            const double *x = s->values + (i0 + q) * d;
            for (int64_t j = 0; j < nc; j++)
                blk[q * nc + j] = r * x[j];
        }
        /* Row-major lower triangle of H (nc, nc) with leading dimension dim. */
        if (nc > 0)
            cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)nc, (int)nb, 1.0, blk, (int)nc,
                        1.0, H, (int)dim);
    }
    free(blk);
    if (!icpt) return;
    /* The intercept's row: sum_i D_i x_i, and sum_i D_i. */
    double *hb = H + nc * dim;
    if (n > 0)
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, (int)nc, 1.0, s->values, (int)d, D, 1, 1.0,
                    hb, 1);
    for (int64_t i = 0; i < n; i++)
        hb[nc] += D[i];
}

static void hessian_csr(const struct sl_shard *s, const double *D, int64_t nc, int icpt,
                        double *H) {
    const int64_t dim = nc + icpt;
    double *hb = H + nc * dim;
    for (int64_t i = 0; i < s->n_rows; i++) {
        const double di = D[i];
        if (di == 0.0) continue; /* squared hinge: rows outside the margin */
        const int64_t k0 = s->indptr[i], k1 = s->indptr[i + 1];
        /* The working columns are renumbered (objective.h), so a row's
         * indices need not increase: each pair goes to (larger, smaller). */
        for (int64_t k = k0; k < k1; k++) {
            const int64_t a = s->indices[k];
            const double t = di * s->values[k];
            for (int64_t l = k0; l <= k; l++) {
                const int64_t b = s->indices[l];
                H[a >= b ? a * dim + b : b * dim + a] += t * s->values[l];
            }
            if (icpt) hb[a] += t;
        }
        if (icpt) hb[nc] += di;
    }
}

void sl_kernel_hessian(const struct sl_shard *s, const double *D, int64_t nc, int icpt, double *H) {
    if (s->dense)
        hessian_dense(s, D, nc, icpt, H);
    else
        hessian_csr(s, D, nc, icpt, H);
}

void sl_kernel_hessian_cost(const struct sl_shard *s, int64_t nc, double cost[2]) {
    if (s->dense) {
        const double n = (double)s->n_rows, d = (double)s->n_features;
        cost[0] += n * (double)nc * (double)nc / SL_BLAS3_SPEEDUP;
        cost[1] += 4.0 * n * d;
        return;
    }
    /* Sparse: nnz_i (nnz_i + 1) / 2 multiply-adds a row, 2 nnz a pass. */
    for (int64_t i = 0; i < s->n_rows; i++) {
        const double k = (double)(s->indptr[i + 1] - s->indptr[i]);
        cost[0] += 0.5 * k * (k + 1.0);
        cost[1] += 2.0 * k;
    }
}
