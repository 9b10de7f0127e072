/* train_out.c - what `shardlearn train` writes besides the model: progress
 * lines, metrics.json, and the run's params and metrics in the journal. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/train.h"
#include "shardlearn/clock.h"
#include "shardlearn/fileio.h"
#include "shardlearn/log.h"
#include "shardlearn/version.h"

/* The mean training loss's name: logistic keeps the name it always had. */
static const char *loss_key(const struct train_args *a, const char *logistic, const char *other) {
    return a->loss == SL_LOSS_LOGISTIC ? logistic : other;
}

void train_on_iter(const struct sl_train_iter *row, void *ctx) {
    struct train_progress *p = ctx;
    const struct sl_iter_info *it = &row->it;
    /* Regression has no per-iteration validation metrics (only the final
     * RMSE, MAE and R^2): its classifier metrics would be NaN. */
    const int val = p->a->validation != NULL && p->a->loss != SL_LOSS_SQUARED;
    if (!p->a->quiet) {
        char v[96] = "";
        if (val)
            snprintf(v, sizeof v, "  val_logloss %.6f  %s %.6f", row->val_logloss,
                     sl_metric_auc_name((enum sl_loss)p->a->loss), row->val_auc);
        char acc[24] = ""; /* regression has no accuracy */
        if (p->a->loss != SL_LOSS_SQUARED) snprintf(acc, sizeof acc, "  acc %.4f", it->accuracy);
        sl_info("%-6s %4lld  objective %.12g  %s %.6f  |grad| %.3e%s  %.3fs "
                "(allreduce %.3fs)%s",
                p->a->optimizer == SL_OPT_SGD ? "epoch" : "iter", (long long)it->step,
                it->objective, loss_key(p->a, "logloss", "loss"), it->logloss, it->grad_norm, acc,
                it->seconds, it->allreduce_seconds, v);
    }
    /* A continued run's journal may already hold steps past its checkpoint
     * (a run killed after a later iteration): the same numbers, logged once. */
    if (!p->tr || it->step <= p->logged_through) return;
    double t0 = sl_wtime();
    const int64_t ts = sl_now_ms(), step = it->step;
    sl_tracker_metric(p->tr, "objective", it->objective, step, ts);
    sl_tracker_metric(p->tr, loss_key(p->a, "train_logloss", "train_loss"), it->logloss, step, ts);
    sl_tracker_metric(p->tr, "grad_norm", it->grad_norm, step, ts);
    if (p->a->loss != SL_LOSS_SQUARED) sl_tracker_metric(p->tr, "accuracy", it->accuracy, step, ts);
    sl_tracker_metric(p->tr, "seconds_per_iter", it->seconds, step, ts);
    sl_tracker_metric(p->tr, "allreduce_seconds", it->allreduce_seconds, step, ts);
    if (val) {
        sl_tracker_metric(p->tr, "val_logloss", row->val_logloss, step, ts);
        sl_tracker_metric(p->tr, "val_accuracy", row->val_accuracy, step, ts);
        sl_tracker_metric(p->tr, sl_metric_auc_name((enum sl_loss)p->a->loss), row->val_auc,
                          step, ts);
    }
    sl_tracker_commit(p->tr);
    p->track_seconds += sl_wtime() - t0;
}

static void param_fmt(struct sl_tracker *tr, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void param_fmt(struct sl_tracker *tr, const char *key, const char *fmt, ...) {
    char v[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    sl_tracker_param(tr, key, v);
}

static const char *yes(int b) {
    return b ? "true" : "false";
}

/* The run's params: every option that shaped it, and the data's shape. */
static void log_params(struct sl_tracker *tr, const struct train_args *a, const struct sl_shard *s,
                       const struct sl_comm *c) {
    sl_tracker_param(tr, "loss", sl_loss_name((enum sl_loss)a->loss));
    if (a->sample_weights) sl_tracker_param(tr, "sample_weights", a->sample_weights);
    if (a->class_weight) sl_tracker_param(tr, "class_weight", a->class_weight);
    if (a->weight_column) sl_tracker_param(tr, "weight_column", a->weight_column);
    if (a->standardize) sl_tracker_param(tr, "standardize", "true");
    if (a->init_model) sl_tracker_param(tr, "init_model", a->init_model);
    sl_tracker_param(tr, "optimizer", sl_optimizer_name((enum sl_optimizer)a->optimizer));
    if (a->n_l2 > 1)
        sl_tracker_param(tr, "l2", a->l2_spec);
    else
        param_fmt(tr, "l2", "%.17g", a->l2);
    if (a->cv) param_fmt(tr, "cv", "%lld", (long long)a->cv);
    if (a->early_stop) param_fmt(tr, "early_stop", "%lld", (long long)a->early_stop);
    if (a->n_l1 > 1)
        sl_tracker_param(tr, "l1", a->l1_spec);
    else if (a->l1 > 0)
        param_fmt(tr, "l1", "%.17g", a->l1);
    param_fmt(tr, "tol", "%.17g", a->tol);
    param_fmt(tr, "max_iter", "%lld", (long long)a->max_iter);
    param_fmt(tr, "lbfgs_memory", "%lld", (long long)a->lbfgs_m);
    param_fmt(tr, "lr", "%.17g", a->lr);
    param_fmt(tr, "lr_decay", "%.17g", a->lr_decay);
    param_fmt(tr, "batch_size", "%lld", (long long)a->batch_size);
    param_fmt(tr, "sync_every", "%lld", (long long)a->sync_every);
    param_fmt(tr, "epochs", "%lld", (long long)a->epochs);
    param_fmt(tr, "seed", "%lld", (long long)a->seed);
    sl_tracker_param(tr, "average", yes(a->average));
    sl_tracker_param(tr, "fit_intercept", yes(!a->no_intercept));
    param_fmt(tr, "ranks", "%d", c->size);
    sl_tracker_param(tr, "data", a->data);
    sl_tracker_param(tr, "format", train_format_name(a, s));
    if (!s->dense && strcmp(train_format_name(a, s), "libsvm") != 0) { /* hashed columns */
        if (a->categorical) sl_tracker_param(tr, "categorical", a->categorical);
        param_fmt(tr, "hash_bits", "%lld",
                  (long long)(a->hash_bits ? a->hash_bits : SL_HASH_BITS_DEFAULT));
    }
    sl_tracker_param(tr, "zero_based", yes(a->zero_based));
    if (a->validation) sl_tracker_param(tr, "validation", a->validation);
    param_fmt(tr, "n_rows", "%lld", (long long)s->n_rows_global);
    param_fmt(tr, "n_features", "%lld", (long long)s->n_features);
    param_fmt(tr, "nnz", "%lld", (long long)s->nnz_global);
}

/* Multinomial: n_classes, and the classes as a comma list (a long one keeps
 * its head and its last class, "0,1,2,...,9999": the count says how many). */
static void log_classes(struct sl_tracker *tr, const double *classes, int64_t K) {
    if (!K) return;
    param_fmt(tr, "n_classes", "%lld", (long long)K);
    char list[512];
    train_classes_text(classes, K, ",", list, sizeof list);
    sl_tracker_param(tr, "classes", list);
}

void train_log_params(struct sl_tracker *tr, const struct train_args *a, const struct sl_shard *s,
                      const struct sl_comm *c, const char *hosts, int params,
                      const double *classes, int64_t K) {
    if (params) log_params(tr, a, s, c);
    if (params) log_classes(tr, classes, K);
    sl_tracker_tag(tr, "shardlearn.version", SL_VERSION_STRING);
    char v[32];
    snprintf(v, sizeof v, "%d", c->size);
    sl_tracker_tag(tr, "shardlearn.mpi_ranks", v);
    sl_tracker_tag(tr, "shardlearn.hosts", hosts);
}

void train_log_final(struct sl_tracker *tr, const struct sl_train_report *rep,
                     const struct train_times *t, int validation, enum sl_loss loss) {
    const int64_t ts = sl_now_ms();
    const struct sl_fg_info *f = &rep->result.final;
    const struct sl_eval_result *v = &rep->validation;
    sl_tracker_metric(tr, "final_objective", f->objective, 0, ts);
    sl_tracker_metric(tr, loss == SL_LOSS_LOGISTIC ? "final_train_logloss" : "final_train_loss",
                      f->logloss, 0, ts);
    if (loss != SL_LOSS_SQUARED) sl_tracker_metric(tr, "final_accuracy", f->accuracy, 0, ts);
    if (validation && loss == SL_LOSS_SQUARED) {
        sl_tracker_metric(tr, "final_val_rmse", v->rmse, 0, ts);
        sl_tracker_metric(tr, "final_val_mae", v->mae, 0, ts);
        sl_tracker_metric(tr, "final_val_r2", v->r2, 0, ts);
        validation = 0; /* the classifiers' metrics below are NaN */
    }
    sl_tracker_metric(tr, "iterations", (double)rep->result.iterations, 0, ts);
    sl_tracker_metric(tr, "time_load_seconds", t->load, 0, ts);
    sl_tracker_metric(tr, "time_compute_seconds", rep->compute_seconds, 0, ts);
    sl_tracker_metric(tr, "time_allreduce_seconds", rep->allreduce_seconds, 0, ts);
    sl_tracker_metric(tr, "time_total_seconds", t->total, 0, ts);
    if (validation) {
        sl_tracker_metric(tr, "final_val_logloss", rep->validation.logloss, 0, ts);
        sl_tracker_metric(tr, "final_val_accuracy", rep->validation.accuracy, 0, ts);
        sl_tracker_metric(tr, loss == SL_LOSS_MULTINOMIAL ? "final_val_auc_ovr" : "final_val_auc",
                          rep->validation.auc, 0, ts);
    }
}

/* Writes ", " then "key": x for each (key, x). */
static void json_fields(FILE *f, const char *const *keys, const double *x, int n) {
    for (int i = 0; i < n; i++) {
        fputs(", ", f);
        sl_json_put_field(f, keys[i], x[i]);
    }
}

static void write_history(FILE *f, const struct sl_train_report *rep, int validation,
                          enum sl_loss loss) {
    static const char *const keys[] = {"objective", "train_logloss", "grad_norm",
                                       "accuracy",  "seconds",       "allreduce_seconds"};
    const char *const vkeys[] = {"val_logloss", "val_accuracy", sl_metric_auc_name(loss)};
    fputs(" \"history\": [", f);
    for (int64_t i = 0; i < rep->n_history; i++) {
        const struct sl_train_iter *h = &rep->history[i];
        const double x[] = {h->it.objective, h->it.logloss, h->it.grad_norm,
                            h->it.accuracy,  h->it.seconds, h->it.allreduce_seconds};
        fprintf(f, "%s\n  {\"step\": %lld", i ? "," : "", (long long)h->it.step);
        json_fields(f, keys, x, 6);
        fprintf(f, ", \"passes\": %lld, \"cg_steps\": %lld", (long long)h->it.passes,
                (long long)h->it.cg_steps);
        const double v[] = {h->val_logloss, h->val_accuracy, h->val_auc};
        if (validation) json_fields(f, vkeys, v, 3);
        fputs("}", f);
    }
    fputs("]}\n", f);
}

/* Every rank's last system sample: peak memory and collective totals. */
static void write_ranks(FILE *f, const struct sl_comm *c, const struct train_times *t) {
    static const char *const keys[] = {"peak_rss_megabytes", "collective_seconds",
                                       "collective_megabytes"};
    fputs(" \"ranks\": [", f);
    for (int r = 0; r < c->size; r++) {
        const struct sl_sys_sample *s = &t->ranks[r];
        const double x[] = {s->peak_rss_megabytes, s->collective_seconds, s->collective_megabytes};
        fprintf(f, "%s\n  {\"rank\": %d", r ? "," : "", r);
        json_fields(f, keys, x, 3);
        fputs("}", f);
    }
    fputs("],\n", f);
}

void train_write_metrics(FILE *f, const struct train_args *a, const struct sl_shard *s,
                         const struct sl_shard *val, const struct sl_comm *c,
                         const struct sl_train_report *rep, const struct train_times *t) {
    const struct sl_fg_info *fin = &rep->result.final;
    fputs("{", f);
    sl_json_put_field(f, "objective", fin->objective);
    const char *const keys[] = {loss_key(a, "train_logloss", "train_loss"), "accuracy",
                                "grad_norm"};
    const double x[] = {fin->logloss, fin->accuracy, fin->grad_norm};
    json_fields(f, keys, x, 3);
    fprintf(f, ", \"loss\": \"%s\"", sl_loss_name((enum sl_loss)a->loss));
    if (a->early_stop)
        fprintf(f, ", \"early_stopped\": %s, \"best_iteration\": %lld", yes(rep->early_stopped),
                (long long)rep->best_iteration);
    fprintf(f,
            ", \"iterations\": %lld, \"converged\": %s, \"optimizer\": \"%s\", "
            "\"n_rows\": %lld, \"n_features\": %lld, \"nnz\": %lld, \"ranks\": %d,\n",
            (long long)rep->result.iterations, yes(rep->result.converged),
            sl_optimizer_name((enum sl_optimizer)a->optimizer), (long long)s->n_rows_global,
            (long long)s->n_features, (long long)s->nnz_global, c->size);
    train_write_datasets(f, a, s, val);
    if (a->resolved) fprintf(f, " \"config\": %s,\n", a->resolved);
    fprintf(f,
            " \"timings\": {\"load\": %.6f, \"compute\": %.6f, \"allreduce\": %.6f, "
            "\"total\": %.6f, \"tracking\": %.6f, \"tracking_sender_cpu\": %.6f, "
            "\"system_metrics\": %.6f},\n",
            t->load, rep->compute_seconds, rep->allreduce_seconds, t->total, t->tracking,
            t->sender_cpu, t->sysmet);
    if (t->ranks) write_ranks(f, c, t);
    if (a->validation && a->loss == SL_LOSS_SQUARED) {
        const struct sl_eval_result *ev = &rep->validation;
        fputs(" \"validation\": {", f);
        sl_json_put_field(f, "rmse", ev->rmse);
        fputs(", ", f);
        sl_json_put_field(f, "mae", ev->mae);
        fputs(", ", f);
        sl_json_put_field(f, "r2", ev->r2);
        fputs("},\n", f);
    } else if (a->validation) {
        const char *const vkeys[] = {"logloss", "accuracy",
                                     a->loss == SL_LOSS_MULTINOMIAL ? "auc_ovr" : "auc"};
        const double v[] = {rep->validation.logloss, rep->validation.accuracy, rep->validation.auc};
        fputs(" \"validation\": {", f);
        for (int i = 0; i < 3; i++) {
            if (i) fputs(", ", f);
            sl_json_put_field(f, vkeys[i], v[i]);
        }
        fputs("},\n", f);
    }
    if (a->path) train_write_path(f, a->path, (enum sl_loss)a->loss);
    write_history(f, rep, a->validation != NULL, (enum sl_loss)a->loss);
}
