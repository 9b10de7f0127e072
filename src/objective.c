/* objective.c - the logistic objective summed over ranks, and the column map
 * that keeps columns without data out of every vector and allreduce. */
#include "shardlearn/objective.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

double sl_log1pexp_neg(double z) { return log1p(exp(-fabs(z))) + (z < 0 ? -z : 0.0); }

double sl_sigmoid(double z) {
    double e = exp(-fabs(z));
    return z >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void sl_colmap_build(struct sl_colmap *m, struct sl_shard *s, struct sl_comm *c) {
    memset(m, 0, sizeof *m);
    m->n_features = s->n_features;
    if (s->dense) {
        m->n_used = s->n_features;
        return;
    }
    const int64_t d = s->n_features;
    /* cnt: (d) nonzeros of each column summed over ranks - 8 MB at d = 2^20, once. */
    int64_t *cnt = sl_calloc((size_t)(d ? d : 1), sizeof(int64_t));
    for (int64_t k = 0; k < s->nnz; k++) cnt[s->indices[k]]++;
    sl_comm_sum_i64(c, cnt, (size_t)d);
    /* Most frequent first. Each nonzero reads and updates its column's
     * record at a random place in a d-long vector; with power-law column
     * frequencies a few columns take most nonzeros, and numbered first they
     * share a few cache lines instead of one line each spread over the whole
     * vector (measured: a pass 1.4x faster on the benchmark's data). The
     * order is the same on every rank and for every rank count: it comes
     * from the summed counts, ties by column. Sort keys, built in place over
     * cnt (slot n_used <= j is read before it is written): the count's
     * complement (clamped to 32 bits: past 4e9 a column is hot either way)
     * above the column. */
    uint64_t *key = (uint64_t *)cnt;
    int64_t n_used = 0;
    for (int64_t j = 0; j < d; j++) {
        if (cnt[j] == 0) continue;
        uint64_t n = cnt[j] > (int64_t)UINT32_MAX ? UINT32_MAX : (uint64_t)cnt[j];
        key[n_used++] = ((uint64_t)UINT32_MAX - n) << 32 | (uint64_t)j;
    }
    qsort(key, (size_t)n_used, sizeof *key, cmp_u64);
    m->n_used = n_used;
    m->cols = sl_malloc(sizeof(int32_t) * (size_t)(n_used ? n_used : 1));
    int32_t *newidx = sl_malloc(sizeof(int32_t) * (size_t)(d ? d : 1));
    for (int64_t j = 0; j < d; j++) newidx[j] = -1;
    for (int64_t r = 0; r < n_used; r++) {
        m->cols[r] = (int32_t)(key[r] & 0xffffffffu);
        newidx[m->cols[r]] = (int32_t)r;
    }
    free(cnt);
    for (int64_t k = 0; k < s->nnz; k++) s->indices[k] = newidx[s->indices[k]];
    free(newidx);
}

/* The sparse kernels' records (kernels.h): rec[2j] = x_j, rec[2j + 1] = 0
 * for the sum the pass adds to. */
static void records_load(double *rec, const double *x, int64_t nc) {
    for (int64_t j = 0; j < nc; j++) {
        rec[2 * j] = x[j];
        rec[2 * j + 1] = 0.0;
    }
}

/* out[j] <- the sum the pass left in rec[2j + 1]. */
static void records_sums(const double *rec, double *out, int64_t nc) {
    for (int64_t j = 0; j < nc; j++) out[j] = rec[2 * j + 1];
}

void sl_colmap_free(struct sl_colmap *m) {
    free(m->cols);
    memset(m, 0, sizeof *m);
}

void sl_colmap_expand(const struct sl_colmap *m, const double *w, double *w_full) {
    if (!m->cols) {
        memcpy(w_full, w, sizeof(double) * (size_t)m->n_features);
        return;
    }
    memset(w_full, 0, sizeof(double) * (size_t)m->n_features);
    for (int64_t j = 0; j < m->n_used; j++) w_full[m->cols[j]] = w[j];
}

enum sl_status sl_obj_init(struct sl_objective *o, const struct sl_shard *s, int64_t n_cols,
                           double l2, int fit_intercept, struct sl_comm *c) {
    memset(o, 0, sizeof *o);
    SL_ASSERT(s->n_rows_global > 0);
    SL_ASSERT(!s->dense || (s->n_rows <= INT_MAX && s->n_features <= INT_MAX));
    o->shard = s;
    o->comm = c;
    o->l2 = l2;
    o->fit_intercept = fit_intercept ? 1 : 0;
    o->n_cols = n_cols;
    o->dim = n_cols + o->fit_intercept;
    o->inv_n = 1.0 / (double)s->n_rows_global;
    size_t nr = (size_t)(s->n_rows ? s->n_rows : 1);
    o->dhess = sl_calloc(nr, sizeof(double));
    o->dhess_trial = sl_calloc(nr, sizeof(double));
    o->tmp = s->dense ? sl_calloc(nr, sizeof(double)) : NULL;
    o->rec = s->dense ? NULL : sl_calloc((size_t)(2 * (n_cols ? n_cols : 1)), sizeof(double));
    /* [g, gb, diag, diagb] plus [loss, correct, stop]: see sl_obj_fg. */
    o->buf = sl_calloc((size_t)(2 * n_cols + 5), sizeof(double));
    return SL_OK;
}

void sl_obj_free(struct sl_objective *o) {
    free(o->dhess);
    free(o->dhess_trial);
    free(o->tmp);
    free(o->rec);
    free(o->buf);
    memset(o, 0, sizeof *o);
}

enum sl_status sl_obj_fg(struct sl_objective *o, const double *w, double *g, double *diag,
                         struct sl_fg_info *info) {
    const int64_t nc = o->n_cols, dim = o->dim;
    const double b = o->fit_intercept ? w[nc] : 0.0;
    /* buf: [g (n_cols), gb, diag (n_cols), diagb | loss_sum, correct, stop].
     * With diag the gradient and diagonal travel in one allreduce. */
    const size_t nsum = diag ? (size_t)(2 * nc + 2) : (size_t)(nc + 1);
    double *buf = o->buf;
    double *gb = buf + nc, *dg = diag ? buf + nc + 1 : NULL, *dgb = diag ? buf + 2 * nc + 1 : NULL;
    double *tail = buf + nsum;
    double t0 = sl_wtime();
    if (o->shard->dense) {
        memset(buf, 0, sizeof(double) * (nsum + 3));
        sl_kernel_fg_dense(o->shard, w, b, buf, gb, dg, dgb, o->dhess_trial, o->tmp, &tail[0],
                           &tail[1]);
    } else {
        /* rec: (n_cols, 2) rows [w_j, g_j]; g is copied out into buf for the allreduce. */
        records_load(o->rec, w, nc);
        memset(buf + nc, 0, sizeof(double) * (nsum - (size_t)nc + 3));
        sl_kernel_fg_csr(o->shard, o->rec, b, gb, dg, dgb, o->dhess_trial, &tail[0], &tail[1]);
        records_sums(o->rec, buf, nc);
    }
    o->compute_seconds += sl_wtime() - t0;
    o->passes++;
    tail[2] = (o->stop_flag && *o->stop_flag) ? 1.0 : 0.0;
    sl_comm_sum_f64(o->comm, buf, nsum + 3);
    if (tail[2] > 0) return SL_ERR_INTERRUPTED;

    double wsq = 0.0, gsq = 0.0;
    for (int64_t j = 0; j < nc; j++) {
        wsq += w[j] * w[j];
        g[j] = buf[j] * o->inv_n + o->l2 * w[j];
        gsq += g[j] * g[j];
        if (diag) diag[j] = dg[j] * o->inv_n + o->l2;
    }
    if (o->fit_intercept) {
        g[nc] = *gb * o->inv_n;
        gsq += g[nc] * g[nc];
        if (diag) diag[nc] = *dgb * o->inv_n;
    }
    (void)dim;
    info->logloss = tail[0] * o->inv_n;
    info->objective = info->logloss + 0.5 * o->l2 * wsq;
    info->accuracy = tail[1] * o->inv_n;
    info->grad_norm = sqrt(gsq);
    return SL_OK;
}

void sl_obj_accept(struct sl_objective *o) {
    double *t = o->dhess;
    o->dhess = o->dhess_trial;
    o->dhess_trial = t;
}

void sl_obj_hv(struct sl_objective *o, const double *v, double *hv) {
    const int64_t nc = o->n_cols;
    const double vb = o->fit_intercept ? v[nc] : 0.0;
    double *buf = o->buf; /* [hv (n_cols), hvb] */
    double t0 = sl_wtime();
    if (o->shard->dense) {
        memset(buf, 0, sizeof(double) * (size_t)(nc + 1));
        sl_kernel_hv_dense(o->shard, o->dhess, v, vb, buf, buf + nc, o->tmp);
    } else {
        records_load(o->rec, v, nc); /* (n_cols, 2) rows [v_j, (Hv)_j] */
        buf[nc] = 0.0;
        sl_kernel_hv_csr(o->shard, o->dhess, o->rec, vb, buf + nc);
        records_sums(o->rec, buf, nc);
    }
    o->compute_seconds += sl_wtime() - t0;
    o->passes++;
    sl_comm_sum_f64(o->comm, buf, (size_t)(nc + 1));
    for (int64_t j = 0; j < nc; j++) hv[j] = buf[j] * o->inv_n + o->l2 * v[j];
    if (o->fit_intercept) hv[nc] = buf[nc] * o->inv_n;
}
