/* train_opts.c - `shardlearn train`'s options: the table, the config file's
 * precedence, the checks between options, and their resolved values
 * (config.json). */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "cli/train.h"
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
int train_parse_args(int argc, char **argv, struct sl_comm *c, struct train_args *a,
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
