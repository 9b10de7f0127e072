/* request.h - private to serve/: a prediction request's body (Vertex AI's
 * {"instances": ...} or one of MLflow's scoring-server forms, JSON or CSV)
 * scored against a model and turned into the answer's JSON. No I/O, no
 * server: the fuzz target drives it directly. */
#ifndef SHARDLEARN_SERVE_REQUEST_H
#define SHARDLEARN_SERVE_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "shardlearn/model.h"

enum sl_serve_proto {
    SL_PROTO_VERTEX, /* POST <predict route>: {"instances": [...], "parameters": {...}} */
    SL_PROTO_MLFLOW  /* POST /invocations: dataframe_split, dataframe_records, instances,
                        inputs (JSON) or text/csv */
};

/* The outcome of one request. */
struct sl_serve_answer {
    int status;          /* HTTP status: 200, 400 (bad body), 415 (content type) */
    char *body;          /* malloc'd, NUL-terminated JSON; the caller frees it */
    size_t len;          /* strlen(body) */
    int64_t n_instances; /* instances scored (0 unless status is 200) */
};

/* Scores body (len bytes, need not be NUL-terminated) with m. content_type
 * may be NULL (JSON). On 200 answer->body is {"predictions": [...]}; on
 * another status {"error_code": "BAD_REQUEST", "message": "..."}. Never
 * fails otherwise: any input gives one of those answers. */
void sl_serve_score(const struct sl_model *m, enum sl_serve_proto proto, const char *content_type,
                    const char *body, size_t len, struct sl_serve_answer *answer);

/* The error body for status with message msg (JSON-escaped here). */
char *sl_serve_error_json(int status, const char *msg, size_t *len);

#endif
