/* train.c - `shardlearn train`: load the shard, fit, write model and
 * metrics, and record the run in the tracking journal (rank 0). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../fileio.h"
#include "cli.h"
#include "shardlearn/data.h"
#include "shardlearn/log.h"
#include "shardlearn/model.h"
#include "shardlearn/objective.h"
#include "shardlearn/optim.h"
#include "shardlearn/track.h"

struct train_args {
    const char *data, *validation, *model_out, *metrics_out;
    int format; /* 0 auto, 1 libsvm, 2 csv */
    int zero_based, no_intercept, quiet, optimizer, average;
    int64_t n_features, max_iter, lbfgs_m, batch_size, epochs, sync_every, seed, blas_threads;
    double l2, tol, lr, lr_decay, flush_timeout;
    const char *tracking_uri, *experiment, *run_name, *tracking_dir, *register_model;
};

/* One history row: an optimiser step plus validation metrics (NaN if none). */
struct hist_row {
    struct sl_iter_info it;
    double val_logloss, val_accuracy, val_auc;
};

struct train_run {
    struct sl_comm *c;
    const struct train_args *a;
    struct sl_tracker *tr; /* rank 0 only, may be NULL */
    struct hist_row *hist;
    size_t n_hist, cap_hist;
    const struct sl_colmap *map;
    struct sl_objective *obj;
    const struct sl_shard *val; /* NULL without --validation */
    double *val_margins;        /* (val->n_rows) */
    struct sl_model view;       /* full-d weights for scoring the validation set */
    double track_seconds;       /* rank 0: training-thread time inside tracker calls */
};

static const char *const FORMATS = "auto|libsvm|csv";
static const char *const OPTIMIZERS = "newton|lbfgs|sgd";

/* w: this rank's slice of the weights (objective.h). Collective. */
static void score_validation(struct train_run *r, const double *w_loc, struct hist_row *h) {
    h->val_logloss = h->val_accuracy = h->val_auc = NAN;
    if (!r->val) return;
    const double *w = sl_obj_gather(r->obj, w_loc);
    sl_colmap_expand(r->map, w, r->view.weights);
    r->view.intercept = r->view.fit_intercept ? w[r->map->n_used] : 0.0;
    sl_model_margins(&r->view, r->val, r->val_margins);
    struct sl_eval_result ev;
    sl_evaluate(r->c, r->val, r->val_margins, &ev);
    h->val_logloss = ev.logloss;
    h->val_accuracy = ev.accuracy;
    h->val_auc = ev.auc;
}

static void on_iter(const struct sl_iter_info *it, const double *w, void *ctx) {
    struct train_run *r = ctx;
    struct hist_row h;
    h.it = *it;
    score_validation(r, w, &h); /* collective: every rank is here */
    if (r->c->rank != 0) return;
    if (r->n_hist == r->cap_hist) {
        r->cap_hist = r->cap_hist ? 2 * r->cap_hist : 64;
        r->hist = sl_realloc(r->hist, r->cap_hist * sizeof *r->hist);
    }
    r->hist[r->n_hist++] = h;
    if (!r->a->quiet) {
        char val[96] = "";
        if (r->val)
            snprintf(val, sizeof val, "  val_logloss %.6f  val_auc %.6f", h.val_logloss, h.val_auc);
        sl_info("%-6s %4lld  objective %.12g  logloss %.6f  |grad| %.3e  acc %.4f  %.3fs "
                "(allreduce %.3fs)%s",
                r->a->optimizer == SL_OPT_SGD ? "epoch" : "iter", (long long)it->step,
                it->objective, it->logloss, it->grad_norm, it->accuracy, it->seconds,
                it->allreduce_seconds, val);
    }
    if (r->tr) {
        double t0 = sl_wtime();
        int64_t ts = sl_now_ms();
        sl_tracker_metric(r->tr, "objective", it->objective, it->step, ts);
        sl_tracker_metric(r->tr, "train_logloss", it->logloss, it->step, ts);
        sl_tracker_metric(r->tr, "grad_norm", it->grad_norm, it->step, ts);
        sl_tracker_metric(r->tr, "accuracy", it->accuracy, it->step, ts);
        sl_tracker_metric(r->tr, "seconds_per_iter", it->seconds, it->step, ts);
        sl_tracker_metric(r->tr, "allreduce_seconds", it->allreduce_seconds, it->step, ts);
        if (r->val) {
            sl_tracker_metric(r->tr, "val_logloss", h.val_logloss, it->step, ts);
            sl_tracker_metric(r->tr, "val_accuracy", h.val_accuracy, it->step, ts);
            sl_tracker_metric(r->tr, "val_auc", h.val_auc, it->step, ts);
        }
        sl_tracker_commit(r->tr);
        r->track_seconds += sl_wtime() - t0;
    }
}

static void json_num(FILE *f, const char *key, double x) {
    if (isfinite(x))
        fprintf(f, "\"%s\": %.17g", key, x);
    else
        fprintf(f, "\"%s\": null", key);
}

struct run_totals {
    struct sl_optim_result res;
    struct sl_eval_result val; /* n_rows 0 without validation */
    double load, compute, allreduce, total;
    double tracking, sender_cpu; /* rank 0: journal appends on the training thread; sender thread CPU */
    int64_t n_rows, n_features, nnz;
};

static enum sl_status write_metrics(const char *path, const struct train_run *r,
                                    const struct run_totals *t, struct sl_err *err) {
    struct sl_atomic_file af;
    enum sl_status st = sl_atomic_open(&af, path, err);
    if (st) return st;
    FILE *f = af.f;
    fputs("{", f);
    json_num(f, "objective", t->res.final.objective);
    fputs(", ", f);
    json_num(f, "train_logloss", t->res.final.logloss);
    fputs(", ", f);
    json_num(f, "accuracy", t->res.final.accuracy);
    fputs(", ", f);
    json_num(f, "grad_norm", t->res.final.grad_norm);
    fprintf(f, ", \"iterations\": %lld, \"converged\": %s, \"optimizer\": \"%s\", "
               "\"n_rows\": %lld, \"n_features\": %lld, \"nnz\": %lld, \"ranks\": %d,\n",
            (long long)t->res.iterations, t->res.converged ? "true" : "false",
            sl_optimizer_name((enum sl_optimizer)r->a->optimizer), (long long)t->n_rows,
            (long long)t->n_features, (long long)t->nnz, r->c->size);
    fprintf(f, " \"timings\": {\"load\": %.6f, \"compute\": %.6f, \"allreduce\": %.6f, "
               "\"total\": %.6f, \"tracking\": %.6f, \"tracking_sender_cpu\": %.6f},\n",
            t->load, t->compute, t->allreduce, t->total, t->tracking, t->sender_cpu);
    if (r->val) {
        fputs(" \"validation\": {", f);
        json_num(f, "logloss", t->val.logloss);
        fputs(", ", f);
        json_num(f, "accuracy", t->val.accuracy);
        fputs(", ", f);
        json_num(f, "auc", t->val.auc);
        fputs("},\n", f);
    }
    fputs(" \"history\": [", f);
    for (size_t i = 0; i < r->n_hist; i++) {
        const struct hist_row *h = &r->hist[i];
        fprintf(f, "%s\n  {\"step\": %lld, ", i ? "," : "", (long long)h->it.step);
        json_num(f, "objective", h->it.objective);
        fputs(", ", f);
        json_num(f, "train_logloss", h->it.logloss);
        fputs(", ", f);
        json_num(f, "grad_norm", h->it.grad_norm);
        fputs(", ", f);
        json_num(f, "accuracy", h->it.accuracy);
        fputs(", ", f);
        json_num(f, "seconds", h->it.seconds);
        fputs(", ", f);
        json_num(f, "allreduce_seconds", h->it.allreduce_seconds);
        fprintf(f, ", \"passes\": %lld, \"cg_steps\": %lld", (long long)h->it.passes,
                (long long)h->it.cg_steps);
        if (r->val) {
            fputs(", ", f);
            json_num(f, "val_logloss", h->val_logloss);
            fputs(", ", f);
            json_num(f, "val_accuracy", h->val_accuracy);
            fputs(", ", f);
            json_num(f, "val_auc", h->val_auc);
        }
        fputs("}", f);
    }
    fputs("]}\n", f);
    return sl_atomic_commit(&af, err);
}

static void log_params(struct sl_tracker *tr, const struct train_args *a, const struct sl_shard *s,
                       struct sl_comm *c, const char *hosts) {
    char v[64];
#define P_STR(k, x) sl_tracker_param(tr, k, (x) ? (x) : "")
#define P_FMT(k, fmt, x)                                                                           \
    do {                                                                                           \
        snprintf(v, sizeof v, fmt, x);                                                             \
        sl_tracker_param(tr, k, v);                                                                \
    } while (0)
    P_STR("loss", "logistic");
    P_STR("optimizer", sl_optimizer_name((enum sl_optimizer)a->optimizer));
    P_FMT("l2", "%.17g", a->l2);
    P_FMT("tol", "%.17g", a->tol);
    P_FMT("max_iter", "%lld", (long long)a->max_iter);
    P_FMT("lbfgs_memory", "%lld", (long long)a->lbfgs_m);
    P_FMT("lr", "%.17g", a->lr);
    P_FMT("lr_decay", "%.17g", a->lr_decay);
    P_FMT("batch_size", "%lld", (long long)a->batch_size);
    P_FMT("sync_every", "%lld", (long long)a->sync_every);
    P_FMT("epochs", "%lld", (long long)a->epochs);
    P_FMT("seed", "%lld", (long long)a->seed);
    P_FMT("average", "%s", a->average ? "true" : "false");
    P_FMT("fit_intercept", "%s", a->no_intercept ? "false" : "true");
    P_FMT("ranks", "%d", c->size);
    P_STR("data", a->data);
    P_STR("format", s->dense ? "csv" : "libsvm");
    P_FMT("zero_based", "%s", a->zero_based ? "true" : "false");
    if (a->validation) P_STR("validation", a->validation);
    P_FMT("n_rows", "%lld", (long long)s->n_rows_global);
    P_FMT("n_features", "%lld", (long long)s->n_features);
    P_FMT("nnz", "%lld", (long long)s->nnz_global);
#undef P_STR
#undef P_FMT
    sl_tracker_tag(tr, "shardlearn.version", SL_VERSION);
    snprintf(v, sizeof v, "%d", c->size);
    sl_tracker_tag(tr, "shardlearn.mpi_ranks", v);
    sl_tracker_tag(tr, "shardlearn.hosts", hosts);
}

/* hosts: distinct host names of all ranks, comma-separated (collective). */
static void gather_hosts(struct sl_comm *c, char *out, size_t cap) {
    char me[64] = {0};
    gethostname(me, sizeof me - 1);
    char *all = sl_calloc((size_t)c->size, sizeof me);
    sl_comm_allgather_bytes(c, me, sizeof me, all);
    out[0] = '\0';
    for (int r = 0; r < c->size; r++) {
        const char *h = all + (size_t)r * sizeof me;
        int seen = 0;
        for (int q = 0; q < r; q++) seen |= strcmp(h, all + (size_t)q * sizeof me) == 0;
        if (seen) continue;
        if (out[0]) strncat(out, ",", cap - strlen(out) - 1);
        strncat(out, h, cap - strlen(out) - 1);
    }
    free(all);
}

void sl_share_error(struct sl_comm *c, struct sl_err *err) {
    int who = sl_comm_first_error(c, err->msg[0] != '\0', c->rank);
    if (who >= 0) sl_comm_bcast(c, err->msg, sizeof err->msg, who);
}

static int finish_failed(struct sl_tracker *tr, const char *status, const char *msg, int code) {
    if (tr) {
        sl_tracker_finish(tr, status, msg);
        sl_tracker_destroy(tr);
    }
    return code;
}

static int interrupted_code(void) {
    return sl_stop_signal == SIGINT ? SL_EXIT_INT : SL_EXIT_TERM;
}

int sl_cmd_train(int argc, char **argv, struct sl_comm *c) {
    struct train_args a = {.l2 = 1e-4, .tol = 1e-6, .max_iter = 100, .lbfgs_m = 10,
                           .batch_size = 256, .epochs = 10, .sync_every = 1, .seed = 1,
                           .lr = 0.1, .lr_decay = 1.0, .blas_threads = 1, .flush_timeout = 10.0};
    const struct sl_opt opts[] = {
        {"data", SL_OPT_STR, &a.data, "FILE", "training data (LIBSVM/svmlight text or CSV)", 0, 0, NULL},
        {"format", SL_OPT_CHOICE, &a.format, "FMT", "libsvm|csv (default: from the extension, .csv is CSV)", 0, 0, FORMATS},
        {"zero-based", SL_OPT_FLAG, &a.zero_based, NULL, "LIBSVM feature indices start at 0 (default 1)", 0, 0, NULL},
        {"n-features", SL_OPT_INT, &a.n_features, "D", "fix the feature count (default: largest index seen on any rank)", 1, 2147483647.0, NULL},
        {"optimizer", SL_OPT_CHOICE, &a.optimizer, "NAME", "newton|lbfgs|sgd (default newton)", 0, 0, OPTIMIZERS},
        {"l2", SL_OPT_F64, &a.l2, "LAMBDA", "L2 strength lambda in F (default 1e-4)", 0, 1e300, NULL},
        {"no-intercept", SL_OPT_FLAG, &a.no_intercept, NULL, "fit no intercept b", 0, 0, NULL},
        {"tol", SL_OPT_F64, &a.tol, "T", "stop when |grad F| <= T |grad F(0)| or F falls by < 1e-3 T relative (default 1e-6)", 0, 1, NULL},
        {"max-iter", SL_OPT_INT, &a.max_iter, "N", "newton/lbfgs iteration limit (default 100)", 1, 1e9, NULL},
        {"lbfgs-memory", SL_OPT_INT, &a.lbfgs_m, "M", "L-BFGS correction pairs (default 10)", 1, 1000, NULL},
        {"batch-size", SL_OPT_INT, &a.batch_size, "B", "sgd: rows per step on each rank (default 256)", 1, 1e9, NULL},
        {"epochs", SL_OPT_INT, &a.epochs, "E", "sgd: passes over the data (default 10)", 1, 1e9, NULL},
        {"lr", SL_OPT_F64, &a.lr, "LR", "sgd: initial step size (default 0.1)", 1e-300, 1e300, NULL},
        {"lr-decay", SL_OPT_F64, &a.lr_decay, "K", "sgd: step size lr / (1 + K * epochs so far) (default 1, 0 = constant)", 0, 1e300, NULL},
        {"sync-every", SL_OPT_INT, &a.sync_every, "K", "sgd: average models over ranks every K local steps (default 1 = synchronous)", 1, 1e12, NULL},
        {"average", SL_OPT_FLAG, &a.average, NULL, "sgd: return the average of the models over the second half of the epochs", 0, 0, NULL},
        {"seed", SL_OPT_INT, &a.seed, "S", "sgd: seed for the row order (default 1)", 0, 9.2e18, NULL},
        {"validation", SL_OPT_STR, &a.validation, "FILE", "validation set (same format); its metrics go in the history", 0, 0, NULL},
        {"model-out", SL_OPT_STR, &a.model_out, "FILE", "write the model as JSON", 0, 0, NULL},
        {"metrics-out", SL_OPT_STR, &a.metrics_out, "FILE", "write final metrics, timings and history as JSON", 0, 0, NULL},
        {"blas-threads", SL_OPT_INT, &a.blas_threads, "N", "OpenBLAS threads per rank (default 1)", 1, 1024, NULL},
        {"quiet", SL_OPT_FLAG, &a.quiet, NULL, "no per-iteration progress lines", 0, 0, NULL},
        {"tracking-uri", SL_OPT_STR, &a.tracking_uri, "URI", "MLflow server (default $MLFLOW_TRACKING_URI; none: journal only)", 0, 0, NULL},
        {"experiment", SL_OPT_STR, &a.experiment, "NAME", "MLflow experiment (default $MLFLOW_EXPERIMENT_NAME or Default)", 0, 0, NULL},
        {"run-name", SL_OPT_STR, &a.run_name, "NAME", "MLflow run name", 0, 0, NULL},
        {"tracking-dir", SL_OPT_STR, &a.tracking_dir, "DIR", "journal directory (default ./shardlearn-runs)", 0, 0, NULL},
        {"tracking-flush-timeout", SL_OPT_F64, &a.flush_timeout, "S", "at exit wait at most S seconds for the server (default 10)", 0, 1e9, NULL},
        {"register-model", SL_OPT_STR, &a.register_model, "NAME", "register the model under NAME in the MLflow model registry", 0, 0, NULL},
        {NULL, SL_OPT_FLAG, NULL, NULL, NULL, 0, 0, NULL}};
    const char *usage = "usage: mpirun -np N shardlearn train --data FILE [options]";
    struct sl_err err;
    sl_err_clear(&err);
    int help = 0, npos = 0;
    enum sl_status st = sl_opts_parse(opts, argc, argv, 2, NULL, 0, &npos, &help, &err);
    if (help) {
        if (c->rank == 0) sl_opts_usage(stdout, usage, opts);
        return SL_EXIT_OK;
    }
    if (!st && !a.data) st = sl_err_set(&err, SL_ERR_ARG, "train needs --data FILE");
    if (st) {
        if (c->rank == 0) sl_error("%s (see shardlearn train --help)", err.msg);
        return SL_EXIT_USAGE;
    }
    openblas_set_num_threads((int)a.blas_threads);
    double t_start = sl_wtime();

    /* The journal comes first, so even a run that fails on its data is recorded. */
    struct sl_tracker *tr = NULL;
    double t_track_create = sl_wtime();
    if (c->rank == 0) {
        struct sl_track_config tc = {a.tracking_uri, a.experiment, a.run_name, a.tracking_dir,
                                     a.flush_timeout, a.register_model};
        struct sl_err terr;
        sl_err_clear(&terr);
        if (sl_tracker_create(&tr, &tc, &terr) != SL_OK) {
            sl_warn("tracking disabled: %s", terr.msg);
            tr = NULL;
        }
    }
    t_track_create = sl_wtime() - t_track_create;

    struct sl_load_opts lo = {(enum sl_format)a.format, a.zero_based, a.n_features};
    struct sl_shard shard, val;
    memset(&val, 0, sizeof val);
    st = sl_shard_load(&shard, a.data, &lo, c, &err);
    if (st) {
        if (err.msg[0]) sl_error("%s", err.msg);
        sl_share_error(c, &err);
        return finish_failed(tr, "FAILED", err.msg, SL_EXIT_FAIL);
    }
    if (a.validation) {
        struct sl_load_opts vo = lo;
        vo.n_features = 0; /* columns the model never saw weigh 0 */
        if (shard.dense) vo.n_features = shard.n_features;
        st = sl_shard_load(&val, a.validation, &vo, c, &err);
        if (st) {
            if (err.msg[0]) sl_error("%s", err.msg);
            sl_share_error(c, &err);
            sl_shard_free(&shard);
            return finish_failed(tr, "FAILED", err.msg, SL_EXIT_FAIL);
        }
    }
    double t_loaded = sl_wtime();
    char hosts[1024];
    gather_hosts(c, hosts, sizeof hosts);
    double t_params = sl_wtime();
    if (tr) log_params(tr, &a, &shard, c, hosts);
    t_params = sl_wtime() - t_params;
    sl_info("data %s: %lld rows, %lld features, %lld nonzeros on %d rank(s), loaded in %.3fs",
            a.data, (long long)shard.n_rows_global, (long long)shard.n_features,
            (long long)shard.nnz_global, c->size, t_loaded - t_start);

    struct sl_colmap map;
    sl_colmap_build(&map, &shard, c);
    struct sl_objective obj;
    st = sl_obj_init(&obj, &shard, map.n_used, a.l2, !a.no_intercept, c);
    SL_ASSERT(st == SL_OK);
    obj.stop_flag = &sl_stop_signal;
    /* w: this rank's slice of the weights (objective.h). */
    double *w = sl_calloc((size_t)(obj.n_loc ? obj.n_loc : 1), sizeof(double));
    struct train_run run = {c,    &a,   tr,  NULL, 0, 0, &map, &obj, a.validation ? &val : NULL,
                            NULL, {0}, 0.0};
    if (run.val) {
        sl_model_init(&run.view, shard.n_features, !a.no_intercept);
        run.val_margins = sl_calloc((size_t)(val.n_rows ? val.n_rows : 1), sizeof(double));
    }
    struct sl_optim_opts oo = {(enum sl_optimizer)a.optimizer, a.tol, (int)a.max_iter,
                               (int)a.lbfgs_m, a.batch_size, (int)a.epochs, a.lr, a.lr_decay,
                               a.sync_every, (uint64_t)a.seed, a.average};
    struct run_totals tot;
    memset(&tot, 0, sizeof tot);
    double ar0 = c->allreduce_seconds;
    st = sl_optimize(&obj, w, &oo, on_iter, &run, &tot.res);
    int code = SL_EXIT_OK;
    if (st == SL_ERR_INTERRUPTED) {
        sl_info("interrupted: stopping without writing the model");
        code = interrupted_code();
        if (tr) sl_tracker_finish(tr, "KILLED", NULL);
    } else {
        tot.load = t_loaded - t_start;
        tot.compute = obj.compute_seconds;
        tot.allreduce = c->allreduce_seconds - ar0;
        tot.n_rows = shard.n_rows_global;
        tot.n_features = shard.n_features;
        tot.nnz = shard.nnz_global;
        if (run.val) {
            struct hist_row h;
            score_validation(&run, w, &h);
            tot.val.logloss = h.val_logloss;
            tot.val.accuracy = h.val_accuracy;
            tot.val.auc = h.val_auc;
        }
        struct sl_model model;
        sl_model_init(&model, shard.n_features, !a.no_intercept);
        const double *w_all = sl_obj_gather(&obj, w);
        sl_colmap_expand(&map, w_all, model.weights);
        model.intercept = a.no_intercept ? 0.0 : w_all[map.n_used];
        model.objective = tot.res.final.objective;
        tot.total = sl_wtime() - t_start;
        tot.tracking = t_track_create + t_params + run.track_seconds;
        tot.sender_cpu = sl_tracker_sender_cpu(tr);
        sl_info("%s %s after %lld iteration(s): objective %.12g  logloss %.6f  accuracy %.4f  "
                "(%.3fs, of which allreduce %.3fs)",
                sl_optimizer_name(oo.kind), tot.res.converged ? "converged" : "stopped",
                (long long)tot.res.iterations, tot.res.final.objective, tot.res.final.logloss,
                tot.res.final.accuracy, tot.total, tot.allreduce);
        /* Rank 0 writes; the others learn the outcome so every rank exits alike. */
        int64_t ok = 1;
        if (c->rank == 0) {
            if (a.model_out) st = sl_model_save(&model, a.model_out, &err);
            if (!st && a.metrics_out) st = write_metrics(a.metrics_out, &run, &tot, &err);
            if (st && a.model_out && a.metrics_out) unlink(a.model_out); /* all or nothing */
            if (st) sl_error("%s", err.msg);
            ok = st == SL_OK;
        }
        sl_comm_bcast(c, &ok, sizeof ok, 0);
        code = ok ? SL_EXIT_OK : SL_EXIT_FAIL;
        if (tr) {
            int64_t ts = sl_now_ms();
            sl_tracker_metric(tr, "final_objective", tot.res.final.objective, 0, ts);
            sl_tracker_metric(tr, "final_train_logloss", tot.res.final.logloss, 0, ts);
            sl_tracker_metric(tr, "final_accuracy", tot.res.final.accuracy, 0, ts);
            sl_tracker_metric(tr, "iterations", (double)tot.res.iterations, 0, ts);
            sl_tracker_metric(tr, "time_load_seconds", tot.load, 0, ts);
            sl_tracker_metric(tr, "time_compute_seconds", tot.compute, 0, ts);
            sl_tracker_metric(tr, "time_allreduce_seconds", tot.allreduce, 0, ts);
            sl_tracker_metric(tr, "time_total_seconds", tot.total, 0, ts);
            if (run.val) {
                sl_tracker_metric(tr, "final_val_logloss", tot.val.logloss, 0, ts);
                sl_tracker_metric(tr, "final_val_accuracy", tot.val.accuracy, 0, ts);
                sl_tracker_metric(tr, "final_val_auc", tot.val.auc, 0, ts);
            }
            if (ok && a.model_out) sl_tracker_artifact(tr, a.model_out, "model/model.json");
            if (ok && a.metrics_out) sl_tracker_artifact(tr, a.metrics_out, "metrics.json");
            sl_tracker_commit(tr);
            sl_tracker_finish(tr, ok ? "FINISHED" : "FAILED", ok ? NULL : err.msg);
        }
        sl_model_free(&model);
    }
    sl_tracker_destroy(tr);
    free(w);
    free(run.hist);
    free(run.val_margins);
    if (run.val) sl_model_free(&run.view);
    sl_obj_free(&obj);
    sl_colmap_free(&map);
    sl_shard_free(&val);
    sl_shard_free(&shard);
    return code;
}
