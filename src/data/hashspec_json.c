/* hashspec_json.c - the hashing spec as JSON, one form for the model file's
 * "hashing" object and the binary cache's header:
 *   {"format": "csv", "delimiter": ",", "header": true, "hash_bits": 20, "hash": "...",
 *    "columns": [{"name": "label", "kind": "label"}, {"name": "I1", "kind": "numeric"},
 *                {"name": "C1", "kind": "categorical"}, ...]} */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/hashing.h"
#include "shardlearn/status.h"

static const char *const KINDS[] = {"label", "numeric", "categorical"};

struct cJSON *sl_hash_spec_json(const struct sl_hash_spec *sp) {
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
    SL_ASSERT(h && cols);
    return h;
}

char *sl_hash_spec_text(const struct sl_hash_spec *sp) {
    cJSON *h = sl_hash_spec_json(sp);
    char *t = cJSON_PrintUnformatted(h);
    SL_ASSERT(t);
    cJSON_Delete(h);
    char *out = strdup(t); /* the caller frees with free(), not cJSON_free */
    SL_ASSERT(out);
    cJSON_free(t);
    return out;
}

static int kind_of(const cJSON *k) {
    for (int i = 0; cJSON_IsString(k) && i < 3; i++)
        if (strcmp(k->valuestring, KINDS[i]) == 0) return i;
    return -1;
}

const char *sl_hash_spec_from_json(struct sl_hash_spec *sp, const struct cJSON *h) {
    memset(sp, 0, sizeof *sp);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(h, "format");
    const cJSON *del = cJSON_GetObjectItemCaseSensitive(h, "delimiter");
    const cJSON *hdr = cJSON_GetObjectItemCaseSensitive(h, "header");
    const cJSON *bits = cJSON_GetObjectItemCaseSensitive(h, "hash_bits");
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(h, "columns");
    if (!cJSON_IsObject(h) || !cJSON_IsString(fmt) || strlen(fmt->valuestring) >= 8 ||
        !cJSON_IsString(del) || strlen(del->valuestring) != 1 || !cJSON_IsBool(hdr) ||
        !cJSON_IsNumber(bits) || !(bits->valuedouble >= 1 && bits->valuedouble <= 31) ||
        !cJSON_IsArray(cols) || cJSON_GetArraySize(cols) < 2)
        return "malformed (format, delimiter, header, hash_bits, columns)";
    snprintf(sp->format, sizeof sp->format, "%s", fmt->valuestring);
    sp->delim = del->valuestring[0];
    sp->header = cJSON_IsTrue(hdr);
    sp->hash_bits = (int)bits->valuedouble;
    const int n = cJSON_GetArraySize(cols);
    sp->names = sl_calloc((size_t)n, sizeof *sp->names);
    sp->kind = sl_calloc((size_t)n, 1);
    const char *bad = NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, cols) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(c, "name");
        int k = kind_of(cJSON_GetObjectItemCaseSensitive(c, "kind"));
        if (!cJSON_IsString(nm) || k < 0) {
            bad = "a column is not {\"name\", \"kind\"}";
            break;
        }
        sp->names[sp->n_cols] = strdup(nm->valuestring);
        SL_ASSERT(sp->names[sp->n_cols]);
        sp->kind[sp->n_cols++] = (unsigned char)k;
    }
    if (!bad) bad = sl_hash_spec_check(sp);
    if (bad) sl_hash_spec_free(sp); /* frees the n_cols names made so far */
    return bad;
}
