/* state.h - state.json: what the tracking server holds for a run directory,
 * replaced atomically after every request the server acknowledged.
 *
 * "acked" is the journal byte offset up to which every record is on the
 * server; everything after it is still to be sent. */
#ifndef SHARDLEARN_TRACK_STATE_H
#define SHARDLEARN_TRACK_STATE_H

#include <stdint.h>

#include "shardlearn/status.h"

#define SL_STATE_FILE "state.json"

/* What the server holds for a run directory (state.json). */
struct sl_sync_state {
    char experiment_id[64];
    char run_id[64];
    char artifact_uri[1024];
    char model_id[64];    /* the run's MLflow 3 logged model, "" until it is created */
    int64_t acked;        /* journal bytes delivered */
    int64_t pending_from; /* a request for journal bytes [from, to) was sent but */
    int64_t pending_to;   /* not yet acknowledged; -1 when none */
    int finished_sent;    /* the final status reached the server */
    /* A create or log-batch request was abandoned unanswered (timeout): it may
     * still be applied by the server. Until this wall-clock time (ms) nothing
     * is checked against the server or sent again; 0 when none. */
    int64_t unsettled_until_ms;
};

/* Reads run_dir/state.json into *st. No file yet: nothing is acknowledged
 * (a zero state with no pending range) and SL_OK. SL_ERR_PARSE when the file
 * is not JSON, SL_ERR_IO when it cannot be read; *st is then the zero state. */
enum sl_status sl_state_load(const char *run_dir, struct sl_sync_state *st);
/* *st <- a state for a run directory whose state.json was lost: nothing
 * acknowledged, the run to be found again by its shardlearn.run_uuid tag,
 * and journal bytes [0, journal_bytes) pending, so that every metric point
 * in them is checked against the server before it is sent. */
void sl_state_recover(struct sl_sync_state *st, int64_t journal_bytes);
/* Replaces run_dir/state.json (temporary file, fsync, rename): SL_OK or
 * SL_ERR_IO, leaving the old file as it was. */
enum sl_status sl_state_save(const char *run_dir, const struct sl_sync_state *st);

#endif
