/* train_cmd.c - `shardlearn train`: parse the options, load the shards, train
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

static const struct sl_choice OPTIMIZERS[] = {
    {"newton", SL_OPT_NEWTON}, {"lbfgs", SL_OPT_LBFGS}, {"sgd", SL_OPT_SGD}, {NULL, 0}};
static const struct sl_choice NEWTON_SOLVERS[] = {
    {"auto", SL_NEWTON_AUTO}, {"cg", SL_NEWTON_CG}, {"direct", SL_NEWTON_DIRECT}, {NULL, 0}};

/* Table rows by kind. */
#define FLAG(n, d, h)                                                                              \
    { .name = n, .kind = SL_ARG_FLAG, .dst = d, .help = h }
#define STR(n, d, mv, h)                                                                           \
    { .name = n, .kind = SL_ARG_STR, .dst = d, .metavar = mv, .help = h }
#define INT(n, d, mv, lo, hi, h)                                                                   \
    { .name = n, .kind = SL_ARG_INT, .dst = d, .metavar = mv, .min = lo, .max = hi, .help = h }
#define CHOICE(n, d, mv, h, c)                                                                     \
    { .name = n, .kind = SL_ARG_CHOICE, .dst = d, .metavar = mv, .help = h, .choices = c }
#define F64(n, d, mv, h, lo, hi)                                                                   \
    { .name = n, .kind = SL_ARG_F64, .dst = d, .metavar = mv, .help = h, .min = lo, .max = hi }

/* v[key] <- x, the shortest number that reads back the same. */
static void resolve_number(cJSON *v, const char *key, double x) {
    char num[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(num, sizeof num, "%.*g", prec, x);
        if (strtod(num, NULL) == x) break;
    }
    cJSON_ReplaceItemInObjectCaseSensitive(v, key, cJSON_CreateRaw(num));
}

/* a->resolved <- the options' final values as canonical JSON, the tracking
 * URI without any user:password@ (no secret goes in config.json). */
static void resolve(const struct sl_opt *opts, struct train_args *a) {
    cJSON *v = sl_config_values(opts, "config");
    if (a->tracking_uri) {
        char shown[2048];
        cJSON *u = sl_tracking_uri_public(a->tracking_uri, shown, sizeof shown) == 0
                       ? cJSON_CreateString(shown)
                       : cJSON_CreateNull();
        cJSON_ReplaceItemInObjectCaseSensitive(v, "tracking-uri", u);
    }
    if (a->n_l2 <= 1) resolve_number(v, "l2", a->l2); /* one value: a number, as it always was */
    if (a->n_l1 <= 1) resolve_number(v, "l1", a->l1);
    a->resolved = sl_config_print(v);
    cJSON_Delete(v);
}

/* Collective when --config is given. Parses argv, over the config file's
 * values when there is one, into a (cfg holds the file's strings); returns
 * -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, struct sl_comm *c, struct train_args *a,
                      struct sl_config *cfg) {
    const struct sl_opt opts[] = {
        STR("config", &a->config, "FILE",
            "read options from a JSON or YAML file; options given here override it"),
        STR("data", &a->data, "FILE",
            "training data (LIBSVM/svmlight text or CSV, or a cache written by convert)"),
        STR("cache", &a->cache, "DIR",
            "binary cache of --data: built on first use, reused while --data is unchanged"),
        CHOICE("format", &a->format, "FMT",
               "libsvm|csv|tsv|criteo (default: from the extension, .csv is CSV, .tsv TSV)",
               SL_FORMAT_CHOICES),
        STR("categorical", &a->categorical, "COLS",
            "csv/tsv: hash these columns (header names or 1-based ranges like 2-5,9)"),
        INT("hash-bits", &a->hash_bits, "B", 1, 31,
            "hashed categorical features go to 2^B indices (default 20)"),
        FLAG("zero-based", &a->zero_based, "LIBSVM feature indices start at 0 (default 1)"),
        INT("n-features", &a->n_features, "D", 1, 2147483647.0,
            "fix the feature count (default: largest index seen on any rank)"),
        CHOICE("optimizer", &a->optimizer, "NAME",
               "newton|lbfgs|sgd (default newton; lbfgs with --l1)", OPTIMIZERS),
        STR("l2", &a->l2_spec, "LAMBDA",
            "L2 strength lambda in F (default 1e-4); a list 1e-3,1e-4 or a log-spaced range "
            "HI:LO:N fits a path, strongest first, each from the last"),
        STR("l1", &a->l1_spec, "A",
            "L1 strength a in F (default 0; lbfgs: OWL-QN); a list or HI:LO:N fits a path, "
            "for each --l2 the --l1 values strongest first"),
        INT("cv", &a->cv, "K", 2, 1e9,
            "K-fold cross-validation (contiguous folds) at each --l2 (and --l1), then a refit "
            "on all rows"),
        CHOICE("select", &a->select, "METRIC",
               "val_logloss|val_auc|val_accuracy|val_rmse|val_auc_ovr (multinomial): what picks the "
               "best --l2/--l1 and what "
               "--early-stop watches (default: val_logloss, val_accuracy for squared-hinge, "
               "val_rmse for squared)",
               SL_METRIC_CHOICES),
        STR("models-dir", &a->models_dir, "DIR",
            "with an --l2 or --l1 path: write every setting's model to DIR"),
        INT("early-stop", &a->early_stop, "N", 1, 1e9,
            "stop when the --select metric on --validation has not improved for N iterations "
            "(epochs for sgd); keep the best iterate"),
        CHOICE(
            "loss", &a->loss, "NAME",
            "logistic|squared-hinge|squared|multinomial (default logistic; squared: real labels; "
            "multinomial: K >= 3 integer class labels)",
            SL_LOSS_CHOICES),
        FLAG("standardize", &a->standardize,
             "optimise over columns scaled to unit standard deviation (not centred); the penalty "
             "applies there, the model is in the data's units"),
        STR("sample-weights", &a->sample_weights, "FILE",
            "one weight >= 0 a line for each data row, in row order"),
        STR("weight-column", &a->weight_column, "COL",
            "CSV: the column holding each row's weight, by header name or 0-based index (label 0)"),
        STR("class-weight", &a->class_weight, "SPEC",
            "balanced (n / (K n_c), as scikit-learn) or LABEL:W,... e.g. 1:5,-1:1"),
        STR("init-model", &a->init_model, "FILE",
            "warm start from this model (same features, loss, classes and intercept; any --l2)"),
        FLAG("no-intercept", &a->no_intercept, "fit no intercept b"),
        F64("tol", &a->tol, "T",
            "stop when |grad F| <= T |grad F(0)| or F falls by < 1e-3 T relative (default 1e-6)", 0,
            1),
        INT("max-iter", &a->max_iter, "N", 1, 1e9, "newton/lbfgs iteration limit (default 100)"),
        CHOICE("newton-solver", &a->newton_solver, "NAME",
               "auto|cg|direct: Newton's step by conjugate gradients or from the explicit "
               "Hessian (small d; default auto: a cost model picks)",
               NEWTON_SOLVERS),
        INT("lbfgs-memory", &a->lbfgs_m, "M", 1, 1000, "L-BFGS correction pairs (default 10)"),
        INT("batch-size", &a->batch_size, "B", 1, 1e9,
            "sgd: rows per step on each rank (default 256)"),
        INT("epochs", &a->epochs, "E", 1, 1e9, "sgd: passes over the data (default 10)"),
        F64("lr", &a->lr, "LR", "sgd: initial step size (default 0.1)", 1e-300, 1e300),
        F64("lr-decay", &a->lr_decay, "K",
            "sgd: step size lr / (1 + K * epochs so far) (default 1, 0 = constant)", 0, 1e300),
        INT("sync-every", &a->sync_every, "K", 1, 1e12,
            "sgd: average models over ranks every K local steps (default 1 = synchronous)"),
        FLAG("average", &a->average,
             "sgd: return the average of the models over the second half of the epochs"),
        INT("seed", &a->seed, "S", 0, 9.2e18, "sgd: seed for the row order (default 1)"),
        STR("validation", &a->validation, "FILE",
            "validation set (same format); its metrics go in the history"),
        STR("model-out", &a->model_out, "FILE", "write the model as JSON"),
        STR("metrics-out", &a->metrics_out, "FILE",
            "write final metrics, timings and history as JSON"),
        INT("blas-threads", &a->blas_threads, "N", 1, 1024,
            "OpenBLAS threads per rank (default 1)"),
        FLAG("quiet", &a->quiet, "no per-iteration progress lines"),
        STR("tracking-uri", &a->tracking_uri, "URI",
            "MLflow server (default $MLFLOW_TRACKING_URI; none: journal only)"),
        STR("experiment", &a->experiment, "NAME",
            "MLflow experiment (default $MLFLOW_EXPERIMENT_NAME or Default)"),
        STR("run-name", &a->run_name, "NAME", "MLflow run name"),
        STR("tracking-dir", &a->tracking_dir, "DIR",
            "journal directory (default ./shardlearn-runs)"),
        F64("tracking-flush-timeout", &a->flush_timeout, "S",
            "at exit wait at most S seconds for the server (default 10)", 0, 1e9),
        STR("register-model", &a->register_model, "NAME",
            "register the model under NAME in the MLflow model registry"),
        STR("checkpoint-dir", &a->checkpoint_dir, "DIR",
            "continue from the latest checkpoint in DIR and write new ones there"),
        F64("checkpoint-every", &a->checkpoint_every, "S",
            "with --checkpoint-dir: a checkpoint every S seconds (default 600)", 0, 1e9),
        FLAG("watch-preemption", &a->watch_preemption,
             "stop (and checkpoint) on Compute Engine's preemption notice "
             "($GCE_METADATA_HOST, default metadata.google.internal)"),
        FLAG("system-metrics", &a->system_metrics,
             "record every rank's memory, CPU and collectives as system/ metrics (default on; "
             "$MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING)"),
        F64("system-metrics-interval", &a->system_metrics_interval, "S",
            "at least S seconds between system metrics samples (default 10; "
            "$MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL)",
            0.1, 1e9),
        {.name = NULL}};
    struct sl_err err;
    sl_err_clear(&err);
    int help = 0, npos = 0;
    const struct train_args defaults = *a;
    enum sl_status st = sl_opts_parse(opts, argc, argv, 2, NULL, 0, &npos, &help, &err);
    if (help) {
        if (c->rank == 0)
            sl_opts_usage(stdout, "usage: mpirun -np N shardlearn train --data FILE [options]",
                          opts);
        return SL_EXIT_OK;
    }
    /* Precedence: defaults, then the file, then the command line again. */
    if (!st && a->config) {
        const char *path = a->config;
        *a = defaults;
        st = sl_config_load(cfg, opts, "config", path, c, &err);
        if (!st) st = sl_opts_parse(opts, argc, argv, 2, NULL, 0, &npos, &help, &err);
    }
    if (!st && !a->data)
        st = sl_err_set(&err, SL_ERR_ARG, "train needs --data FILE (or data: in --config)");
    if (!st) st = train_l1_settle(a, c->rank, &err);
    if (!st && a->checkpoint_every >= 0 && !a->checkpoint_dir)
        st = sl_err_set(&err, SL_ERR_ARG, "--checkpoint-every needs --checkpoint-dir DIR");
    if (!st) st = train_path_args(a, &err);
    if (st) {
        if (c->rank == 0) sl_error("%s (see shardlearn train --help)", err.msg);
        return SL_EXIT_USAGE;
    }
    if (a->checkpoint_dir && a->checkpoint_every < 0) { /* not given: the library's default */
        struct sl_train_params d;
        sl_train_params_init(&d);
        a->checkpoint_every = d.checkpoint.every_seconds;
    }
    resolve(opts, a);
    return -1;
}

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
    if (code < 0) code = parse_args(argc, argv, c, &a, &cfg);
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
