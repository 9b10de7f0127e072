/* train_models.c - `shardlearn train`'s model options: the loss, the rows'
 * weights (--sample-weights, --class-weight) and the warm start
 * (--init-model). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/train.h"

const struct sl_choice SL_LOSS_CHOICES[] = {{"logistic", SL_LOSS_LOGISTIC},
                                            {"squared-hinge", SL_LOSS_SQUARED_HINGE},
                                            {"squared", SL_LOSS_SQUARED},
                                            {"multinomial", SL_LOSS_MULTINOMIAL},
                                            {NULL, 0}};

/* w[0] (label -1, or 0) and w[1] (label +1) from "LABEL:W,..." (labels as
 * the readers take them); classes not named weigh 1. NULL or a message. */
static const char *parse_class_weights(const char *spec, double w[2]) {
    static char msg[160];
    w[0] = w[1] = 1.0;
    const char *p = spec;
    while (*p) {
        char *e = NULL;
        const double label = strtod(p, &e);
        if (e == p || *e != ':' || !(label == 1 || label == -1 || label == 0)) {
            snprintf(msg, sizeof msg,
                     "--class-weight: '%s' is not LABEL:W,... with LABEL 1, -1 or 0 (or balanced)",
                     spec);
            return msg;
        }
        p = e + 1;
        const double v = strtod(p, &e);
        if (e == p || (*e && *e != ',') || !isfinite(v) || v < 0) {
            snprintf(msg, sizeof msg,
                     "--class-weight: the weight of class %g is not a finite "
                     "number >= 0",
                     label);
            return msg;
        }
        w[label > 0 ? 1 : 0] = v;
        p = *e ? e + 1 : e;
    }
    return NULL;
}

/* Collective. w <- scikit-learn's balanced weights n / (K n_c) of the two
 * classes, K the classes present, from counts summed over the ranks. */
static void balanced_weights(struct sl_comm *c, const struct sl_shard *s, double w[2]) {
    int64_t n_c[2] = {0, 0};
    for (int64_t i = 0; i < s->n_rows; i++)
        n_c[s->y[i] > 0]++;
    sl_comm_sum_i64(c, n_c, 2);
    const double k = (double)((n_c[0] > 0) + (n_c[1] > 0));
    for (int q = 0; q < 2; q++)
        w[q] = n_c[q] ? (double)s->n_rows_global / (k * (double)n_c[q]) : 1.0;
}

enum sl_status train_weigh_rows(struct sl_comm *c, const struct train_args *a, struct sl_shard *s,
                                struct sl_err *err) {
    if (a->weight_column) {
        enum sl_status st = sl_shard_weight_column(s, a->data, a->weight_column, c, err);
        if (st) return st;
    }
    if (a->sample_weights) {
        enum sl_status st = sl_shard_read_weights(s, a->sample_weights, c, err);
        if (st) return st;
    }
    /* Multinomial: train_classes, once the classes are known. */
    if (!a->class_weight || a->loss == SL_LOSS_MULTINOMIAL) return SL_OK;
    if (a->loss == SL_LOSS_SQUARED)
        return c->rank == 0 ? sl_err_set(err, SL_ERR_ARG,
                                         "--class-weight needs a classifier (--loss logistic, "
                                         "squared-hinge or multinomial), not %s",
                                         sl_loss_name((enum sl_loss)a->loss))
                            : SL_ERR_ARG;
    double w[2];
    if (strcmp(a->class_weight, "balanced") == 0) {
        balanced_weights(c, s, w);
    } else {
        const char *bad = parse_class_weights(a->class_weight, w);
        if (bad) return c->rank == 0 ? sl_err_set(err, SL_ERR_ARG, "%s", bad) : SL_ERR_ARG;
    }
    double *rw = sl_malloc(sizeof(double) * (size_t)(s->n_rows ? s->n_rows : 1));
    for (int64_t i = 0; i < s->n_rows; i++)
        rw[i] = w[s->y[i] > 0];
    sl_shard_scale_weights(s, rw);
    free(rw);
    return SL_OK;
}

enum sl_status train_load_init(struct sl_comm *c, const struct train_args *a, struct sl_model *m,
                               struct sl_err *err) {
    memset(m, 0, sizeof *m);
    if (!a->init_model) return SL_OK;
    /* Every rank reads the (small) model itself; the ranks agree on failure. */
    struct sl_err mine;
    sl_err_clear(&mine);
    enum sl_status st = sl_model_load(m, a->init_model, &mine);
    const int base = m->index_base;
    if (st == SL_OK && base != (a->zero_based ? 0 : 1)) {
        sl_model_free(m);
        st = sl_err_set(&mine, SL_ERR_ARG,
                        "%s: the initial model was trained on %s-based features, this run's are "
                        "%s-based",
                        a->init_model, base ? "1" : "0", a->zero_based ? "0" : "1");
    }
    int64_t failed = st != SL_OK;
    sl_comm_max_i64(c, &failed, 1);
    if (!failed) return SL_OK;
    if (st == SL_OK) sl_model_free(m);
    if (c->rank == 0)
        return st ? sl_err_set(err, st, "--init-model %s", mine.msg)
                  : sl_err_set(err, SL_ERR_IO, "--init-model %s: another rank cannot read it",
                               a->init_model);
    return SL_ERR_ARG;
}

void train_classes_text(const double *classes, int64_t K, const char *sep, char *out, size_t cap) {
    size_t n = 0;
    out[0] = '\0';
    for (int64_t k = 0; k < K; k++) {
        char one[48];
        snprintf(one, sizeof one, "%s%.0f", k ? sep : "", classes[k]);
        /* Room for this one and for "<sep>...<sep>LAST": else the tail. */
        if (k < K - 1 && n + strlen(one) + 2 * strlen(sep) + 3 + 24 >= cap) {
            snprintf(out + n, cap - n, "%s...%s%.0f", sep, sep, classes[K - 1]);
            return;
        }
        n += (size_t)snprintf(out + n, cap - n, "%s", one);
        if (n >= cap) return;
    }
}

/* w: (K) <- "LABEL:W,..." over the classes (integer labels as in the
 * file); classes not named weigh 1. NULL or a message (static storage). */
static const char *parse_multi_weights(const char *spec, const double *classes, int64_t K,
                                       double *w) {
    static char msg[400];
    for (int64_t k = 0; k < K; k++)
        w[k] = 1.0;
    const char *p = spec;
    while (*p) {
        char *e = NULL;
        const long long label = strtoll(p, &e, 10);
        if (e == p || *e != ':') {
            snprintf(msg, sizeof msg,
                     "--class-weight: '%s' is not LABEL:W,... with integer class labels (or "
                     "balanced)",
                     spec);
            return msg;
        }
        int64_t k = 0;
        while (k < K && classes[k] != (double)label)
            k++;
        if (k == K) {
            char list[200];
            train_classes_text(classes, K, ", ", list, sizeof list);
            snprintf(msg, sizeof msg,
                     "--class-weight: class %lld is not among the data's classes (%s)", label,
                     list);
            return msg;
        }
        p = e + 1;
        const double v = strtod(p, &e);
        if (e == p || (*e && *e != ',') || !isfinite(v) || v < 0) {
            snprintf(msg, sizeof msg,
                     "--class-weight: the weight of class %lld is not a finite number >= 0",
                     label);
            return msg;
        }
        w[k] = v;
        p = *e ? e + 1 : e;
    }
    return NULL;
}

/* Collective. Multinomial --class-weight: s->y holds class indices; the
 * rows' weights are multiplied by their class's, balanced being
 * scikit-learn's n / (K n_c) from counts summed over the ranks. */
static enum sl_status weigh_classes(struct sl_comm *c, const struct train_args *a,
                                    struct sl_shard *s, const double *classes, int64_t K,
                                    struct sl_err *err) {
    double *w = sl_malloc(sizeof(double) * (size_t)K);
    if (strcmp(a->class_weight, "balanced") == 0) {
        int64_t *n_c = sl_calloc((size_t)K, sizeof *n_c);
        for (int64_t i = 0; i < s->n_rows; i++)
            n_c[(int64_t)s->y[i]]++;
        sl_comm_sum_i64(c, n_c, (size_t)K);
        for (int64_t k = 0; k < K; k++) /* every class has rows: the classes are the data's */
            w[k] = (double)s->n_rows_global / ((double)K * (double)n_c[k]);
        free(n_c);
    } else {
        const char *bad = parse_multi_weights(a->class_weight, classes, K, w);
        if (bad) { /* every rank parses the same spec against the same classes */
            free(w);
            return c->rank == 0 ? sl_err_set(err, SL_ERR_ARG, "%s", bad) : SL_ERR_ARG;
        }
    }
    double *rw = sl_malloc(sizeof(double) * (size_t)(s->n_rows ? s->n_rows : 1));
    for (int64_t i = 0; i < s->n_rows; i++)
        rw[i] = w[(int64_t)s->y[i]];
    sl_shard_scale_weights(s, rw);
    free(rw);
    free(w);
    return SL_OK;
}

enum sl_status train_classes(struct sl_comm *c, const struct train_args *a, struct sl_shard *s,
                             struct sl_shard *val, double **classes, int64_t *K,
                             struct sl_err *err) {
    *classes = NULL;
    *K = 0;
    if (a->loss != SL_LOSS_MULTINOMIAL) return SL_OK;
    enum sl_status st = sl_classes_agree(c, s, classes, K, err);
    if (st) return st;
    if (a->class_weight) st = weigh_classes(c, a, s, *classes, *K, err);
    if (st == SL_OK && a->validation)
        st = sl_classes_map(c, val, *classes, *K, 1, "the validation data", err);
    if (st) {
        free(*classes);
        *classes = NULL;
        *K = 0;
    }
    return st;
}
