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

/* The same, with fast 0 taking the general path (cJSON) for every body:
 * fuzz_serve compares the two. */
void sl_serve_score_ex(const struct sl_model *m, enum sl_serve_proto proto,
                       const char *content_type, const char *body, size_t len, int fast,
                       struct sl_serve_answer *answer);

/* The fast path's margins (fast.c). */
struct sl_fast_result {
    double *margins; /* (n) w.x + b per instance, in order; multinomial (n, K): an
                        instance's K class margins W x + b. Grown, caller frees */
    int64_t n, cap;  /* n instances; cap doubles */
    int output;      /* parameters.output: 0 probability, 1 label, 2 both */
};
/* 1 when body is a JSON envelope the fast path takes whole (fast.c says
 * which) and r holds its margins; 0 when the general path must answer. */
int sl_serve_fast_margins(const struct sl_model *m, enum sl_serve_proto proto, const char *body,
                          size_t len, struct sl_fast_result *r);

/* The error body for status with message msg (JSON-escaped here). */
char *sl_serve_error_json(int status, const char *msg, size_t *len);

#endif
