/* path.c - sl_train_path: a regularisation path by warm starts, and K-fold
 * cross-validation by masks over the global row index (no data moves). */
#include "shardlearn/path.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/log.h"

static enum sl_status parse_number(const char *s, const char *end, double *x, struct sl_err *err) {
    char buf[64];
    const size_t len = (size_t)(end - s);
    if (len == 0 || len >= sizeof buf) return sl_err_set(err, SL_ERR_ARG, "an empty value");
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *e = NULL;
    errno = 0;
    *x = strtod(buf, &e);
    if (*e || errno || !isfinite(*x))
        return sl_err_set(err, SL_ERR_ARG, "'%s' is not a number", buf);
    if (!(*x > 0)) return sl_err_set(err, SL_ERR_ARG, "'%s': a path's values must be > 0", buf);
    return SL_OK;
}

enum sl_status sl_path_parse(const char *spec, double *out, int cap, int *n, struct sl_err *err) {
    *n = 0;
    const char *c1 = strchr(spec, ':');
    if (c1) { /* HI:LO:N */
        const char *c2 = strchr(c1 + 1, ':');
        double hi, lo;
        if (!c2) return sl_err_set(err, SL_ERR_ARG, "'%s': a range is HI:LO:N", spec);
        enum sl_status st = parse_number(spec, c1, &hi, err);
        if (!st) st = parse_number(c1 + 1, c2, &lo, err);
        if (st) return st;
        char *e = NULL;
        errno = 0;
        long k = strtol(c2 + 1, &e, 10);
        if (!c2[1] || *e || errno || k < 2 || k > cap)
            return sl_err_set(err, SL_ERR_ARG, "'%s': N must be an integer in [2, %d]", spec, cap);
        for (long i = 0; i < k; i++) /* log-spaced, both ends exact */
            out[i] = i == 0 ? hi : i == k - 1 ? lo : hi * pow(lo / hi, (double)i / (double)(k - 1));
        *n = (int)k;
        return SL_OK;
    }
    for (const char *s = spec;;) {
        const char *e = strchr(s, ',');
        if (!e) e = s + strlen(s);
        if (*n == cap) return sl_err_set(err, SL_ERR_ARG, "more than %d values", cap);
        enum sl_status st = parse_number(s, e, &out[*n], err);
        if (st) return st;
        (*n)++;
        if (!*e) return SL_OK;
        s = e + 1;
    }
}

static int descending(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* Whether score a beats b under m (NaN never beats anything). */
static int beats(enum sl_metric m, double a, double b) {
    if (isnan(a)) return 0;
    if (isnan(b)) return 1;
    return sl_metric_higher_better(m) ? a > b : a < b;
}

/* The parameters of the fit at setting l2 from init. The seam for L1: a path
 * over l1 sets q.l1 here instead. */
static struct sl_train_params next_params(const struct sl_train_params *p, double l2,
                                          const struct sl_model *init) {
    struct sl_train_params q = *p;
    q.l2 = l2;
    q.init = init;
    return q;
}

/* Fold k of K over n rows as scikit-learn's KFold(shuffle=False): contiguous
 * blocks, the first n % K of them one row longer. [*lo, *hi) global rows. */
static void fold_rows(int64_t n, int k, int K, int64_t *lo, int64_t *hi) {
    const int64_t q = n / K, r = n % K;
    *lo = k * q + (k < r ? k : r);
    *hi = *lo + q + (k < r ? 1 : 0);
}

/* Views of shard for fold k: tr, every row with the held-out ones weighing 0
 * and the row count that of the training rows (so that F is the mean over
 * them, as a fit on those rows alone); ho, the held-out rows this rank holds.
 * mask: (n_rows) the weights of tr, owned by the caller. */
static void fold_views(const struct sl_shard *s, int k, int K, double *mask, struct sl_shard *tr,
                       struct sl_shard *ho) {
    int64_t lo, hi;
    fold_rows(s->n_rows_global, k, K, &lo, &hi);
    int64_t a = lo - s->row_begin, b = hi - s->row_begin; /* local rows */
    a = a < 0 ? 0 : a > s->n_rows ? s->n_rows : a;
    b = b < a ? a : b > s->n_rows ? s->n_rows : b;
    for (int64_t i = 0; i < s->n_rows; i++)
        mask[i] = i >= a && i < b ? 0.0 : s->weights ? s->weights[i] : 1.0;
    *tr = *s;
    tr->weights = mask;
    tr->n_rows_global = s->n_rows_global - (hi - lo);
    *ho = *s;
    ho->n_rows = b - a;
    ho->n_rows_global = hi - lo;
    ho->row_begin = s->row_begin + a;
    ho->y = s->y + a;
    ho->weights = NULL; /* held-out metrics are unweighted, as validation metrics */
    if (s->dense) {
        ho->values = s->values + a * s->n_features;
        ho->nnz = (b - a) * s->n_features;
    } else {
        ho->indptr = s->indptr + a; /* offsets stay into the whole indices/values */
        ho->nnz = s->indptr[b] - s->indptr[a];
    }
}

/* Scores model m on the held-out view (collective). */
static void score_fold(struct sl_comm *c, const struct sl_model *m, const struct sl_shard *ho,
                       enum sl_loss loss, struct sl_eval_result *ev) {
    const int64_t K = m->n_classes; /* multinomial: (n_rows, K) margins */
    double *margins =
        sl_calloc((size_t)((ho->n_rows ? ho->n_rows : 1) * (K ? K : 1)), sizeof(double));
    sl_model_margins(m, ho, margins);
    if (K)
        sl_evaluate_multi(c, ho, margins, K, ev);
    else
        sl_evaluate_loss(c, ho, margins, loss, ev);
    free(margins);
}

/* Every setting K times, each fold warm-started from its previous setting. */
static enum sl_status run_cv(struct sl_comm *c, struct sl_shard *shard,
                             const struct sl_train_params *p, const struct sl_path_params *pp,
                             struct sl_path_report *rep, struct sl_err *err) {
    const int K = pp->cv;
    struct sl_model *prev = sl_calloc((size_t)K, sizeof *prev);
    double *mask = sl_calloc((size_t)(shard->n_rows ? shard->n_rows : 1), sizeof(double));
    enum sl_status st = SL_OK;
    for (int i = 0; i < rep->n && !st; i++) {
        struct sl_path_point *pt = &rep->points[i];
        pt->fold_scores = sl_calloc((size_t)K, sizeof(double));
        pt->converged = 1;
        double sum = 0, sum2 = 0;
        for (int k = 0; k < K && !st; k++) {
            struct sl_shard tr, ho;
            fold_views(shard, k, K, mask, &tr, &ho);
            struct sl_train_params q = next_params(p, pt->l2, i ? &prev[k] : p->init);
            q.validation = p->early_stop ? &ho : NULL; /* early stop watches the held-out fold */
            q.on_iter = NULL;
            struct sl_model m;
            struct sl_train_report fr;
            st = sl_train(c, &tr, &q, &m, &fr, err);
            if (!st) {
                struct sl_eval_result ev;
                score_fold(c, &m, &ho, p->loss, &ev);
                const double v = sl_metric_value(rep->select, &ev);
                pt->fold_scores[k] = v;
                sum += v;
                sum2 += v * v;
                pt->iterations += fr.result.iterations;
                pt->converged &= fr.result.converged != 0;
                pt->objective += fr.result.final.objective / K;
                if (pp->on_point) pp->on_point(i, k, pt, &m, &fr, pp->ctx);
                sl_model_free(&prev[k]);
                prev[k] = m;
            }
            sl_train_report_free(&fr);
        }
        pt->score = sum / K;
        const double var = sum2 / K - pt->score * pt->score;
        pt->score_std = var > 0 ? sqrt(var) : 0.0;
        if (!st && pp->on_point) pp->on_point(i, -1, pt, NULL, NULL, pp->ctx);
    }
    for (int k = 0; k < K; k++)
        sl_model_free(&prev[k]);
    free(prev);
    free(mask);
    return st;
}

/* dst <- what the next fit starts from: m's weights and intercept(s)
 * (multinomial: its classes too), in memory of its own. */
static void copy_start(struct sl_model *dst, const struct sl_model *m) {
    int64_t nw = m->n_features;
    if (m->n_classes) {
        sl_model_init_multi(dst, m->n_features, m->fit_intercept, m->n_classes, m->classes);
        memcpy(dst->intercepts, m->intercepts, (size_t)m->n_classes * sizeof *m->intercepts);
        nw *= m->n_classes;
    } else {
        sl_model_init(dst, m->n_features, m->fit_intercept);
    }
    memcpy(dst->weights, m->weights, (size_t)nw * sizeof *m->weights);
    dst->intercept = m->intercept;
    dst->loss = m->loss;
}

/* The path on all rows; *best_model <- the selected (or last) fit's model,
 * rep->final its report. */
static enum sl_status run_path(struct sl_comm *c, struct sl_shard *shard,
                               const struct sl_train_params *p, const struct sl_path_params *pp,
                               struct sl_path_report *rep, struct sl_model *best_model,
                               struct sl_err *err) {
    struct sl_model prev;
    memset(&prev, 0, sizeof prev);
    enum sl_status st = SL_OK;
    for (int i = 0; i < rep->n && !st; i++) {
        struct sl_path_point *pt = &rep->points[i];
        struct sl_train_params q = next_params(p, pt->l2, i ? &prev : p->init);
        q.on_iter = NULL;
        struct sl_model m;
        struct sl_train_report fr;
        st = sl_train(c, shard, &q, &m, &fr, err);
        if (st) {
            sl_train_report_free(&fr);
            break;
        }
        pt->iterations = fr.result.iterations;
        pt->converged = fr.result.converged;
        pt->objective = fr.result.final.objective;
        pt->val = fr.validation;
        pt->score = sl_metric_value(rep->select, &fr.validation);
        pt->best_iteration = fr.best_iteration;
        if (pp->on_point) pp->on_point(i, -1, pt, &m, &fr, pp->ctx);
        /* The kept model: the best so far with validation, else the last. */
        const int keep = !p->validation || rep->best < 0 ||
                         beats(rep->select, pt->score, rep->points[rep->best].score);
        if (keep) {
            if (p->validation) rep->best = i;
            sl_model_free(best_model);
            sl_train_report_free(&rep->final);
            *best_model = m;
            rep->final = fr;
            /* best_model's weights are shared with prev below: copy */
            sl_model_free(&prev);
            copy_start(&prev, &m);
        } else {
            sl_train_report_free(&fr);
            sl_model_free(&prev);
            prev = m;
        }
    }
    sl_model_free(&prev);
    return st;
}

enum sl_status sl_train_path(struct sl_comm *c, struct sl_shard *shard,
                             const struct sl_train_params *p, const struct sl_path_params *pp,
                             struct sl_model *model, struct sl_path_report *rep,
                             struct sl_err *err) {
    memset(model, 0, sizeof *model);
    memset(rep, 0, sizeof *rep);
    sl_err_clear(err);
    const char *bad = pp->n < 1 || pp->n > SL_PATH_MAX ? "the path holds no setting"
                      : pp->cv < 0 || pp->cv == 1      ? "cv: needs at least 2 folds"
                      : pp->cv > shard->n_rows_global  ? "cv: more folds than data rows"
                      : p->checkpoint.dir              ? "a path or cv takes no checkpoints"
                                                       : sl_metric_check(pp->select, p->loss);
    if (bad) return c->rank == 0 ? sl_err_set(err, SL_ERR_ARG, "%s", bad) : SL_ERR_ARG;
    rep->n = pp->n;
    rep->cv = pp->cv;
    rep->best = -1;
    rep->select = pp->select != SL_METRIC_NONE ? pp->select : sl_metric_default(p->loss);
    rep->points = sl_calloc((size_t)pp->n, sizeof *rep->points);
    double *lam = sl_malloc((size_t)pp->n * sizeof *lam);
    memcpy(lam, pp->l2, (size_t)pp->n * sizeof *lam);
    qsort(lam, (size_t)pp->n, sizeof *lam, descending);
    for (int i = 0; i < pp->n; i++)
        rep->points[i].l2 = lam[i];
    free(lam);
    enum sl_status st;
    if (pp->cv) {
        st = run_cv(c, shard, p, pp, rep, err);
        for (int i = 0; i < rep->n && !st; i++)
            if (rep->best < 0 ||
                beats(rep->select, rep->points[i].score, rep->points[rep->best].score))
                rep->best = i;
        if (!st) { /* the refit on every row, at the chosen setting */
            struct sl_train_params q = next_params(p, rep->points[rep->best].l2, p->init);
            st = sl_train(c, shard, &q, model, &rep->final, err);
        }
    } else {
        st = run_path(c, shard, p, pp, rep, model, err);
    }
    if (rep->best >= 0) rep->points[rep->best].selected = 1;
    if (st) {
        sl_model_free(model);
        memset(model, 0, sizeof *model);
    }
    return st;
}

void sl_path_report_free(struct sl_path_report *r) {
    for (int i = 0; i < r->n; i++)
        free(r->points[i].fold_scores);
    free(r->points);
    sl_train_report_free(&r->final);
    memset(r, 0, sizeof *r);
}
