/* serve.h - the prediction server behind `shardlearn serve`: HTTP through
 * libmicrohttpd, both protocols (Vertex AI, MLflow's scoring server),
 * limits, metrics, and a model that can be swapped while requests run.
 *
 * Not part of the installed library (it would bring libmicrohttpd to every
 * program that trains): the CLI links it. It depends on core and model only;
 * where a model comes from (a file, MLflow) is the caller's business. Not
 * collective: one process, no MPI. */
#ifndef SHARDLEARN_SERVE_H
#define SHARDLEARN_SERVE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shardlearn/model.h"
#include "shardlearn/status.h"

/* A loaded model and where it came from, shared by the requests that score
 * with it: each holds a reference, so a swapped-out model lives until its
 * last request is answered. */
struct sl_serve_model {
    struct sl_model m;
    char source[1024]; /* as given: a path, runs:/..., models:/... */
    char name[256];    /* the registered model, or the file's name */
    char version[64];  /* the registry version, "" for a file */
    char run_id[64];   /* the MLflow run, "" for a file */
    _Atomic int refs;  /* through the functions below */
};

/* A handle with one reference; m's contents are moved in (m is left empty). */
struct sl_serve_model *sl_serve_model_create(struct sl_model *m, const char *source,
                                             const char *name, const char *version,
                                             const char *run_id);
void sl_serve_model_retain(struct sl_serve_model *sm);
/* Drops a reference; the last one frees the model. NULL is fine. */
void sl_serve_model_release(struct sl_serve_model *sm);

struct sl_serve_config {
    const char *host;          /* address to listen on; "0.0.0.0" all interfaces */
    int port;                  /* 0: any free port (sl_server_port says which) */
    int threads;               /* request threads, >= 1 */
    const char *predict_route; /* Vertex AI's POST route, e.g. "/predict" */
    const char *health_route;  /* Vertex AI's GET route, e.g. "/health" */
    size_t max_body;           /* bytes; a longer body is answered 413 */
    unsigned timeout_s;        /* an idle or slow connection is closed after this */
    unsigned max_connections;  /* more are refused until one closes */
    FILE *access_log;          /* one line per request, or NULL */
};

struct sl_server; /* opaque */

/* Starts listening, with model (a reference is taken; NULL: not ready, the
 * health routes answer 503 until sl_server_swap). Caller stops it with
 * sl_server_stop. SL_ERR_IO when the address cannot be bound. */
enum sl_status sl_server_start(struct sl_server **out, const struct sl_serve_config *cfg,
                               struct sl_serve_model *model, struct sl_err *err) SL_WARN_UNUSED;
int sl_server_port(const struct sl_server *s);
/* Serves model from now on (a reference is taken); requests that started
 * on the previous one finish with it. */
void sl_server_swap(struct sl_server *s, struct sl_serve_model *model);
/* The model being served, with a reference the caller releases (NULL: none). */
struct sl_serve_model *sl_server_model(struct sl_server *s);
/* From now on the access log goes to log (may be NULL: none); returns the
 * previous one, which no request writes to any more: the caller closes it. */
FILE *sl_server_set_access_log(struct sl_server *s, FILE *log);
/* For /metrics: a reload or refresh that failed and left the old model. */
void sl_server_note_load_failure(struct sl_server *s);
/* Stops accepting connections, waits up to drain_s seconds for the
 * requests in flight, then closes everything and frees s. Returns the
 * number of requests that were still running at the deadline (cut off). */
int64_t sl_server_stop(struct sl_server *s, double drain_s);

#endif
