/* metrics.c - log-loss, accuracy and ROC AUC of margins over a sharded data
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

void sl_evaluate(struct sl_comm *c, const struct sl_shard *s, const double *margins,
                 struct sl_eval_result *out) {
    double sums[2] = {0.0, 0.0}; /* loss, correct */
    for (int64_t i = 0; i < s->n_rows; i++) {
        sums[0] += sl_log1pexp_neg(s->y[i] * margins[i]);
        sums[1] += ((margins[i] > 0) == (s->y[i] > 0)) ? 1.0 : 0.0;
    }
    sl_comm_sum_f64(c, sums, 2);
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
    out->logloss = n ? sums[0] / (double)n : (double)NAN;
    out->accuracy = n ? sums[1] / (double)n : (double)NAN;
    out->auc = auc;
}
