/* api.h - the MLflow REST API calls the sender makes: experiments, runs
 * (find by shardlearn.run_uuid tag, create, resume, finish), log-batch,
 * metric history, artifact upload and model registration.
 *
 * Every call returns how it ended (enum sl_deliver); on failure h->err says
 * why. Calls that change state.json save it themselves. */
#ifndef SHARDLEARN_TRACK_API_H
#define SHARDLEARN_TRACK_API_H

#include <cjson/cJSON.h>

#include "track/http.h"
#include "track/state.h"

/* A JSON API call; *out (may be NULL) gets the parsed answer, which the
 * caller deletes. `once`: the call is not idempotent, so it is not retried
 * here (see sl_http_request). */
enum sl_deliver sl_api_call(struct sl_http *h, const char *method, const char *path, cJSON *req,
                            cJSON **out, int once);

/* After a non-idempotent request r was abandoned unanswered, holds off the
 * run (state->unsettled_until_ms) until it has had time to land. Returns r. */
enum sl_deliver sl_api_note_unsettled(const struct sl_http *h, const char *run_dir,
                                      struct sl_sync_state *st, enum sl_deliver r);

/* Finds or creates the server's run for the journal whose start record is
 * `start` (or resumes start.resume_run_id); saves it in state. */
enum sl_deliver sl_api_ensure_run(struct sl_http *h, const cJSON *start, const char *run_dir,
                                  struct sl_sync_state *st);
/* *out: the params a resumed run had on the server, as {key: value}. */
enum sl_deliver sl_api_resumed_params(struct sl_http *h, const struct sl_sync_state *st,
                                      cJSON **out);
/* runs/log-batch, sent once (not idempotent for metrics). */
enum sl_deliver sl_api_log_batch(struct sl_http *h, cJSON *req);
/* *points: the server's history of metric key (array of {key, value,
 * timestamp, step}, may be NULL when it has none). Caller deletes it. */
enum sl_deliver sl_api_metric_history(struct sl_http *h, const char *run_id, const char *key,
                                      cJSON **points);
/* Uploads the file at local as artifact_path of the run. A run whose artifact
 * store the server does not proxy, or a missing file, is reported and
 * skipped (DONE); run_dir is for those messages. */
enum sl_deliver sl_api_upload(struct sl_http *h, const struct sl_sync_state *st,
                              const char *run_dir, const char *local, const char *artifact_path);
/* The same into any proxied artifact location (a logged model's). */
enum sl_deliver sl_api_upload_to(struct sl_http *h, const char *artifact_uri, const char *run_dir,
                                 const char *local, const char *artifact_path);
/* runs/log-inputs for an input record (idempotent on the server: a data set
 * is kept once per name and digest, and linked to a run once). A server
 * that refuses it is reported and skipped (DONE). */
enum sl_deliver sl_api_log_input(struct sl_http *h, const struct sl_sync_state *st,
                                 const cJSON *rec);
/* The run's MLflow 3 logged model for a logged_model record: found by its
 * shardlearn.run_uuid tag (run_uuid) or created once, its files uploaded,
 * then finalised READY; state->model_id is saved. A server without logged
 * models (404) keeps the model as a run artifact: one line, DONE. */
enum sl_deliver sl_api_logged_model(struct sl_http *h, const char *run_dir,
                                    struct sl_sync_state *st, const cJSON *rec,
                                    const char *run_uuid);
/* Registers the run's model as rec.name (rec.artifact_path, default "model"),
 * once per run. */
enum sl_deliver sl_api_register_model(struct sl_http *h, const char *run_dir,
                                      struct sl_sync_state *st, const cJSON *rec);
/* The registry steps of sl_api_register_model, also used to promote a run
 * (runs.h). registered-models/create; one that exists already is fine. */
enum sl_deliver sl_api_ensure_registered_model(struct sl_http *h, const char *name);
/* version (cap bytes) <- the highest version of name made from run_id, ""
 * when there is none. */
enum sl_deliver sl_api_find_version(struct sl_http *h, const char *name, const char *run_id,
                                    char *version, size_t cap);
/* model-versions/create from runs:/RUN_ID/ARTIFACT_PATH, sent once (not
 * idempotent: a lost answer is settled by sl_api_find_version); version
 * (cap bytes) <- the new version. */
enum sl_deliver sl_api_create_version(struct sl_http *h, const char *name, const char *run_id,
                                      const char *artifact_path, char *version, size_t cap);
/* runs/update with rec.status and rec.end_time. */
enum sl_deliver sl_api_finish_run(struct sl_http *h, const struct sl_sync_state *st,
                                  const cJSON *rec);

/* runs/update with status RUNNING: a run continued after it ended. */
enum sl_deliver sl_api_reopen_run(struct sl_http *h, const struct sl_sync_state *st);

#endif
