/* model_hash.h - private to model/: the hashing spec in a model file (the
 * "hashing" object, written only for a model trained on hashed columns). */
#ifndef SHARDLEARN_MODEL_HASH_H
#define SHARDLEARN_MODEL_HASH_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "shardlearn/model.h"

/* Writes ", \"hashing\": {...}" for sp. */
void sl_model_write_hash(FILE *f, const struct sl_hash_spec *sp);
/* m->hash <- the spec in h (the "hashing" member); checks it against
 * m->n_features. On failure m->hash stays NULL and err names path. */
enum sl_status sl_model_parse_hash(struct sl_model *m, const cJSON *h, const char *path,
                                   struct sl_err *err);

#endif
