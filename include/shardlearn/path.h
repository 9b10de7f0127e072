/* path.h - regularisation paths and K-fold cross-validation over one loaded
 * shard, in the manner of glmnet and scikit-learn's LogisticRegressionCV.
 *
 *   double lam[9]; int n;
 *   sl_path_parse("1e-2:1e-6:9", lam, 9, &n, &err);   // or "1e-3,1e-4"
 *   struct sl_path_params pp = {.l2 = lam, .n = n, .cv = 0};
 *   struct sl_path_report rep;
 *   sl_train_path(&comm, &shard, &p, &pp, &model, &rep, &err);
 *
 * The settings are fitted from the strongest penalty to the weakest, each
 * from the previous one's solution (a warm start); the data is not read
 * again. A setting is a pair (l2, l1). With several values of both the
 * settings are their grid, as scikit-learn's LogisticRegressionCV's Cs x
 * l1_ratios: for each l2, strongest first, the l1 values strongest first
 * (glmnet's lasso path). Each setting starts from the one before it in its
 * l2's row, and a row's first setting from the previous row's first (the
 * same l1 at the next stronger l2): always a neighbour in the grid. */
#ifndef SHARDLEARN_PATH_H
#define SHARDLEARN_PATH_H

#include "shardlearn/train.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_PATH_MAX 1000 /* settings in a path */

/* Not collective. out: (cap) <- the values of spec, a comma-separated list
 * of numbers > 0 ("1e-3,1e-4") or a log-spaced range "HI:LO:N" (N values
 * from HI to LO, both included; N >= 2). *n <- their count. SL_ERR_ARG with
 * a message naming what is wrong otherwise (the bad item, quoted). */
enum sl_status sl_path_parse(const char *spec, double *out, int cap, int *n,
                             struct sl_err *err) SL_WARN_UNUSED;
/* The same, but a list's values may be 0 (an L1 path may end at no L1
 * penalty); a range's ends are still > 0. */
enum sl_status sl_path_parse_nonneg(const char *spec, double *out, int cap, int *n,
                                    struct sl_err *err) SL_WARN_UNUSED;

/* One setting of a path, after its fit. */
struct sl_path_point {
    double l2, l1;             /* the setting */
    int64_t nnz;               /* nonzero weights of the fit (intercepts not counted); cv: 0 */
    int64_t iterations;        /* the fit's (cv: summed over the folds) */
    int converged;             /* every fit of the setting converged */
    double objective;          /* F at the fit (cv: mean over the folds) */
    struct sl_eval_result val; /* at the fit on the validation set (cv: n_rows 0) */
    double score;              /* the selection metric: validation, or the mean over the folds */
    double score_std;          /* cv: the folds' standard deviation (ddof 0, as numpy); else 0 */
    double *fold_scores;       /* cv: (cv) each held-out fold's metric; else NULL */
    int64_t best_iteration;    /* early stop: the kept iterate's step */
    int selected;
};

/* Called on every rank after each setting's fit (cv: after each fold's,
 * fold >= 0 and m the fold's model, then once more with fold -1, m and rep
 * NULL, when the setting's folds are done). It may not call collectives. */
typedef void (*sl_path_fn)(int index, int fold, const struct sl_path_point *pt,
                           const struct sl_model *m, const struct sl_train_report *rep, void *ctx);

struct sl_path_params {
    const double *l2;      /* (n) the l2 values, any order: they are sorted, strongest first */
    int n;                 /* >= 1 */
    const double *l1;      /* (n_l1) the l1 values, any order, sorted so; NULL: p->l1 alone */
    int n_l1;              /* >= 1 (unread when l1 is NULL); n x n_l1 <= SL_PATH_MAX */
    int cv;                /* 0: none; K >= 2: K-fold cross-validation */
    enum sl_metric select; /* SL_METRIC_NONE: sl_metric_default(loss) */
    sl_path_fn on_point;   /* NULL: none */
    void *ctx;
};

struct sl_path_report {
    struct sl_path_point *points; /* (n) the grid, row-major: l2 strongest first, then l1 */
    int n, cv;                    /* n: the settings, n_l2 x n_l1 */
    int n_l1;                     /* the settings of one l2 */
    int best;                     /* the selected point; -1 without validation or cv */
    enum sl_metric select;
    /* The returned model's run: the best point's fit (with validation), the
     * refit on every row (cv), or the weakest penalty's fit (neither). */
    struct sl_train_report final;
};

/* Collective over c. p: the parameters of every fit but l2 and l1 (p->init: the
 * first fit's start). With pp->cv, p->validation is scored only by the
 * refit. On SL_OK *model is the selected setting's model (see final) and
 * *rep the path; free with sl_model_free and sl_path_report_free. The same
 * status on every rank; err filled on rank 0. */
enum sl_status sl_train_path(struct sl_comm *c, struct sl_shard *shard,
                             const struct sl_train_params *p, const struct sl_path_params *pp,
                             struct sl_model *model, struct sl_path_report *rep,
                             struct sl_err *err) SL_WARN_UNUSED;
void sl_path_report_free(struct sl_path_report *r);

#ifdef __cplusplus
}
#endif

#endif
