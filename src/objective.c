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
    /* Slices as even as they go, the first dim % size ranks one longer. */
    o->counts = sl_malloc(sizeof(int64_t) * (size_t)c->size);
    for (int r = 0; r < c->size; r++) {
        o->counts[r] = o->dim / c->size + (r < o->dim % c->size ? 1 : 0);
        if (r < c->rank) o->lo += o->counts[r];
    }
    o->n_loc = o->counts[c->rank];
    size_t nr = (size_t)(s->n_rows ? s->n_rows : 1);
    o->dhess = sl_calloc(nr, sizeof(double));
    o->dhess_trial = sl_calloc(nr, sizeof(double));
    o->tmp = s->dense ? sl_calloc(nr, sizeof(double)) : NULL;
    o->rec = sl_calloc((size_t)(s->dense ? o->dim + 1 : 2 * n_cols + 1), sizeof(double));
    o->buf = sl_calloc((size_t)(2 * o->dim + 4), sizeof(double));
    return SL_OK;
}

void sl_obj_free(struct sl_objective *o) {
    free(o->counts);
    free(o->dhess);
    free(o->dhess_trial);
    free(o->tmp);
    free(o->rec);
    free(o->buf);
    memset(o, 0, sizeof *o);
}

const double *sl_obj_gather(struct sl_objective *o, const double *x) {
    /* Sparse passes load the point into their records, so buf is free again
     * for the sums; the dense kernels read it while they write into buf. */
    double *full = o->shard->dense ? o->rec : o->buf;
    sl_comm_allgather_f64(o->comm, x, full, o->counts);
    return full;
}

void sl_obj_sum(struct sl_objective *o, double *v, int k) {
    if (o->comm->size > 1) sl_comm_sum_f64(o->comm, v, (size_t)k);
}

/* Of this rank's slice, the elements [0, n) that are weights; the rest (at
 * most the last one) is the intercept. A slice may be empty, or hold only the
 * intercept, when there are more ranks than elements. */
static int64_t slice_weights(const struct sl_objective *o) {
    int64_t n = o->n_cols - o->lo;
    return n < 0 ? 0 : n < o->n_loc ? n : o->n_loc;
}

/* out: (n_loc) <- this rank's slice of a derivative of F from the summed
 * pass sums: (dim), out_j = sum_j / n + the regulariser's part: lambda x_j
 * with x: (n_loc) the slice of the point (gradient, Hessian times x), lambda
 * with x NULL (the Hessian's diagonal). The intercept, global index n_cols,
 * is not regularised. */
static void slice_derivative(const struct sl_objective *o, const double *sums, const double *x,
                             double *out) {
    const double *sl = sums + o->lo;
    const int64_t nw = slice_weights(o);
    for (int64_t j = 0; j < nw; j++) out[j] = sl[j] * o->inv_n + o->l2 * (x ? x[j] : 1.0);
    for (int64_t j = nw; j < o->n_loc; j++) out[j] = sl[j] * o->inv_n;
}

enum sl_status sl_obj_fg(struct sl_objective *o, const double *w, double *g, double *diag,
                         struct sl_fg_info *info) {
    const int64_t nc = o->n_cols, dim = o->dim;
    const double *full = sl_obj_gather(o, w);
    const double b = o->fit_intercept ? full[nc] : 0.0;
    /* buf: [g (n_cols), gb | diag (n_cols), diagb | loss_sum, correct, stop,
     * |w|^2 over the slices] (gb and diagb only with an intercept): one
     * allreduce sums it all. */
    const size_t nsum = diag ? (size_t)(2 * dim) : (size_t)dim;
    double *buf = o->buf, *dg = diag ? buf + dim : NULL, *tail = buf + nsum;
    double gb = 0.0, dgb = 0.0, loss = 0.0, correct = 0.0, wsq_slice = 0.0;
    for (int64_t j = 0; j < slice_weights(o); j++) wsq_slice += w[j] * w[j];
    double t0 = sl_wtime();
    if (o->shard->dense) {
        memset(buf, 0, sizeof(double) * nsum);
        sl_kernel_fg_dense(o->shard, full, b, buf, &gb, dg, &dgb, o->dhess_trial, o->tmp, &loss,
                           &correct);
    } else {
        /* rec: (n_cols, 2) rows [w_j, g_j]; g is copied out into buf. */
        records_load(o->rec, full, nc);
        if (dg) memset(dg, 0, sizeof(double) * (size_t)nc);
        sl_kernel_fg_csr(o->shard, o->rec, b, &gb, dg, &dgb, o->dhess_trial, &loss, &correct);
        records_sums(o->rec, buf, nc);
    }
    if (o->fit_intercept) {
        buf[nc] = gb;
        if (dg) dg[nc] = dgb;
    }
    tail[0] = loss;
    tail[1] = correct;
    tail[2] = (o->stop_flag && *o->stop_flag) ? 1.0 : 0.0;
    tail[3] = wsq_slice;
    o->compute_seconds += sl_wtime() - t0;
    o->passes++;
    sl_comm_sum_f64(o->comm, buf, nsum + 4);
    if (tail[2] > 0) return SL_ERR_INTERRUPTED;
    const double wsq = tail[3];

    /* This rank's slice of the summed gradient (and of the diagonal of
     * lambda I + (1/n) X^T D X), and |grad F| summed over the slices. */
    slice_derivative(o, buf, w, g);
    if (diag) slice_derivative(o, dg, NULL, diag);
    double gsq = 0.0;
    for (int64_t j = 0; j < o->n_loc; j++) gsq += g[j] * g[j];
    sl_obj_sum(o, &gsq, 1);
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
    const double *full = sl_obj_gather(o, v);
    const double vb = o->fit_intercept ? full[nc] : 0.0;
    double *buf = o->buf; /* [hv (n_cols), hvb] */
    double hvb = 0.0;
    double t0 = sl_wtime();
    if (o->shard->dense) {
        memset(buf, 0, sizeof(double) * (size_t)nc);
        sl_kernel_hv_dense(o->shard, o->dhess, full, vb, buf, &hvb, o->tmp);
    } else {
        records_load(o->rec, full, nc); /* (n_cols, 2) rows [v_j, (Hv)_j] */
        sl_kernel_hv_csr(o->shard, o->dhess, o->rec, vb, &hvb);
        records_sums(o->rec, buf, nc);
    }
    if (o->fit_intercept) buf[nc] = hvb;
    o->compute_seconds += sl_wtime() - t0;
    o->passes++;
    sl_comm_sum_f64(o->comm, buf, (size_t)o->dim);
    slice_derivative(o, buf, v, hv);
}
