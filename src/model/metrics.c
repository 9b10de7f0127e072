/* metrics.c - log-loss, accuracy and ROC AUC (classifiers), RMSE, MAE and
 * R^2 (squared), of margins over a sharded data
 * set, the same numbers on every rank. */
#include <math.h>
#include <stdlib.h>

#include "model/loss.h"
#include "shardlearn/model.h"

/* ROC AUC of n scores with labels +-1 (sorts a copy); NaN when a class is
 * absent. */
struct scored {
    double score, y;
};

static int cmp_scored(const void *a, const void *b) {
    double x = ((const struct scored *)a)->score, y = ((const struct scored *)b)->score;
    return (x > y) - (x < y);
}

static double roc_auc(const double *score, const double *y, int64_t n) {
    struct scored *v = sl_malloc(sizeof *v * (size_t)(n ? n : 1));
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++) {
        v[i].score = score[i];
        v[i].y = y[i];
        npos += y[i] > 0;
    }
    int64_t nneg = n - npos;
    if (npos == 0 || nneg == 0) {
        free(v);
        return NAN;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_scored);
    /* Mann-Whitney: sum of positive ranks, ties get their average rank. */
    double rank_sum = 0.0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && v[j].score == v[i].score)
            j++;
        double avg = 0.5 * (double)(i + 1 + j); /* ranks i+1..j */
        for (int64_t k = i; k < j; k++)
            if (v[k].y > 0) rank_sum += avg;
        i = j;
    }
    free(v);
    return (rank_sum - 0.5 * (double)npos * (double)(npos + 1)) / ((double)npos * (double)nneg);
}

/* Regression: mean loss, RMSE, MAE and R^2 from sums over the ranks; the
 * mean of y comes first so that SST is summed as (y - mean)^2, not from
 * sum y^2 (which cancels badly for labels far from 0). */
static void evaluate_squared(struct sl_comm *c, const struct sl_shard *s, const double *margins,
                             struct sl_eval_result *out) {
    double sums[4] = {0.0, 0.0, 0.0, 0.0}; /* sum y, SSE, sum |y - m|, SST */
    for (int64_t i = 0; i < s->n_rows; i++) {
        const double e = s->y[i] - margins[i];
        sums[0] += s->y[i];
        sums[1] += e * e;
        sums[2] += fabs(e);
    }
    sl_comm_sum_f64(c, sums, 3);
    const int64_t n = s->n_rows_global;
    const double mean = n ? sums[0] / (double)n : 0.0;
    double sst = 0.0;
    for (int64_t i = 0; i < s->n_rows; i++)
        sst += (s->y[i] - mean) * (s->y[i] - mean);
    sl_comm_sum_f64(c, &sst, 1);
    out->n_rows = n;
    out->logloss = out->accuracy = out->auc = NAN;
    out->loss = n ? 0.5 * sums[1] / (double)n : (double)NAN;
    out->rmse = n ? sqrt(sums[1] / (double)n) : (double)NAN;
    out->mae = n ? sums[2] / (double)n : (double)NAN;
    /* scikit-learn's r2_score: 1 when y is constant and predicted exactly, 0 when constant and not.
     */
    out->r2 = !n ? (double)NAN : sst > 0 ? 1.0 - sums[1] / sst : sums[1] == 0 ? 1.0 : 0.0;
}

void sl_evaluate(struct sl_comm *c, const struct sl_shard *s, const double *margins,
                 struct sl_eval_result *out) {
    sl_evaluate_loss(c, s, margins, SL_LOSS_LOGISTIC, out);
}

void sl_evaluate_loss(struct sl_comm *c, const struct sl_shard *s, const double *margins,
                      enum sl_loss loss, struct sl_eval_result *out) {
    if (loss == SL_LOSS_SQUARED) {
        evaluate_squared(c, s, margins, out);
        return;
    }
    double sums[3] = {0.0, 0.0, 0.0}; /* log-loss, correct, the model's loss */
    for (int64_t i = 0; i < s->n_rows; i++) {
        sums[0] += sl_log1pexp_neg(s->y[i] * margins[i]);
        sums[1] += ((margins[i] > 0) == (s->y[i] > 0)) ? 1.0 : 0.0;
        sums[2] += sl_loss_value(loss, margins[i], s->y[i]);
    }
    sl_comm_sum_f64(c, sums, 3);
    int64_t n = s->n_rows_global;
    double *all_m = NULL, *all_y = NULL;
    if (c->rank == 0) {
        all_m = sl_malloc(sizeof(double) * (size_t)(n ? n : 1));
        all_y = sl_malloc(sizeof(double) * (size_t)(n ? n : 1));
    }
    sl_comm_gather_f64(c, margins, s->n_rows, all_m, 0);
    sl_comm_gather_f64(c, s->y, s->n_rows, all_y, 0);
    double auc = 0.0;
    if (c->rank == 0) auc = roc_auc(all_m, all_y, n);
    sl_comm_bcast(c, &auc, sizeof auc, 0);
    free(all_m);
    free(all_y);
    out->n_rows = n;
    out->logloss = n && loss == SL_LOSS_LOGISTIC ? sums[0] / (double)n : (double)NAN;
    out->accuracy = n ? sums[1] / (double)n : (double)NAN;
    out->auc = auc;
    out->loss = n ? sums[2] / (double)n : (double)NAN;
    out->rmse = out->mae = out->r2 = NAN;
}

void sl_evaluate_multi(struct sl_comm *c, const struct sl_shard *s, const double *margins,
                       int64_t K, struct sl_eval_result *out) {
    /* p: (n_rows, K) the softmax of each row's margins */
    const int64_t nr = s->n_rows, n = s->n_rows_global;
    double *p = sl_malloc(sizeof(double) * (size_t)(nr > 0 ? nr * K : 1));
    double sums[2] = {0.0, 0.0}; /* -log p_y, correct */
    for (int64_t i = 0; i < nr; i++) {
        const double *m = margins + i * K;
        double *pi = p + i * K;
        sl_softmax(m, K, pi);
        const int64_t y = (int64_t)s->y[i];
        int64_t best = 0;
        double mx = m[0], z = 0.0;
        for (int64_t k = 1; k < K; k++) {
            if (m[k] > m[best]) best = k;
            mx = m[k] > mx ? m[k] : mx;
        }
        for (int64_t k = 0; k < K; k++)
            z += exp(m[k] - mx);
        sums[0] += log(z) + mx - m[y]; /* -log p_y without its rounding to 0 */
        sums[1] += best == y ? 1.0 : 0.0;
    }
    sl_comm_sum_f64(c, sums, 2);
    /* One-vs-rest AUC of each class's probability needs the global order:
     * gather (n, K) probabilities and the labels to rank 0. */
    double *all_p = NULL, *all_y = NULL, auc = 0.0;
    if (c->rank == 0) {
        all_p = sl_malloc(sizeof(double) * (size_t)(n > 0 ? n * K : 1));
        all_y = sl_malloc(sizeof(double) * (size_t)(n ? n : 1));
    }
    sl_comm_gather_f64(c, p, nr * K, all_p, 0);
    sl_comm_gather_f64(c, s->y, nr, all_y, 0);
    if (c->rank == 0) {
        double *score = sl_malloc(sizeof(double) * (size_t)(n ? n : 1));
        double *yk = sl_malloc(sizeof(double) * (size_t)(n ? n : 1));
        for (int64_t k = 0; k < K; k++) {
            for (int64_t i = 0; i < n; i++) {
                score[i] = all_p[i * K + k];
                yk[i] = all_y[i] == (double)k ? 1.0 : -1.0;
            }
            auc += roc_auc(score, yk, n) / (double)K; /* NaN when class k is absent */
        }
        free(score);
        free(yk);
    }
    sl_comm_bcast(c, &auc, sizeof auc, 0);
    free(all_p);
    free(all_y);
    free(p);
    out->n_rows = n;
    out->logloss = n ? sums[0] / (double)n : (double)NAN;
    out->accuracy = n ? sums[1] / (double)n : (double)NAN;
    out->auc = auc;
    out->loss = out->logloss;
    out->rmse = out->mae = out->r2 = NAN;
}
