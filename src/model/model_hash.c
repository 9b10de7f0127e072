/* model_hash.c - the hashing spec of a model file, its "hashing" member in
 * the form of data/hashspec_json.c, so that predict, eval and serve hash raw
 * rows as train did. */
#include "model/model_hash.h"

#include <stdlib.h>
#include <string.h>

void sl_model_write_hash(FILE *f, const struct sl_hash_spec *sp) {
    char *text = sl_hash_spec_text(sp);
    fprintf(f, ", \"hashing\": %s", text);
    free(text);
}

enum sl_status sl_model_parse_hash(struct sl_model *m, const cJSON *h, const char *path,
                                   struct sl_err *err) {
    struct sl_hash_spec *sp = sl_calloc(1, sizeof *sp);
    const char *bad = sl_hash_spec_from_json(sp, h);
    if (!bad && sl_hash_n_features(sp) != m->n_features) {
        sl_hash_spec_free(sp);
        bad = "its columns do not give n_features";
    }
    if (bad) {
        free(sp);
        return sl_err_set(err, SL_ERR_PARSE, "%s: \"hashing\": %s", path, bad);
    }
    m->hash = sp;
    return SL_OK;
}
