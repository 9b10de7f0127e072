/* kernels.c - the hot loops: one fused pass over a CSR shard for the loss and
 * gradient, one for a Hessian-vector product, and their dense (OpenBLAS)
 * counterparts, and the single-row pieces of margins and mini-batch steps.
 * Everything here is local to the rank; objective.c sums. */
#include <cblas.h>
#include <math.h>

#include "model/kernels.h"
#include "model/loss.h"

/* How far ahead, in nonzeros, the sparse passes prefetch the records of the
 * columns they are about to touch. With power-law column frequencies most of
 * a row's columns are in cache but its rare ones are not, and one row has too
 * few of them in flight to hide the memory latency; asking three rows ahead
 * (at 40 nonzeros a row) overlaps those waits with the current row's work.
 * Together with the interleaved records (kernels.h) this made a pass 2.4x
 * faster on the benchmark's data (docs/benchmark.md); the results are the
 * same bits, since the order of every sum is unchanged. */
#define PREFETCH_AHEAD 128

#if defined(__GNUC__)
#define PREFETCH_RW(p) __builtin_prefetch((p), 1, 3)
#else
#define PREFETCH_RW(p) ((void)(p))
#endif

/* Rows [0, r) of the shard have PREFETCH_AHEAD nonzeros after their last
 * one, so their passes may prefetch without a bounds check; the few rows
 * after r are passed without prefetching. */
static int64_t rows_with_lookahead(const struct sl_shard *s) {
    const int64_t nnz = s->indptr[s->n_rows];
    int64_t r = s->n_rows;
    while (r > 0 && s->indptr[r] + PREFETCH_AHEAD > nnz)
        r--;
    return r;
}

/* acc + w . x_i over one row's nonzeros [k0, k1), reading w_j at rec[2j],
 * summed in order. With ahead, each step also prefetches the record of the
 * column PREFETCH_AHEAD nonzeros on: issued from this loop, which loads the
 * same index stream anyway, the prefetches cost about a third of what a
 * separate prefetch loop per row did (measured 1.2-1.4x a pass). */
static inline double row_dot(const int32_t *ix, const double *x, int64_t k0, int64_t k1,
                             const double *rec, double acc, int ahead) {
    if (ahead) {
        for (int64_t k = k0; k < k1; k++) {
            PREFETCH_RW(rec + 2 * (int64_t)ix[k + PREFETCH_AHEAD]);
            acc += rec[2 * (int64_t)ix[k]] * x[k];
        }
    } else {
        for (int64_t k = k0; k < k1; k++)
            acc += rec[2 * (int64_t)ix[k]] * x[k];
    }
    return acc;
}

/* One row's loss pieces, times its sample weight when there are weights
 * (sw NULL: every row weighs 1, and nothing is multiplied). */
#define SL_INLINE static inline __attribute__((always_inline))

SL_INLINE void row_pieces(enum sl_loss kind, const double *sw, int64_t i, double m, double y,
                          double *loss, double *r, double *d) {
    sl_loss_pieces(kind, m, y, loss, r, d);
    if (sw) {
        *loss *= sw[i];
        *r *= sw[i];
        *d *= sw[i];
    }
}

/* The pass, compiled once per loss (kind is a constant at each call in
 * sl_kernel_fg_csr, so the loss's switch folds away). */
SL_INLINE void fg_csr(const struct sl_shard *s, enum sl_loss kind, double *wg, double b, double *gb,
                      double *diag, double *diagb, double *D, double *loss_sum, double *correct) {
    const int64_t *ip = s->indptr;
    const int32_t *ix = s->indices;
    const double *v = s->values;
    const double *sw = s->weights;
    const int64_t ahead = rows_with_lookahead(s);
    double ls = 0.0, ok = 0.0, sb = 0.0, sdb = 0.0;
    for (int64_t i = 0; i < s->n_rows; i++) {
        const int64_t k0 = ip[i], k1 = ip[i + 1];
        double m = row_dot(ix, v, k0, k1, wg, b, i < ahead);
        double y = s->y[i], loss, r, d;
        row_pieces(kind, sw, i, m, y, &loss, &r, &d);
        ls += loss;
        ok += ((m > 0) == (y > 0)) ? 1.0 : 0.0;
        D[i] = d;
        sb += r;
        if (diag) {
            sdb += d;
            for (int64_t k = k0; k < k1; k++) {
                wg[2 * (int64_t)ix[k] + 1] += r * v[k];
                diag[ix[k]] += d * v[k] * v[k];
            }
        } else {
            for (int64_t k = k0; k < k1; k++)
                wg[2 * (int64_t)ix[k] + 1] += r * v[k];
        }
    }
    *gb += sb;
    if (diagb) *diagb += sdb;
    *loss_sum += ls;
    *correct += ok;
}

void sl_kernel_fg_csr(const struct sl_shard *s, enum sl_loss kind, double *wg, double b, double *gb,
                      double *diag, double *diagb, double *D, double *loss_sum, double *correct) {
    switch (kind) {
    case SL_LOSS_SQUARED_HINGE:
        fg_csr(s, SL_LOSS_SQUARED_HINGE, wg, b, gb, diag, diagb, D, loss_sum, correct);
        break;
    case SL_LOSS_SQUARED:
        fg_csr(s, SL_LOSS_SQUARED, wg, b, gb, diag, diagb, D, loss_sum, correct);
        break;
    case SL_LOSS_LOGISTIC:
    default:
        fg_csr(s, SL_LOSS_LOGISTIC, wg, b, gb, diag, diagb, D, loss_sum, correct);
        break;
    }
}

void sl_kernel_hv_csr(const struct sl_shard *s, const double *D, double *vh, double vb,
                      double *hvb) {
    const int64_t *ip = s->indptr;
    const int32_t *ix = s->indices;
    const double *x = s->values;
    const int64_t ahead = rows_with_lookahead(s);
    double sb = 0.0;
    for (int64_t i = 0; i < s->n_rows; i++) {
        const int64_t k0 = ip[i], k1 = ip[i + 1];
        double t = row_dot(ix, x, k0, k1, vh, vb, i < ahead) * D[i];
        sb += t;
        for (int64_t k = k0; k < k1; k++)
            vh[2 * (int64_t)ix[k] + 1] += t * x[k];
    }
    *hvb += sb;
}

/* Rows per block of the dense passes: a block's values (about 256 KB) stay
 * in the core's L2 cache between the pass's two products (X_b w, then
 * X_b^T r_b), so each pass streams X from memory once instead of twice. */
static int64_t dense_block(int64_t d) {
    const int64_t rows = (256 * 1024 / 8) / (d > 0 ? d : 1);
    return rows < 8 ? 8 : rows;
}

void sl_kernel_fg_dense(const struct sl_shard *s, enum sl_loss kind, const double *w, double b,
                        double *g, double *gb, double *diag, double *diagb, double *D, double *tmp,
                        double *loss_sum, double *correct) {
    const int64_t n = s->n_rows, d = s->n_features, bs = dense_block(d);
    if (n == 0) return;
    double ls = 0.0, ok = 0.0, sb = 0.0, sdb = 0.0;
    /* tmp: (n) margins X w, then residuals r; X is (n, d) row-major. */
    for (int64_t i0 = 0; i0 < n; i0 += bs) {
        const int64_t nb = n - i0 < bs ? n - i0 : bs;
        const double *xb = s->values + i0 * d;
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)nb, (int)d, 1.0, xb, (int)d, w, 1, 0.0,
                    tmp + i0, 1);
        for (int64_t i = i0; i < i0 + nb; i++) {
            double m = tmp[i] + b, y = s->y[i], loss, r, dd;
            row_pieces(kind, s->weights, i, m, y, &loss, &r, &dd);
            ls += loss;
            ok += ((m > 0) == (y > 0)) ? 1.0 : 0.0;
            D[i] = dd;
            tmp[i] = r;
            sb += r;
            sdb += dd;
        }
        /* g += X_b^T r_b, and the diagonal, from the block in cache. */
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)nb, (int)d, 1.0, xb, (int)d, tmp + i0, 1, 1.0,
                    g, 1);
        if (!diag) continue;
        for (int64_t i = i0; i < i0 + nb; i++) {
            const double *row = s->values + i * d;
            for (int64_t j = 0; j < d; j++)
                diag[j] += D[i] * row[j] * row[j];
        }
    }
    if (diag) *diagb += sdb;
    *gb += sb;
    *loss_sum += ls;
    *correct += ok;
}

void sl_kernel_hv_dense(const struct sl_shard *s, const double *D, const double *v, double vb,
                        double *hv, double *hvb, double *tmp) {
    const int64_t n = s->n_rows, d = s->n_features, bs = dense_block(d);
    double sb = 0.0;
    for (int64_t i0 = 0; i0 < n; i0 += bs) {
        const int64_t nb = n - i0 < bs ? n - i0 : bs;
        const double *xb = s->values + i0 * d;
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)nb, (int)d, 1.0, xb, (int)d, v, 1, 0.0,
                    tmp + i0, 1);
        for (int64_t i = i0; i < i0 + nb; i++) {
            tmp[i] = (tmp[i] + vb) * D[i];
            sb += tmp[i];
        }
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)nb, (int)d, 1.0, xb, (int)d, tmp + i0, 1, 1.0,
                    hv, 1);
    }
    *hvb += sb;
}

void sl_kernel_margins(const struct sl_shard *s, const double *w, double b, double *m) {
    if (s->n_rows == 0) return;
    if (s->dense) {
        const int64_t d = s->n_features;
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)s->n_rows, (int)d, 1.0, s->values, (int)d, w,
                    1, 0.0, m, 1);
        for (int64_t i = 0; i < s->n_rows; i++)
            m[i] += b;
        return;
    }
    for (int64_t i = 0; i < s->n_rows; i++)
        m[i] = sl_kernel_row_dot(s, i, w, b);
}

double sl_kernel_row_dot(const struct sl_shard *s, int64_t i, const double *w, double acc) {
    if (s->dense) {
        const double *x = s->values + i * s->n_features;
        for (int64_t j = 0; j < s->n_features; j++)
            acc += w[j] * x[j];
    } else {
        for (int64_t k = s->indptr[i]; k < s->indptr[i + 1]; k++)
            acc += w[s->indices[k]] * s->values[k];
    }
    return acc;
}

void sl_kernel_row_axpy(const struct sl_shard *s, int64_t i, double a, double *w) {
    if (s->dense) {
        const double *x = s->values + i * s->n_features;
        for (int64_t j = 0; j < s->n_features; j++)
            w[j] += a * x[j];
    } else {
        for (int64_t k = s->indptr[i]; k < s->indptr[i + 1]; k++)
            w[s->indices[k]] += a * s->values[k];
    }
}

void sl_kernel_set_threads(int n) {
    openblas_set_num_threads(n);
}

double sl_kernel_row_dot_scaled(const struct sl_shard *s, int64_t i, const double *w,
                                const double *sc, double acc) {
    if (!sc) return sl_kernel_row_dot(s, i, w, acc);
    if (s->dense) {
        const double *x = s->values + i * s->n_features;
        for (int64_t j = 0; j < s->n_features; j++)
            acc += w[j] * sc[j] * x[j];
    } else {
        for (int64_t k = s->indptr[i]; k < s->indptr[i + 1]; k++)
            acc += w[s->indices[k]] * sc[s->indices[k]] * s->values[k];
    }
    return acc;
}

void sl_kernel_row_axpy_scaled(const struct sl_shard *s, int64_t i, double a, const double *sc,
                               double *w) {
    if (!sc) {
        sl_kernel_row_axpy(s, i, a, w);
        return;
    }
    if (s->dense) {
        const double *x = s->values + i * s->n_features;
        for (int64_t j = 0; j < s->n_features; j++)
            w[j] += a * sc[j] * x[j];
    } else {
        for (int64_t k = s->indptr[i]; k < s->indptr[i + 1]; k++)
            w[s->indices[k]] += a * sc[s->indices[k]] * s->values[k];
    }
}
