/* out.h - private to the CLI: an output file of the tool (--model-out,
 * --metrics-out, predict --out) at a local path or a gs:// object.
 *
 * Local: core/fileio's temp file + rename. gs://: the bytes go to an
 * anonymous temporary file, then up in one request at publish (io's
 * sl_io_put), so the object appears whole or not at all. Two outputs that
 * must appear together are finished both before either is published; for
 * gs:// a failed second upload cannot take back the first (README). */
#ifndef SHARDLEARN_CLI_OUT_H
#define SHARDLEARN_CLI_OUT_H

#include <stdio.h>

#include "shardlearn/comm.h"
#include "shardlearn/fileio.h"
#include "shardlearn/status.h"
#include "shardlearn/track.h"

struct cli_out {
    FILE *f; /* write here between open and finish */
    const char *dest;
    int remote, published;
    struct sl_atomic_file af; /* local */
    void *map;                /* gs://, after publish: the bytes uploaded (len) */
    size_t len;
};

enum sl_status cli_out_open(struct cli_out *o, const char *dest, struct sl_err *err) SL_WARN_UNUSED;
/* Every byte written (flushed; local: fsync'd and closed). */
enum sl_status cli_out_finish(struct cli_out *o, struct sl_err *err) SL_WARN_UNUSED;
/* Makes it visible: local, the rename; gs://, the upload. */
enum sl_status cli_out_publish(struct cli_out *o, struct sl_err *err) SL_WARN_UNUSED;
/* finish, then publish; then frees what o holds. */
enum sl_status cli_out_commit(struct cli_out *o, struct sl_err *err) SL_WARN_UNUSED;
/* After publish: queues the output as a run artifact (the local file, or
 * the bytes uploaded). */
void cli_out_artifact(struct sl_tracker *tr, const struct cli_out *o, const char *artifact_path);
/* Frees what o holds; an output not yet published is removed (local) or
 * never uploaded (gs://). Safe on a zeroed or already closed o. */
void cli_out_close(struct cli_out *o);

/* Before the work: rank 0 asks whether each non-NULL dests[i] can take an
 * output (io's sl_io_check_dest) and prints what cannot; every rank returns
 * the same status, with err holding the message. Collective. */
enum sl_status cli_out_check(struct sl_comm *c, const char *const *dests, int n,
                             struct sl_err *err) SL_WARN_UNUSED;

#endif
