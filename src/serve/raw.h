/* raw.h - private to serve/: a record of raw column values scored with a
 * model trained on hashed categorical columns (hashing.h), hashed by the
 * same code as the training reader. */
#ifndef SHARDLEARN_SERVE_RAW_H
#define SHARDLEARN_SERVE_RAW_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "shardlearn/model.h"

/* m->hash must be set. A record: {"C1": "68fd1e64", "I1": 3, ...} (names
 * given: an object), or values in the order of names (names: a
 * dataframe_split's "columns" array, values its row array). A column left
 * out, null or "" is a missing value; the label column is ignored; a name
 * the model does not have is an error. Strings are taken as they are, a
 * number as it would be written in a file (3, not 3.0). 0 and *margin =
 * w.x + b (a multinomial model: margin: (K) <- W x + b), or -1 and msg. */
int sl_serve_raw_margin(const struct sl_model *m, const cJSON *names, const cJSON *values,
                        double *margin, char *msg, size_t cap);

/* The same for one CSV line [p, e) under a header line [h, he): the
 * header's names pick the model's columns. */
int sl_serve_raw_csv(const struct sl_model *m, const char *h, const char *he, const char *p,
                     const char *e, double *margin, char *msg, size_t cap);

#endif
