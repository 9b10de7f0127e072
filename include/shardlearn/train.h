/* train.h - the library's entry point: train a model on a loaded shard, in
 * the manner of LIBLINEAR's train(). Fill the parameters with
 * sl_train_params_init (the defaults below), set fields by name, check them
 * with sl_check_params, and call sl_train on every rank of the communicator.
 *
 *   struct sl_train_params p;
 *   sl_train_params_init(&p);
 *   p.l2 = 1e-5;
 *   const char *bad = sl_check_params(&p);   // NULL or a message
 *   struct sl_model model;
 *   struct sl_train_report report;
 *   enum sl_status st = sl_train(&comm, &shard, &p, &model, &report, &err);
 *
 * sl_train builds the column map (the columns that occur on some rank,
 * numbered most frequent first), the objective over it, runs the optimiser,
 * and returns the model in the file's feature numbering. */
#ifndef SHARDLEARN_TRAIN_H
#define SHARDLEARN_TRAIN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "shardlearn/comm.h"
#include "shardlearn/data.h"
#include "shardlearn/model.h"
#include "shardlearn/optim.h"
#include "shardlearn/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One iteration (epoch for SGD): the optimiser's record and, with a
 * validation set, its metrics (NaN without one). */
struct sl_train_iter {
    struct sl_iter_info it;
    double val_logloss, val_accuracy, val_auc;
};

/* Called on every rank after each iteration, when all ranks are at the same
 * point; it must not call collectives on the training communicator. */
typedef void (*sl_train_iter_fn)(const struct sl_train_iter *row, void *ctx);

/* Checkpoints (README: Checkpoints and stop signals). With dir set, a run
 * continues from the latest complete checkpoint of the same job in dir, if
 * any, writes one every every_seconds at an iteration boundary, and one when
 * a stop is requested (then sl_train returns SL_ERR_INTERRUPTED with
 * report->checkpointed set). The job's identity is the data's name and size
 * given here, the data's shape and every parameter that changes the
 * numbers; a checkpoint of another job in dir is an error naming what
 * differs. */
struct sl_ckpt_params {
    const char *dir;             /* NULL: no checkpoints */
    double every_seconds;        /* 600; 0: at every iteration boundary */
    const char *data_name;       /* the training data's name (a path), part of the identity */
    int64_t data_bytes;          /* its size in bytes (-1: unknown) */
    const char *validation_name; /* NULL: none */
    /* NULL: unweighted. What weighs the rows ("--sample-weights /abs/path",
     * "--class-weight balanced"), part of the identity. */
    const char *weights_name;
    /* NULL: none. Rank 0's: a line of text kept with each checkpoint (the
     * CLI keeps its tracking run there); sl_checkpoint_note reads it back. */
    const char *note;
};

/* Not collective, reads only. out (cap bytes) <- the note of the latest
 * complete checkpoint in dir: 0, or -1 when there is none (or no note).
 * The job is not checked here: sl_train does that. */
int sl_checkpoint_note(const char *dir, char *out, size_t cap);
/* Not collective (one process calls it): removes every checkpoint in dir,
 * complete or not - the job they belong to has finished. */
void sl_checkpoint_clear(const char *dir);

/* A validation metric, for early stopping and for choosing a setting of a
 * path (path.h). NONE: the loss's default (sl_metric_default). */
enum sl_metric {
    SL_METRIC_NONE = 0,
    SL_METRIC_VAL_LOGLOSS, /* logistic only; lower is better */
    SL_METRIC_VAL_AUC,     /* classifiers; higher is better */
    SL_METRIC_VAL_ACCURACY,
    SL_METRIC_VAL_RMSE,   /* squared only; lower is better */
    SL_METRIC_VAL_AUC_OVR /* multinomial's AUC: the mean of the one-vs-rest AUCs (scikit-learn's
                             roc_auc_score(multi_class="ovr")); higher is better */
};
/* The validation AUC's name under loss: "val_auc_ovr" for multinomial,
 * "val_auc" for the binary classifiers. */
const char *sl_metric_auc_name(enum sl_loss loss);

struct sl_train_params {
    struct sl_optim_opts optim; /* sl_optim_opts_init: newton, tol 1e-6, ... (optim.h) */
    double l2;                  /* 1e-4: lambda in F (objective.h) */
    double l1;                  /* 0: a in F's a ||w||_1 (objective.h); > 0 needs
                                   optim.kind SL_OPT_LBFGS (OWL-QN) */
    enum sl_loss loss;          /* SL_LOSS_LOGISTIC; squared needs real labels (data.h) */
    /* 0. 1: optimise over columns scaled to unit standard deviation, penalty
     * in the scaled space (objective.h sl_obj_standardize); the model is in
     * the data's units all the same. */
    int standardize;
    /* NULL: start from w = 0. A model to start from (warm start): its
     * features, intercept setting and loss (multinomial: and classes) must
     * be the data's and these parameters'; lambda may differ. Ignored when
     * a checkpoint resumes. */
    const struct sl_model *init;
    int fit_intercept; /* 1: fit an unregularised intercept b */
    /* NULL: none. A held-out shard loaded with the same reader; its log-loss,
     * accuracy and AUC are computed every iteration and at the end. */
    const struct sl_shard *validation;
    sl_train_iter_fn on_iter; /* NULL: none */
    void *ctx;                /* passed to on_iter */
    /* NULL: none. A flag a signal handler sets: training stops at the next
     * evaluation on every rank and sl_train returns SL_ERR_INTERRUPTED. */
    const volatile sig_atomic_t *stop_flag;
    struct sl_ckpt_params checkpoint; /* dir NULL: none */
    /* 0: none. N > 0: stop when the validation metric has not improved for
     * N iterations (epochs for SGD) and return the best iterate. Needs
     * validation; not with checkpoint.dir. A stop signal is noticed one
     * iteration later than without it. */
    int early_stop;
    enum sl_metric metric; /* SL_METRIC_NONE: sl_metric_default(loss) */
    /* Multinomial only: the K >= 3 classes (sl_classes_agree), not owned;
     * the shard's and the validation shard's y are indices into them. */
    const double *classes;
    int64_t n_classes;
};

/* What a run did. history: (n_history) one row per iteration, the same on
 * every rank. Free with sl_train_report_free. */
struct sl_train_report {
    struct sl_optim_result result;    /* iterations, converged, final F and metrics */
    struct sl_eval_result validation; /* at the returned model; n_rows 0 without one */
    struct sl_train_iter *history;
    int64_t n_history;
    int64_t n_cols_used;      /* columns that occur in the data (the working space) */
    double compute_seconds;   /* this rank's local passes */
    double allreduce_seconds; /* this rank's time in the optimiser's collectives */
    int64_t passes;           /* passes over the shard */
    int64_t resumed_from;     /* iterations taken from a checkpoint (0: started afresh) */
    int checkpointed;         /* SL_ERR_INTERRUPTED: the stop's checkpoint was written */
    int early_stopped;        /* early_stop: the metric stopped improving */
    int64_t best_iteration;   /* early_stop: the step of the returned iterate (0: none) */
};

void sl_train_params_init(struct sl_train_params *p);

/* The metric a loss selects by when none is given: val_logloss (logistic),
 * val_accuracy (squared-hinge), val_rmse (squared). */
enum sl_metric sl_metric_default(enum sl_loss loss);
/* "val_logloss", ...; "?" for anything else. */
const char *sl_metric_name(enum sl_metric m);
/* 0 and *out, or -1 when no metric has that name. */
int sl_metric_from_name(const char *name, enum sl_metric *out);
/* NULL when the loss has metric m, else a message (static storage). */
const char *sl_metric_check(enum sl_metric m, enum sl_loss loss);
/* m's value in ev (NaN when ev has none), and whether a higher one is better. */
double sl_metric_value(enum sl_metric m, const struct sl_eval_result *ev);
int sl_metric_higher_better(enum sl_metric m);
/* NULL when p is usable, else a message naming the first bad field (static
 * storage). Never prints. */
const char *sl_check_params(const struct sl_train_params *p);

/* Collective over c. shard: this rank's rows (data.h); its CSR column
 * indices are renumbered while training and restored before the return.
 * On SL_OK, *model holds the weights in the file's numbering (free with
 * sl_model_free) and *report the run (free with sl_train_report_free).
 * SL_ERR_INTERRUPTED: a stop was requested; *report holds the iterations
 * made, *model is empty; with checkpoints, report->checkpointed says
 * whether the run can be continued from where it stopped. SL_ERR_ARG: bad parameters (err says
 * which). The same status on every rank. */
enum sl_status sl_train(struct sl_comm *c, struct sl_shard *shard, const struct sl_train_params *p,
                        struct sl_model *model, struct sl_train_report *report,
                        struct sl_err *err) SL_WARN_UNUSED;
void sl_train_report_free(struct sl_train_report *r);

/* OpenBLAS threads per process for the dense kernels (1 suits one rank a
 * core, the default for the CLI). */
void sl_set_blas_threads(int n);

#ifdef __cplusplus
}
#endif

#endif
