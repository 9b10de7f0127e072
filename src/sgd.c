/* sgd.c - mini-batch SGD with local steps and model averaging.
 *
 * At millions of features an allreduce of the whole model every step would
 * dominate the run, so each rank takes --sync-every local steps on its own
 * rows and then the ranks average their models, weighted by their row counts
 * (--sync-every 1 is synchronous SGD: the same as one step on the union of
 * the batches). The L2 shrink is kept in a scale factor (w = scale * v) so a
 * sparse step costs O(nonzeros of the batch), not O(d).
 *
 * With opt->average the result is the running mean of the synchronised
 * models over the second half of the epochs (Polyak-Ruppert averaging):
 * the noise of the last steps averages out, so a modest number of epochs
 * lands close to the optimum. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/optim.h"
#include "vec.h"

/* splitmix64: a small, well-mixed generator; one stream per (seed, rank). */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void shuffle(int64_t *perm, int64_t n, uint64_t *rng) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(rng_next(rng) % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

struct sgd_state {
    const struct sl_shard *s;
    int64_t nc;
    double *v;     /* (nc) w = scale * v */
    double scale;
    double b;
    double *m;     /* (batch) margins, then residuals */
};

static void materialize(struct sgd_state *st) {
    if (st->scale == 1.0) return;
    for (int64_t j = 0; j < st->nc; j++) st->v[j] *= st->scale;
    st->scale = 1.0;
}

static double row_dot(const struct sl_shard *s, int64_t i, const double *v) {
    double t = 0.0;
    if (s->dense) {
        const double *x = s->values + i * s->n_features;
        for (int64_t j = 0; j < s->n_features; j++) t += v[j] * x[j];
    } else {
        for (int64_t k = s->indptr[i]; k < s->indptr[i + 1]; k++) t += v[s->indices[k]] * s->values[k];
    }
    return t;
}

static void row_axpy(const struct sl_shard *s, int64_t i, double a, double *v) {
    if (s->dense) {
        const double *x = s->values + i * s->n_features;
        for (int64_t j = 0; j < s->n_features; j++) v[j] += a * x[j];
    } else {
        for (int64_t k = s->indptr[i]; k < s->indptr[i + 1]; k++) v[s->indices[k]] += a * s->values[k];
    }
}

/* One step on rows[0..nb): gradient of the batch mean loss + L2 at the
 * current w, then w <- w - lr g. */
static void sgd_step(struct sgd_state *st, const int64_t *rows, int64_t nb, double lr, double l2,
                     int fit_intercept) {
    const struct sl_shard *s = st->s;
    for (int64_t q = 0; q < nb; q++) {
        int64_t i = rows[q];
        double z = s->y[i] * (st->scale * row_dot(s, i, st->v) + st->b);
        /* r = d loss / d margin = -y sigma(-z) */
        st->m[q] = -s->y[i] * sl_sigmoid(-z);
    }
    double shrink = 1.0 - lr * l2;
    st->scale *= shrink > 1e-12 ? shrink : 1e-12;
    double step = lr / (double)nb;
    double rb = 0.0;
    for (int64_t q = 0; q < nb; q++) {
        row_axpy(s, rows[q], -step * st->m[q] / st->scale, st->v);
        rb += st->m[q];
    }
    if (fit_intercept) st->b -= step * rb;
    if (st->scale < 1e-9) materialize(st);
}

enum sl_status sl_sgd(struct sl_objective *o, double *w, const struct sl_optim_opts *opt,
                      sl_iter_fn cb, void *ctx, struct sl_optim_result *res) {
    const struct sl_shard *s = o->shard;
    struct sl_comm *c = o->comm;
    const int64_t nc = o->n_cols, n = o->dim;
    const int64_t B = opt->batch_size > 0 ? opt->batch_size : 1;
    const int64_t K = opt->sync_every > 0 ? opt->sync_every : 1;
    /* Steps per epoch, the same on every rank: one pass over the global data
     * when every rank takes B rows a step. */
    const int64_t per_round = B * c->size;
    const int64_t steps = (s->n_rows_global + per_round - 1) / per_round;
    /* Model averaging weight: this rank's share of the rows. */
    const double share = (double)s->n_rows / (double)s->n_rows_global;
    /* SGD steps on the whole model, so it keeps the whole of it (dim); w, the
     * start point and the result, is this rank's slice (objective.h). */
    double *wf = sl_malloc(sizeof(double) * (size_t)(n ? n : 1));
    memcpy(wf, sl_obj_gather(o, w), sizeof(double) * (size_t)n);
    struct sgd_state st = {s, nc, wf, 1.0, o->fit_intercept ? wf[nc] : 0.0, NULL};
    st.m = sl_calloc((size_t)B, sizeof(double));
    int64_t *perm = sl_malloc(sizeof(int64_t) * (size_t)(s->n_rows ? s->n_rows : 1));
    for (int64_t i = 0; i < s->n_rows; i++) perm[i] = i;
    uint64_t rng = opt->seed * 0x9E3779B97F4A7C15ull + (uint64_t)c->rank + 1;
    double *g = sl_calloc((size_t)(o->n_loc ? o->n_loc : 1), sizeof(double));
    /* avg: (dim) running mean of synchronised models, when averaging. */
    double *avg = opt->average ? sl_calloc((size_t)n, sizeof(double)) : NULL;
    int64_t n_avg = 0;
    const int avg_from = opt->epochs / 2 + 1;
    int64_t *batch = sl_malloc(sizeof(int64_t) * (size_t)B);
    struct sl_fg_info info;
    memset(&info, 0, sizeof info);
    memset(res, 0, sizeof *res);
    enum sl_status rc = SL_OK;
    int64_t t = 0, pos = s->n_rows; /* pos past the end: shuffle first */
    double t_step = sl_wtime(), ar_step = c->allreduce_seconds;

    for (int epoch = 1; epoch <= opt->epochs; epoch++) {
        double t0 = sl_wtime();
        for (int64_t k = 0; k < steps; k++, t++) {
            int64_t nb = 0;
            while (nb < B && s->n_rows > 0) {
                if (pos >= s->n_rows) {
                    shuffle(perm, s->n_rows, &rng);
                    pos = 0;
                }
                batch[nb++] = perm[pos++];
            }
            double lr = opt->lr / (1.0 + opt->lr_decay * (double)t / (double)steps);
            if (nb > 0) sgd_step(&st, batch, nb, lr, o->l2, o->fit_intercept);
            if ((t + 1) % K == 0 || k == steps - 1) {
                /* Average over ranks, weighted by rows: w = sum_r share_r w_r. */
                materialize(&st);
                if (o->fit_intercept) wf[nc] = st.b;
                o->compute_seconds += sl_wtime() - t0;
                if (c->size > 1) {
                    for (int64_t j = 0; j < n; j++) wf[j] *= share;
                    sl_comm_sum_f64(c, wf, (size_t)n);
                }
                st.b = o->fit_intercept ? wf[nc] : 0.0;
                if (avg && epoch >= avg_from) {
                    n_avg++;
                    for (int64_t j = 0; j < n; j++) avg[j] += (wf[j] - avg[j]) / (double)n_avg;
                }
                t0 = sl_wtime();
            }
        }
        o->compute_seconds += sl_wtime() - t0;
        /* Full objective of the model (the averaged one once averaging has
         * started): one more pass per epoch. */
        const double *model = (n_avg > 0 ? avg : wf) + o->lo; /* the same on every rank */
        if ((rc = sl_obj_fg(o, model, g, NULL, &info))) break;
        res->iterations = epoch;
        if (cb) {
            struct sl_iter_info it = {epoch, info.objective, info.logloss, info.accuracy,
                                      info.grad_norm, sl_wtime() - t_step,
                                      c->allreduce_seconds - ar_step, o->passes, 0};
            cb(&it, model, ctx);
        }
        t_step = sl_wtime();
        ar_step = c->allreduce_seconds;
    }
    memcpy(w, (n_avg > 0 ? avg : wf) + o->lo, sizeof(double) * (size_t)o->n_loc);
    res->final = info;
    free(wf);
    free(avg);
    free(g);
    free(batch);
    free(perm);
    free(st.m);
    return rc;
}

enum sl_status sl_optimize(struct sl_objective *o, double *w, const struct sl_optim_opts *opt,
                           sl_iter_fn cb, void *ctx, struct sl_optim_result *res) {
    switch (opt->kind) {
    case SL_OPT_NEWTON: return sl_newton(o, w, opt, cb, ctx, res);
    case SL_OPT_LBFGS: return sl_lbfgs(o, w, opt, cb, ctx, res);
    case SL_OPT_SGD: return sl_sgd(o, w, opt, cb, ctx, res);
    }
    return SL_ERR_ARG;
}

const char *sl_optimizer_name(enum sl_optimizer k) {
    switch (k) {
    case SL_OPT_NEWTON: return "newton";
    case SL_OPT_LBFGS: return "lbfgs";
    case SL_OPT_SGD: return "sgd";
    }
    return "?";
}
