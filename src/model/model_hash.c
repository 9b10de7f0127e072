/* model_hash.c - the hashing spec of a model file:
 *   "hashing": {"format": "csv", "delimiter": ",", "header": true, "hash_bits": 20,
 *               "columns": [{"name": "label", "kind": "label"},
 *                           {"name": "I1", "kind": "numeric"},
 *                           {"name": "C1", "kind": "categorical"}, ...]}
 * so that predict, eval and serve hash raw rows as train did. */
#include "model/model_hash.h"

#include <stdlib.h>
#include <string.h>

static const char *const KINDS[] = {"label", "numeric", "categorical"};

void sl_model_write_hash(FILE *f, const struct sl_hash_spec *sp) {
    cJSON *h = cJSON_CreateObject();
    char delim[2] = {sp->delim, '\0'};
    cJSON_AddStringToObject(h, "format", sp->format);
    cJSON_AddStringToObject(h, "delimiter", delim);
    cJSON_AddBoolToObject(h, "header", sp->header);
    cJSON_AddNumberToObject(h, "hash_bits", sp->hash_bits);
    cJSON_AddStringToObject(h, "hash",
                            "murmurhash3_x86_32 seed 0 of name=value, abs, "
                            "mod 2^hash_bits (scikit-learn FeatureHasher)");
    cJSON *cols = cJSON_AddArrayToObject(h, "columns");
    for (int j = 0; j < sp->n_cols; j++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", sp->names[j]);
        cJSON_AddStringToObject(c, "kind", KINDS[sp->kind[j]]);
        cJSON_AddItemToArray(cols, c);
    }
    char *text = cJSON_PrintUnformatted(h);
    SL_ASSERT(text);
    fprintf(f, ", \"hashing\": %s", text);
    cJSON_free(text);
    cJSON_Delete(h);
}

static int kind_of(const cJSON *k) {
    for (int i = 0; cJSON_IsString(k) && i < 3; i++)
        if (strcmp(k->valuestring, KINDS[i]) == 0) return i;
    return -1;
}

enum sl_status sl_model_parse_hash(struct sl_model *m, const cJSON *h, const char *path,
                                   struct sl_err *err) {
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(h, "format");
    const cJSON *del = cJSON_GetObjectItemCaseSensitive(h, "delimiter");
    const cJSON *hdr = cJSON_GetObjectItemCaseSensitive(h, "header");
    const cJSON *bits = cJSON_GetObjectItemCaseSensitive(h, "hash_bits");
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(h, "columns");
    if (!cJSON_IsObject(h) || !cJSON_IsString(fmt) || strlen(fmt->valuestring) >= 8 ||
        !cJSON_IsString(del) || strlen(del->valuestring) != 1 || !cJSON_IsBool(hdr) ||
        !cJSON_IsNumber(bits) || !(bits->valuedouble >= 1 && bits->valuedouble <= 31) ||
        !cJSON_IsArray(cols) || cJSON_GetArraySize(cols) < 2)
        return sl_err_set(err, SL_ERR_PARSE,
                          "%s: malformed \"hashing\" (format, delimiter, "
                          "header, hash_bits, columns)",
                          path);
    struct sl_hash_spec *sp = sl_calloc(1, sizeof *sp);
    snprintf(sp->format, sizeof sp->format, "%s", fmt->valuestring);
    sp->delim = del->valuestring[0];
    sp->header = cJSON_IsTrue(hdr);
    sp->hash_bits = (int)bits->valuedouble;
    sp->n_cols = cJSON_GetArraySize(cols);
    sp->names = sl_calloc((size_t)sp->n_cols, sizeof *sp->names);
    sp->kind = sl_calloc((size_t)sp->n_cols, 1);
    const char *bad = NULL;
    int j = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cols) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(c, "name");
        int k = kind_of(cJSON_GetObjectItemCaseSensitive(c, "kind"));
        if (!cJSON_IsString(nm) || k < 0) {
            bad = "a column is not {\"name\", \"kind\"}";
            break;
        }
        sp->names[j] = strdup(nm->valuestring);
        SL_ASSERT(sp->names[j]);
        sp->kind[j++] = (unsigned char)k;
    }
    if (!bad) bad = sl_hash_spec_check(sp);
    if (!bad && sl_hash_n_features(sp) != m->n_features) bad = "its columns do not give n_features";
    if (bad) {
        sp->n_cols = j;
        sl_hash_spec_free(sp);
        free(sp);
        return sl_err_set(err, SL_ERR_PARSE, "%s: \"hashing\": %s", path, bad);
    }
    m->hash = sp;
    return SL_OK;
}
