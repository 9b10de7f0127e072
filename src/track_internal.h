/* track_internal.h - private to the tracker: the journal's on-disk layout and
 * the MLflow client that ships it.
 *
 * A run directory holds:
 *   journal.jsonl   append-only records, one JSON object a line, each with a
 *                   "seq"; written only by the training thread
 *   state.json      what the server has acknowledged: experiment and run ids,
 *                   artifact root, and "acked", the journal byte offset up to
 *                   which every record is on the server (replaced atomically)
 *   artifacts/      copies of the files to upload, so a later mlflow-sync has them
 * Record types: start, param, tag, metric, artifact, finish. */
#ifndef SHARDLEARN_TRACK_INTERNAL_H
#define SHARDLEARN_TRACK_INTERNAL_H

#include <stdint.h>

#include "shardlearn/status.h"

#define SL_JOURNAL_FILE "journal.jsonl"
#define SL_STATE_FILE "state.json"

/* What the server holds for a run directory (state.json). */
struct sl_sync_state {
    char experiment_id[64];
    char run_id[64];
    char artifact_uri[1024];
    int64_t acked;         /* journal bytes delivered */
    int64_t pending_from;  /* a request for journal bytes [from, to) was sent but */
    int64_t pending_to;    /* not yet acknowledged; -1 when none */
    int finished_sent;     /* the final status reached the server */
    /* A create or log-batch request was abandoned unanswered (timeout): it may
     * still be applied by the server. Until this wall-clock time (ms) nothing
     * is checked against the server or sent again; 0 when none. */
    int64_t unsettled_until_ms;
};

enum sl_status sl_state_load(const char *run_dir, struct sl_sync_state *st);
enum sl_status sl_state_save(const char *run_dir, const struct sl_sync_state *st);

/* How a delivery attempt ended. */
enum sl_deliver {
    SL_DELIVER_DONE = 0,   /* everything in the journal up to its end is acked */
    SL_DELIVER_RETRY,      /* a transient fault: try again later */
    SL_DELIVER_REJECTED    /* the server refused (4xx other than 408/429): do not retry */
};

/* A client for one tracking server (libcurl handle, headers, credentials
 * from the environment), kept across deliveries so that its connection is
 * reused. NULL when libcurl cannot start. Caller owns it; free with
 * sl_mlflow_conn_destroy (NULL is a no-op). */
struct sl_mlflow_conn;
struct sl_mlflow_conn *sl_mlflow_conn_create(const char *tracking_uri);
void sl_mlflow_conn_destroy(struct sl_mlflow_conn *conn);

/* Delivers journal records after state->acked, in batches, updating and
 * saving the state after each acknowledged batch. Stops early when
 * *stop becomes nonzero or deadline (CLOCK_MONOTONIC seconds, 0 = none)
 * passes. msg gets a one-line reason for RETRY/REJECTED, free of credentials. */
enum sl_deliver sl_mlflow_deliver(struct sl_mlflow_conn *conn, const char *run_dir,
                                  struct sl_sync_state *state, const volatile int *stop,
                                  double deadline, char *msg, size_t msg_len);

/* Seconds to wait before the first retry of a failed delivery, doubled after
 * each failure that made no progress (at most 60 s): MLflow's
 * MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR, default 2, at least 0.1. */
double sl_mlflow_first_backoff(void);
#define SL_MAX_BACKOFF 60.0

/* The tracking URI from the argument or MLFLOW_TRACKING_URI, or NULL. */
const char *sl_tracking_uri(const char *arg);

#endif
