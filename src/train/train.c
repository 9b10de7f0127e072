/* train.c - sl_train: column map -> objective -> optimiser -> model in the
 * file's numbering, with validation metrics every iteration. */
#include "shardlearn/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/colmap.h"
#include "model/kernels.h"
#include "shardlearn/objective.h"

void sl_train_params_init(struct sl_train_params *p) {
    *p = (struct sl_train_params){.l2 = 1e-4,
                                  .fit_intercept = 1,
                                  .validation = NULL,
                                  .on_iter = NULL,
                                  .ctx = NULL,
                                  .stop_flag = NULL};
    sl_optim_opts_init(&p->optim);
}

const char *sl_check_params(const struct sl_train_params *p) {
    const struct sl_optim_opts *o = &p->optim;
    if (strcmp(sl_optimizer_name(o->kind), "?") == 0) return "optim.kind: unknown optimizer";
    if (!(p->l2 >= 0) || !isfinite(p->l2)) return "l2: must be a finite number >= 0";
    if (!(o->tol >= 0 && o->tol <= 1)) return "optim.tol: must be in [0, 1]";
    if (o->max_iter < 1) return "optim.max_iter: must be >= 1";
    if (o->lbfgs_m < 1) return "optim.lbfgs_m: must be >= 1";
    if (o->batch_size < 1) return "optim.batch_size: must be >= 1";
    if (o->epochs < 1) return "optim.epochs: must be >= 1";
    if (!(o->lr > 0) || !isfinite(o->lr)) return "optim.lr: must be a finite number > 0";
    if (!(o->lr_decay >= 0) || !isfinite(o->lr_decay))
        return "optim.lr_decay: must be a finite number >= 0";
    if (o->sync_every < 1) return "optim.sync_every: must be >= 1";
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
};

/* view <- the whole model at this rank's slice w_loc (collective: gathers). */
static void update_view(struct run *r, const double *w_loc) {
    const double *w = sl_obj_gather(r->obj, w_loc);
    sl_colmap_expand(r->map, w, r->view.weights);
    r->view.intercept = r->view.fit_intercept ? w[r->map->n_used] : 0.0;
}

/* The validation metrics at w_loc (collective), NaN without a validation set. */
static struct sl_eval_result score_validation(struct run *r, const double *w_loc) {
    struct sl_eval_result ev = {.logloss = NAN, .accuracy = NAN, .auc = NAN, .n_rows = 0};
    if (!r->p->validation) return ev;
    update_view(r, w_loc);
    sl_model_margins(&r->view, r->p->validation, r->val_margins);
    sl_evaluate(r->c, r->p->validation, r->val_margins, &ev);
    return ev;
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
    if (r->p->on_iter) r->p->on_iter(&row, r->p->ctx);
}

/* Optimises from w = 0 and fills the report; the model on SL_OK. */
static enum sl_status fit(struct run *r, struct sl_model *model) {
    const struct sl_obj_shape *sh = sl_obj_shape(r->obj);
    struct sl_train_report *rep = r->report;
    /* w: this rank's slice of the weights (objective.h). */
    double *w = sl_calloc((size_t)(sh->n_loc ? sh->n_loc : 1), sizeof(double));
    const double ar0 = r->c->allreduce_seconds;
    enum sl_status st = sl_optimize(r->obj, w, &r->p->optim, on_iter, r, &rep->result);
    rep->compute_seconds = sl_obj_compute_seconds(r->obj);
    rep->allreduce_seconds = r->c->allreduce_seconds - ar0;
    rep->passes = sl_obj_passes(r->obj);
    if (st == SL_OK) {
        rep->validation = score_validation(r, w);
        update_view(r, w);
        *model = r->view; /* the model takes the view's weights */
        model->objective = rep->result.final.objective;
        memset(&r->view, 0, sizeof r->view);
    }
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
    struct sl_colmap map;
    sl_colmap_build(&map, shard, c);
    struct run r = {.c = c, .p = p, .map = &map, .report = report};
    enum sl_status st = sl_obj_create(&r.obj, shard, map.n_used, p->l2, p->fit_intercept, c);
    /* A shard too large for the dense kernels may be so on one rank only. */
    int64_t failed = st != SL_OK;
    sl_comm_max_i64(c, &failed, 1);
    if (failed) st = SL_ERR_ARG;
    if (st == SL_OK) {
        sl_obj_set_stop_flag(r.obj, p->stop_flag);
        sl_model_init(&r.view, shard->n_features, p->fit_intercept);
        if (p->validation)
            r.val_margins = sl_calloc((size_t)(p->validation->n_rows ? p->validation->n_rows : 1),
                                      sizeof(double));
        report->n_cols_used = map.n_used;
        st = fit(&r, model);
    } else if (c->rank == 0) {
        sl_err_set(err, st,
                   "the data is too large for the dense kernels (rows or features "
                   "above 2^31 on one rank)");
    }
    sl_model_free(&r.view);
    free(r.val_margins);
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
