/* path.c - sl_train_path: a regularisation path (a grid of l2 and l1 values)
 * by warm starts, and K-fold
 * cross-validation by masks over the global row index (no data moves). */
#include "shardlearn/path.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/log.h"

/* *x <- the number in [s, end): > 0, or >= 0 with zero_ok; else an error
 * quoting it, "'-1': " what. */
static enum sl_status parse_number(const char *s, const char *end, int zero_ok, const char *what,
                                   double *x, struct sl_err *err) {
    char buf[64];
    const size_t len = (size_t)(end - s);
    if (len == 0) return sl_err_set(err, SL_ERR_ARG, "an empty value");
    if (len >= sizeof buf) return sl_err_set(err, SL_ERR_ARG, "'%.*s...' is not a number", 20, s);
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *e = NULL;
    errno = 0;
    *x = strtod(buf, &e);
    if (*e || errno || !isfinite(*x))
        return sl_err_set(err, SL_ERR_ARG, "'%s' is not a number", buf);
    if (zero_ok ? !(*x >= 0) : !(*x > 0)) return sl_err_set(err, SL_ERR_ARG, "'%s': %s", buf, what);
    return SL_OK;
}

static enum sl_status parse_spec(const char *spec, int zero_ok, double *out, int cap, int *n,
                                 struct sl_err *err) {
    *n = 0;
    const char *c1 = strchr(spec, ':');
    if (c1) { /* HI:LO:N */
        const char *c2 = strchr(c1 + 1, ':');
        double hi, lo;
        if (!c2) return sl_err_set(err, SL_ERR_ARG, "'%s': a range is HI:LO:N", spec);
        if (c1 == spec || c2 == c1 + 1)
            return sl_err_set(err, SL_ERR_ARG, "an empty value in '%s'", spec);
        const char *what = "a range's ends must be > 0";
        enum sl_status st = parse_number(spec, c1, 0, what, &hi, err);
        if (!st) st = parse_number(c1 + 1, c2, 0, what, &lo, err);
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
        if (e == s) return sl_err_set(err, SL_ERR_ARG, "an empty value in '%s'", spec);
        enum sl_status st = parse_number(
            s, e, zero_ok, zero_ok ? "a path's values must be >= 0" : "a path's values must be > 0",
            &out[*n], err);
        if (st) return st;
        (*n)++;
        if (!*e) return SL_OK;
        s = e + 1;
    }
}

enum sl_status sl_path_parse(const char *spec, double *out, int cap, int *n, struct sl_err *err) {
    return parse_spec(spec, 0, out, cap, n, err);
}

enum sl_status sl_path_parse_nonneg(const char *spec, double *out, int cap, int *n,
                                    struct sl_err *err) {
    return parse_spec(spec, 1, out, cap, n, err);
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

/* The parameters of the fit at setting pt from init. */
static struct sl_train_params next_params(const struct sl_train_params *p,
                                          const struct sl_path_point *pt,
                                          const struct sl_model *init) {
    struct sl_train_params q = *p;
    q.l2 = pt->l2;
    q.l1 = pt->l1;
    q.init = init;
    return q;
}

/* Which earlier setting's fit setting i starts from: the one before it in
 * its l2's row, or for a row's first the previous row's first; -1: none. */
static int warm_source(int i, int n_l1) {
    return i % n_l1 ? i - 1 : i >= n_l1 ? i - n_l1 : -1;
}

/* *dst <- a copy of src (dst freed first; it may be zeroed). */
static void model_copy(struct sl_model *dst, const struct sl_model *src) {
    sl_model_free(dst);
    const int64_t d = src->n_features, K = src->n_classes;
    if (K) {
        sl_model_init_multi(dst, d, src->fit_intercept, K, src->classes);
        memcpy(dst->intercepts, src->intercepts, (size_t)K * sizeof *src->intercepts);
    } else {
        sl_model_init(dst, d, src->fit_intercept);
    }
    memcpy(dst->weights, src->weights, (size_t)(d * (K ? K : 1)) * sizeof *src->weights);
    dst->intercept = src->intercept;
    dst->loss = src->loss;
}

static int64_t count_nonzero(const struct sl_model *m) {
    const int64_t len = m->n_features * (m->n_classes ? m->n_classes : 1);
    int64_t nnz = 0;
    for (int64_t j = 0; j < len; j++)
        nnz += m->weights[j] != 0.0;
    return nnz;
}

/* The fits a setting may start from, per fold (one without cv): the last
 * one and the current row's first; on a path of one l1 value, also the fit
 * before the last, for the line through the two (guess). */
struct warm {
    struct sl_model *last, *row, *older, *guess;
};

static struct warm warm_new(int k) {
    return (struct warm){sl_calloc((size_t)k, sizeof(struct sl_model)),
                         sl_calloc((size_t)k, sizeof(struct sl_model)),
                         sl_calloc((size_t)k, sizeof(struct sl_model)),
                         sl_calloc((size_t)k, sizeof(struct sl_model))};
}

static void warm_free(struct warm *w, int k) {
    for (int i = 0; i < k; i++) {
        sl_model_free(&w->last[i]);
        sl_model_free(&w->row[i]);
        sl_model_free(&w->older[i]);
        sl_model_free(&w->guess[i]);
    }
    free(w->last);
    free(w->row);
    free(w->older);
    free(w->guess);
}

/* The start of a fit at l2 after prev (at l2_prev) and older (at l2_older):
 * the line through the two in log lambda, carried on to l2 (as far as one
 * step of the two, at most), into g. The previous fit alone leaves the
 * first-order change of w along the path for Newton to find: on the
 * benchmark's path (10 values over 100x) the gradient starts 3-5x smaller
 * from the line, and the path takes about 15% fewer Hessian-vector passes.
 * Only for the smooth binary losses: squared-hinge's path bends wherever a
 * row enters or leaves the margin, and the line overshoots (measured: 20k
 * rows, --l2 5e-4:5e-6:6, 76 Newton iterations from the previous fits, 115
 * from the line). Else prev. */
static const struct sl_model *path_line(struct sl_model *g, const struct sl_model *prev,
                                        const struct sl_model *older, double l2_older,
                                        double l2_prev, double l2) {
    const int smooth = prev->loss == SL_LOSS_LOGISTIC || prev->loss == SL_LOSS_SQUARED;
    if (!older->weights || prev->n_classes || !smooth || !(l2_older > l2_prev) ||
        !(l2_prev > l2))
        return prev;
    const double t = fmin(1.0, log(l2_prev / l2) / log(l2_older / l2_prev));
    sl_model_free(g);
    sl_model_init(g, prev->n_features, prev->fit_intercept);
    g->loss = prev->loss;
    g->negative_label = prev->negative_label;
    for (int64_t j = 0; j < prev->n_features; j++)
        g->weights[j] = prev->weights[j] + t * (prev->weights[j] - older->weights[j]);
    g->intercept = prev->intercept + t * (prev->intercept - older->intercept);
    return g;
}

/* Setting i's start for fold k: p->init for the first. */
static const struct sl_model *warm_start(struct warm *w, int k, int i, int n_l1,
                                         const struct sl_train_params *p,
                                         const struct sl_path_point *pts) {
    const int from = warm_source(i, n_l1);
    if (from < 0) return p->init;
    if (from != i - 1) return &w->row[k];
    if (n_l1 == 1 && i >= 2)
        return path_line(&w->guess[k], &w->last[k], &w->older[k], pts[i - 2].l2, pts[i - 1].l2,
                         pts[i].l2);
    return &w->last[k];
}

/* Setting i's fit m (owned by w after) for fold k. */
static void warm_keep(struct warm *w, int k, int i, int n_l1, struct sl_model *m) {
    if (i % n_l1 == 0) model_copy(&w->row[k], m);
    sl_model_free(&w->older[k]);
    if (n_l1 == 1)
        w->older[k] = w->last[k];
    else
        sl_model_free(&w->last[k]);
    w->last[k] = *m;
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

/* Every setting K times, each fold warm-started from the same fold's fit at
 * the setting's warm source. */
static enum sl_status run_cv(struct sl_comm *c, struct sl_shard *shard,
                             const struct sl_train_params *p, const struct sl_path_params *pp,
                             struct sl_path_report *rep, struct sl_err *err) {
    const int K = pp->cv;
    struct warm w = warm_new(K);
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
            struct sl_train_params q = next_params(p, pt, warm_start(&w, k, i, rep->n_l1, p, rep->points));
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
                warm_keep(&w, k, i, rep->n_l1, &m);
            }
            sl_train_report_free(&fr);
        }
        pt->score = sum / K;
        const double var = sum2 / K - pt->score * pt->score;
        pt->score_std = var > 0 ? sqrt(var) : 0.0;
        if (!st && pp->on_point) pp->on_point(i, -1, pt, NULL, NULL, pp->ctx);
    }
    warm_free(&w, K);
    free(mask);
    return st;
}

/* The path on all rows; *best_model <- the selected (or last) fit's model,
 * rep->final its report. */
static enum sl_status run_path(struct sl_comm *c, struct sl_shard *shard,
                               const struct sl_train_params *p, const struct sl_path_params *pp,
                               struct sl_path_report *rep, struct sl_model *best_model,
                               struct sl_err *err) {
    struct warm w = warm_new(1);
    enum sl_status st = SL_OK;
    for (int i = 0; i < rep->n && !st; i++) {
        struct sl_path_point *pt = &rep->points[i];
        struct sl_train_params q = next_params(p, pt, warm_start(&w, 0, i, rep->n_l1, p, rep->points));
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
        pt->nnz = count_nonzero(&m);
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
            struct sl_model copy;
            memset(&copy, 0, sizeof copy);
            model_copy(&copy, &m); /* best_model owns m */
            warm_keep(&w, 0, i, rep->n_l1, &copy);
        } else {
            sl_train_report_free(&fr);
            warm_keep(&w, 0, i, rep->n_l1, &m);
        }
    }
    warm_free(&w, 1);
    return st;
}

/* rep->points <- the grid of pp's values, each list sorted strongest first. */
static void make_grid(const struct sl_path_params *pp, double p_l1, struct sl_path_report *rep) {
    const int n1 = pp->l1 ? pp->n_l1 : 1;
    double *l2 = sl_malloc((size_t)pp->n * sizeof *l2), *l1 = sl_malloc((size_t)n1 * sizeof *l1);
    memcpy(l2, pp->l2, (size_t)pp->n * sizeof *l2);
    if (pp->l1)
        memcpy(l1, pp->l1, (size_t)n1 * sizeof *l1);
    else
        l1[0] = p_l1;
    qsort(l2, (size_t)pp->n, sizeof *l2, descending);
    qsort(l1, (size_t)n1, sizeof *l1, descending);
    rep->n_l1 = n1;
    rep->n = pp->n * n1;
    rep->points = sl_calloc((size_t)rep->n, sizeof *rep->points);
    for (int i = 0; i < rep->n; i++) {
        rep->points[i].l2 = l2[i / n1];
        rep->points[i].l1 = l1[i % n1];
    }
    free(l2);
    free(l1);
}

enum sl_status sl_train_path(struct sl_comm *c, struct sl_shard *shard,
                             const struct sl_train_params *p, const struct sl_path_params *pp,
                             struct sl_model *model, struct sl_path_report *rep,
                             struct sl_err *err) {
    memset(model, 0, sizeof *model);
    memset(rep, 0, sizeof *rep);
    sl_err_clear(err);
    const int n1 = pp->l1 ? pp->n_l1 : 1;
    const char *bad = pp->n < 1 || n1 < 1             ? "the path holds no setting"
                      : pp->n > SL_PATH_MAX / n1      ? "the path holds too many settings"
                      : pp->cv < 0 || pp->cv == 1     ? "cv: needs at least 2 folds"
                      : pp->cv > shard->n_rows_global ? "cv: more folds than data rows"
                      : p->checkpoint.dir             ? "a path or cv takes no checkpoints"
                                                      : sl_metric_check(pp->select, p->loss);
    if (bad) return c->rank == 0 ? sl_err_set(err, SL_ERR_ARG, "%s", bad) : SL_ERR_ARG;
    rep->cv = pp->cv;
    rep->best = -1;
    rep->select = pp->select != SL_METRIC_NONE ? pp->select : sl_metric_default(p->loss);
    make_grid(pp, p->l1, rep);
    enum sl_status st;
    if (pp->cv) {
        st = run_cv(c, shard, p, pp, rep, err);
        for (int i = 0; i < rep->n && !st; i++)
            if (rep->best < 0 ||
                beats(rep->select, rep->points[i].score, rep->points[rep->best].score))
                rep->best = i;
        if (!st) { /* the refit on every row, at the chosen setting */
            struct sl_train_params q = next_params(p, &rep->points[rep->best], p->init);
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
