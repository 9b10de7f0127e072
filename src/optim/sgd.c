/* sgd.c - mini-batch SGD with local steps and model averaging.
 *
 * At millions of features an allreduce of the whole model every step would
 * dominate the run, so each rank takes --sync-every local steps on its own
 * rows and then the ranks average their models, weighted by their row counts
 * (--sync-every 1 is synchronous SGD: the same as one step on the union of
 * the batches). The regulariser's shrink (sl_obj_reg_shrink) is kept in a
 * scale factor (w = scale * v) so a sparse step costs O(nonzeros of the
 * batch), not O(d). The loss is the objective's: its mini-batch residuals
 * and updates (objective.h).
 *
 * With opt->average the result is the running mean of the synchronised
 * models over the second half of the epochs (Polyak-Ruppert averaging):
 * the noise of the last steps averages out, so a modest number of epochs
 * lands close to the optimum. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim/solvers.h"

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

/* One rank's SGD: the whole model (dim), its row order and the batch. */
struct sgd {
    struct sl_objective *o;
    const struct sl_obj_shape *sh;
    const struct sl_optim_opts *opt;
    int64_t B, K;  /* rows per local step; local steps between averages */
    int64_t steps; /* steps per epoch, the same on every rank */
    double share;  /* this rank's share of the rows: its averaging weight */
    double *wf;    /* (dim) the model: w = scale * wf[0..n_cols), b = wf[n_cols..dim) */
    double scale;
    int64_t R;          /* residuals per row: 1, or K for multinomial (objective.h) */
    int64_t ni;         /* intercepts: dim - n_cols (0, 1 or K) */
    double *b;          /* (max(ni, 1)) the intercepts, 0 without */
    double *rb;         /* (R) the batch's residual sums */
    double *r;          /* (B, R) the batch's residuals, then its update coefficients */
    int64_t *perm, pos; /* this rank's rows in shuffled order; next one to take */
    int64_t *batch;     /* (B) */
    uint64_t rng;
    double *avg; /* (dim) running mean of synchronised models, when averaging */
    int64_t n_avg;
};

static void materialize(struct sgd *st) {
    if (st->scale == 1.0) return;
    for (int64_t j = 0; j < st->sh->n_cols; j++)
        st->wf[j] *= st->scale;
    st->scale = 1.0;
}

/* One step on the next nb rows: the gradient of the batch mean loss and the
 * regulariser at the current w, then w <- w - lr g. */
static void sgd_step(struct sgd *st, int64_t nb, double lr) {
    sl_obj_batch_residuals(st->o, st->batch, nb, st->wf, st->scale, st->b, st->r);
    double shrink = sl_obj_reg_shrink(st->o, lr);
    st->scale *= shrink > 1e-12 ? shrink : 1e-12;
    double step = lr / (double)nb;
    memset(st->rb, 0, sizeof(double) * (size_t)st->R);
    for (int64_t q = 0; q < nb * st->R; q++) {
        st->rb[q % st->R] += st->r[q];
        st->r[q] = -step * st->r[q] / st->scale;
    }
    sl_obj_batch_update(st->o, st->batch, nb, st->r, st->wf);
    for (int64_t k = 0; k < st->ni; k++)
        st->b[k] -= step * st->rb[k];
    if (st->scale < 1e-9) materialize(st);
}

/* The next B rows of this rank's shuffled order (fewer only when it has none). */
static int64_t next_batch(struct sgd *st) {
    const int64_t n_rows = st->sh->n_rows;
    int64_t nb = 0;
    while (nb < st->B && n_rows > 0) {
        if (st->pos >= n_rows) {
            shuffle(st->perm, n_rows, &st->rng);
            st->pos = 0;
        }
        st->batch[nb++] = st->perm[st->pos++];
    }
    return nb;
}

/* Average over ranks, weighted by rows: w = sum_r share_r w_r; then fold
 * the result into the running mean once averaging has started. Returns 1
 * on every rank when a stop was requested on any (the flag rides along in
 * wf[dim]). */
static int synchronise(struct sgd *st, int averaging) {
    const int64_t nc = st->sh->n_cols, n = st->sh->dim;
    struct sl_comm *c = sl_obj_comm(st->o);
    materialize(st);
    memcpy(st->wf + nc, st->b, sizeof(double) * (size_t)st->ni);
    double stop = sl_obj_stop_requested(st->o) ? 1.0 : 0.0;
    if (c->size > 1) {
        for (int64_t j = 0; j < n; j++)
            st->wf[j] *= st->share;
        st->wf[n] = stop;
        sl_comm_sum_f64(c, st->wf, (size_t)n + 1);
        stop = st->wf[n];
    }
    memcpy(st->b, st->wf + nc, sizeof(double) * (size_t)st->ni);
    if (st->avg && averaging) {
        st->n_avg++;
        for (int64_t j = 0; j < n; j++)
            st->avg[j] += (st->wf[j] - st->avg[j]) / (double)st->n_avg;
    }
    return stop > 0;
}

/* An epoch's local steps from step k0 on, synchronising every K steps and
 * at its end; t counts steps over the whole run (for the step size
 * schedule). Returns the steps of the epoch done: fewer than steps when a
 * stop was agreed at a synchronisation (the model is whole there). */
static int64_t sgd_epoch(struct sgd *st, int epoch, int64_t k0, int64_t *t) {
    const int averaging = epoch >= st->opt->epochs / 2 + 1;
    for (int64_t k = k0; k < st->steps; k++) {
        int64_t nb = next_batch(st);
        double lr = st->opt->lr / (1.0 + st->opt->lr_decay * (double)*t / (double)st->steps);
        if (nb > 0) sgd_step(st, nb, lr);
        const int sync = (*t + 1) % st->K == 0 || k == st->steps - 1;
        (*t)++;
        if (sync && synchronise(st, averaging)) return k + 1;
    }
    return st->steps;
}

static void sgd_init(struct sgd *st, struct sl_objective *o, const double *w,
                     const struct sl_optim_opts *opt) {
    const struct sl_obj_shape *sh = sl_obj_shape(o);
    struct sl_comm *c = sl_obj_comm(o);
    const int64_t B = opt->batch_size > 0 ? opt->batch_size : 1;
    const int64_t n = sh->dim, ni = sh->dim - sh->n_cols;
    const int64_t R = sl_obj_classes(o) ? sl_obj_classes(o) : 1;
    /* Steps per epoch, the same on every rank: one pass over the global data
     * when every rank takes B rows a step. */
    const int64_t per_round = B * c->size;
    *st = (struct sgd){.o = o,
                       .sh = sh,
                       .opt = opt,
                       .B = B,
                       .K = opt->sync_every > 0 ? opt->sync_every : 1,
                       .steps = (sh->n_rows_global + per_round - 1) / per_round,
                       .share = (double)sh->n_rows / (double)sh->n_rows_global,
                       .wf = sl_calloc((size_t)n + 1, sizeof(double)), /* + the stop flag */
                       .scale = 1.0,
                       .R = R,
                       .ni = ni,
                       .b = sl_calloc((size_t)(ni ? ni : 1), sizeof(double)),
                       .rb = sl_calloc((size_t)R, sizeof(double)),
                       .r = sl_calloc((size_t)(B * R), sizeof(double)),
                       .perm = sl_malloc(sizeof(int64_t) * (size_t)(sh->n_rows ? sh->n_rows : 1)),
                       .pos = sh->n_rows, /* past the end: shuffle first */
                       .batch = sl_malloc(sizeof(int64_t) * (size_t)B),
                       .rng = opt->seed * 0x9E3779B97F4A7C15ull + (uint64_t)c->rank + 1,
                       .avg = opt->average ? sl_calloc((size_t)n, sizeof(double)) : NULL};
    /* SGD steps on the whole model, so it keeps the whole of it; w, the
     * start point, is this rank's slice (objective.h). */
    memcpy(st->wf, sl_obj_gather(o, w), sizeof(double) * (size_t)n);
    memcpy(st->b, st->wf + sh->n_cols, sizeof(double) * (size_t)ni);
    for (int64_t i = 0; i < sh->n_rows; i++)
        st->perm[i] = i;
}

/* Where SGD's loop stands at an epoch boundary. */
struct sgd_top {
    int64_t epoch;     /* the epoch begun last (0: none) */
    int64_t step;      /* its steps done */
    int64_t evaluated; /* 1 when all are, and its evaluation and record too */
    int64_t t, passes;
    struct sl_fg_info info;
};

/* s <- the state at an epoch boundary: the model is synchronised there
 * (scale 1, the same on every rank); the row order is each rank's own. */
static void sgd_state(struct sl_optim_state *s, const struct sgd *st, const struct sgd_top *t,
                      int64_t *i64, double *f64, uint64_t *rk) {
    i64[0] = t->epoch;
    i64[1] = t->evaluated;
    i64[2] = t->t;
    i64[3] = t->passes;
    i64[4] = st->n_avg;
    i64[5] = t->step;
    f64[0] = st->b[0]; /* the intercepts are in wf too, synchronised */
    sl_info_pack(&t->info, f64 + 1);
    rk[0] = (uint64_t)st->pos;
    rk[1] = st->rng;
    const int64_t dim = st->sh->dim;
    *s = (struct sl_optim_state){.n = 0};
    sl_state_add(s, "sgd.wf", SL_STATE_SAME, 8, 1, dim, st->wf);
    sl_state_add(s, "sgd.avg", SL_STATE_SAME, 8, 1, st->avg ? dim : 0, st->avg);
    sl_state_add(s, "sgd.i64", SL_STATE_SAME, 8, 1, 6, i64);
    sl_state_add(s, "sgd.f64", SL_STATE_SAME, 8, 1, 5, f64);
    sl_state_add(s, "sgd.perm", SL_STATE_RANK, 8, 1, st->sh->n_rows, st->perm);
    sl_state_add(s, "sgd.rank", SL_STATE_RANK, 8, 1, 2, rk);
}

/* st and t <- a saved state. Without this rank's row order (another rank
 * count) the rows are taken in a new order, its stream derived from the
 * seed, the rank and the epoch. SL_ERR_ARG when the state does not fit. */
static enum sl_status sgd_restore(const struct sl_optim_state *rs, struct sgd *st,
                                  struct sgd_top *t) {
    const int64_t dim = st->sh->dim;
    int64_t i64[6];
    double f64[5];
    uint64_t rk[2];
    if (sl_state_get(rs, "sgd.i64", 8, 6, i64) || sl_state_get(rs, "sgd.f64", 8, 5, f64) ||
        sl_state_get(rs, "sgd.wf", 8, dim, st->wf) ||
        sl_state_get(rs, "sgd.avg", 8, st->avg ? dim : 0, st->avg))
        return SL_ERR_ARG;
    *t = (struct sgd_top){
        .epoch = i64[0], .step = i64[5], .evaluated = i64[1], .t = i64[2], .passes = i64[3]};
    st->n_avg = i64[4];
    memcpy(st->b, st->wf + st->sh->n_cols, sizeof(double) * (size_t)st->ni);
    sl_info_unpack(f64 + 1, &t->info);
    if (sl_state_get(rs, "sgd.perm", 8, st->sh->n_rows, st->perm) == 0 &&
        sl_state_get(rs, "sgd.rank", 8, 2, rk) == 0) {
        st->pos = (int64_t)rk[0];
        st->rng = rk[1];
    } else {
        st->rng ^= (uint64_t)t->epoch * 0xD1B54A32D192ED03ull;
    }
    return SL_OK;
}

enum sl_status sl_sgd(struct sl_objective *o, double *w, const struct sl_optim_opts *opt,
                      sl_iter_fn cb, void *ctx, const struct sl_optim_ckpt *ck,
                      struct sl_optim_result *res) {
    struct sgd st;
    sgd_init(&st, o, w, opt);
    const struct sl_obj_shape *sh = st.sh;
    double *g = sl_calloc((size_t)(sh->n_loc ? sh->n_loc : 1), sizeof(double));
    memset(res, 0, sizeof *res);
    struct sgd_top top = {.evaluated = 1};
    const struct sl_optim_state *rs = ck ? ck->resume : NULL;
    enum sl_status rc = sl_state_find(rs, "sgd.i64") ? sgd_restore(rs, &st, &top) : SL_OK;
    if (top.epoch > 0) {
        sl_obj_set_passes(o, top.passes);
        res->iterations = top.evaluated ? top.epoch : top.epoch - 1;
    }
    struct sl_fg_info info = top.info;
    struct sl_step_clock clock;
    sl_step_clock_start(&clock, o);
    struct sl_optim_state ss;
    int64_t ss_i64[6];
    double ss_f64[5];
    uint64_t ss_rk[2];
    const int first = (int)(top.evaluated ? top.epoch + 1 : top.epoch);
    for (int epoch = first; !rc && epoch <= opt->epochs; epoch++) {
        const int64_t k0 = epoch == top.epoch ? top.step : 0;
        top.step = sgd_epoch(&st, epoch, k0, &top.t);
        top.epoch = epoch;
        top.evaluated = 0;
        top.passes = sl_obj_passes(o);
        if (top.step < st.steps) {
            rc = SL_ERR_INTERRUPTED;
            break;
        }
        /* Full objective of the model (the averaged one once averaging has
         * started): one more pass per epoch. */
        const double *model = (st.n_avg > 0 ? st.avg : st.wf) + sh->lo; /* the same on every rank */
        if ((rc = sl_obj_fg(o, model, g, NULL, &info))) break;
        res->iterations = epoch;
        sl_step_report(&clock, o, cb, ctx, epoch, &info, 0, model);
        top.evaluated = 1;
        top.passes = sl_obj_passes(o);
        top.info = info;
        if (epoch < opt->epochs) {
            sgd_state(&ss, &st, &top, ss_i64, ss_f64, ss_rk);
            sl_ckpt_offer(ck, &ss, 0);
        }
    }
    /* A stop is seen at a synchronisation or in an epoch's evaluation: the
     * steps done are kept, and a resumed run takes the rest of the epoch
     * (or only its evaluation) first. */
    if (rc == SL_ERR_INTERRUPTED) {
        sgd_state(&ss, &st, &top, ss_i64, ss_f64, ss_rk);
        sl_ckpt_offer(ck, &ss, 1);
    }
    memcpy(w, (st.n_avg > 0 ? st.avg : st.wf) + sh->lo, sizeof(double) * (size_t)sh->n_loc);
    res->final = info;
    free(st.wf);
    free(st.b);
    free(st.rb);
    free(st.avg);
    free(g);
    free(st.batch);
    free(st.perm);
    free(st.r);
    return rc;
}
