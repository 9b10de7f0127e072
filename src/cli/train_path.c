/* train_path.c - `shardlearn train` with a path of --l2 or --l1 values (or
 * both: their grid) or --cv K: the path through sl_train_path, one line per
 * setting, --models-dir, the path in metrics.json and in the run's metrics
 * (step = the path index). A setting is named by its l2 and, when the run
 * has an L1 penalty, its l1, wherever it is reported. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/train.h"
#include "shardlearn/clock.h"
#include "shardlearn/fileio.h"
#include "shardlearn/log.h"

const struct sl_choice SL_METRIC_CHOICES[] = {{"val_logloss", SL_METRIC_VAL_LOGLOSS},
                                              {"val_auc", SL_METRIC_VAL_AUC},
                                              {"val_accuracy", SL_METRIC_VAL_ACCURACY},
                                              {"val_rmse", SL_METRIC_VAL_RMSE},
                                              {"val_auc_ovr", SL_METRIC_VAL_AUC_OVR},
                                              {NULL, 0}};

struct path_ctx {
    const struct train_args *a;
    struct sl_tracker *tr;      /* rank 0, may be NULL: the parent run */
    struct sl_tracker *setting; /* cv: the current setting's child run, parent of its folds */
    int offline; /* a child run did not reach the server: the rest are journal only */
    int rank;
    enum sl_status st; /* rank 0: the first --models-dir failure */
    struct sl_err err;
};

/* Whether the run has an L1 penalty (at some setting) or a list of --l1
 * values: its settings are then named by l1 too. */
static int with_l1(const struct train_args *a) {
    return a->l1 > 0 || a->n_l1 > 1;
}

/* name <- "l2=LAMBDA" or "l2=LAMBDA l1=A" (sep "=", or " " for a progress line). */
static void setting_name(char *name, size_t cap, const struct train_args *a,
                         const struct sl_path_point *pt, const char *sep) {
    int n = snprintf(name, cap, "l2%s%.6g", sep, pt->l2);
    if (with_l1(a) && n > 0 && (size_t)n < cap)
        snprintf(name + n, cap - (size_t)n, " l1%s%.6g", sep, pt->l1);
}

/* path <- DIR/model-III-l2-LAMBDA.json, or DIR/model-III-l2-LAMBDA-l1-A.json. */
static void model_path(char *path, size_t cap, const struct train_args *a, int index,
                       const struct sl_path_point *pt) {
    if (with_l1(a))
        snprintf(path, cap, "%s/model-%03d-l2-%.6g-l1-%.6g.json", a->models_dir, index, pt->l2,
                 pt->l1);
    else
        snprintf(path, cap, "%s/model-%03d-l2-%.6g.json", a->models_dir, index, pt->l2);
}

/* label <- "l2 LAMBDA" (padded) and " l1 A" with L1, for the progress lines. */
static const char *cli_label(char *label, size_t cap, const struct train_args *a,
                             const struct sl_path_point *pt) {
    if (with_l1(a))
        snprintf(label, cap, "l2 %-10.4g l1 %-10.4g", pt->l2, pt->l1);
    else
        snprintf(label, cap, "l2 %-10.4g", pt->l2);
    return label;
}

/* Rank 0: the setting's model into --models-dir, written whole or not at all. */
static void save_point(struct path_ctx *x, int index, const struct sl_path_point *pt,
                       const struct sl_model *m) {
    if (x->st) return;
    char path[4096];
    model_path(path, sizeof path, x->a, index, pt);
    struct sl_atomic_file f = {.f = NULL};
    x->st = sl_atomic_open(&f, path, &x->err);
    if (x->st) return;
    sl_model_write(m, f.f);
    x->st = sl_atomic_commit(&f, &x->err);
}

/* a->l2_path <- the values of --l2 (a single value may be 0; a path's must
 * be > 0), and the checks of the options that go with a path. */
enum sl_status train_path_args(struct train_args *a, struct sl_err *err) {
    a->n_l2 = 1;
    a->l2_path[0] = a->l2;
    const char *spec = a->l2_spec;
    if (spec && !strpbrk(spec, ",:")) {
        char *end = NULL;
        const double x = strtod(spec, &end);
        if (!*spec || *end || !isfinite(x) || x < 0)
            return sl_err_set(err, SL_ERR_ARG, "--l2: '%s' is not a number >= 0", spec);
        a->l2 = a->l2_path[0] = x;
    } else if (spec) {
        enum sl_status st = sl_path_parse(spec, a->l2_path, SL_PATH_MAX, &a->n_l2, err);
        if (st) {
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err->msg);
            return sl_err_set(err, st, "--l2: %s", why);
        }
        a->l2 = a->l2_path[0];
    }
    if (a->n_l2 > SL_PATH_MAX / a->n_l1)
        return sl_err_set(err, SL_ERR_ARG, "--l2 x --l1: %d x %d settings, more than %d", a->n_l2,
                          a->n_l1, SL_PATH_MAX);
    const int path = train_is_path(a);
    const char *why = NULL;
    if (a->early_stop && !a->validation)
        why = "--early-stop needs --validation FILE";
    else if (a->models_dir && (!path || a->cv))
        why = "--models-dir needs a path of --l2 or --l1 values (and no --cv)";
    else if (path && a->checkpoint_dir)
        why = "--checkpoint-dir: not with an --l2 or --l1 path or --cv";
    else if (a->select && !path && !a->early_stop)
        why = "--select needs an --l2 or --l1 path, --cv or --early-stop";
    else if (a->select && sl_metric_check((enum sl_metric)a->select, (enum sl_loss)a->loss))
        return sl_err_set(err, SL_ERR_ARG, "--select: %s (--loss %s)",
                          sl_metric_check((enum sl_metric)a->select, (enum sl_loss)a->loss),
                          sl_loss_name((enum sl_loss)a->loss));
    return why ? sl_err_set(err, SL_ERR_ARG, "%s", why) : SL_OK;
}

int train_is_path(const struct train_args *a) {
    return a->n_l2 > 1 || a->n_l1 > 1 || a->cv;
}

/* ---- child runs: one per setting, and per fold under its setting ------- */

/* A child run of parent (a run directory), named name; NULL when tracking is off. */
static struct sl_tracker *child_start(struct path_ctx *x, struct sl_tracker *parent,
                                      const char *name, int index, const struct sl_path_point *pt) {
    if (!parent) return NULL;
    const struct train_args *a = x->a;
    const struct sl_track_config tc = {.tracking_uri = a->tracking_uri,
                                       .experiment_name = a->experiment,
                                       .run_name = name,
                                       .flush_timeout_s = a->flush_timeout,
                                       .parent_run_dir = sl_tracker_run_dir(parent),
                                       .journal_only = 1, /* child_push delivers it */
                                       .quiet = 1};
    struct sl_tracker *t = NULL;
    struct sl_err err;
    sl_err_clear(&err);
    if (sl_tracker_create(&t, &tc, &err) != SL_OK) {
        sl_warn("tracking: no child run %s: %s", name, err.msg);
        return NULL;
    }
    char v[40];
    snprintf(v, sizeof v, "%.17g", pt->l2);
    sl_tracker_param(t, "l2", v);
    if (with_l1(a)) {
        snprintf(v, sizeof v, "%.17g", pt->l1);
        sl_tracker_param(t, "l1", v);
    }
    snprintf(v, sizeof v, "%d", index);
    sl_tracker_param(t, "path_index", v);
    sl_tracker_param(t, "loss", sl_loss_name((enum sl_loss)a->loss));
    sl_tracker_param(t, "optimizer", sl_optimizer_name((enum sl_optimizer)a->optimizer));
    return t;
}

/* Delivers a child run's journal as it stands, on this thread (the child's
 * parent must be on the server first: a run is pushed when it starts, so
 * that its own children can nest, and when it ends). Once one push fails,
 * the later children stay journal only: mlflow-sync of the parent's
 * directory delivers them all. */
static void child_push(struct path_ctx *x, const char *dir) {
    const char *uri = x->a->tracking_uri ? x->a->tracking_uri : getenv("MLFLOW_TRACKING_URI");
    if (x->offline || !uri || !*uri) return;
    struct sl_err err;
    sl_err_clear(&err);
    if (sl_mlflow_push(dir, uri, x->a->flush_timeout, &err) != SL_OK) {
        x->offline = 1;
        sl_warn("tracking: %s; the remaining child runs stay in their journals (deliver with: "
                "shardlearn mlflow-sync %s)",
                err.msg, sl_tracker_run_dir(x->tr));
    }
}

/* Finishes a child run and delivers it. */
static void child_end(struct path_ctx *x, struct sl_tracker *t) {
    if (!t) return;
    sl_tracker_commit(t);
    sl_tracker_finish(t, "FINISHED", NULL);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", sl_tracker_run_dir(t));
    sl_tracker_destroy(t);
    child_push(x, dir);
}

/* A fit's record in its child run: the iterations, then the final numbers. */
static void child_fit(struct sl_tracker *t, const struct train_args *a,
                      const struct sl_train_report *rep, const char *metric, double score) {
    if (!t) return;
    const int64_t ts = sl_now_ms();
    const int val = a->validation && a->loss != SL_LOSS_SQUARED;
    for (int64_t i = 0; i < rep->n_history; i++) {
        const struct sl_train_iter *h = &rep->history[i];
        sl_tracker_metric(t, "objective", h->it.objective, h->it.step, ts);
        sl_tracker_metric(t, "grad_norm", h->it.grad_norm, h->it.step, ts);
        if (val && !a->cv) sl_tracker_metric(t, "val_logloss", h->val_logloss, h->it.step, ts);
    }
    sl_tracker_metric(t, "final_objective", rep->result.final.objective, 0, ts);
    sl_tracker_metric(t, "iterations", (double)rep->result.iterations, 0, ts);
    if (!isnan(score)) sl_tracker_metric(t, metric, score, 0, ts);
    if (rep->best_iteration)
        sl_tracker_metric(t, "best_iteration", (double)rep->best_iteration, 0, ts);
}

static void on_point(int index, int fold, const struct sl_path_point *pt, const struct sl_model *m,
                     const struct sl_train_report *rep, void *ctx) {
    struct path_ctx *x = ctx;
    if (x->rank != 0) return;
    const enum sl_metric sel =
        x->a->select ? (enum sl_metric)x->a->select : sl_metric_default((enum sl_loss)x->a->loss);
    const char *metric = sl_metric_name(sel);
    char name[96], label[64], setting[64];
    setting_name(setting, sizeof setting, x->a, pt, "=");
    if (fold >= 0) { /* a cv fold: a child of the setting's child */
        if (!x->a->quiet)
            sl_info("cv %3d  %s  fold %d  %s %.6f  (%lld iterations)", index,
                    cli_label(label, sizeof label, x->a, pt), fold, metric, pt->fold_scores[fold],
                    (long long)rep->result.iterations);
        if (fold == 0) {
            x->setting = child_start(x, x->tr, setting, index, pt);
            if (x->setting) { /* on the server before its folds */
                sl_tracker_commit(x->setting);
                child_push(x, sl_tracker_run_dir(x->setting));
            }
        }
        snprintf(name, sizeof name, "%s fold %d", setting, fold);
        struct sl_tracker *t = child_start(x, x->setting, name, index, pt);
        if (t) {
            snprintf(name, sizeof name, "%d", fold);
            sl_tracker_param(t, "fold", name);
        }
        child_fit(t, x->a, rep, metric, pt->fold_scores[fold]);
        child_end(x, t);
        return;
    }
    if (!m) { /* cv: the setting's folds are done */
        struct sl_tracker *t = x->setting;
        x->setting = NULL;
        if (!t) return;
        const int64_t ts = sl_now_ms();
        char key[64];
        snprintf(key, sizeof key, "cv_%s", metric);
        for (int k = 0; k < x->a->cv; k++)
            sl_tracker_metric(t, key, pt->fold_scores[k], k, ts); /* step: the fold */
        snprintf(key, sizeof key, "cv_%s_mean", metric);
        sl_tracker_metric(t, key, pt->score, 0, ts);
        snprintf(key, sizeof key, "cv_%s_std", metric);
        sl_tracker_metric(t, key, pt->score_std, 0, ts);
        child_end(x, t);
        return;
    }
    char v[64] = "";
    if (x->a->validation) snprintf(v, sizeof v, "  %s %.6f", metric, pt->score);
    char nnz[40] = "";
    if (with_l1(x->a)) snprintf(nnz, sizeof nnz, "  nnz %lld", (long long)pt->nnz);
    sl_info("path %3d  %s  objective %.12g%s%s  (%lld iterations%s)", index,
            cli_label(label, sizeof label, x->a, pt), pt->objective, v, nnz,
            (long long)pt->iterations, pt->converged ? "" : ", not converged");
    if (x->a->models_dir) save_point(x, index, pt, m);
    struct sl_tracker *t = child_start(x, x->tr, setting, index, pt);
    child_fit(t, x->a, rep, metric, x->a->validation ? pt->score : (double)NAN);
    if (t && with_l1(x->a)) sl_tracker_metric(t, "nnz_weights", (double)pt->nnz, 0, sl_now_ms());
    if (t && x->a->models_dir && !x->st) {
        char path[4096];
        model_path(path, sizeof path, x->a, index, pt);
        sl_tracker_artifact(t, path, "model/model.json");
    }
    child_end(x, t);
}

/* The path's record in the run: l2 (l1, nonzero weights) and the selection
 * metric with step = the index, and the chosen setting. */
static void track_path(struct sl_tracker *tr, const struct train_args *a,
                       const struct sl_path_report *rep) {
    const int64_t ts = sl_now_ms();
    char key[64];
    for (int i = 0; i < rep->n; i++) {
        const struct sl_path_point *pt = &rep->points[i];
        sl_tracker_metric(tr, "path_l2", pt->l2, i, ts);
        if (with_l1(a)) sl_tracker_metric(tr, "path_l1", pt->l1, i, ts);
        if (with_l1(a) && !rep->cv)
            sl_tracker_metric(tr, "path_nnz_weights", (double)pt->nnz, i, ts);
        snprintf(key, sizeof key, "path_%s%s", rep->cv ? "cv_" : "", sl_metric_name(rep->select));
        if (rep->cv || a->validation) sl_tracker_metric(tr, key, pt->score, i, ts);
        sl_tracker_metric(tr, "path_iterations", (double)pt->iterations, i, ts);
    }
    if (rep->best >= 0) {
        snprintf(key, sizeof key, "%.17g", rep->points[rep->best].l2);
        sl_tracker_param(tr, "selected_l2", key);
        if (with_l1(a)) {
            snprintf(key, sizeof key, "%.17g", rep->points[rep->best].l1);
            sl_tracker_param(tr, "selected_l1", key);
        }
        sl_tracker_param(tr, "select", sl_metric_name(rep->select));
        snprintf(key, sizeof key, "%d", rep->best);
        sl_tracker_param(tr, "selected_index", key);
    }
    sl_tracker_commit(tr);
}

enum sl_status train_run_path(struct sl_comm *c, const struct train_args *a, struct sl_shard *shard,
                              const struct sl_train_params *p, struct sl_tracker *tr,
                              struct sl_model *model, struct sl_path_report *rep,
                              struct sl_err *err) {
    struct path_ctx x = {.a = a, .tr = tr, .rank = c->rank, .st = SL_OK};
    sl_err_clear(&x.err);
    if (a->models_dir && c->rank == 0 && mkdir(a->models_dir, 0777) != 0 && errno != EEXIST) {
        x.st = sl_err_set(&x.err, SL_ERR_IO, "%s: cannot create the directory: %s", a->models_dir,
                          strerror(errno));
    }
    int64_t bad = x.st != SL_OK;
    sl_comm_max_i64(c, &bad, 1);
    if (bad) {
        if (c->rank == 0) *err = x.err;
        return SL_ERR_IO;
    }
    const struct sl_path_params pp = {.l2 = a->l2_path,
                                      .n = a->n_l2,
                                      .l1 = a->l1_path,
                                      .n_l1 = a->n_l1,
                                      .cv = (int)a->cv,
                                      .select = (enum sl_metric)a->select,
                                      .on_point = on_point,
                                      .ctx = &x};
    enum sl_status st = sl_train_path(c, shard, p, &pp, model, rep, err);
    if (x.setting) { /* cv stopped inside a setting: its run ends with the job */
        sl_tracker_finish(x.setting, st == SL_ERR_INTERRUPTED ? "KILLED" : "FAILED", NULL);
        sl_tracker_destroy(x.setting);
    }
    /* A model file that could not be written fails the job on every rank. */
    bad = st == SL_OK && x.st != SL_OK;
    sl_comm_max_i64(c, &bad, 1);
    if (bad) {
        if (c->rank == 0) *err = x.err;
        sl_model_free(model);
        return SL_ERR_IO;
    }
    if (st) return st;
    if (c->rank == 0 && rep->best >= 0) {
        char name[64];
        setting_name(name, sizeof name, a, &rep->points[rep->best], " ");
        sl_info("selected %s by %s%s %.6f", name, rep->cv ? "mean cv " : "",
                sl_metric_name(rep->select), rep->points[rep->best].score);
    }
    if (tr) track_path(tr, a, rep);
    return SL_OK;
}

static void put_num(FILE *f, const char *key, double x, int first) {
    if (!first) fputs(", ", f);
    sl_json_put_field(f, key, x);
}

void train_write_path(FILE *f, const struct sl_path_report *rep, enum sl_loss loss) {
    int l1 = 0; /* any setting with an L1 penalty: each point says its nonzero weights */
    for (int i = 0; i < rep->n; i++)
        l1 |= rep->points[i].l1 > 0;
    fprintf(f, " \"path\": {\"select\": \"%s\", \"cv\": %d, \"selected\": %d, \"points\": [",
            sl_metric_name(rep->select), rep->cv, rep->best);
    for (int i = 0; i < rep->n; i++) {
        const struct sl_path_point *pt = &rep->points[i];
        fprintf(f, "%s\n  {\"index\": %d, ", i ? "," : "", i);
        put_num(f, "l2", pt->l2, 1);
        put_num(f, "l1", pt->l1, 0);
        if (l1 && !rep->cv) fprintf(f, ", \"nnz_weights\": %lld", (long long)pt->nnz);
        fprintf(f, ", \"iterations\": %lld, \"converged\": %s, ", (long long)pt->iterations,
                pt->converged ? "true" : "false");
        put_num(f, rep->cv ? "mean_train_objective" : "train_objective", pt->objective, 1);
        if (!rep->cv && pt->val.n_rows > 0 && rep->select == SL_METRIC_VAL_RMSE) {
            put_num(f, "val_rmse", pt->val.rmse, 0);
        } else if (!rep->cv && pt->val.n_rows > 0) {
            put_num(f, "val_logloss", pt->val.logloss, 0);
            put_num(f, "val_accuracy", pt->val.accuracy, 0);
            put_num(f, sl_metric_auc_name(loss), pt->val.auc, 0);
        }
        if (pt->best_iteration)
            fprintf(f, ", \"best_iteration\": %lld", (long long)pt->best_iteration);
        if (rep->cv) {
            fputs(", \"fold_scores\": [", f);
            for (int k = 0; k < rep->cv; k++) {
                if (k) fputs(", ", f);
                sl_json_put_num(f, pt->fold_scores[k]);
            }
            fputs("]", f);
            put_num(f, "mean", pt->score, 0);
            put_num(f, "std", pt->score_std, 0);
        } else {
            put_num(f, "score", pt->score, 0);
        }
        fprintf(f, ", \"selected\": %s}", pt->selected ? "true" : "false");
    }
    fputs("]},\n", f);
}
