/* train.h - private to the CLI: `shardlearn train`'s arguments and what it
 * writes besides the model - progress lines, metrics.json, the tracking
 * journal's params and metrics. */
#ifndef SHARDLEARN_CLI_TRAIN_H
#define SHARDLEARN_CLI_TRAIN_H

#include <stdint.h>
#include <stdio.h>

#include "cli/cli.h"
#include "shardlearn/comm.h"
#include "shardlearn/data.h"
#include "shardlearn/path.h"
#include "shardlearn/sysmetrics.h"
#include "shardlearn/track.h"
#include "shardlearn/train.h"

struct train_args {
    const char *data, *validation, *model_out, *metrics_out;
    const char *cache; /* --cache DIR, or NULL */
    int format, optimizer; /* enum sl_format, enum sl_optimizer */
    int zero_based, no_intercept, quiet, average;
    int64_t n_features, max_iter, lbfgs_m, batch_size, epochs, sync_every, seed, blas_threads;
    double l2, tol, lr, lr_decay, flush_timeout, checkpoint_every;
    double l1; /* --l1 A (train_l1.c); 0: none. A path: its largest value */
    const char *l1_spec;         /* --l1 as given: a value, a list or HI:LO:N */
    double l1_path[SL_PATH_MAX]; /* its values (n_l1) */
    int n_l1;
    const char *checkpoint_dir;
    int watch_preemption;           /* --watch-preemption: rank 0 polls GCE's metadata server */
    int system_metrics;             /* --system-metrics: system/ metrics in the run */
    double system_metrics_interval; /* --system-metrics-interval, seconds */
    const char *tracking_uri, *experiment, *run_name, *tracking_dir, *register_model;
    const char *categorical; /* --categorical COLS, or NULL */
    int64_t hash_bits;       /* --hash-bits B; 0: not given (20) */
    const char *config; /* --config FILE, or NULL */
    int loss;           /* --loss: enum sl_loss */
    int newton_solver;  /* --newton-solver: enum sl_newton_solver */
    int standardize;    /* --standardize */
    const char *init_model, *sample_weights, *class_weight, *weight_column; /* NULL: not given */
    char *resolved;     /* every option's final value, canonical JSON (config.json); owned */
    /* Paths and cross-validation (train_path.c). */
    const char *l2_spec;         /* --l2 as given: a value, a list or HI:LO:N */
    double l2_path[SL_PATH_MAX]; /* its values (n_l2) */
    int n_l2;
    int64_t cv, early_stop;            /* --cv K, --early-stop N; 0: none */
    int select;                        /* --select: enum sl_metric (NONE: the loss's default) */
    const char *models_dir;            /* --models-dir DIR, or NULL */
    const struct sl_path_report *path; /* set after a path ran: metrics.json gets it */
};

/* What the train command measured around sl_train (seconds; rank 0's). */
struct train_times {
    double load, total;
    double tracking;             /* the training thread's time in tracker calls */
    double sender_cpu;           /* the tracker's sender thread's CPU time */
    struct sl_sys_sample *ranks; /* (ranks) every rank's last system sample; owned */
    double sysmet;               /* rank 0's time in the system metrics monitor */
};

/* The per-iteration hook: progress line (rank 0, unless quiet) and the
 * iteration's metrics in the journal. */
struct train_progress {
    const struct train_args *a;
    struct sl_tracker *tr;  /* rank 0 only, may be NULL */
    double track_seconds;   /* rank 0: training-thread time inside tracker calls */
    int64_t logged_through; /* a continued run: steps already in its journal */
    int64_t system_step0;   /* a continued run: the step of its first system/ sample */
};

/* Rank 0's tracker; with --checkpoint-dir it may continue the run of the
 * checkpoint being resumed (README: Checkpoints and stop signals). */
struct train_tracking {
    struct sl_tracker *tr; /* NULL elsewhere or when tracking is off */
    int reopened;          /* tr continues an earlier run's journal */
    struct sl_track_resume at; /* where its journal stands */
};
/* train_data.c. The input format's name for params and the Datasets panel:
 * libsvm, csv, tsv or criteo. */
const char *train_format_name(const struct train_args *a, const struct sl_shard *s);
void train_on_iter(const struct sl_train_iter *row, void *ctx);

/* train_opts.c. Collective when --config is given. Parses argv, over the
 * config file's values when there is one, into a (cfg holds the file's
 * strings; struct sl_config of cli/config.h); returns -1 to go on, else the
 * exit code (help printed, or a usage error said on rank 0). */
struct sl_config;
int train_parse_args(int argc, char **argv, struct sl_comm *c, struct train_args *a,
                     struct sl_config *cfg);

/* train_l1.c. After parsing: a->l1_path <- the values of --l1 (each >= 0;
 * a range's ends > 0), a->l1 their largest. --optimizer not given
 * (a->optimizer < 0) becomes lbfgs with --l1 > 0 (rank 0 says so), newton
 * otherwise; newton or sgd given with --l1 > 0 is an error naming lbfgs.
 * SL_OK or SL_ERR_ARG with err set. */
enum sl_status train_l1_settle(struct train_args *a, int rank, struct sl_err *err) SL_WARN_UNUSED;
/* With --l1: the final metric nnz_weights, m's nonzero weights (the
 * intercept not counted). Nothing without --l1. */
void train_log_l1(struct sl_tracker *tr, const struct train_args *a, const struct sl_model *m);
/* train_path.c. a->l2_path <- the values of --l2 (a single value may be
 * 0; a path's must be > 0), and the checks of the options that go with a
 * path (after train_l1_settle). Not collective: every rank parses the same
 * arguments. */
enum sl_status train_path_args(struct train_args *a, struct sl_err *err) SL_WARN_UNUSED;
/* Whether a runs a path or cv: several --l2 or --l1 values, or --cv. */
int train_is_path(const struct train_args *a);
/* Collective: the path or cv of a's --l2 x --l1 values, one line
 * per setting (rank 0), each model into --models-dir, the path in tr. The
 * same status on every rank, err filled on rank 0. */
enum sl_status train_run_path(struct sl_comm *c, const struct train_args *a, struct sl_shard *shard,
                              const struct sl_train_params *p, struct sl_tracker *tr,
                              struct sl_model *model, struct sl_path_report *rep,
                              struct sl_err *err) SL_WARN_UNUSED;
/* metrics.json's "path" member, a line ending in ",\n"; loss names the AUC. */
void train_write_path(FILE *f, const struct sl_path_report *rep, enum sl_loss loss);
/* --select's names. */
extern const struct sl_choice SL_METRIC_CHOICES[];

/* train_models.c. --loss's names. */
extern const struct sl_choice SL_LOSS_CHOICES[];
/* Collective. s->weights from --weight-column (the column leaves the
 * features), --sample-weights and --class-weight (together: their
 * product); nothing without them. err filled on one rank. */
enum sl_status train_weigh_rows(struct sl_comm *c, const struct train_args *a,
                                struct sl_shard *s, struct sl_err *err) SL_WARN_UNUSED;
/* Collective. *m <- the --init-model file (zeroed without one); free with
 * sl_model_free. The ranks agree on a failure; err filled on rank 0. */
/* Collective. --loss multinomial: the classes of the training shard (the
 * caller frees *classes), its and the validation shard's labels mapped to
 * class indices, and --class-weight's weights applied to the training rows;
 * a validation label that is not a class is an error.
 * Other losses: nothing, *K 0. */
enum sl_status train_classes(struct sl_comm *c, const struct train_args *a, struct sl_shard *s,
                             struct sl_shard *val, double **classes, int64_t *K,
                             struct sl_err *err);
/* out (cap bytes) <- the classes joined by sep ("0, 1, 2"); a long list
 * keeps its head and its last class: "0, 1, ..., 99". */
void train_classes_text(const double *classes, int64_t K, const char *sep, char *out, size_t cap);
enum sl_status train_load_init(struct sl_comm *c, const struct train_args *a, struct sl_model *m,
                               struct sl_err *err) SL_WARN_UNUSED;

/* train_sysmet.c. Collective: the defaults of --system-metrics and
 * --system-metrics-interval from MLflow's variables
 * MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING and
 * MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL; -1 to go on, else the exit code
 * (every rank alike) after a bad value. */
int train_sysmet_env(struct sl_comm *c, struct train_args *a);
/* Collective: the monitor, reporting to p->tr (rank 0) when it is on. */
struct sl_sysmon *train_sysmet_start(struct sl_comm *c, struct train_progress *p);
/* Collective: the last sample; t->ranks and t->sysmet on rank 0. */
void train_sysmet_stop(struct sl_sysmon *m, const struct sl_comm *c, struct train_times *t);

/* Params (unless params is 0: a continued run has them) and tags of the
 * run, into the journal (rank 0); a multinomial run's classes: (K) too. */
void train_log_params(struct sl_tracker *tr, const struct train_args *a, const struct sl_shard *s,
                      const struct sl_comm *c, const char *hosts, int params,
                      const double *classes, int64_t K);
/* Final metrics at step 0, into the journal. */
void train_log_final(struct sl_tracker *tr, const struct sl_train_report *rep,
                     const struct train_times *t, int validation, enum sl_loss loss);
/* metrics.json: final metrics, data digests, timings and the history. */
void train_write_metrics(FILE *f, const struct train_args *a, const struct sl_shard *s,
                         const struct sl_shard *val, const struct sl_comm *c,
                         const struct sl_train_report *rep, const struct train_times *t);

/* train_data.c. The digest of a loaded file: "<crc32 hex>-<bytes>". */
#define TRAIN_DIGEST_LEN 40
void train_data_digest(const struct sl_shard *s, char out[TRAIN_DIGEST_LEN]);
/* The training (and validation) data set into the journal, for MLflow's
 * Datasets panel; tr may be NULL. */
void train_log_datasets(struct sl_tracker *tr, const struct train_args *a,
                        const struct sl_shard *shard, const struct sl_shard *val);
/* metrics.json's "data" (and "validation_data") fields, with ",\n" after. */
void train_write_datasets(FILE *f, const struct train_args *a, const struct sl_shard *shard,
                          const struct sl_shard *val);

#endif
