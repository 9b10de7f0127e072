/* fuzz_model.c - model files: sl_model_load on the input as a file.
 *
 * Checks beyond "no crash": a model that loads has n_features >= 0 and its
 * weights; saved again (sl_model_save) and loaded back it is the same model,
 * bit for bit, index_base included (the file format promises numbers that
 * round-trip), and so is its hashing spec when it has one. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "shardlearn/model.h"

FUZZ_QUIET_INITIALIZE

static int same_bits(double a, double b) {
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

/* Whether the input is a sparse model file (model_sparse.h) of more than
 * 2^16 features. Such a file states n_features without holding the weights,
 * and the loaded model is dense (8 bytes a feature, as for training and
 * serving): a 100-byte input could ask for gigabytes, which is the format's
 * design, not a bug of the reader. The reader's range check on n_features is
 * exercised by the dense form, whose array must be that long. */
static int sparse_and_wide(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0';
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *nf = cJSON_GetObjectItemCaseSensitive(root, "n_features");
    const int wide = cJSON_GetObjectItemCaseSensitive(root, "weights_sparse") &&
                     cJSON_IsNumber(nf) && !(nf->valuedouble <= 65536.0);
    cJSON_Delete(root);
    return wide;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (sparse_and_wide(data, size)) return 0;
    char path[512], again[512];
    fuzz_path(path, sizeof path, "model.json");
    fuzz_path(again, sizeof again, "model-again.json");
    fuzz_write_file(path, data, size);
    struct sl_model m;
    struct sl_err err;
    sl_err_clear(&err);
    if (sl_model_load(&m, path, &err) != SL_OK) {
        FUZZ_CHECK(err.msg[0] != '\0', "refused without a message");
        FUZZ_CHECK(m.weights == NULL, "refused but kept weights");
        return 0;
    }
    FUZZ_CHECK(m.n_features >= 0 && m.weights != NULL, "n_features %lld", (long long)m.n_features);
    FUZZ_CHECK(sl_model_save(&m, again, &err) == SL_OK, "save: %s", err.msg);
    struct sl_model m2;
    FUZZ_CHECK(sl_model_load(&m2, again, &err) == SL_OK, "reload: %s", err.msg);
    FUZZ_CHECK(m2.n_features == m.n_features && m2.fit_intercept == m.fit_intercept &&
                   m2.index_base == m.index_base && m2.negative_label == m.negative_label,
               "reloaded d %lld intercept %d base %d negative %d, was %lld %d %d %d",
               (long long)m2.n_features, m2.fit_intercept, m2.index_base, m2.negative_label,
               (long long)m.n_features, m.fit_intercept, m.index_base, m.negative_label);
    FUZZ_CHECK(same_bits(m2.intercept, m.intercept) && same_bits(m2.objective, m.objective),
               "reloaded b %.17g F %.17g, was %.17g %.17g", m2.intercept, m2.objective, m.intercept,
               m.objective);
    FUZZ_CHECK(!m.hash == !m2.hash, "the hashing spec did not round-trip");
    if (m.hash) {
        const struct sl_hash_spec *a = m.hash, *b = m2.hash;
        FUZZ_CHECK(strcmp(a->format, b->format) == 0 && a->delim == b->delim &&
                       a->header == b->header && a->hash_bits == b->hash_bits &&
                       a->n_cols == b->n_cols && memcmp(a->kind, b->kind, (size_t)a->n_cols) == 0,
                   "reloaded hashing spec differs");
        for (int j = 0; j < a->n_cols; j++)
            FUZZ_CHECK(strcmp(a->names[j], b->names[j]) == 0, "column %d name", j);
        FUZZ_CHECK(sl_hash_n_features(a) == m.n_features, "hashing d");
    }
    for (int64_t j = 0; j < m.n_features; j++)
        FUZZ_CHECK(same_bits(m2.weights[j], m.weights[j]), "weight %lld: %.17g, was %.17g",
                   (long long)j, m2.weights[j], m.weights[j]);
    sl_model_free(&m);
    sl_model_free(&m2);
    return 0;
}
