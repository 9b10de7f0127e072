/* train_cmd.c - `shardlearn train`: the options (train_opts.c), load the shards, train
 * through sl_train, write the model and metrics (rank 0), and record the run
 * in the tracking journal (rank 0). */
#define _XOPEN_SOURCE 700 /* realpath */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "cli/out.h"
#include "cli/preempt.h"
#include "cli/train.h"
#include "shardlearn/clock.h"
#include "shardlearn/fileio.h"
#include "shardlearn/hashing.h"
#include "shardlearn/log.h"

/* config.json and its digest, first thing in the journal: a run that fails
 * on its data still says how it was configured. */
static void log_config(struct sl_tracker *tr, const struct train_args *a) {
    const size_t len = strlen(a->resolved);
    char digest[65];
    sl_config_digest(a->resolved, len, digest);
    sl_tracker_tag(tr, "shardlearn.config_digest", digest);
    sl_tracker_artifact_data(tr, a->resolved, len, "config.json");
    sl_tracker_commit(tr);
}

/* The library's parameters from the command line. */
static void train_params(const struct train_args *a, struct sl_train_params *p) {
    sl_train_params_init(p);
    p->optim = (struct sl_optim_opts){.kind = (enum sl_optimizer)a->optimizer,
                                      .tol = a->tol,
                                      .max_iter = (int)a->max_iter,
                                      .lbfgs_m = (int)a->lbfgs_m,
                                      .newton_solver = a->newton_solver,
                                      .batch_size = a->batch_size,
                                      .epochs = (int)a->epochs,
                                      .lr = a->lr,
                                      .lr_decay = a->lr_decay,
                                      .sync_every = a->sync_every,
                                      .seed = (uint64_t)a->seed,
                                      .average = a->average};
    p->l2 = a->l2;
    p->l1 = a->l1;
    p->early_stop = (int)a->early_stop;
    p->metric = (enum sl_metric)a->select;
    p->loss = (enum sl_loss)a->loss;
    p->standardize = a->standardize;
    p->fit_intercept = !a->no_intercept;
    p->stop_flag = &sl_stop_signal;
    p->checkpoint.dir = a->checkpoint_dir;
    if (a->checkpoint_every >= 0) p->checkpoint.every_seconds = a->checkpoint_every;
    /* The data by its absolute path (a file or a directory; a glob or a URL
     * as given), so that a job resumed from another directory, or with the
     * path spelled otherwise, is the same job. Its size is the loaded
     * source's (run_training): a directory's is that of its files. */
    static char data_path[PATH_MAX], val_path[PATH_MAX];
    p->checkpoint.data_name = realpath(a->data, data_path) ? data_path : a->data;
    p->checkpoint.validation_name = !a->validation                      ? NULL
                                    : realpath(a->validation, val_path) ? val_path
                                                                        : a->validation;
    static char weights[PATH_MAX + 64], w_path[PATH_MAX];
    if (a->sample_weights || a->class_weight || a->weight_column) {
        snprintf(weights, sizeof weights, "%s %s %s", a->weight_column ? a->weight_column : "-",
                 !a->sample_weights                    ? "-"
                 : realpath(a->sample_weights, w_path) ? w_path
                                                       : a->sample_weights,
                 a->class_weight ? a->class_weight : "-");
        p->checkpoint.weights_name = weights;
    }
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
        for (int q = 0; q < r; q++)
            seen |= strcmp(h, all + (size_t)q * sizeof me) == 0;
        if (seen) continue;
        if (out[0]) strncat(out, ",", cap - strlen(out) - 1);
        strncat(out, h, cap - strlen(out) - 1);
    }
    free(all);
}

/* Rank 0's tracker; none elsewhere or when the journal cannot be written.
 * With --checkpoint-dir, the run of the checkpoint to resume (its note names
 * the run directory) is continued: the same MLflow run, no second one. */
static void start_tracking(const struct train_args *a, const struct sl_comm *c,
                           struct train_tracking *tt) {
    *tt = (struct train_tracking){
        .tr = NULL, .reopened = 0, .at = {.last_step = 0, .system_next = 0}};
    if (c->rank != 0) return;
    const struct sl_track_config tc = {.tracking_uri = a->tracking_uri,
                                       .experiment_name = a->experiment,
                                       .run_name = a->run_name,
                                       .tracking_dir = a->tracking_dir,
                                       .flush_timeout_s = a->flush_timeout,
                                       .register_model = a->register_model};
    struct sl_err err;
    sl_err_clear(&err);
    char run_dir[PATH_MAX];
    if (a->checkpoint_dir && sl_checkpoint_note(a->checkpoint_dir, run_dir, sizeof run_dir) == 0) {
        if (sl_tracker_reopen(&tt->tr, &tc, run_dir, &tt->at, &err) == SL_OK) {
            tt->reopened = 1;
            return;
        }
        sl_warn("tracking: cannot continue the checkpoint's run (%s); starting a new one", err.msg);
        sl_err_clear(&err);
    }
    if (sl_tracker_create(&tt->tr, &tc, &err) != SL_OK) sl_warn("tracking disabled: %s", err.msg);
}

/* The run's end in the journal after a failure. A continued run that failed
 * before it made any progress (a checkpoint of another job, data gone)
 * stays as it was, stopped and resumable. */
static void track_failure(const struct train_tracking *tt, const char *msg, int progressed) {
    if (!tt->tr) return;
    if (tt->reopened && !progressed)
        sl_tracker_finish(tt->tr, "KILLED", NULL);
    else
        sl_tracker_finish(tt->tr, "FAILED", msg);
}

/* Collective. The training shard, and the validation shard when asked. */
static enum sl_status load_data(struct sl_comm *c, const struct train_args *a,
                                struct sl_shard *shard, struct sl_shard *val,
                                struct sl_hash_spec **hash, struct sl_err *err) {
    memset(val, 0, sizeof *val);
    memset(shard, 0, sizeof *shard);
    /* A cache keeps its own hashing spec (sl_cli_cache_hash, below). */
    const int from_cache = !a->cache && sl_cache_is(a->data, c);
    enum sl_status hs = from_cache ? SL_OK
                                   : sl_cli_hash_spec(c, a->format, a->data, a->categorical,
                                                      a->hash_bits, hash, err);
    if (hs) return hs;
    if (*hash && a->n_features) { /* the same on every rank */
        if (c->rank == 0)
            sl_err_set(err, SL_ERR_ARG, "--n-features: not with hashed columns (d is 2^B plus the "
                                        "numeric columns)");
        return SL_ERR_ARG;
    }
    const struct sl_load_opts lo = {.format = (enum sl_format)a->format,
                                    .zero_based = a->zero_based,
                                    .n_features = a->n_features,
                                    .real_labels = a->loss == SL_LOSS_SQUARED       ? 1
                                                   : a->loss == SL_LOSS_MULTINOMIAL ? 2
                                                                                    : 0,
                                    .hash = *hash};
    enum sl_status st;
    if (a->cache) {
        struct sl_cache_use use;
        st = sl_cache_use(shard, a->data, a->cache, &lo, c, &use, err);
        if (!st && use.reused)
            sl_info("cache %s: used (%s unchanged)", a->cache, a->data);
        else if (!st && !use.stale)
            sl_info("cache %s: written from %s", a->cache, a->data);
        else if (!st && c->rank == 0)
            sl_warn("cache %s: rebuilt: %s", a->cache, use.why);
    } else {
        st = sl_data_load(shard, a->data, &lo, c, err);
    }
    if (!st && from_cache &&
        (st = sl_cli_cache_hash(c, a->format, a->categorical, a->hash_bits, a->data, shard, hash,
                                err)))
        sl_shard_free(shard);
    struct sl_load_opts vo = lo;
    vo.hash = *hash;   /* a validation file of raw rows is hashed as the data were */
    vo.n_features = 0; /* columns the model never saw weigh 0 */
    if (!st && shard->dense) vo.n_features = shard->n_features; /* the weight column too */
    if (!st && (st = train_weigh_rows(c, a, shard, err))) sl_shard_free(shard);
    if (st || !a->validation) return st;
    st = sl_data_load(val, a->validation, &vo, c, err);
    /* The validation file has the weight column too; its metrics are unweighted. */
    if (!st && a->weight_column &&
        (st = sl_shard_weight_column(val, a->validation, a->weight_column, c, err)))
        sl_shard_free(val);
    if (st) sl_shard_free(shard);
    return st;
}

/* Rank 0 writes the model and metrics: both appear, or neither does and
 * whatever was at their paths before stays as it was (gs://: see cli/out.h).
 * mf, xf: zeroed; the caller closes them. */
static enum sl_status write_files(const struct train_args *a, const struct sl_shard *shard,
                                  const struct sl_shard *val, const struct sl_comm *c,
                                  const struct sl_model *model, const struct sl_train_report *rep,
                                  const struct train_times *t, struct cli_out *mf,
                                  struct cli_out *xf, struct sl_err *err) {
    enum sl_status st = SL_OK;
    if (a->model_out && !(st = cli_out_open(mf, a->model_out, err))) {
        sl_model_write(model, mf->f);
        st = cli_out_finish(mf, err);
    }
    if (!st && a->metrics_out && !(st = cli_out_open(xf, a->metrics_out, err))) {
        train_write_metrics(xf->f, a, shard, val, c, rep, t);
        st = cli_out_finish(xf, err);
    }
    if (!st && a->model_out) st = cli_out_publish(mf, err);
    if (!st && a->metrics_out) st = cli_out_publish(xf, err);
    return st;
}

/* Rank 0 writes; every rank learns the outcome so that all exit alike. */
static enum sl_status write_outputs(struct sl_comm *c, const struct train_args *a,
                                    const struct sl_shard *shard, const struct sl_shard *val,
                                    const struct sl_model *model, const struct sl_train_report *rep,
                                    const struct train_times *t, struct cli_out *mf,
                                    struct cli_out *xf, struct sl_err *err) {
    enum sl_status st = SL_OK;
    if (c->rank == 0 && (st = write_files(a, shard, val, c, model, rep, t, mf, xf, err)))
        sl_error("%s", err->msg);
    int64_t ok = st == SL_OK;
    sl_comm_bcast(c, &ok, sizeof ok, 0);
    return ok ? SL_OK : SL_ERR_IO;
}

/* After training: the summary line, the outputs, the journal's final
 * records. Returns the exit code. */
static int finish_run(struct sl_comm *c, const struct train_args *a, const struct sl_shard *shard,
                      const struct sl_shard *val, const struct sl_model *model,
                      const struct sl_train_report *rep, struct train_times *t,
                      struct train_progress *prog) {
    t->total = sl_wtime() - t->total;
    t->tracking += prog->track_seconds;
    t->sender_cpu = sl_tracker_sender_cpu(prog->tr);
    char acc[32] = ""; /* regression has no accuracy */
    if (a->loss != SL_LOSS_SQUARED)
        snprintf(acc, sizeof acc, "  accuracy %.4f", rep->result.final.accuracy);
    sl_info("%s %s after %lld iteration(s): objective %.12g  %s %.6f%s  "
            "(%.3fs, of which allreduce %.3fs)",
            sl_optimizer_name((enum sl_optimizer)a->optimizer),
            rep->result.converged ? "converged" : "stopped", (long long)rep->result.iterations,
            rep->result.final.objective, a->loss == SL_LOSS_LOGISTIC ? "logloss" : "loss",
            rep->result.final.logloss, acc, t->total, rep->allreduce_seconds);
    if (rep->best_iteration && (rep->early_stopped || rep->best_iteration < rep->n_history))
        sl_info("early stop: kept iteration %lld, the best by %s", (long long)rep->best_iteration,
                sl_metric_name(a->select ? (enum sl_metric)a->select
                                         : sl_metric_default((enum sl_loss)a->loss)));
    struct sl_err err;
    sl_err_clear(&err);
    struct cli_out mf = {.f = NULL}, xf = {.f = NULL};
    const int ok = write_outputs(c, a, shard, val, model, rep, t, &mf, &xf, &err) == SL_OK;
    /* The job is done: its checkpoints go, and the same command trains afresh.
     * (Kept when the outputs failed: the rerun then continues from them.) */
    if (ok && a->checkpoint_dir && c->rank == 0) sl_checkpoint_clear(a->checkpoint_dir);
    struct sl_tracker *tr = prog->tr;
    if (tr) {
        /* The model first, as a logged model too: the final metrics after
         * it are linked to it in MLflow 3. */
        if (ok && a->model_out) cli_out_artifact(tr, &mf, "model/model.json");
        sl_tracker_logged_model(tr, "model");
        train_log_final(tr, rep, t, a->validation != NULL, (enum sl_loss)a->loss);
        train_log_l1(tr, a, model);
        if (ok && a->metrics_out) cli_out_artifact(tr, &xf, "metrics.json");
        sl_tracker_commit(tr);
        sl_tracker_finish(tr, ok ? "FINISHED" : "FAILED", ok ? NULL : err.msg);
    }
    cli_out_close(&mf);
    cli_out_close(&xf);
    return ok ? SL_EXIT_OK : SL_EXIT_FAIL;
}

/* Collective: loads the data, trains, writes. Returns the exit code. */
/* sl_train, with rank 0 watching for a preemption notice under
 * --watch-preemption (the notice reaches the other ranks through the stop
 * agreement). by: what stopped the run, for messages ("a preemption notice",
 * "signal 10"). */
static enum sl_status train_watched(struct sl_comm *c, const struct train_args *a,
                                    struct sl_shard *shard, const struct sl_train_params *p,
                                    struct sl_model *model, struct sl_train_report *rep,
                                    struct sl_err *err, char *by, size_t cap) {
    struct sl_preempt_watch *watch = a->watch_preemption && c->rank == 0
                                         ? sl_preempt_watch_start(&sl_stop_signal, SIGTERM)
                                         : NULL;
    enum sl_status st = sl_train(c, shard, p, model, rep, err);
    const int preempted = sl_preempt_noticed(watch);
    sl_preempt_watch_stop(watch);
    if (preempted)
        snprintf(by, cap, "a preemption notice");
    else
        snprintf(by, cap, "signal %d", (int)sl_stop_signal);
    return st;
}

static int run_training(struct sl_comm *c, const struct train_args *a,
                        const struct train_tracking *tt, struct train_times *t) {
    struct sl_tracker *tr = tt->tr;
    struct sl_err err;
    sl_err_clear(&err);
    struct train_progress prog = {.a = a,
                                  .tr = tr,
                                  .track_seconds = 0.0,
                                  .logged_through = tt->at.last_step,
                                  .system_step0 = tt->at.system_next};
    struct sl_sysmon *mon = train_sysmet_start(c, &prog);
    struct sl_shard shard, val;
    struct sl_hash_spec *hash = NULL; /* the hashing spec of the data, when it has one */
    double *classes = NULL;
    int64_t n_classes = 0;
    /* A missing bucket or directory is found now, not after the training. */
    const char *outs[] = {a->model_out, a->metrics_out};
    if (cli_out_check(c, outs, 2, &err)) {
        train_sysmet_stop(mon, c, t);
        track_failure(tt, err.msg, 0);
        return SL_EXIT_FAIL;
    }
    enum sl_status st = load_data(c, a, &shard, &val, &hash, &err);
    if (!st && (st = train_classes(c, a, &shard, &val, &classes, &n_classes, &err))) {
        sl_shard_free(&shard);
        sl_shard_free(&val);
    }
    if (st) {
        sl_cli_hash_spec_destroy(hash);
        train_sysmet_stop(mon, c, t);
        if (err.msg[0]) sl_error("%s", err.msg);
        sl_share_error(c, &err);
        track_failure(tt, err.msg, 0);
        return SL_EXIT_FAIL;
    }
    t->load = sl_wtime() - t->total;
    char hosts[1024];
    gather_hosts(c, hosts, sizeof hosts);
    double t_params = sl_wtime();
    if (tr) train_log_params(tr, a, &shard, c, hosts, !tt->reopened, classes, n_classes);
    train_log_datasets(tr, a, &shard, &val);
    t->tracking += sl_wtime() - t_params;
    sl_info("data %s: %lld rows, %lld features, %lld nonzeros on %d rank(s), loaded in %.3fs",
            a->data, (long long)shard.n_rows_global, (long long)shard.n_features,
            (long long)shard.nnz_global, c->size, t->load);
    struct sl_train_params p;
    train_params(a, &p);
    /* The stored bytes of every listed file, and their CRC-32 (in the job, by
     * sl_ckpt_job_make): a changed part of a directory is another job. */
    p.checkpoint.data_bytes = shard.file_bytes;
    /* The run directory by its absolute path: the job may resume elsewhere. */
    char run_dir[PATH_MAX];
    if (tr) p.checkpoint.note = realpath(sl_tracker_run_dir(tr), run_dir) ? run_dir : NULL;
    p.validation = a->validation ? &val : NULL;
    p.classes = classes;
    p.n_classes = n_classes;
    p.on_iter = train_on_iter;
    p.ctx = &prog;
    struct sl_model model, init;
    struct sl_train_report rep;
    char by[48];
    memset(&rep, 0, sizeof rep);
    st = train_load_init(c, a, &init, &err);
    if (a->init_model) p.init = &init;
    struct sl_path_report prep;
    memset(&prep, 0, sizeof prep);
    struct train_args *ap = sl_malloc(sizeof *ap); /* a, and the path for metrics.json */
    *ap = *a;
    if (st == SL_OK && train_is_path(a)) {
        struct sl_preempt_watch *watch = a->watch_preemption && c->rank == 0
                                             ? sl_preempt_watch_start(&sl_stop_signal, SIGTERM)
                                             : NULL;
        st = train_run_path(c, a, &shard, &p, tr, &model, &prep, &err);
        sl_preempt_watch_stop(watch);
        rep = prep.final; /* the selected fit's run is the job's */
        memset(&prep.final, 0, sizeof prep.final);
        ap->path = &prep;
    } else if (st == SL_OK) {
        st = train_watched(c, a, &shard, &p, &model, &rep, &err, by, sizeof by);
    }
    train_sysmet_stop(mon, c, t); /* the last sample, before the run is finished */
    int code;
    /* A stop: the journal first. mpirun stops forwarding the ranks' output
     * once it is signalled, so a line printed first can block until the
     * SIGKILL that follows one second after the SIGTERM. */
    if (st == SL_ERR_INTERRUPTED && rep.checkpointed) {
        if (tr) {
            char why[96];
            snprintf(why, sizeof why, "%s after iteration %lld; checkpointed", by,
                     (long long)rep.n_history);
            sl_tracker_tag(tr, "shardlearn.preempted", why);
            sl_tracker_finish(tr, "KILLED", NULL);
        }
        sl_info("stopped by %s after %lld iteration(s): checkpoint written to %s; run the "
                "same command again to continue (exit %d)",
                by, (long long)rep.n_history, a->checkpoint_dir, SL_EXIT_CHECKPOINTED);
        code = SL_EXIT_CHECKPOINTED;
    } else if (st == SL_ERR_INTERRUPTED) {
        if (tr) sl_tracker_finish(tr, "KILLED", NULL);
        sl_info("interrupted: stopping without writing the model");
        code = sl_interrupted_code();
    } else if (st) {
        if (err.msg[0]) sl_error("%s", err.msg);
        sl_share_error(c, &err);
        track_failure(tt, err.msg, rep.n_history > rep.resumed_from);
        code = SL_EXIT_FAIL;
    } else {
        model.index_base = a->zero_based ? 0 : 1; /* for `serve`'s LIBSVM strings */
        /* Binary classifiers answer labels as the training file wrote them. */
        if (a->loss != SL_LOSS_SQUARED) model.negative_label = shard.labels01 ? 0 : -1;
        if (hash) { /* predict, eval and serve hash raw rows as the data was hashed */
            model.hash = sl_malloc(sizeof *model.hash);
            sl_hash_spec_copy(model.hash, hash);
        }
        code = finish_run(c, ap, &shard, &val, &model, &rep, t, &prog);
        sl_model_free(&model);
    }
    sl_path_report_free(&prep);
    free(ap);
    sl_train_report_free(&rep);
    sl_model_free(&init);
    free(classes);
    sl_shard_free(&val);
    sl_shard_free(&shard);
    sl_cli_hash_spec_destroy(hash);
    return code;
}

int sl_cmd_train(int argc, char **argv, struct sl_comm *c) {
    /* The library's defaults are the command's. */
    struct sl_train_params d;
    sl_train_params_init(&d);
    struct train_args a = {.optimizer = -1, /* not given: train_l1_settle picks */
                           .no_intercept = !d.fit_intercept,
                           .l2 = d.l2,
                           .tol = d.optim.tol,
                           .max_iter = d.optim.max_iter,
                           .lbfgs_m = d.optim.lbfgs_m,
                           .newton_solver = d.optim.newton_solver,
                           .batch_size = d.optim.batch_size,
                           .epochs = d.optim.epochs,
                           .lr = d.optim.lr,
                           .lr_decay = d.optim.lr_decay,
                           .sync_every = d.optim.sync_every,
                           .seed = (int64_t)d.optim.seed,
                           .average = d.optim.average,
                           .format = SL_FORMAT_AUTO,
                           .blas_threads = 1,
                           .flush_timeout = 10.0,
                           .checkpoint_every = -1.0, /* not given */
                           .system_metrics = 1,
                           .system_metrics_interval = 10.0};
    struct sl_config cfg = {.strs = NULL};
    int code = train_sysmet_env(c, &a);
    if (code < 0) code = train_parse_args(argc, argv, c, &a, &cfg);
    if (code >= 0) {
        sl_config_free(&cfg);
        return code;
    }
    sl_set_blas_threads((int)a.blas_threads);
    sl_install_usr1_handler();
    /* t.total holds the start until the end, when it becomes the duration. */
    struct train_times t = {.total = sl_wtime()};
    /* The journal comes first, so even a run that fails on its data is recorded. */
    struct train_tracking tt;
    start_tracking(&a, c, &tt);
    if (tt.tr) log_config(tt.tr, &a);
    t.tracking = sl_wtime() - t.total;
    code = run_training(c, &a, &tt, &t);
    sl_tracker_destroy(tt.tr);
    free(t.ranks);
    cJSON_free(a.resolved);
    sl_config_free(&cfg);
    return code;
}
