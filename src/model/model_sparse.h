/* model_sparse.h - private to model/: a model file's weights, dense
 *   "weights": [w_0, w_1, ...]                      (n_features numbers)
 * or sparse, written instead when that is shorter (an L1 model, a model
 * over hashed columns of which few occur):
 *   "weights_sparse": {"indices": [j, ...], "values": [w_j, ...]}
 * with j the position in the dense array (feature j + index_base), strictly
 * increasing and < n_features; every other weight is 0. Readers accept
 * either; a file holding both, or neither, is malformed. */
#ifndef SHARDLEARN_MODEL_SPARSE_H
#define SHARDLEARN_MODEL_SPARSE_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "shardlearn/model.h"

/* Writes ", \"weights\": [...]" or ", \"weights_sparse\": {...}" for m's
 * weights, whichever is shorter (dense on a tie, as earlier versions). */
void sl_model_write_weights(FILE *f, const struct sl_model *m);
/* m->weights (already allocated, zeroed, of m->n_features) <- the sparse
 * form sp; err names path and what is wrong. */
enum sl_status sl_model_parse_sparse(struct sl_model *m, const cJSON *sp, const char *path,
                                     struct sl_err *err);

#endif
