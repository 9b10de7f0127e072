/* batch.h - runs/log-batch requests built from journal records within
 * MLflow's limits, and the check that drops metric points the server
 * already holds when a request whose answer was lost is sent again. */
#ifndef SHARDLEARN_TRACK_BATCH_H
#define SHARDLEARN_TRACK_BATCH_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "track/http.h"
#include "track/state.h"

struct sl_history; /* a metric's history on the server (batch.c) */

/* Fill with designated initialisers (run_params, end), then sl_batch_reset;
 * free with sl_batch_free. */
struct sl_batch {
    cJSON *req, *metrics, *params, *tags; /* req owns the three arrays */
    int n_metrics, n_params, n_tags;
    size_t bytes;            /* an estimate of the request body */
    int64_t end;             /* journal offset after the last record in it */
    struct sl_history *hist; /* (n_hist) histories fetched so far */
    int n_hist;
    const char *model_id; /* the run's logged model for metrics marked "model", or "" */
    cJSON *run_params;    /* a resumed run's params as they were ({key: value}), or NULL; owned */
};

/* Starts an empty request for run_id (dropping any previous one). */
void sl_batch_reset(struct sl_batch *b, const char *run_id);
/* Frees the request, the histories and run_params. */
void sl_batch_free(struct sl_batch *b);
/* 1 when a record of type ("param", "tag", "metric") and bytes would take
 * the batch past one of MLflow's limits. */
int sl_batch_full_for(const struct sl_batch *b, const char *type, size_t bytes);
/* Adds a param/tag/metric record (bytes: its journal line's length). */
void sl_batch_add(struct sl_batch *b, const char *type, const cJSON *rec, size_t bytes);
/* Sends the batch (if not empty) and moves state->acked to b->end, saving
 * the state; the journal range is marked pending while the request is out. */
enum sl_deliver sl_batch_send(struct sl_http *h, struct sl_batch *b, const char *run_dir,
                              struct sl_sync_state *st);
/* *has: the server already holds metric point m (histories are fetched once
 * a key and kept in b). */
enum sl_deliver sl_batch_on_server(struct sl_http *h, struct sl_batch *b, const char *run_id,
                                   const cJSON *m, int *has);

#endif
