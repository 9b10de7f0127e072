/* track.h - experiment tracking: an append-only run journal on local disk and
 * a background sender that ships it to an MLflow tracking server over the
 * REST API (libcurl + cJSON).
 *
 * Only rank 0 creates a tracker. Training only ever appends records to the
 * journal (JSON lines, flushed and fsync'd by sl_tracker_commit at iteration
 * boundaries); a sender thread ships what the server has not acknowledged.
 * No call here blocks on the network, and no MLflow fault stops training:
 * every function returns void except create, whose failure is local (the
 * journal directory cannot be written). */
#ifndef SHARDLEARN_TRACK_H
#define SHARDLEARN_TRACK_H

#include <stddef.h>
#include <stdint.h>

#include "shardlearn/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_track_config {
    const char *tracking_uri; /* NULL: MLFLOW_TRACKING_URI, else journal only */
    const char
        *experiment_name;     /* NULL: MLFLOW_EXPERIMENT_NAME / MLFLOW_EXPERIMENT_ID / "Default" */
    const char *run_name;     /* NULL: generated */
    const char *tracking_dir; /* base directory; NULL: "./shardlearn-runs" */
    double flush_timeout_s;   /* at destroy, wait at most this long for the sender */
    const char *register_model; /* NULL, or a registered model name for the model artifact */
    /* NULL: a run of its own. Else the run directory of the parent run (a
     * path or cv job): the run directory is made in parent_run_dir/children/,
     * and the run is created in MLflow tagged mlflow.parentRunId once its
     * parent is there, so the UI nests it. mlflow-sync of the parent's
     * directory delivers its children too. */
    const char *parent_run_dir;
    int journal_only; /* 1: no sender even with a tracking URI (mlflow-sync delivers later) */
    int quiet;        /* 1: no line saying where the journal is */
};

struct sl_tracker; /* opaque */

/* Creates the run directory <tracking_dir>/<run>/ and its journal, and starts
 * the sender thread when a tracking URI is set. Caller owns *out and frees it
 * with sl_tracker_destroy. */
enum sl_status sl_tracker_create(struct sl_tracker **out, const struct sl_track_config *cfg,
                                 struct sl_err *err) SL_WARN_UNUSED;

/* Where a continued run's journal stands, so the caller logs no point twice:
 * system metrics (keys under system/, sampled by time) count their steps
 * apart from the iterations'. */
struct sl_track_resume {
    int64_t last_step;   /* the largest step of a metric not under system/ (0: none) */
    int64_t system_next; /* one past the largest step of a system/ metric (0: none) */
};

/* Continues the run whose directory is run_dir (made by an earlier
 * sl_tracker_create, e.g. before a stop with a checkpoint): the same
 * journal and the same MLflow run, RUNNING again. *at <- where its journal
 * stands. Caller owns *out. SL_ERR_IO when the journal cannot be continued. */
enum sl_status sl_tracker_reopen(struct sl_tracker **out, const struct sl_track_config *cfg,
                                 const char *run_dir, struct sl_track_resume *at,
                                 struct sl_err *err) SL_WARN_UNUSED;
/* The run directory (the tracker's; NULL for NULL). */
const char *sl_tracker_run_dir(const struct sl_tracker *t);

/* Journal records. Strings are copied. */
void sl_tracker_param(struct sl_tracker *t, const char *key, const char *value);
void sl_tracker_tag(struct sl_tracker *t, const char *key, const char *value);
/* step: iteration/epoch number; ts_ms: wall-clock milliseconds since the epoch. */
void sl_tracker_metric(struct sl_tracker *t, const char *key, double value, int64_t step,
                       int64_t ts_ms);
/* Iteration boundary: flush + fsync the journal, wake the sender. */
void sl_tracker_commit(struct sl_tracker *t);
/* Queue a local file (already complete on disk) for upload as an artifact at
 * artifact_path relative to the run's artifact root (e.g. "model/model.json"). */
void sl_tracker_artifact(struct sl_tracker *t, const char *local_path, const char *artifact_path);
/* The same for len bytes at data (copied into the run directory at once). */
void sl_tracker_artifact_data(struct sl_tracker *t, const void *data, size_t len,
                              const char *artifact_path);
/* A data set the run read, shown in MLflow's Datasets panel (runs/log-inputs).
 * schema and profile are JSON strings (MLflow stores them as text). */
struct sl_track_dataset {
    const char *name;        /* e.g. the file's base name */
    const char *digest;      /* at most 36 characters: MLflow's limit */
    const char *source_type; /* NULL: "local" */
    const char *source;      /* JSON, e.g. {"uri": "/data/train.svm"} */
    const char *schema;      /* JSON or NULL */
    const char *profile;     /* JSON or NULL */
    const char *context;     /* "training" or "validation" (tag mlflow.data.context) */
};
void sl_tracker_dataset(struct sl_tracker *t, const struct sl_track_dataset *d);
/* Records the "model/..." artifacts recorded so far as an MLflow 3 logged
 * model called name, with the run's params and the run as its source; the
 * metrics recorded after this call are linked to it (their model_id). On a
 * server without logged models (MLflow 2.x) the model stays a run artifact.
 * Nothing happens when no model artifact was recorded. */
void sl_tracker_logged_model(struct sl_tracker *t, const char *name);
/* status: "FINISHED", "FAILED" (error_message set as a tag) or "KILLED". */
void sl_tracker_finish(struct sl_tracker *t, const char *status, const char *error_message);
/* Waits at most flush_timeout_s for the sender, then leaves the rest in the
 * journal (saying so in one line) and frees everything. NULL is a no-op. */
void sl_tracker_destroy(struct sl_tracker *t);
/* sl_tracker_destroy, saying whether the server took the whole journal
 * (1; 0 too without a tracking URI). */
int sl_tracker_close(struct sl_tracker *t);

/* out (cap bytes) <- uri without any user:password@, read as libcurl reads
 * it: 0, or -1 (out empty) when it does not parse. For showing or storing a
 * tracking URI where a secret must not go. */
int sl_tracking_uri_public(const char *uri, char *out, size_t cap);

/* CPU seconds the sender thread has used so far (0 without one, or t NULL):
 * what tracking takes from the cores besides the journal appends. */
double sl_tracker_sender_cpu(struct sl_tracker *t);

/* `shardlearn mlflow-sync DIR`: delivers a journal to a server, idempotently
 * (a second call creates no second run and no duplicate metric point). */
enum sl_status sl_mlflow_sync(const char *run_dir, const char *tracking_uri, double timeout_s,
                              struct sl_err *err) SL_WARN_UNUSED;

/* Delivers run_dir's journal now, on the calling thread, without its
 * children and without a line when done: for the child runs of a path (made
 * journal_only), after each is finished. Transient faults are retried until
 * timeout_s (a child waits there for its parent's run to be created). */
enum sl_status sl_mlflow_push(const char *run_dir, const char *tracking_uri, double timeout_s,
                              struct sl_err *err) SL_WARN_UNUSED;

#ifdef __cplusplus
}
#endif

#endif
