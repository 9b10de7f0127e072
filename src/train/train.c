/* train.c - sl_train: column map -> objective -> optimiser -> model in the
 * file's numbering, with validation metrics every iteration. */
#include "shardlearn/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/colmap.h"
#include "model/kernels.h"
#include "shardlearn/log.h"
#include "shardlearn/objective.h"
#include "train/checkpoint.h"

void sl_train_params_init(struct sl_train_params *p) {
    *p = (struct sl_train_params){.l2 = 1e-4,
                                  .l1 = 0.0,
                                  .loss = SL_LOSS_LOGISTIC,
                                  .standardize = 0,
                                  .init = NULL,
                                  .fit_intercept = 1,
                                  .validation = NULL,
                                  .on_iter = NULL,
                                  .ctx = NULL,
                                  .stop_flag = NULL,
                                  .checkpoint = {.dir = NULL,
                                                 .every_seconds = 600.0,
                                                 .data_name = NULL,
                                                 .data_bytes = -1,
                                                 .validation_name = NULL,
                                                 .weights_name = NULL,
                                                 .note = NULL},
                                  .early_stop = 0,
                                  .metric = SL_METRIC_NONE,
                                  .classes = NULL,
                                  .n_classes = 0};
    sl_optim_opts_init(&p->optim);
}

const char *sl_check_params(const struct sl_train_params *p) {
    const struct sl_optim_opts *o = &p->optim;
    if (strcmp(sl_optimizer_name(o->kind), "?") == 0) return "optim.kind: unknown optimizer";
    if (!(p->l2 >= 0) || !isfinite(p->l2)) return "l2: must be a finite number >= 0";
    if (strcmp(sl_loss_name(p->loss), "?") == 0) return "loss: unknown loss";
    if (!(p->l1 >= 0) || !isfinite(p->l1)) return "l1: must be a finite number >= 0";
    if (p->l1 > 0 && o->kind != SL_OPT_LBFGS)
        return o->kind == SL_OPT_NEWTON
                   ? "l1: newton does not take an L1 penalty; use the lbfgs optimizer (OWL-QN)"
                   : "l1: sgd does not take an L1 penalty; use the lbfgs optimizer (OWL-QN)";
    if ((p->loss == SL_LOSS_MULTINOMIAL) != (p->n_classes >= 3 && p->classes))
        return "classes: a multinomial loss needs its K >= 3 classes, the others none";
    if (!(o->tol >= 0 && o->tol <= 1)) return "optim.tol: must be in [0, 1]";
    if (o->max_iter < 1) return "optim.max_iter: must be >= 1";
    if (o->lbfgs_m < 1) return "optim.lbfgs_m: must be >= 1";
    if (o->newton_solver < SL_NEWTON_AUTO || o->newton_solver > SL_NEWTON_DIRECT)
        return "optim.newton_solver: must be auto, cg or direct";
    if (o->batch_size < 1) return "optim.batch_size: must be >= 1";
    if (o->epochs < 1) return "optim.epochs: must be >= 1";
    if (!(o->lr > 0) || !isfinite(o->lr)) return "optim.lr: must be a finite number > 0";
    if (!(o->lr_decay >= 0) || !isfinite(o->lr_decay))
        return "optim.lr_decay: must be a finite number >= 0";
    if (o->sync_every < 1) return "optim.sync_every: must be >= 1";
    if (!(p->checkpoint.every_seconds >= 0) || !isfinite(p->checkpoint.every_seconds))
        return "checkpoint.every_seconds: must be a finite number >= 0";
    if (p->early_stop < 0) return "early_stop: must be >= 0";
    if (p->early_stop && !p->validation) return "early_stop: needs a validation set";
    if (p->early_stop && p->checkpoint.dir) return "early_stop: not with checkpoints";
    const char *bad = sl_metric_check(p->metric, p->loss);
    if (bad) return bad;
    return NULL;
}

/* Everything a run keeps between iterations. */
struct run {
    struct sl_comm *c;
    const struct sl_train_params *p;
    const struct sl_colmap *map;
    struct sl_objective *obj;
    struct sl_model view; /* the current weights in the file's numbering */
    double *val_margins;  /* (validation rows) */
    struct sl_train_report *report;
    int64_t cap_history;
    struct sl_ckpt ck; /* with checkpoints */
    double *wfull;     /* (dim) the whole model in the data's units */
    /* early_stop: the objective's stop flag, raised when the metric stopped
     * improving or (copied at each iteration) when p->stop_flag is set. */
    volatile sig_atomic_t stop;
    enum sl_metric metric;
    double best_score; /* the metric at best_w; NaN before the first iteration */
    double *best_w;    /* (n_loc) the best iterate so far */
    int64_t best_step, since_best;
};

/* view <- the whole model at this rank's slice w_loc (collective: gathers),
 * in the data's units (standardize: the optimiser's are scaled). */
static void update_view(struct run *r, const double *w_loc) {
    double *w = r->wfull;
    sl_obj_to_model(r->obj, sl_obj_gather(r->obj, w_loc), w);
    const int64_t K = r->view.n_classes, nu = r->map->n_used, d = r->view.n_features;
    if (K) { /* w: class-major (K, n_used), then the K intercepts */
        for (int64_t k = 0; k < K; k++) {
            sl_colmap_expand(r->map, w + k * nu, r->view.weights + k * d);
            r->view.intercepts[k] = r->view.fit_intercept ? w[K * nu + k] : 0.0;
        }
        return;
    }
    sl_colmap_expand(r->map, w, r->view.weights);
    r->view.intercept = r->view.fit_intercept ? w[r->map->n_used] : 0.0;
}

/* The validation metrics at w_loc (collective), NaN without a validation set. */
static struct sl_eval_result score_validation(struct run *r, const double *w_loc) {
    struct sl_eval_result ev = {.logloss = NAN, .accuracy = NAN, .auc = NAN, .n_rows = 0};
    if (!r->p->validation) return ev;
    update_view(r, w_loc);
    sl_model_margins(&r->view, r->p->validation, r->val_margins);
    if (r->view.n_classes)
        sl_evaluate_multi(r->c, r->p->validation, r->val_margins, r->view.n_classes, &ev);
    else
        sl_evaluate_loss(r->c, r->p->validation, r->val_margins, r->p->loss, &ev);
    return ev;
}

/* Early stopping: keeps the best iterate and raises r->stop after
 * early_stop iterations without improvement. The metric is the same on every
 * rank, so every rank decides alike. */
static void watch_metric(struct run *r, const struct sl_iter_info *it, const double *w,
                         const struct sl_eval_result *ev) {
    const double v = sl_metric_value(r->metric, ev);
    const int higher = sl_metric_higher_better(r->metric);
    const int better = isnan(r->best_score) ? !isnan(v)
                       : higher             ? v > r->best_score
                                            : v < r->best_score;
    if (better) {
        r->best_score = v;
        r->best_step = it->step;
        r->since_best = 0;
        memcpy(r->best_w, w, (size_t)sl_obj_shape(r->obj)->n_loc * sizeof *w);
    } else {
        r->since_best++;
    }
    if (r->since_best >= r->p->early_stop) r->report->early_stopped = 1;
    r->stop = r->report->early_stopped || (r->p->stop_flag && *r->p->stop_flag);
}

/* After an early-stopped or finished run: w <- the best iterate, and the
 * final record at it (one pass). SL_OK, or the optimiser's status when the
 * stop was a signal's. */
static enum sl_status keep_best(struct run *r, double *w, enum sl_status st) {
    struct sl_train_report *rep = r->report;
    const int signalled = r->p->stop_flag && *r->p->stop_flag;
    if (st == SL_ERR_INTERRUPTED && (!rep->early_stopped || signalled)) return st;
    if (st != SL_OK && st != SL_ERR_INTERRUPTED) return st;
    if (r->best_step == 0) return SL_OK; /* no iterate scored: keep w */
    rep->best_iteration = r->best_step;
    const struct sl_obj_shape *sh = sl_obj_shape(r->obj);
    memcpy(w, r->best_w, (size_t)sh->n_loc * sizeof *w);
    r->stop = 0;
    double *g = sl_calloc((size_t)(sh->n_loc ? sh->n_loc : 1), sizeof(double));
    st = sl_obj_fg(r->obj, w, g, NULL, &rep->result.final);
    free(g);
    rep->result.iterations = rep->n_history;
    if (rep->early_stopped) rep->result.converged = 0;
    return st;
}

static void on_iter(const struct sl_iter_info *it, const double *w, void *ctx) {
    struct run *r = ctx;
    struct sl_eval_result ev = score_validation(r, w); /* collective: every rank is here */
    struct sl_train_iter row = {
        .it = *it, .val_logloss = ev.logloss, .val_accuracy = ev.accuracy, .val_auc = ev.auc};
    struct sl_train_report *rep = r->report;
    if (rep->n_history == r->cap_history) {
        r->cap_history = r->cap_history ? 2 * r->cap_history : 64;
        rep->history = sl_realloc(rep->history, (size_t)r->cap_history * sizeof *rep->history);
    }
    rep->history[rep->n_history++] = row;
    if (r->p->early_stop) watch_metric(r, it, w, &ev);
    if (r->p->on_iter) r->p->on_iter(&row, r->p->ctx);
}

/* The optimiser's save hook: a checkpoint when one is due or on a stop,
 * with the history so far. */
static void on_save(struct sl_optim_state *s, int stopping, void *ctx) {
    struct run *r = ctx;
    if (!stopping && !sl_ckpt_due(&r->ck)) return;
    struct sl_train_report *rep = r->report;
    sl_state_add(s, "train.history", SL_STATE_SAME, 1, 1,
                 rep->n_history * (int64_t)sizeof *rep->history, rep->history);
    struct sl_err err;
    sl_err_clear(&err);
    enum sl_status st = sl_ckpt_write(&r->ck, s, rep->n_history, &err);
    if (st && r->c->rank == 0) sl_warn("checkpoint not written: %s", err.msg);
    if (stopping) rep->checkpointed = st == SL_OK;
}

/* With checkpoints: the state to resume from (ld, none when there is no
 * checkpoint yet) and the history it holds. */
static enum sl_status open_checkpoints(struct run *r, const struct sl_shard *shard,
                                       struct sl_ckpt_loaded *ld, struct sl_optim_ckpt *ck,
                                       struct sl_err *err) {
    const struct sl_obj_shape *sh = sl_obj_shape(r->obj);
    struct sl_ckpt_job job;
    sl_ckpt_job_make(&job, r->p, shard, sh->dim);
    int found = 0;
    enum sl_status st = sl_ckpt_open(&r->ck, r->c, &r->p->checkpoint, &job, sh, ld, &found, err);
    if (st) return st;
    *ck = (struct sl_optim_ckpt){.resume = found ? &ld->state : NULL, .save = on_save, .ctx = r};
    if (!found) return SL_OK;
    const struct sl_state_sec *h = sl_state_find(&ld->state, "train.history");
    struct sl_train_report *rep = r->report;
    const int64_t row = (int64_t)sizeof *rep->history;
    if (!h || h->n % row != 0)
        return sl_err_set(err, SL_ERR_ARG, "%s: the checkpoint holds no history",
                          r->p->checkpoint.dir);
    rep->n_history = r->cap_history = h->n / row;
    rep->history = sl_malloc((size_t)(h->n ? h->n : 1));
    if (h->n) memcpy(rep->history, h->data, (size_t)h->n);
    rep->resumed_from = ld->iteration;
    return SL_OK;
}

/* init_slice for a multinomial model: the optimiser's vector is class-major
 * (K, n_used), then the K intercepts. */
static void init_slice_multi(const struct run *r, double *w) {
    const struct sl_obj_shape *sh = sl_obj_shape(r->obj);
    const struct sl_model *m = r->p->init;
    const int64_t nu = r->map->n_used, K = m->n_classes, d = m->n_features;
    for (int64_t q = 0; q < sh->n_loc; q++) {
        const int64_t j = sh->lo + q; /* working index */
        if (j < K * nu) {
            const int64_t k = j / nu, col = r->map->cols ? r->map->cols[j % nu] : j % nu;
            w[q] = sl_obj_from_model(r->obj, j, m->weights[k * d + col]);
        } else {
            w[q] = m->intercepts[j - K * nu];
        }
    }
}

/* w: (n_loc) <- this rank's slice of the warm-start model, in the working
 * columns (the model's weights of columns no row has are dropped: they
 * carry no data). */
static void init_slice(const struct run *r, double *w) {
    const struct sl_obj_shape *sh = sl_obj_shape(r->obj);
    const struct sl_model *m = r->p->init;
    if (m->n_classes) {
        init_slice_multi(r, w);
        return;
    }
    for (int64_t k = 0; k < sh->n_loc; k++) {
        const int64_t j = sh->lo + k; /* working index */
        if (j < r->map->n_used) {
            const int64_t col = r->map->cols ? r->map->cols[j] : j;
            w[k] = sl_obj_from_model(r->obj, j, col < m->n_features ? m->weights[col] : 0.0);
        } else {
            w[k] = m->intercept; /* the intercept, last */
        }
    }
}

static int same_classes(const struct sl_model *m, const struct sl_train_params *p) {
    if (m->n_classes != p->n_classes) return 0;
    for (int64_t k = 0; k < m->n_classes; k++)
        if (m->classes[k] != p->classes[k]) return 0;
    return 1;
}

/* out <- up to 8 classes of c: (K), ", "-separated, "..." for the rest. */
static void classes_list(const double *c, int64_t K, char *out, size_t cap) {
    size_t n = 0;
    for (int64_t k = 0; k < K && k < 8 && n < cap; k++)
        n += (size_t)snprintf(out + n, cap - n, "%s%.0f", k ? ", " : "", c[k]);
    if (K > 8 && n < cap) snprintf(out + n, cap - n, ", ... (%lld)", (long long)K);
}

/* "its classes are ..., the data's ..." into msg; returns msg. */
static const char *classes_differ(const struct sl_model *m, const struct sl_train_params *p,
                                  char *msg, size_t cap) {
    char mine[96], theirs[96];
    classes_list(m->classes, m->n_classes, mine, sizeof mine);
    classes_list(p->classes, p->n_classes, theirs, sizeof theirs);
    snprintf(msg, cap, "its classes are %s, the data's %s", mine, theirs);
    return msg;
}

/* NULL when the warm-start model fits the data and parameters, else what
 * differs (static storage). */
static const char *init_mismatch(const struct sl_train_params *p, const struct sl_shard *s) {
    static char msg[240];
    const struct sl_model *m = p->init;
    if (m->n_features != s->n_features)
        snprintf(msg, sizeof msg, "it has %lld features, the data %lld", (long long)m->n_features,
                 (long long)s->n_features);
    else if (m->loss != p->loss)
        snprintf(msg, sizeof msg, "its loss is %s, this run's %s", sl_loss_name(m->loss),
                 sl_loss_name(p->loss));
    else if (m->loss == SL_LOSS_MULTINOMIAL && !same_classes(m, p))
        return classes_differ(m, p, msg, sizeof msg);
    else if ((m->fit_intercept != 0) != (p->fit_intercept != 0))
        snprintf(msg, sizeof msg, "it was trained %s an intercept, this run %s",
                 m->fit_intercept ? "with" : "without", p->fit_intercept ? "has one" : "has none");
    else
        return NULL;
    return msg;
}

/* Optimises from w = 0 (or the warm-start model), or from a checkpoint, and fills the report; the
 * model on SL_OK. */
static enum sl_status fit(struct run *r, const struct sl_shard *shard, struct sl_model *model,
                          struct sl_err *err) {
    const struct sl_obj_shape *sh = sl_obj_shape(r->obj);
    struct sl_train_report *rep = r->report;
    struct sl_ckpt_loaded ld;
    memset(&ld, 0, sizeof ld);
    struct sl_optim_ckpt ck = {.resume = NULL, .save = NULL, .ctx = NULL};
    if (r->p->checkpoint.dir) {
        enum sl_status st = open_checkpoints(r, shard, &ld, &ck, err);
        if (st && r->c->rank != 0) sl_err_clear(err); /* rank 0 reports it */
        if (st) {
            sl_ckpt_loaded_free(&ld);
            return st;
        }
    }
    /* w: this rank's slice of the weights (objective.h). */
    double *w = sl_calloc((size_t)(sh->n_loc ? sh->n_loc : 1), sizeof(double));
    if (r->p->early_stop)
        r->best_w = sl_calloc((size_t)(sh->n_loc ? sh->n_loc : 1), sizeof(double));
    struct sl_optim_opts opt = r->p->optim;
    enum sl_status st = SL_OK;
    if (r->p->init && !ck.resume) {
        /* |grad F(0)|, one pass: tol keeps its meaning from a warm start. */
        double *g = sl_calloc((size_t)(sh->n_loc ? sh->n_loc : 1), sizeof(double));
        struct sl_fg_info at0;
        st = sl_obj_fg(r->obj, w, g, NULL, &at0);
        free(g);
        opt.gnorm_ref = at0.grad_norm;
        init_slice(r, w);
    }
    const double ar0 = r->c->allreduce_seconds;
    if (st == SL_OK)
        st = sl_optimize_ckpt(r->obj, w, &opt, on_iter, r, r->p->checkpoint.dir ? &ck : NULL,
                              &rep->result);
    sl_ckpt_loaded_free(&ld);
    if (r->p->early_stop) st = keep_best(r, w, st);
    if (st == SL_ERR_ARG && ck.resume)
        sl_err_set(err, st, "%s: the checkpoint does not fit the %s solver", r->p->checkpoint.dir,
                   sl_optimizer_name(r->p->optim.kind));
    rep->compute_seconds = sl_obj_compute_seconds(r->obj);
    rep->allreduce_seconds = r->c->allreduce_seconds - ar0;
    rep->passes = sl_obj_passes(r->obj);
    if (st == SL_OK) {
        rep->validation = score_validation(r, w);
        update_view(r, w);
        *model = r->view; /* the model takes the view's weights */
        model->objective = rep->result.final.objective;
        model->loss = r->p->loss;
        memset(&r->view, 0, sizeof r->view);
    }
    free(r->best_w);
    free(w);
    return st;
}

enum sl_status sl_train(struct sl_comm *c, struct sl_shard *shard, const struct sl_train_params *p,
                        struct sl_model *model, struct sl_train_report *report,
                        struct sl_err *err) {
    memset(model, 0, sizeof *model);
    memset(report, 0, sizeof *report);
    sl_err_clear(err);
    const char *bad = sl_check_params(p);
    if (bad) return c->rank == 0 ? sl_err_set(err, SL_ERR_ARG, "%s", bad) : SL_ERR_ARG;
    if (shard->n_rows_global <= 0)
        return c->rank == 0 ? sl_err_set(err, SL_ERR_ARG, "no data rows to train on") : SL_ERR_ARG;
    const char *bad_init = p->init ? init_mismatch(p, shard) : NULL;
    if (bad_init)
        return c->rank == 0
                   ? sl_err_set(err, SL_ERR_ARG, "the initial model does not fit: %s", bad_init)
                   : SL_ERR_ARG;
    struct sl_colmap map;
    sl_colmap_build(&map, shard, c);
    struct run r = {.c = c, .p = p, .map = &map, .report = report, .best_score = NAN};
    r.metric = p->metric != SL_METRIC_NONE ? p->metric : sl_metric_default(p->loss);
    const int64_t K = p->loss == SL_LOSS_MULTINOMIAL ? p->n_classes : 0;
    enum sl_status st =
        K ? sl_obj_create_multi(&r.obj, shard, map.n_used, K, p->l2, p->fit_intercept, c)
          : sl_obj_create(&r.obj, shard, map.n_used, p->l2, p->fit_intercept, c);
    /* A shard too large for the dense kernels may be so on one rank only. */
    int64_t failed = st != SL_OK;
    sl_comm_max_i64(c, &failed, 1);
    if (failed) st = SL_ERR_ARG;
    if (st == SL_OK) {
        sl_obj_set_stop_flag(r.obj, p->early_stop ? &r.stop : p->stop_flag);
        sl_obj_set_loss(r.obj, p->loss);
        sl_obj_set_l1(r.obj, p->l1);
        if (p->standardize) st = sl_obj_standardize(r.obj);
        r.wfull = sl_calloc((size_t)(sl_obj_shape(r.obj)->dim + 1), sizeof(double));
        if (K)
            sl_model_init_multi(&r.view, shard->n_features, p->fit_intercept, K, p->classes);
        else
            sl_model_init(&r.view, shard->n_features, p->fit_intercept);
        if (p->validation)
            r.val_margins = sl_calloc(
                (size_t)((p->validation->n_rows ? p->validation->n_rows : 1) * (K ? K : 1)),
                sizeof(double));
        report->n_cols_used = map.n_used;
        if (st == SL_OK) st = fit(&r, shard, model, err);
    } else if (c->rank == 0) {
        sl_err_set(err, st,
                   "the data is too large for the dense kernels (rows or features "
                   "above 2^31 on one rank)");
    }
    sl_model_free(&r.view);
    free(r.val_margins);
    free(r.wfull);
    sl_obj_destroy(r.obj);
    sl_colmap_restore(&map, shard);
    sl_colmap_free(&map);
    return st;
}

void sl_train_report_free(struct sl_train_report *r) {
    free(r->history);
    memset(r, 0, sizeof *r);
}

void sl_set_blas_threads(int n) {
    sl_kernel_set_threads(n);
}
