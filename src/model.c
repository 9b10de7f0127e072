/* model.c - model files (JSON via cJSON on load, printf on save) and scoring. */
#include "shardlearn/model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "kernels.h"
#include "shardlearn/objective.h"

void sl_model_init(struct sl_model *m, int64_t n_features, int fit_intercept) {
    memset(m, 0, sizeof *m);
    m->n_features = n_features;
    m->fit_intercept = fit_intercept;
    m->weights = sl_calloc((size_t)(n_features ? n_features : 1), sizeof(double));
}

void sl_model_free(struct sl_model *m) {
    free(m->weights);
    memset(m, 0, sizeof *m);
}

/* %.17g round-trips every finite double; JSON has no NaN/Inf, so those
 * (which a finite optimum never produces) are written as null. */
static void put_num(FILE *f, double x) {
    if (isfinite(x))
        fprintf(f, "%.17g", x);
    else
        fputs("null", f);
}

enum sl_status sl_model_save(const struct sl_model *m, const char *path, struct sl_err *err) {
    struct sl_atomic_file af;
    enum sl_status st = sl_atomic_open(&af, path, err);
    if (st) return st;
    FILE *f = af.f;
    fprintf(f, "{\"format\": \"%s\", \"version\": %d, \"loss\": \"logistic\", \"objective\": ",
            SL_MODEL_FORMAT, SL_MODEL_VERSION);
    put_num(f, m->objective);
    fprintf(f, ", \"n_features\": %lld, \"fit_intercept\": %s, \"intercept\": ",
            (long long)m->n_features, m->fit_intercept ? "true" : "false");
    put_num(f, m->intercept);
    fputs(", \"weights\": [", f);
    for (int64_t j = 0; j < m->n_features; j++) {
        if (j) fputs(j % 8 ? ", " : ",\n", f);
        put_num(f, m->weights[j]);
    }
    fputs("]}\n", f);
    return sl_atomic_commit(&af, err);
}

static char *read_all(const char *path, struct sl_err *err, enum sl_status *st) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        *st = sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = sl_malloc(cap);
    size_t k;
    while ((k = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += k;
        if (cap - len < 2) buf = sl_realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        *st = sl_err_set(err, SL_ERR_IO, "%s: read error", path);
        return NULL;
    }
    *st = SL_OK;
    return buf;
}

enum sl_status sl_model_load(struct sl_model *m, const char *path, struct sl_err *err) {
    enum sl_status st;
    memset(m, 0, sizeof *m);
    char *text = read_all(path, err, &st);
    if (!text) return st;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return sl_err_set(err, SL_ERR_PARSE, "%s: not a JSON model file", path);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *nf = cJSON_GetObjectItemCaseSensitive(root, "n_features");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "intercept");
    const cJSON *fi = cJSON_GetObjectItemCaseSensitive(root, "fit_intercept");
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(root, "weights");
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(root, "loss");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, "objective");
    st = SL_OK;
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, SL_MODEL_FORMAT) != 0)
        st = sl_err_set(err, SL_ERR_PARSE, "%s: not a shardlearn model (format)", path);
    else if (!cJSON_IsNumber(ver) || ver->valueint != SL_MODEL_VERSION)
        st = sl_err_set(err, SL_ERR_PARSE, "%s: unsupported model version", path);
    else if (loss && (!cJSON_IsString(loss) || strcmp(loss->valuestring, "logistic") != 0))
        st = sl_err_set(err, SL_ERR_PARSE, "%s: unsupported loss", path);
    else if (!cJSON_IsNumber(nf) || nf->valuedouble < 0 || !cJSON_IsNumber(b) ||
             !cJSON_IsArray(ws) || cJSON_GetArraySize(ws) != (int)nf->valuedouble)
        st = sl_err_set(err, SL_ERR_PARSE, "%s: malformed model (n_features/weights)", path);
    if (st == SL_OK) {
        sl_model_init(m, (int64_t)nf->valuedouble, fi ? cJSON_IsTrue(fi) : 1);
        m->intercept = b->valuedouble;
        m->objective = cJSON_IsNumber(obj) ? obj->valuedouble : (double)NAN;
        int64_t j = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, ws) {
            if (!cJSON_IsNumber(it)) {
                st = sl_err_set(err, SL_ERR_PARSE, "%s: weight %lld is not a number", path,
                                (long long)j);
                sl_model_free(m);
                break;
            }
            m->weights[j++] = it->valuedouble;
        }
    }
    cJSON_Delete(root);
    return st;
}

void sl_model_margins(const struct sl_model *m, const struct sl_shard *s, double *margins) {
    if (s->n_features <= m->n_features) {
        sl_kernel_margins(s, m->weights, m->intercept, margins);
        return;
    }
    /* The data has columns the model never saw: they weigh 0. */
    double *w = sl_calloc((size_t)s->n_features, sizeof(double));
    memcpy(w, m->weights, sizeof(double) * (size_t)m->n_features);
    sl_kernel_margins(s, w, m->intercept, margins);
    free(w);
}

struct scored {
    double score, y;
};

static int cmp_scored(const void *a, const void *b) {
    double x = ((const struct scored *)a)->score, y = ((const struct scored *)b)->score;
    return (x > y) - (x < y);
}

double sl_roc_auc(const double *score, const double *y, int64_t n) {
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
        while (j < n && v[j].score == v[i].score) j++;
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
    if (c->rank == 0) auc = sl_roc_auc(all_m, all_y, n);
    sl_comm_bcast(c, &auc, sizeof auc, 0);
    free(all_m);
    free(all_y);
    out->n_rows = n;
    out->logloss = n ? sums[0] / (double)n : (double)NAN;
    out->accuracy = n ? sums[1] / (double)n : (double)NAN;
    out->auc = auc;
}
