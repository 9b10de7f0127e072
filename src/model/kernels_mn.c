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

/* Rows per block of the dense passes: a block's values (about 384 KB) stay
 * in the core's L2 cache from its margins' product to its X_b^T product (and
 * the diagonal's squares), so a pass streams X from memory once. */
static int64_t mn_block(int64_t d) {
    const int64_t rows = (384 * 1024 / 8) / (d > 0 ? d : 1);
    return rows < 8 ? 8 : rows;
}

/* diag (d, K) += sum_i x_ij^2 s_i p_ik (1 - p_ik) over the nb rows of the
 * block xb, pb: the squares of the block times its (nb, K) weights in one
 * dgemm; sq: (nb, d) and q: (nb, K) scratch. */
static void diag_block(const struct sl_shard *s, int64_t i0, int64_t nb, int64_t K,
                       const double *pb, double *sq, double *q, double *diag, double *diagb) {
    const int64_t d = s->n_features;
    const double *xb = s->values + i0 * d;
    for (int64_t t = 0; t < nb * d; t++)
        sq[t] = xb[t] * xb[t];
    for (int64_t t = 0; t < nb; t++) {
        const double sw = s->weights ? s->weights[i0 + t] : 1.0;
        for (int64_t k = 0; k < K; k++) {
            const double p = pb[t * K + k];
            q[t * K + k] = sw * p * (1.0 - p);
            diagb[k] += q[t * K + k];
        }
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)K, (int)nb, 1.0, sq, (int)d,
                q, (int)K, 1.0, diag, (int)K);
}

/* The rows [i0, i0 + nb) of the fg pass: tmp <- r = s (p - e_y), P <- p. */
static void fg_rows(const struct sl_shard *s, int64_t i0, int64_t nb, int64_t K, double *gb,
                    double *P, double *tmp, double *ls, double *ok) {
    for (int64_t i = i0; i < i0 + nb; i++) {
        double *mi = tmp + i * K;
        const int64_t y = (int64_t)s->y[i];
        *ok += row_correct(mi, K, y);
        *ls += row_softmax(mi, K, y, s->weights ? s->weights[i] : 1.0, P + i * K, mi);
        for (int64_t k = 0; k < K; k++)
            gb[k] += mi[k];
    }
}

/* Dense fg pass by blocks of rows: margins X_b W (+ b), the softmax, then
 * gt (d, K) += X_b^T r_b and the diagonal while the block is in cache. */
static void fg_dense(const struct sl_shard *s, int64_t K, const double *wt, const double *b,
                     double *gt, double *gb, double *diag, double *diagb, double *P, double *tmp,
                     double *ls, double *ok) {
    const int64_t n = s->n_rows, d = s->n_features, bs = mn_block(d);
    double *sq = diag ? sl_malloc(sizeof(double) * (size_t)(bs * (d ? d : 1) + bs * K)) : NULL;
    for (int64_t i0 = 0; i0 < n; i0 += bs) {
        const int64_t nb = n - i0 < bs ? n - i0 : bs;
        const double *xb = s->values + i0 * d;
        double *mb = tmp + i0 * K;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, (int)K, (int)d, 1.0, xb,
                    (int)d, wt, (int)K, 0.0, mb, (int)K);
        if (b)
            for (int64_t t = 0; t < nb * K; t++)
                mb[t] += b[t % K];
        fg_rows(s, i0, nb, K, gb, P, tmp, ls, ok);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)K, (int)nb, 1.0, xb,
                    (int)d, mb, (int)K, 1.0, gt, (int)K);
        if (diag) diag_block(s, i0, nb, K, P + i0 * K, sq, sq + bs * d, diag, diagb);
    }
    free(sq);
}

void sl_kernel_mn_fg(const struct sl_shard *s, int64_t K, const double *wt, const double *b,
                     double *gt, double *gb, double *diag, double *diagb, double *P, double *tmp,
                     double *loss_sum, double *correct) {
    const int64_t n = s->n_rows;
    if (n == 0) return;
    double ls = 0.0, ok = 0.0;
    if (s->dense) {
        fg_dense(s, K, wt, b, gt, gb, diag, diagb, P, tmp, &ls, &ok);
        *loss_sum += ls;
        *correct += ok;
        return;
    }
    /* tmp: (n, K) margins, then r = s (p - e_y) */
    sl_kernel_mn_margins(s, K, wt, b, tmp);
    fg_rows(s, 0, n, K, gb, P, tmp, &ls, &ok);
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
    *loss_sum += ls;
    *correct += ok;
}

/* The rows [i0, i0 + nb) of the hv pass: tmp's a = V x_i + vb <- t =
 * s p o (a - p.a), the Hessian of row i's loss by its margins,
 * diag(p) - p p^T, times a. */
static void hv_rows(const struct sl_shard *s, int64_t i0, int64_t nb, int64_t K, const double *P,
                    double *hvb, double *tmp) {
    for (int64_t i = i0; i < i0 + nb; i++) {
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
}

void sl_kernel_mn_hv(const struct sl_shard *s, int64_t K, const double *P, const double *vt,
                     const double *vb, double *hvt, double *hvb, double *tmp) {
    const int64_t n = s->n_rows, d = s->n_features;
    if (n == 0) return;
    if (s->dense) {
        /* By blocks of rows, as fg_dense: a = X_b V + vb, t, hvt += X_b^T t. */
        const int64_t bs = mn_block(d);
        for (int64_t i0 = 0; i0 < n; i0 += bs) {
            const int64_t nb = n - i0 < bs ? n - i0 : bs;
            const double *xb = s->values + i0 * d;
            double *ab = tmp + i0 * K;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, (int)K, (int)d, 1.0,
                        xb, (int)d, vt, (int)K, 0.0, ab, (int)K);
            if (vb)
                for (int64_t t = 0; t < nb * K; t++)
                    ab[t] += vb[t % K];
            hv_rows(s, i0, nb, K, P, hvb, tmp);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)K, (int)nb, 1.0, xb,
                        (int)d, ab, (int)K, 1.0, hvt, (int)K);
        }
        return;
    }
    sl_kernel_mn_margins(s, K, vt, vb, tmp);
    hv_rows(s, 0, n, K, P, hvb, tmp);
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
