/* model_sparse.c - a model file's weights, dense or sparse (model_sparse.h). */
#include "model/model_sparse.h"

#include <math.h>

#include "shardlearn/fileio.h"

/* Whether w is written in the sparse form: anything but +0, so that -0
 * reads back to the same bits. */
static int stored(double w) {
    return w != 0.0 || signbit(w);
}

void sl_model_write_weights(FILE *f, const struct sl_model *m) {
    int64_t nnz = 0;
    for (int64_t j = 0; j < m->n_features; j++)
        nnz += stored(m->weights[j]);
    /* A nonzero costs an index and a value sparse, a zero costs "0, " dense:
     * sparse is shorter once fewer than about a third of the weights are
     * nonzero (a weight is ~22 characters, an index ~7). */
    if (3 * nnz >= m->n_features) {
        fputs(", \"weights\": [", f);
        for (int64_t j = 0; j < m->n_features; j++) {
            if (j) fputs(j % 8 ? ", " : ",\n", f);
            sl_json_put_num(f, m->weights[j]);
        }
        fputs("]", f);
        return;
    }
    fputs(", \"weights_sparse\": {\"indices\": [", f);
    int64_t k = 0;
    for (int64_t j = 0; j < m->n_features; j++)
        if (stored(m->weights[j])) {
            if (k) fputs(k % 16 ? ", " : ",\n", f);
            fprintf(f, "%lld", (long long)j);
            k++;
        }
    fputs("],\n\"values\": [", f);
    k = 0;
    for (int64_t j = 0; j < m->n_features; j++)
        if (stored(m->weights[j])) {
            if (k) fputs(k % 8 ? ", " : ",\n", f);
            sl_json_put_num(f, m->weights[j]);
            k++;
        }
    fputs("]}", f);
}

enum sl_status sl_model_parse_sparse(struct sl_model *m, const cJSON *sp, const char *path,
                                     struct sl_err *err) {
    const cJSON *idx = cJSON_GetObjectItemCaseSensitive(sp, "indices");
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(sp, "values");
    if (!cJSON_IsObject(sp) || !cJSON_IsArray(idx) || !cJSON_IsArray(val) ||
        cJSON_GetArraySize(idx) != cJSON_GetArraySize(val))
        return sl_err_set(err, SL_ERR_PARSE,
                          "%s: malformed model (weights_sparse needs indices and values of the "
                          "same length)",
                          path);
    double prev = -1;
    int64_t k = 0;
    const cJSON *i = idx->child, *v = val->child;
    for (; i && v; i = i->next, v = v->next, k++) {
        /* Checked as doubles before the cast: a cast outside int64's range
         * is undefined. */
        if (!cJSON_IsNumber(i) || !(i->valuedouble > prev) ||
            !(i->valuedouble < (double)m->n_features) || i->valuedouble != floor(i->valuedouble))
            return sl_err_set(err, SL_ERR_PARSE,
                              "%s: weights_sparse index %lld is not an integer in [0, n_features) "
                              "above the previous one",
                              path, (long long)k);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
            return sl_err_set(err, SL_ERR_PARSE,
                              "%s: weights_sparse value %lld is not a finite number", path,
                              (long long)k);
        prev = i->valuedouble;
        m->weights[(int64_t)prev] = v->valuedouble;
    }
    return SL_OK;
}
