/* objective.c - the objective of a loss (model/loss.h) over a shard, summed over the ranks;
 * each rank keeps its slice of every optimiser vector (objective.h). */
#include "shardlearn/objective.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/hessian.h"
#include "model/kernels.h"
#include "model/loss.h"
#include "shardlearn/clock.h"

struct sl_objective {
    const struct sl_shard *shard; /* indices already compacted */
    struct sl_comm *comm;
    struct sl_obj_shape shape;
    enum sl_loss loss;
    double *inv_sd;  /* (n_cols) 1/sd of each column, 0 for a constant one; NULL: the optimiser's
                        vectors are the weights themselves (no --standardize) */
    double *wsc;     /* dense with inv_sd: (n_cols) the point in the data's units */
    int64_t *counts; /* (ranks) every rank's n_loc, in rank order */
    double inv_n;    /* 1 / n_rows_global */
    double *dhess;   /* (n_rows) s_i d^2 loss_i / dm^2 at the last fg point */
    double *dhess_trial; /* (n_rows) scratch for a trial point, swapped on accept */
    double *tmp;         /* (n_rows) scratch for the dense kernels */
    double *rec;         /* sparse: (2*n_cols) the kernels' [x_j, sum_j] per column;
                            dense: NULL. The gathered point and the sums live in the
                            communicator's buffers (comm.h: sl_comm_gather_view,
                            sl_comm_sum_begin), shared by a host's ranks */
    const volatile sig_atomic_t *stop_flag; /* set by a signal handler; may be NULL */
    double compute_seconds;                 /* wall time in local passes and mini-batch steps */
    int64_t passes;                         /* passes over the shard */
    /* Multinomial (K > 0): the optimiser's vector is class-major, weights
     * [k ncd + j] then the K intercepts; shape.n_cols = K ncd. */
    int64_t K;       /* classes; 0: a binary or regression loss */
    int64_t ncd;     /* columns of the data in the working space (n_cols unless multinomial) */
    double *P;       /* (n_rows, K) softmax at the last fg point (accepted) */
    double *P_trial; /* (n_rows, K) */
    double *mtmp;    /* (n_rows, K) the kernels' scratch */
    double *wt;      /* (ncd, K) the point (or direction) in the kernels' layout, data units */
    double *gt;      /* (2 ncd + 2, K) the pass's sums: gradient (ncd, K), diagonal (ncd, K),
                        intercepts' gradient (K), diagonal (K) */
};

/* The sparse kernels' records (kernels.h): rec[2j] = x_j, rec[2j + 1] = 0
 * for the sum the pass adds to. With standardisation (sc = inv_sd) the
 * optimiser's x is in the scaled space and the pass reads x_j / sd_j, the
 * same in the data's units: the data itself is never rescaled, and the
 * passes are the unscaled ones. */
static void records_load(double *rec, const double *x, const double *sc, int64_t nc) {
    for (int64_t j = 0; j < nc; j++) {
        rec[2 * j] = sc ? x[j] * sc[j] : x[j];
        rec[2 * j + 1] = 0.0;
    }
}

/* out[j] <- the sum the pass left in rec[2j + 1] (times 1/sd_j: the chain
 * rule back into the scaled space). */
static void records_sums(const double *rec, const double *sc, double *out, int64_t nc) {
    for (int64_t j = 0; j < nc; j++)
        out[j] = sc ? rec[2 * j + 1] * sc[j] : rec[2 * j + 1];
}

/* v[j] *= sc[j]^pw for the n_cols weights (pw 1: a gradient or Hv, 2: the
 * Hessian's diagonal); nothing without standardisation. */
static void scale_cols(const double *sc, double *v, int64_t nc, int pw) {
    if (!sc) return;
    for (int64_t j = 0; j < nc; j++)
        v[j] *= pw == 2 ? sc[j] * sc[j] : sc[j];
}

/* Dense: the point in the data's units for the BLAS passes (full itself
 * without standardisation). */
static const double *dense_point(struct sl_objective *o, const double *full) {
    if (!o->inv_sd) return full;
    for (int64_t j = 0; j < o->shape.n_cols; j++)
        o->wsc[j] = full[j] * o->inv_sd[j];
    return o->wsc;
}

enum sl_status sl_obj_create(struct sl_objective **out, const struct sl_shard *s, int64_t n_cols,
                             double l2, int fit_intercept, struct sl_comm *c) {
    *out = NULL;
    /* The dense kernels hand OpenBLAS int dimensions. */
    if (s->n_rows_global <= 0 || (s->dense && (s->n_rows > INT_MAX || s->n_features > INT_MAX)))
        return SL_ERR_ARG;
    struct sl_objective *o = sl_calloc(1, sizeof *o);
    o->shard = s;
    o->comm = c;
    const int64_t dim = n_cols + (fit_intercept ? 1 : 0);
    o->shape = (struct sl_obj_shape){.n_cols = n_cols,
                                     .dim = dim,
                                     .fit_intercept = fit_intercept ? 1 : 0,
                                     .l2 = l2,
                                     .n_rows = s->n_rows,
                                     .n_rows_global = s->n_rows_global};
    o->inv_n = 1.0 / (double)s->n_rows_global;
    /* Slices as even as they go, the first dim % size ranks one longer. */
    o->counts = sl_malloc(sizeof(int64_t) * (size_t)c->size);
    for (int r = 0; r < c->size; r++) {
        o->counts[r] = dim / c->size + (r < dim % c->size ? 1 : 0);
        if (r < c->rank) o->shape.lo += o->counts[r];
    }
    o->shape.n_loc = o->counts[c->rank];
    size_t nr = (size_t)(s->n_rows ? s->n_rows : 1);
    o->dhess = sl_calloc(nr, sizeof(double));
    o->dhess_trial = sl_calloc(nr, sizeof(double));
    o->tmp = s->dense ? sl_calloc(nr, sizeof(double)) : NULL;
    o->rec = s->dense ? NULL : sl_calloc((size_t)(2 * n_cols + 1), sizeof(double));
    o->ncd = n_cols;
    *out = o;
    return SL_OK;
}

enum sl_status sl_obj_create_multi(struct sl_objective **out, const struct sl_shard *s,
                                   int64_t n_cols, int64_t K, double l2, int fit_intercept,
                                   struct sl_comm *c) {
    *out = NULL;
    if (K < 2 || (s->dense && (s->n_rows > INT_MAX || s->n_features > INT_MAX ||
                               n_cols * K > INT_MAX || s->n_rows * K > INT_MAX)))
        return SL_ERR_ARG;
    /* The binary objective over K n_cols weights and K intercepts gives the
     * shape, the slices and the buffers sized by dim; then the K-wide parts. */
    struct sl_objective *o;
    enum sl_status st = sl_obj_create(&o, s, K * n_cols, l2, 0, c);
    if (st) return st;
    if (fit_intercept) {
        o->shape.fit_intercept = 1;
        o->shape.dim += K;
        int64_t lo = 0;
        for (int r = 0; r < c->size; r++) {
            o->counts[r] = o->shape.dim / c->size + (r < o->shape.dim % c->size ? 1 : 0);
            if (r < c->rank) lo += o->counts[r];
        }
        o->shape.lo = lo;
        o->shape.n_loc = o->counts[c->rank];
    }
    o->K = K;
    o->ncd = n_cols;
    const size_t nrk = (size_t)((s->n_rows ? s->n_rows : 1) * K);
    o->P = sl_calloc(nrk, sizeof(double));
    o->P_trial = sl_calloc(nrk, sizeof(double));
    o->mtmp = sl_calloc(nrk, sizeof(double));
    free(o->rec); /* the binary kernels' records: the K-wide passes use wt and gt */
    o->rec = NULL;
    o->wt = sl_calloc((size_t)((n_cols + 1) * K), sizeof(double));
    o->gt = sl_calloc((size_t)((2 * n_cols + 2) * K), sizeof(double));
    *out = o;
    return SL_OK;
}

int64_t sl_obj_classes(const struct sl_objective *o) {
    return o->K;
}

void sl_obj_set_loss(struct sl_objective *o, enum sl_loss loss) {
    o->loss = loss;
}

enum sl_loss sl_obj_loss(const struct sl_objective *o) {
    return o->loss;
}

void sl_obj_set_l1(struct sl_objective *o, double l1) {
    o->shape.l1 = l1;
}

void sl_obj_destroy(struct sl_objective *o) {
    if (!o) return;
    free(o->counts);
    free(o->inv_sd);
    free(o->wsc);
    free(o->dhess);
    free(o->dhess_trial);
    free(o->tmp);
    free(o->rec);
    free(o->P);
    free(o->P_trial);
    free(o->mtmp);
    free(o->wt);
    free(o->gt);
    free(o);
}

const struct sl_obj_shape *sl_obj_shape(const struct sl_objective *o) {
    return &o->shape;
}

struct sl_comm *sl_obj_comm(const struct sl_objective *o) {
    return o->comm;
}

void sl_obj_set_stop_flag(struct sl_objective *o, const volatile sig_atomic_t *flag) {
    o->stop_flag = flag;
}

double sl_obj_compute_seconds(const struct sl_objective *o) {
    return o->compute_seconds;
}

int64_t sl_obj_passes(const struct sl_objective *o) {
    return o->passes;
}

const double *sl_obj_gather(struct sl_objective *o, const double *x) {
    return sl_comm_gather_view(o->comm, x, o->counts);
}

void sl_obj_sum(struct sl_objective *o, double *v, int k) {
    if (o->comm->size > 1) sl_comm_sum_f64(o->comm, v, (size_t)k);
}

int sl_obj_sum_poll(struct sl_objective *o, double *v, int k) {
    /* At most 4 values are summed here: keep them and the flag on the stack. */
    SL_ASSERT(k >= 0 && k <= 4);
    double buf[5];
    memcpy(buf, v, sizeof(double) * (size_t)k);
    buf[k] = (o->stop_flag && *o->stop_flag) ? 1.0 : 0.0;
    sl_comm_sum_f64(o->comm, buf, (size_t)k + 1);
    memcpy(v, buf, sizeof(double) * (size_t)k);
    return buf[k] > 0;
}

int sl_obj_stop_requested(const struct sl_objective *o) {
    return o->stop_flag && *o->stop_flag;
}

void sl_obj_set_passes(struct sl_objective *o, int64_t passes) {
    o->passes = passes;
}

/* Of this rank's slice, the elements [0, n) that are weights; the rest (at
 * most the last one) is the intercept. A slice may be empty, or hold only the
 * intercept, when there are more ranks than elements. */
static int64_t slice_weights(const struct sl_objective *o) {
    int64_t n = o->shape.n_cols - o->shape.lo;
    return n < 0 ? 0 : n < o->shape.n_loc ? n : o->shape.n_loc;
}

/* out: (n_loc) <- this rank's slice of a derivative of F from the summed
 * pass sums: (dim), out_j = sum_j / n + the regulariser's part: lambda x_j
 * with x: (n_loc) the slice of the point (gradient, Hessian times x), lambda
 * with x NULL (the Hessian's diagonal). The intercept, global index n_cols,
 * is not regularised. */
static void slice_derivative(const struct sl_objective *o, const double *sums, const double *x,
                             double *out) {
    const double *sl = sums + o->shape.lo;
    const int64_t nw = slice_weights(o);
    for (int64_t j = 0; j < nw; j++)
        out[j] = sl[j] * o->inv_n + o->shape.l2 * (x ? x[j] : 1.0);
    for (int64_t j = nw; j < o->shape.n_loc; j++)
        out[j] = sl[j] * o->inv_n;
}

/* One element of the pseudo-gradient of the smooth part plus a |w_j|,
 * g_j that part's derivative. */
static double pseudo_grad_1(double a, double wj, double gj) {
    if (wj > 0) return gj + a;
    if (wj < 0) return gj - a;
    if (gj + a < 0) return gj + a;
    if (gj - a > 0) return gj - a;
    return 0.0;
}

void sl_obj_pseudo_grad(const struct sl_objective *o, const double *w, const double *g,
                        double *pg) {
    const int64_t nw = slice_weights(o);
    for (int64_t j = 0; j < o->shape.n_loc; j++)
        pg[j] = j < nw ? pseudo_grad_1(o->shape.l1, w[j], g[j]) : g[j];
}

/* Multinomial: o->wt (ncd, K) <- the class-major point full: (dim) in the
 * data's units; returns the intercepts (K) or NULL. */
static const double *mn_load(struct sl_objective *o, const double *full) {
    const int64_t K = o->K, nc = o->ncd;
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < nc; j++)
            o->wt[j * K + k] = o->inv_sd ? full[k * nc + j] * o->inv_sd[j] : full[k * nc + j];
    return o->shape.fit_intercept ? full + K * nc : NULL;
}

/* Multinomial: out: (dim) class-major <- the sums in the kernels' layout
 * t: (ncd, K) and tb: (K), back into the scaled space (pw as scale_cols). */
static void mn_store(const struct sl_objective *o, const double *t, const double *tb, double *out,
                     int pw) {
    const int64_t K = o->K, nc = o->ncd;
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < nc; j++) {
            const double sc =
                o->inv_sd ? (pw == 2 ? o->inv_sd[j] * o->inv_sd[j] : o->inv_sd[j]) : 1.0;
            out[k * nc + j] = t[j * K + k] * sc;
        }
    if (o->shape.fit_intercept) memcpy(out + K * nc, tb, sizeof(double) * (size_t)K);
}

/* Multinomial fg pass: buf (dim) <- gradient sums, dg (dim) <- diagonal
 * sums when not NULL; P_trial <- the probabilities. */
static void mn_pass_fg(struct sl_objective *o, const double *full, double *buf, double *dg,
                       double *loss, double *correct) {
    const int64_t K = o->K, nc = o->ncd;
    double *gt = o->gt, *dgt = o->gt + nc * K, *gb = o->gt + 2 * nc * K, *dgb = gb + K;
    memset(o->gt, 0, sizeof(double) * (size_t)((2 * nc + 2) * K));
    const double *b = mn_load(o, full);
    sl_kernel_mn_fg(o->shard, K, o->wt, b, gt, gb, dg ? dgt : NULL, dgb, o->P_trial, o->mtmp, loss,
                    correct);
    mn_store(o, gt, gb, buf, 1);
    if (dg) mn_store(o, dgt, dgb, dg, 2);
}

/* Multinomial Hessian times the direction full: (dim) into buf (dim). */
static void mn_pass_hv(struct sl_objective *o, const double *full, double *buf) {
    const int64_t K = o->K, nc = o->ncd;
    double *ht = o->gt, *hb = o->gt + 2 * nc * K;
    memset(o->gt, 0, sizeof(double) * (size_t)((2 * nc + 2) * K));
    const double *vb = mn_load(o, full);
    sl_kernel_mn_hv(o->shard, K, o->P, o->wt, vb, ht, hb, o->mtmp);
    mn_store(o, ht, hb, buf, 1);
}

enum sl_status sl_obj_fg(struct sl_objective *o, const double *w, double *g, double *diag,
                         struct sl_fg_info *info) {
    const int64_t nc = o->shape.n_cols, dim = o->shape.dim;
    const double *full = sl_obj_gather(o, w);
    const double b = o->shape.fit_intercept ? full[nc] : 0.0;
    /* buf: [g (n_cols), gb | diag (n_cols), diagb | loss_sum, correct, stop,
     * |w|^2, |w|_1 over the slices] (gb and diagb only with an intercept):
     * one allreduce sums it all. */
    const size_t nsum = diag ? (size_t)(2 * dim) : (size_t)dim;
    double *buf = sl_comm_sum_begin(o->comm, nsum + 5); /* every value set below */
    double *dg = diag ? buf + dim : NULL, *tail = buf + nsum;
    double gb = 0.0, dgb = 0.0, loss = 0.0, correct = 0.0, wsq_slice = 0.0, wabs_slice = 0.0;
    for (int64_t j = 0; j < slice_weights(o); j++) {
        wsq_slice += w[j] * w[j];
        wabs_slice += fabs(w[j]);
    }
    double t0 = sl_wtime();
    if (o->K) {
        mn_pass_fg(o, full, buf, dg, &loss, &correct);
    } else if (o->shard->dense) {
        memset(buf, 0, sizeof(double) * nsum);
        sl_kernel_fg_dense(o->shard, o->loss, dense_point(o, full), b, buf, &gb, dg, &dgb,
                           o->dhess_trial, o->tmp, &loss, &correct);
        scale_cols(o->inv_sd, buf, nc, 1);
    } else {
        /* rec: (n_cols, 2) rows [w_j, g_j]; g is copied out into buf. */
        records_load(o->rec, full, o->inv_sd, nc);
        if (dg) memset(dg, 0, sizeof(double) * (size_t)nc);
        sl_kernel_fg_csr(o->shard, o->loss, o->rec, b, &gb, dg, &dgb, o->dhess_trial, &loss,
                         &correct);
        records_sums(o->rec, o->inv_sd, buf, nc);
    }
    if (dg && !o->K) scale_cols(o->inv_sd, dg, nc, 2);
    if (o->shape.fit_intercept && !o->K) {
        buf[nc] = gb;
        if (dg) dg[nc] = dgb;
    }
    tail[0] = loss;
    tail[1] = correct;
    tail[2] = (o->stop_flag && *o->stop_flag) ? 1.0 : 0.0;
    tail[3] = wsq_slice;
    tail[4] = wabs_slice;
    o->compute_seconds += sl_wtime() - t0;
    o->passes++;
    /* sum may be the node's shared window: read before the next collective. */
    const double *sum = sl_comm_sum_end(o->comm, nsum + 5), *st = sum + nsum;
    if (st[2] > 0) return SL_ERR_INTERRUPTED;
    const double wsq = st[3], loss_sum = st[0], correct_sum = st[1], wabs = st[4];

    /* This rank's slice of the summed gradient (and of the diagonal of
     * lambda I + (1/n) X^T D X), and |grad F| summed over the slices. */
    slice_derivative(o, sum, w, g);
    if (diag) slice_derivative(o, sum + dim, NULL, diag);
    double gsq = 0.0;
    const int64_t nw = o->shape.l1 > 0 ? slice_weights(o) : 0;
    for (int64_t j = 0; j < o->shape.n_loc; j++) {
        const double gj = j < nw ? pseudo_grad_1(o->shape.l1, w[j], g[j]) : g[j];
        gsq += gj * gj;
    }
    sl_obj_sum(o, &gsq, 1);
    info->logloss = loss_sum * o->inv_n;
    info->objective = info->logloss + 0.5 * o->shape.l2 * wsq + o->shape.l1 * wabs;
    info->accuracy = o->loss == SL_LOSS_SQUARED ? (double)NAN : correct_sum * o->inv_n;
    info->grad_norm = sqrt(gsq);
    return SL_OK;
}

void sl_obj_accept(struct sl_objective *o) {
    double *t = o->dhess;
    o->dhess = o->dhess_trial;
    o->dhess_trial = t;
    t = o->P;
    o->P = o->P_trial;
    o->P_trial = t;
}

/* One Hessian-vector pass at full (dim): the summed pass sums (dim) in the
 * node's sum buffer (read before the next collective). */
static const double *hv_pass(struct sl_objective *o, const double *full) {
    const int64_t nc = o->shape.n_cols;
    const double vb = o->shape.fit_intercept ? full[nc] : 0.0;
    double *buf = sl_comm_sum_begin(o->comm, (size_t)o->shape.dim); /* [hv (n_cols), hvb] */
    double hvb = 0.0;
    double t0 = sl_wtime();
    if (o->K) {
        mn_pass_hv(o, full, buf);
    } else if (o->shard->dense) {
        memset(buf, 0, sizeof(double) * (size_t)nc);
        sl_kernel_hv_dense(o->shard, o->dhess, dense_point(o, full), vb, buf, &hvb, o->tmp);
        scale_cols(o->inv_sd, buf, nc, 1);
    } else {
        records_load(o->rec, full, o->inv_sd, nc); /* (n_cols, 2) rows [v_j, (Hv)_j] */
        sl_kernel_hv_csr(o->shard, o->dhess, o->rec, vb, &hvb);
        records_sums(o->rec, o->inv_sd, buf, nc);
    }
    if (o->shape.fit_intercept && !o->K) buf[nc] = hvb;
    o->compute_seconds += sl_wtime() - t0;
    o->passes++;
    return sl_comm_sum_end(o->comm, (size_t)o->shape.dim);
}

void sl_obj_hv(struct sl_objective *o, const double *v, double *hv) {
    slice_derivative(o, hv_pass(o, sl_obj_gather(o, v)), v, hv);
}

void sl_obj_hv_full(struct sl_objective *o, const double *v, double *hv) {
    const double *sum = hv_pass(o, v);
    const int64_t nc = o->shape.n_cols;
    for (int64_t j = 0; j < o->shape.dim; j++)
        hv[j] = sum[j] * o->inv_n + (j < nc ? o->shape.l2 * v[j] : 0.0);
}

/* Multinomial mini-batch residuals (objective.h): r: (nb, K). */
static void mn_batch_residuals(struct sl_objective *o, const int64_t *rows, int64_t nb,
                               const double *v, double scale, const double *b, double *r) {
    const struct sl_shard *s = o->shard;
    const int64_t K = o->K, nc = o->ncd;
    double *m = o->gt, *p = o->gt + K; /* (K) each, scratch */
    for (int64_t q = 0; q < nb; q++) {
        const int64_t i = rows[q];
        for (int64_t k = 0; k < K; k++)
            m[k] = scale * sl_kernel_row_dot_scaled(s, i, v + k * nc, o->inv_sd, 0.0) +
                   (o->shape.fit_intercept ? b[k] : 0.0);
        sl_softmax(m, K, p);
        const double sw = s->weights ? s->weights[i] : 1.0;
        for (int64_t k = 0; k < K; k++)
            r[q * K + k] = sw * (p[k] - (k == (int64_t)s->y[i] ? 1.0 : 0.0));
    }
}

void sl_obj_batch_residuals(struct sl_objective *o, const int64_t *rows, int64_t nb,
                            const double *v, double scale, const double *bp, double *r) {
    const struct sl_shard *s = o->shard;
    double t0 = sl_wtime();
    if (o->K) {
        mn_batch_residuals(o, rows, nb, v, scale, bp, r);
        o->compute_seconds += sl_wtime() - t0;
        return;
    }
    const double b = bp[0];
    for (int64_t q = 0; q < nb; q++) {
        const int64_t i = rows[q];
        const double m = scale * sl_kernel_row_dot_scaled(s, i, v, o->inv_sd, 0.0) + b;
        r[q] = sl_loss_residual(o->loss, m, s->y[i]) * (s->weights ? s->weights[i] : 1.0);
    }
    o->compute_seconds += sl_wtime() - t0;
}

void sl_obj_batch_update(struct sl_objective *o, const int64_t *rows, int64_t nb, const double *a,
                         double *v) {
    double t0 = sl_wtime();
    if (o->K) {
        for (int64_t q = 0; q < nb; q++)
            for (int64_t k = 0; k < o->K; k++)
                sl_kernel_row_axpy_scaled(o->shard, rows[q], a[q * o->K + k], o->inv_sd,
                                          v + k * o->ncd);
    } else {
        for (int64_t q = 0; q < nb; q++)
            sl_kernel_row_axpy_scaled(o->shard, rows[q], a[q], o->inv_sd, v);
    }
    o->compute_seconds += sl_wtime() - t0;
}

double sl_obj_reg_shrink(const struct sl_objective *o, double lr) {
    return 1.0 - lr * o->shape.l2;
}

enum sl_status sl_obj_standardize(struct sl_objective *o) {
    const struct sl_shard *s = o->shard;
    const int64_t nc = o->ncd;
    /* sums: [sum_j x (n_cols) | sum_j x^2 (n_cols)] over this rank's rows;
     * a sparse row's absent entries are zeros, which add nothing. */
    double *sums = sl_calloc((size_t)(2 * nc + 1), sizeof(double));
    for (int64_t i = 0; i < s->n_rows; i++) {
        if (s->dense) {
            const double *x = s->values + i * s->n_features;
            for (int64_t j = 0; j < nc; j++) {
                sums[j] += x[j];
                sums[nc + j] += x[j] * x[j];
            }
        } else {
            for (int64_t k = s->indptr[i]; k < s->indptr[i + 1]; k++) {
                const double x = s->values[k];
                sums[s->indices[k]] += x;
                sums[nc + s->indices[k]] += x * x;
            }
        }
    }
    sl_comm_sum_f64(o->comm, sums, (size_t)(2 * nc));
    free(o->inv_sd);
    o->inv_sd = sl_malloc(sizeof(double) * (size_t)(nc ? nc : 1));
    for (int64_t j = 0; j < nc; j++) {
        const double mean = sums[j] * o->inv_n;
        const double var = sums[nc + j] * o->inv_n - mean * mean;
        /* Constant columns (variance 0 up to rounding) get weight 0: scale 0. */
        const double sd = var > 1e-12 * (sums[nc + j] * o->inv_n) && var > 0 ? sqrt(var) : 0.0;
        o->inv_sd[j] = sd > 0 ? 1.0 / sd : 0.0;
    }
    free(sums);
    if (s->dense && !o->wsc) o->wsc = sl_calloc((size_t)(nc ? nc : 1), sizeof(double));
    return SL_OK;
}

void sl_obj_to_model(const struct sl_objective *o, const double *v, double *w) {
    for (int64_t j = 0; j < o->shape.n_cols; j++)
        w[j] = o->inv_sd ? v[j] * o->inv_sd[j % o->ncd] : v[j];
    for (int64_t j = o->shape.n_cols; j < o->shape.dim; j++)
        w[j] = v[j];
}

double sl_obj_from_model(const struct sl_objective *o, int64_t j, double w) {
    if (!o->inv_sd || j >= o->shape.n_cols) return w;
    return o->inv_sd[j % o->ncd] > 0 ? w / o->inv_sd[j % o->ncd] : 0.0;
}

int sl_obj_has_hessian(const struct sl_objective *o) {
    return o->K == 0;
}

double sl_obj_hessian_cost(struct sl_objective *o) {
    const double dim = (double)o->shape.dim;
    double cost[2] = {0.0, 0.0};
    sl_kernel_hessian_cost(o->shard, o->shape.n_cols, cost);
    sl_obj_sum(o, cost, 2);
    /* A pass runs on all ranks at once; the factorisation (dim^3 / 3 flops)
     * on each rank alike, so it weighs against one rank's part of a pass. */
    const double pass = cost[1] / (double)o->comm->size + 1.0;
    return cost[0] / cost[1] + dim * dim * dim / 3.0 / SL_BLAS3_SPEEDUP / pass;
}

void sl_obj_hessian(struct sl_objective *o, double *H) {
    const int64_t nc = o->shape.n_cols, dim = o->shape.dim;
    const double *sc = o->inv_sd;
    double t0 = sl_wtime();
    memset(H, 0, sizeof(double) * (size_t)(dim * dim));
    sl_kernel_hessian(o->shard, o->dhess, nc, o->shape.fit_intercept, H);
    o->compute_seconds += sl_wtime() - t0;
    o->passes++;
    /* Only the lower triangle is summed: its rows packed in place, one
     * after the other (row a at a (a + 1) / 2), then spread back. */
    for (int64_t a = 1; a < dim; a++)
        memmove(H + a * (a + 1) / 2, H + a * dim, sizeof(double) * (size_t)(a + 1));
    sl_comm_sum_f64(o->comm, H, (size_t)(dim * (dim + 1) / 2));
    for (int64_t a = dim - 1; a > 0; a--) {
        memmove(H + a * dim, H + a * (a + 1) / 2, sizeof(double) * (size_t)(a + 1));
        /* The upper part of the row held packed rows: zero it again. */
        memset(H + a * dim + a + 1, 0, sizeof(double) * (size_t)(dim - a - 1));
    }
    if (dim > 1) memset(H + 1, 0, sizeof(double) * (size_t)(dim - 1));
    /* Into the optimiser's space (H_ab sd-scaled on both sides), over n,
     * plus lambda on the weights' diagonal; the lower triangle only. */
    for (int64_t a = 0; a < dim; a++) {
        double *ha = H + a * dim;
        const double sa = sc && a < nc ? sc[a] : 1.0;
        for (int64_t b = 0; b <= a; b++)
            ha[b] *= (sc && b < nc ? sc[b] : 1.0) * sa * o->inv_n;
        if (a < nc) ha[a] += o->shape.l2;
    }
}
