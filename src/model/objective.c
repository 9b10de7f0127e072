/* objective.c - the objective of a loss (model/loss.h) over a shard, summed over the ranks;
 * each rank keeps its slice of every optimiser vector (objective.h). */
#include "shardlearn/objective.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/kernels.h"
#include "model/loss.h"
#include "shardlearn/clock.h"

struct sl_objective {
    const struct sl_shard *shard; /* indices already compacted */
    struct sl_comm *comm;
    struct sl_obj_shape shape;
    enum sl_loss loss;
    int64_t *counts;     /* (ranks) every rank's n_loc, in rank order */
    double inv_n;        /* 1 / n_rows_global */
    double *dhess;       /* (n_rows) s_i d^2 loss_i / dm^2 at the last fg point */
    double *dhess_trial; /* (n_rows) scratch for a trial point, swapped on accept */
    double *tmp;         /* (n_rows) scratch for the dense kernels */
    double *rec;         /* sparse: (2*n_cols) the kernels' [x_j, sum_j] per column;
                            dense: (dim) the gathered point */
    double *buf;         /* (2*dim + 4) sparse: the gathered point, then the
                            allreduce of [g | diag | loss...]; dense: the sums */
    const volatile sig_atomic_t *stop_flag; /* set by a signal handler; may be NULL */
    double compute_seconds;                 /* wall time in local passes and mini-batch steps */
    int64_t passes;                         /* passes over the shard */
};

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
    for (int64_t j = 0; j < nc; j++)
        out[j] = rec[2 * j + 1];
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
    o->rec = sl_calloc((size_t)(s->dense ? dim + 1 : 2 * n_cols + 1), sizeof(double));
    o->buf = sl_calloc((size_t)(2 * dim + 4), sizeof(double));
    *out = o;
    return SL_OK;
}

void sl_obj_set_loss(struct sl_objective *o, enum sl_loss loss) {
    o->loss = loss;
}

enum sl_loss sl_obj_loss(const struct sl_objective *o) {
    return o->loss;
}

void sl_obj_destroy(struct sl_objective *o) {
    if (!o) return;
    free(o->counts);
    free(o->dhess);
    free(o->dhess_trial);
    free(o->tmp);
    free(o->rec);
    free(o->buf);
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
    /* Sparse passes load the point into their records, so buf is free again
     * for the sums; the dense kernels read it while they write into buf. */
    double *full = o->shard->dense ? o->rec : o->buf;
    sl_comm_allgather_f64(o->comm, x, full, o->counts);
    return full;
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

enum sl_status sl_obj_fg(struct sl_objective *o, const double *w, double *g, double *diag,
                         struct sl_fg_info *info) {
    const int64_t nc = o->shape.n_cols, dim = o->shape.dim;
    const double *full = sl_obj_gather(o, w);
    const double b = o->shape.fit_intercept ? full[nc] : 0.0;
    /* buf: [g (n_cols), gb | diag (n_cols), diagb | loss_sum, correct, stop,
     * |w|^2 over the slices] (gb and diagb only with an intercept): one
     * allreduce sums it all. */
    const size_t nsum = diag ? (size_t)(2 * dim) : (size_t)dim;
    double *buf = o->buf, *dg = diag ? buf + dim : NULL, *tail = buf + nsum;
    double gb = 0.0, dgb = 0.0, loss = 0.0, correct = 0.0, wsq_slice = 0.0;
    for (int64_t j = 0; j < slice_weights(o); j++)
        wsq_slice += w[j] * w[j];
    double t0 = sl_wtime();
    if (o->shard->dense) {
        memset(buf, 0, sizeof(double) * nsum);
        sl_kernel_fg_dense(o->shard, o->loss, full, b, buf, &gb, dg, &dgb, o->dhess_trial, o->tmp, &loss,
                           &correct);
    } else {
        /* rec: (n_cols, 2) rows [w_j, g_j]; g is copied out into buf. */
        records_load(o->rec, full, nc);
        if (dg) memset(dg, 0, sizeof(double) * (size_t)nc);
        sl_kernel_fg_csr(o->shard, o->loss, o->rec, b, &gb, dg, &dgb, o->dhess_trial, &loss,
                         &correct);
        records_sums(o->rec, buf, nc);
    }
    if (o->shape.fit_intercept) {
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
    for (int64_t j = 0; j < o->shape.n_loc; j++)
        gsq += g[j] * g[j];
    sl_obj_sum(o, &gsq, 1);
    info->logloss = tail[0] * o->inv_n;
    info->objective = info->logloss + 0.5 * o->shape.l2 * wsq;
    info->accuracy = o->loss == SL_LOSS_SQUARED ? (double)NAN : tail[1] * o->inv_n;
    info->grad_norm = sqrt(gsq);
    return SL_OK;
}

void sl_obj_accept(struct sl_objective *o) {
    double *t = o->dhess;
    o->dhess = o->dhess_trial;
    o->dhess_trial = t;
}

void sl_obj_hv(struct sl_objective *o, const double *v, double *hv) {
    const int64_t nc = o->shape.n_cols;
    const double *full = sl_obj_gather(o, v);
    const double vb = o->shape.fit_intercept ? full[nc] : 0.0;
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
    if (o->shape.fit_intercept) buf[nc] = hvb;
    o->compute_seconds += sl_wtime() - t0;
    o->passes++;
    sl_comm_sum_f64(o->comm, buf, (size_t)o->shape.dim);
    slice_derivative(o, buf, v, hv);
}

void sl_obj_batch_residuals(struct sl_objective *o, const int64_t *rows, int64_t nb,
                            const double *v, double scale, double b, double *r) {
    const struct sl_shard *s = o->shard;
    double t0 = sl_wtime();
    for (int64_t q = 0; q < nb; q++) {
        const int64_t i = rows[q];
        const double m = scale * sl_kernel_row_dot(s, i, v, 0.0) + b;
        r[q] = sl_loss_residual(o->loss, m, s->y[i]) * (s->weights ? s->weights[i] : 1.0);
    }
    o->compute_seconds += sl_wtime() - t0;
}

void sl_obj_batch_update(struct sl_objective *o, const int64_t *rows, int64_t nb, const double *a,
                         double *v) {
    double t0 = sl_wtime();
    for (int64_t q = 0; q < nb; q++)
        sl_kernel_row_axpy(o->shard, rows[q], a[q], v);
    o->compute_seconds += sl_wtime() - t0;
}

double sl_obj_reg_shrink(const struct sl_objective *o, double lr) {
    return 1.0 - lr * o->shape.l2;
}
