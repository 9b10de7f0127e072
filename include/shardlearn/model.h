/* model.h - a trained linear model: weights in the file's feature numbering,
 * save/load as JSON (numbers round-trip exactly), and evaluation over a
 * sharded data set. */
#ifndef SHARDLEARN_MODEL_H
#define SHARDLEARN_MODEL_H

#include <stdint.h>
#include <stdio.h>

#include "shardlearn/comm.h"
#include "shardlearn/data.h"
#include "shardlearn/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_MODEL_FORMAT "shardlearn-model"
#define SL_MODEL_VERSION 1
/* Multinomial models are written as version 2 (classes, a K x d weights
 * matrix, K intercepts); binary and regression models stay version 1. */
#define SL_MODEL_VERSION_MULTI 2

/* The loss l(y, m) of a margin m = w.x + b (objective.h, src/model/loss.h).
 * The classifiers take labels -1/+1, squared takes real labels. */
enum sl_loss {
    SL_LOSS_LOGISTIC = 0,  /* log(1 + exp(-y m)): logistic regression */
    SL_LOSS_SQUARED_HINGE, /* max(0, 1 - y m)^2: the L2-loss linear SVM */
    SL_LOSS_SQUARED,       /* (1/2)(y - m)^2: ridge regression */
    SL_LOSS_MULTINOMIAL    /* log sum_k exp(m_k) - m_y over K >= 3 classes: softmax regression;
                              y is the class's index into the model's classes, m a K-vector */
};
/* "logistic", "squared-hinge", "squared", "multinomial"; "?" for anything else. */
const char *sl_loss_name(enum sl_loss l);
/* 0 and *out <- the loss named name, -1 when there is none. */
int sl_loss_parse(const char *name, enum sl_loss *out);

struct sl_model {
    int64_t n_features; /* d */
    int fit_intercept;
    double intercept;
    double *weights;    /* (d); weights[j] is feature j minus the file's index base.
                           Multinomial: (K, d) row-major, class k's weights at k d */
    int64_t n_classes;  /* K >= 3 for a multinomial model, 0 for the others */
    double *classes;    /* (K) the class labels, sorted integers; NULL unless multinomial */
    double *intercepts; /* (K) the classes' intercepts (intercept unused); NULL unless
                           multinomial */
    double objective;  /* final training objective F, for the record */
    enum sl_loss loss; /* "loss" in the file; a file without it is logistic */
    int negative_label; /* the training file's negative class label, -1 or 0 (as its
                           labels were written); label outputs use it. A file without
                           "negative_label" is -1 */
    int index_base;    /* LIBSVM numbering of the training file: feature index_base is
                          weights[0]. 1 unless trained with --zero-based (the file then
                          says "index_base": 0; a file without the key is 1-based) */
    /* NULL, or the columns of the delimited text it was trained on, hashed
     * (hashing.h); owned, freed by sl_model_free; written to and read from
     * the file. */
    struct sl_hash_spec *hash;
};

/* Allocates zero weights; free with sl_model_free. */
void sl_model_init(struct sl_model *m, int64_t n_features, int fit_intercept);
/* A multinomial model of K classes (copied from classes: (K)), zero
 * weights (K, d) and intercepts (K); free with sl_model_free. */
void sl_model_init_multi(struct sl_model *m, int64_t n_features, int fit_intercept, int64_t K,
                         const double *classes);
void sl_model_free(struct sl_model *m);

/* Writes to path.tmp.<pid> in the C locale, then renames it over path, so a
 * reader never sees a partial file. Not collective: rank 0 calls it. */
enum sl_status sl_model_save(const struct sl_model *m, const char *path,
                             struct sl_err *err) SL_WARN_UNUSED;
/* The model file's text, for a caller that writes it itself (fileio.h). */
void sl_model_write(const struct sl_model *m, FILE *f);
/* Checks format and version before anything else. Not collective. */
enum sl_status sl_model_load(struct sl_model *m, const char *path,
                             struct sl_err *err) SL_WARN_UNUSED;

/* The same from a model file's text (NUL-terminated); path names it in
 * messages. */
enum sl_status sl_model_parse(struct sl_model *m, const char *text, const char *path,
                              struct sl_err *err) SL_WARN_UNUSED;

/* margins: (s->n_rows) <- w.x_i + b; features beyond the model's d count 0.
 * Multinomial: margins: (s->n_rows, K) <- W x_i + b. */
void sl_model_margins(const struct sl_model *m, const struct sl_shard *s, double *margins);
/* P(y = +1) for a margin: sigma(margin). Meaningful for logistic models
 * only; the callers refuse the others (predict --proba, serve). */
double sl_model_probability(const struct sl_model *m, double margin);
/* Multinomial: p: (K) <- softmax of one row's margins m: (K), stable. */
void sl_softmax(const double *m, int64_t K, double *p);

/* Collective. Multinomial labels: classes: (*K) <- the sorted distinct
 * labels of s over all ranks (malloc'd, caller frees), and s->y <- each
 * row's index into them. The labels must be integers (the reader checks,
 * real_labels 2). SL_ERR_ARG on every rank, err filled on rank 0, when
 * there are fewer than 3 classes. */
enum sl_status sl_classes_agree(struct sl_comm *c, struct sl_shard *s, double **classes, int64_t *K,
                                struct sl_err *err) SL_WARN_UNUSED;
/* Collective. s->y <- each row's index into classes: (K). A label that is
 * not a class: with strict, SL_ERR_ARG on every rank and err (on rank 0)
 * names the smallest such label as "class L of <what> is not among the
 * training classes"; without, its row gets index -1. */
enum sl_status sl_classes_map(struct sl_comm *c, struct sl_shard *s, const double *classes,
                              int64_t K, int strict, const char *what,
                              struct sl_err *err) SL_WARN_UNUSED;
/* The classifiers' metrics are NaN for squared, the regression metrics NaN
 * for the classifiers. */
struct sl_eval_result {
    double logloss; /* mean log-loss of sigma(margin) (multinomial: of the softmax), no
                       regulariser; NaN but for logistic and multinomial */
    double accuracy;
    double auc; /* ROC AUC, ties counted half; NaN when a class is absent. Multinomial: the
                   unweighted mean over the classes of one-vs-rest AUCs of p_k (scikit-learn's
                   roc_auc_score(multi_class="ovr")) */
    double loss;          /* mean of the model's loss l(y, m), unweighted, no regulariser */
    double rmse, mae, r2; /* squared: sqrt(mean (y-m)^2), mean |y-m|, 1 - SSE/SST */
    int64_t n_rows;
};

/* Collective. Scores the shard's rows under the logistic loss; AUC needs the
 * global order of scores, so scores and labels are gathered to rank 0 (16
 * bytes a row) and the result broadcast: every rank returns the same
 * numbers. */
void sl_evaluate(struct sl_comm *c, const struct sl_shard *s, const double *margins,
                 struct sl_eval_result *out);
/* The same under a given loss (squared: no gather, sums only). Multinomial:
 * margins (n_rows, K), y class indices (sl_classes_map), K from the
 * evaluate_multi call below. */
void sl_evaluate_loss(struct sl_comm *c, const struct sl_shard *s, const double *margins,
                      enum sl_loss loss, struct sl_eval_result *out);
/* Multinomial: margins (n_rows, K), y the rows' class indices. */
void sl_evaluate_multi(struct sl_comm *c, const struct sl_shard *s, const double *margins,
                       int64_t K, struct sl_eval_result *out);

#ifdef __cplusplus
}
#endif

#endif
