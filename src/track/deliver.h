/* deliver.h - delivery of a run journal to an MLflow tracking server, from
 * the acknowledged offset in state.json to the journal's last complete line.
 * Used by the sender thread and by sl_mlflow_sync (track.h). */
#ifndef SHARDLEARN_TRACK_DELIVER_H
#define SHARDLEARN_TRACK_DELIVER_H

#include <stdatomic.h>
#include <stddef.h>

#include "track/http.h"
#include "track/state.h"

/* A client for one tracking server (libcurl handle, headers, credentials
 * from the environment), kept across deliveries so that its connection is
 * reused. NULL when libcurl cannot start. Caller owns it; free with
 * sl_mlflow_conn_destroy (NULL is a no-op). */
struct sl_mlflow_conn;
struct sl_mlflow_conn *sl_mlflow_conn_create(const char *tracking_uri);
void sl_mlflow_conn_destroy(struct sl_mlflow_conn *conn);

/* *st <- run_dir's delivery state. A state.json that cannot be read, or
 * that does not fit the journal (acknowledged past its end or inside a
 * line), is said to be damaged in one warning and replaced by
 * sl_state_recover's: the journal is delivered again from its start, and no
 * point goes to the server twice. */
void sl_mlflow_load_state(const char *run_dir, struct sl_sync_state *st);

/* Delivers journal records after state->acked, in batches, updating and
 * saving the state after each acknowledged batch. Stops early when
 * *stop becomes nonzero or deadline (sl_wtime() seconds, 0 = none)
 * passes. msg gets a one-line reason for RETRY/REJECTED, free of credentials. */
enum sl_deliver sl_mlflow_deliver(struct sl_mlflow_conn *conn, const char *run_dir,
                                  struct sl_sync_state *state, const atomic_int *stop,
                                  double deadline, char *msg, size_t msg_len);

#endif
