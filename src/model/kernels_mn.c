/* kernels_mn.c - the multinomial (softmax) passes over a shard: loss and
 * gradient, and a Hessian-vector product, each one pass, dense (OpenBLAS
 * dgemm) or CSR. Local to the rank; objective.c sums.
 *
 * Layouts: the K-class weights are (d, K) row-major here (wt[j K + k]), so
 * a CSR row's column j brings its K weights in one cache line and the dense
 * products are plain dgemm; objective.c transposes from the optimiser's
 * class-major vector. P: (n_rows, K) the softmax probabilities at the last
 * fg point, for hv. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/kernels.h"

/* One row: m: (K) margins (b added) -> p: (K) softmax, its loss
 * log sum exp m - m_y, r: (K) s (p - e_y) (r may be m). Returns the loss
 * times s. */
static double row_softmax(const double *m, int64_t K, int64_t y, double s, double *p, double *r) {
    double mx = m[0], z = 0.0;
    for (int64_t k = 1; k < K; k++)
        mx = m[k] > mx ? m[k] : mx;
    for (int64_t k = 0; k < K; k++) {
        p[k] = exp(m[k] - mx);
        z += p[k];
    }
    const double inv = 1.0 / z, loss = s * (log(z) + mx - m[y]);
    for (int64_t k = 0; k < K; k++) {
        p[k] *= inv;
        r[k] = s * (p[k] - (k == y ? 1.0 : 0.0));
    }
    return loss;
}

/* 1 when row i's largest margin is its label's (ties: the first class). */
static double row_correct(const double *m, int64_t K, int64_t y) {
    int64_t best = 0;
    for (int64_t k = 1; k < K; k++)
        if (m[k] > m[best]) best = k;
    return best == y ? 1.0 : 0.0;
}

void sl_kernel_mn_margins(const struct sl_shard *s, int64_t K, const double *wt, const double *b,
                          double *M) {
    const int64_t n = s->n_rows, d = s->n_features;
    if (n == 0) return;
    if (s->dense) {
        /* M (n, K) = X (n, d) wt (d, K) */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)K, (int)d, 1.0,
                    s->values, (int)d, wt, (int)K, 0.0, M, (int)K);
    } else {
        memset(M, 0, sizeof(double) * (size_t)(n * K));
        for (int64_t i = 0; i < n; i++) {
            double *mi = M + i * K;
            for (int64_t q = s->indptr[i]; q < s->indptr[i + 1]; q++) {
                const double *w = wt + (int64_t)s->indices[q] * K, x = s->values[q];
                for (int64_t k = 0; k < K; k++)
                    mi[k] += w[k] * x;
            }
        }
    }
    if (b)
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < K; k++)
                M[i * K + k] += b[k];
}

/* diag (d, K) += sum_i x_ij^2 s_i p_ik (1 - p_ik), dense: by blocks of rows,
 * the squares of a block times its (rows, K) weights in one dgemm. */
#define DIAG_BLOCK 64
static void diag_dense(const struct sl_shard *s, int64_t K, const double *P, double *diag,
                       double *diagb) {
    const int64_t n = s->n_rows, d = s->n_features;
    double *sq = sl_malloc(sizeof(double) * (size_t)(DIAG_BLOCK * (d ? d : 1)));
    double *q = sl_malloc(sizeof(double) * (size_t)(DIAG_BLOCK * K));
    for (int64_t i0 = 0; i0 < n; i0 += DIAG_BLOCK) {
        const int64_t nb = n - i0 < DIAG_BLOCK ? n - i0 : DIAG_BLOCK;
        for (int64_t t = 0; t < nb * d; t++) {
            const double x = s->values[i0 * d + t];
            sq[t] = x * x;
        }
        for (int64_t t = 0; t < nb; t++) {
            const double sw = s->weights ? s->weights[i0 + t] : 1.0;
            for (int64_t k = 0; k < K; k++) {
                const double p = P[(i0 + t) * K + k];
                q[t * K + k] = sw * p * (1.0 - p);
                diagb[k] += q[t * K + k];
            }
        }
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)K, (int)nb, 1.0, sq,
                    (int)d, q, (int)K, 1.0, diag, (int)K);
    }
    free(sq);
    free(q);
}

void sl_kernel_mn_fg(const struct sl_shard *s, int64_t K, const double *wt, const double *b,
                     double *gt, double *gb, double *diag, double *diagb, double *P, double *tmp,
                     double *loss_sum, double *correct) {
    const int64_t n = s->n_rows, d = s->n_features;
    if (n == 0) return;
    /* tmp: (n, K) margins, then r = s (p - e_y) */
    sl_kernel_mn_margins(s, K, wt, b, tmp);
    double ls = 0.0, ok = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double *mi = tmp + i * K;
        const int64_t y = (int64_t)s->y[i];
        ok += row_correct(mi, K, y);
        ls += row_softmax(mi, K, y, s->weights ? s->weights[i] : 1.0, P + i * K, mi);
        for (int64_t k = 0; k < K; k++)
            gb[k] += mi[k];
    }
    if (s->dense) {
        /* gt (d, K) += X^T (d, n) r (n, K) */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)K, (int)n, 1.0, s->values,
                    (int)d, tmp, (int)K, 1.0, gt, (int)K);
        if (diag) diag_dense(s, K, P, diag, diagb);
    } else {
        for (int64_t i = 0; i < n; i++) {
            const double *ri = tmp + i * K, *pi = P + i * K;
            const double sw = s->weights ? s->weights[i] : 1.0;
            for (int64_t q = s->indptr[i]; q < s->indptr[i + 1]; q++) {
                const int64_t j = s->indices[q];
                const double x = s->values[q];
                for (int64_t k = 0; k < K; k++)
                    gt[j * K + k] += ri[k] * x;
                if (diag)
                    for (int64_t k = 0; k < K; k++)
                        diag[j * K + k] += sw * pi[k] * (1.0 - pi[k]) * x * x;
            }
            if (diag)
                for (int64_t k = 0; k < K; k++)
                    diagb[k] += sw * pi[k] * (1.0 - pi[k]);
        }
    }
    *loss_sum += ls;
    *correct += ok;
}

void sl_kernel_mn_hv(const struct sl_shard *s, int64_t K, const double *P, const double *vt,
                     const double *vb, double *hvt, double *hvb, double *tmp) {
    const int64_t n = s->n_rows, d = s->n_features;
    if (n == 0) return;
    /* tmp: (n, K) a = V x_i + vb, then t = s p o (a - p.a): the Hessian of
     * row i's loss by its margins, diag(p) - p p^T, times a */
    sl_kernel_mn_margins(s, K, vt, vb, tmp);
    for (int64_t i = 0; i < n; i++) {
        double *ai = tmp + i * K;
        const double *pi = P + i * K;
        const double sw = s->weights ? s->weights[i] : 1.0;
        double pa = 0.0;
        for (int64_t k = 0; k < K; k++)
            pa += pi[k] * ai[k];
        for (int64_t k = 0; k < K; k++) {
            ai[k] = sw * pi[k] * (ai[k] - pa);
            hvb[k] += ai[k];
        }
    }
    if (s->dense) {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)K, (int)n, 1.0, s->values,
                    (int)d, tmp, (int)K, 1.0, hvt, (int)K);
    } else {
        for (int64_t i = 0; i < n; i++) {
            const double *ti = tmp + i * K;
            for (int64_t q = s->indptr[i]; q < s->indptr[i + 1]; q++) {
                const int64_t j = s->indices[q];
                const double x = s->values[q];
                for (int64_t k = 0; k < K; k++)
                    hvt[j * K + k] += ti[k] * x;
            }
        }
    }
}
