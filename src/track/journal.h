/* journal.h - the run directory and its journal, written by the training
 * thread and read back by the sender and by mlflow-sync.
 *
 * A run directory holds:
 *   journal.jsonl   append-only records, one JSON object a line, each with a
 *                   "seq"; written only by the training thread
 *   state.json      what the server has acknowledged (state.h)
 *   artifacts/      copies of the files to upload, so a later mlflow-sync has them
 * Record types: start, param, tag, metric, artifact, register, finish, reopen
 * (a run continued after a finish: RUNNING again), and for MLflow 3: input
 * (a data set, runs/log-inputs) and logged_model (the model's files, params
 * and source run; the metric records after it carry "model": true, and are
 * linked to it).
 * A child run (a path's setting or a cv fold: track.h parent_run_dir) lives
 * in its parent's children/ directory, and its start record says "parent":
 * "../..": the parent's run directory, relative to the child's.
 * The writer holds an exclusive flock on journal.jsonl while it runs, so a
 * reader can tell a run still at work from one that was killed. */
#ifndef SHARDLEARN_TRACK_JOURNAL_H
#define SHARDLEARN_TRACK_JOURNAL_H

#include <cjson/cJSON.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shardlearn/status.h"
#include "shardlearn/track.h"

#define SL_JOURNAL_FILE "journal.jsonl"

/* An open journal. Records are appended to buf by the training thread; the
 * owner writes them to the file at iteration boundaries (sl_journal_flush)
 * and fsyncs fd. The file holds whole records only: a write that fails is
 * cut back to the last whole record, and the journal takes no more. */
struct sl_journal {
    char dir[PATH_MAX]; /* the run directory */
    int fd;             /* journal.jsonl, opened for appending */
    char *buf;          /* (cap) records not yet written, len bytes */
    size_t len, cap;
    int64_t size;   /* bytes of whole records in the file */
    int64_t seq;    /* of the last record */
    int failed;     /* errno of the write that failed; 0 while it works */
    cJSON *params;  /* {key: value} of the param records so far, for logged_model; owned */
    int link_model; /* a logged_model record was written: later metrics are the model's */
};

/* Creates <tracking_dir>/<UTC time>-<id>/ with artifacts/ and journal.jsonl,
 * and appends the start record and the run's standard tags (run name, user,
 * source, git commit, shardlearn.run_uuid). Close with sl_journal_close. */
enum sl_status sl_journal_create(struct sl_journal *j, const struct sl_track_config *cfg,
                                 struct sl_err *err) SL_WARN_UNUSED;
/* Opens the journal of an existing run directory to continue it (a run
 * resumed from a checkpoint): takes the writer's lock, cuts a torn last
 * line, and appends a reopen record (the sender makes the run RUNNING
 * again). *at <- where its metric records stand (shardlearn/track.h), so
 * that the caller logs no point twice. SL_ERR_IO when it cannot be opened,
 * is not a journal, or another process is writing it. */
enum sl_status sl_journal_reopen(struct sl_journal *j, const char *run_dir, struct sl_track_resume *at,
                                 struct sl_err *err) SL_WARN_UNUSED;
/* Writes the records appended since the last call: 0, or -1 when the write
 * failed (j->failed says why; the file keeps every whole record before it,
 * and later records are dropped). */
int sl_journal_flush(struct sl_journal *j);
/* Stops the journal after a failure found elsewhere (an fsync): errno e. */
void sl_journal_fail(struct sl_journal *j, int e);
/* Writes what is left, fsyncs and closes the journal file. */
void sl_journal_close(struct sl_journal *j);

/* A param or tag record (type "param" or "tag"); the key is made a valid
 * MLflow key, a NULL value is "". */
void sl_journal_kv(struct sl_journal *j, const char *type, const char *key, const char *value);
void sl_journal_metric(struct sl_journal *j, const char *key, double value, int64_t step,
                       int64_t ts_ms);
/* Copies local_path into artifacts/artifact_path and appends an artifact
 * record: 0; -1 (reported) when artifact_path leaves the artifacts or
 * local_path cannot be read; 1 (not reported, errno set) when the run
 * directory cannot be written (a full disk): the journal is as good as
 * failed. Nothing is recorded unless 0. */
int sl_journal_artifact(struct sl_journal *j, const char *local_path, const char *artifact_path);
/* The same for bytes held in memory (len of them at data). */
int sl_journal_artifact_data(struct sl_journal *j, const void *data, size_t len,
                             const char *artifact_path);
/* An input record: a data set the run read (see struct sl_track_dataset). */
void sl_journal_input(struct sl_journal *j, const struct sl_track_dataset *d);
/* A logged_model record called name, whose files are the run artifacts
 * files[0..n) (each "model/<file>", uploaded as <file>), with the params
 * recorded so far; metric records after it are marked as the model's. */
void sl_journal_logged_model(struct sl_journal *j, const char *name, const char *const *files,
                             int n);
/* A request to register the run's "model" artifact as the model name. */
void sl_journal_register(struct sl_journal *j, const char *name);
void sl_journal_finish(struct sl_journal *j, const char *status);
/* The same, ended at end_ms (wall-clock milliseconds). */
void sl_journal_finish_at(struct sl_journal *j, const char *status, int64_t end_ms);

/* A journal whose writer is gone (killed: its lock is free) but that has no
 * finish record gets one: status FAILED, with the tag shardlearn.error
 * saying so, ended when the journal was last written; a partial last line is
 * cut off first. 1 when it did so, 0 when the run has ended or its writer
 * is still at work, -1 when the journal cannot be opened or written. */
int sl_journal_end_abandoned(const char *run_dir);
/* Bytes in run_dir's journal; -1 when it cannot be read. */
int64_t sl_journal_size(const char *run_dir);
/* 1 when offset is 0 or the byte before it ends a line. */
int sl_journal_at_line_end(const char *run_dir, int64_t offset);

/* out (cap bytes) <- run_dir/artifacts/artifact_path: the copy to upload. */
void sl_journal_artifact_file(const char *run_dir, const char *artifact_path, char *out,
                              size_t cap);
/* The journal's first line, the start record, parsed; NULL when the file is
 * missing or does not start with one. Caller deletes it. */
cJSON *sl_journal_read_start(const char *run_dir);
/* Journal bytes from offset to the end of the last complete line,
 * NUL-terminated (*len without the NUL); NULL when unreadable. Caller frees. */
char *sl_journal_read_tail(const char *run_dir, int64_t offset, size_t *len);

#endif
