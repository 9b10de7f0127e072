/* classes.c - the classes of a multinomial model: the sorted distinct
 * integer labels over all ranks, and each row's index into them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/model.h"

/* More distinct labels than this is not a classification problem (it is a
 * regression file given to --loss multinomial). */
#define SL_MAX_CLASSES 65536

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* v: (n) sorted in place, duplicates (and NaN padding) dropped; returns
 * the count left. */
static int64_t sort_unique(double *v, int64_t n) {
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (!isnan(v[i])) v[m++] = v[i];
    qsort(v, (size_t)m, sizeof *v, cmp_double);
    int64_t u = 0;
    for (int64_t i = 0; i < m; i++)
        if (u == 0 || v[i] != v[u - 1]) v[u++] = v[i];
    return u;
}

enum sl_status sl_classes_agree(struct sl_comm *c, struct sl_shard *s, double **classes, int64_t *K,
                                struct sl_err *err) {
    *classes = NULL;
    *K = 0;
    double *mine = sl_malloc(sizeof(double) * (size_t)(s->n_rows ? s->n_rows : 1));
    memcpy(mine, s->y, sizeof(double) * (size_t)s->n_rows);
    int64_t nmax = sort_unique(mine, s->n_rows);
    sl_comm_max_i64(c, &nmax, 1);
    if (nmax > SL_MAX_CLASSES) {
        free(mine);
        return c->rank == 0
                   ? sl_err_set(err, SL_ERR_ARG, "--loss multinomial: more than %d distinct labels",
                                SL_MAX_CLASSES)
                   : SL_ERR_ARG;
    }
    /* Every rank's set padded with NaN to the longest, gathered, merged. */
    const int64_t nl = sort_unique(mine, s->n_rows);
    double *pad = sl_malloc(sizeof(double) * (size_t)(nmax ? nmax : 1));
    for (int64_t i = 0; i < nmax; i++)
        pad[i] = i < nl ? mine[i] : (double)NAN;
    free(mine);
    const int64_t nall = nmax * c->size;
    double *all = sl_malloc(sizeof(double) * (size_t)(nall > 0 ? nall : 1));
    sl_comm_allgather_bytes(c, pad, sizeof(double) * (size_t)nmax, all);
    free(pad);
    const int64_t k = sort_unique(all, nmax * c->size);
    if (k < 3) {
        free(all);
        return c->rank == 0 ? sl_err_set(err, SL_ERR_ARG,
                                         "--loss multinomial needs at least 3 classes; the data "
                                         "has %lld (use --loss logistic for 2)",
                                         (long long)k)
                            : SL_ERR_ARG;
    }
    enum sl_status st = sl_classes_map(c, s, all, k, 1, "the data", err);
    if (st) {
        free(all);
        return st;
    }
    *classes = all;
    *K = k;
    return SL_OK;
}

enum sl_status sl_classes_map(struct sl_comm *c, struct sl_shard *s, const double *classes,
                              int64_t K, int strict, const char *what, struct sl_err *err) {
    int64_t bad[1] = {INT64_MAX}; /* the smallest label that is not a class */
    for (int64_t i = 0; i < s->n_rows; i++) {
        const double *hit = bsearch(&s->y[i], classes, (size_t)K, sizeof *classes, cmp_double);
        if (hit) {
            s->y[i] = (double)(hit - classes);
        } else {
            if (s->y[i] < (double)bad[0]) bad[0] = (int64_t)s->y[i];
            s->y[i] = -1.0;
        }
    }
    if (!strict) return SL_OK;
    sl_comm_min_i64(c, bad, 1);
    if (bad[0] == INT64_MAX) return SL_OK;
    return c->rank == 0 ? sl_err_set(err, SL_ERR_ARG,
                                     "class %lld of %s is not among the model's classes "
                                     "(the training data's)",
                                     (long long)bad[0], what)
                        : SL_ERR_ARG;
}
