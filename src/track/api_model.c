/* api_model.c - what MLflow 3 shows beside a run's metrics: the data sets it
 * read (runs/log-inputs, the Datasets panel) and the model it made (a logged
 * model, /logged-models, listed under the experiment's models).
 *
 * Both are idempotent across retries and crashes: the server keeps a data
 * set once per (name, digest) and links it to a run once; a logged model
 * carries the run's shardlearn.run_uuid tag and is looked up by it before
 * one is created, so a model whose id was lost is found, not made twice. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/log.h"
#include "track/api.h"
#include "track/journal.h"
#include "track/json.h"
#include "track/key.h"

/* LoggedModelStatus in mlflow/protos/service.proto. */
#define LOGGED_MODEL_READY 2

static cJSON *kv(const char *key, const char *value) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddStringToObject(o, "value", value ? value : "");
    return o;
}

static void copy_field(cJSON *to, const cJSON *rec, const char *key) {
    const char *v = sl_jstr(rec, key);
    if (v) cJSON_AddStringToObject(to, key, v);
}

enum sl_deliver sl_api_log_input(struct sl_http *h, const struct sl_sync_state *st,
                                 const cJSON *rec) {
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "run_id", st->run_id);
    cJSON *in = cJSON_CreateObject();
    cJSON *tags = cJSON_AddArrayToObject(in, "tags");
    const char *context = sl_jstr(rec, "context");
    cJSON_AddItemToArray(tags, kv("mlflow.data.context", context ? context : "training"));
    cJSON *ds = cJSON_AddObjectToObject(in, "dataset");
    static const char *const fields[] = {"name",   "digest", "source_type",
                                         "source", "schema", "profile"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        copy_field(ds, rec, fields[i]);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(req, "datasets"), in);
    enum sl_deliver r = sl_api_call(h, "POST", "/api/2.0/mlflow/runs/log-inputs", req, NULL, 0);
    /* MLflow's server looks for the data set and then inserts it: when two
     * runs log the same new data set at the same moment, one insert breaks
     * the unique (experiment, name, digest) constraint and is answered 400.
     * The data set exists by then, so the same request once more links it. */
    if (r == SL_DELIVER_REJECTED)
        r = sl_api_call(h, "POST", "/api/2.0/mlflow/runs/log-inputs", req, NULL, 0);
    cJSON_Delete(req);
    if (r != SL_DELIVER_REJECTED) return r;
    /* A data set is a description of the run, not its results: one the
     * server refuses (an old server, a field too long) must not hold back
     * the metrics behind it. */
    sl_warn("tracking: the server did not record data set '%s' (%s); skipped",
            sl_jstr(rec, "name") ? sl_jstr(rec, "name") : "?", h->err);
    return SL_DELIVER_DONE;
}

/* A logged-models call answered 404 without an MLflow error code: the
 * server predates logged models (MLflow 2.x), or a proxy hides them. */
static int no_logged_models(const struct sl_http *h) {
    return h->status == 404 && !sl_http_error_code_is(h, "RESOURCE_DOES_NOT_EXIST");
}

/* *model: the run's logged model (its "info" object, detached into *out),
 * or NULL when there is none yet. */
static enum sl_deliver find_model(struct sl_http *h, const struct sl_sync_state *st,
                                  const char *uuid, cJSON **out) {
    *out = NULL;
    cJSON *req = cJSON_CreateObject(), *ans = NULL;
    cJSON_AddItemToArray(cJSON_AddArrayToObject(req, "experiment_ids"),
                         cJSON_CreateString(st->experiment_id));
    char filter[256];
    snprintf(filter, sizeof filter, "tags.`shardlearn.run_uuid` = '%s'", uuid);
    cJSON_AddStringToObject(req, "filter", filter);
    cJSON_AddNumberToObject(req, "max_results", 1);
    enum sl_deliver r =
        sl_api_call(h, "POST", "/api/2.0/mlflow/logged-models/search", req, &ans, 0);
    cJSON_Delete(req);
    if (r != SL_DELIVER_DONE) return r;
    cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(ans, "models"), 0);
    if (first) *out = cJSON_DetachItemFromObject(first, "info");
    cJSON_Delete(ans);
    return SL_DELIVER_DONE;
}

/* logged-models create, once (a lost answer is settled by find_model). */
static enum sl_deliver create_model(struct sl_http *h, const char *run_dir,
                                    struct sl_sync_state *st, const cJSON *rec, const char *uuid,
                                    cJSON **out) {
    *out = NULL;
    cJSON *req = cJSON_CreateObject(), *ans = NULL;
    cJSON_AddStringToObject(req, "experiment_id", st->experiment_id);
    const char *name = sl_jstr(rec, "name");
    cJSON_AddStringToObject(req, "name", name ? name : "model");
    cJSON_AddStringToObject(req, "model_type", "shardlearn");
    cJSON_AddStringToObject(req, "source_run_id", st->run_id);
    cJSON *params = cJSON_AddArrayToObject(req, "params");
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(rec, "params")) {
        if (p->string && cJSON_IsString(p))
            cJSON_AddItemToArray(params, kv(p->string, p->valuestring));
    }
    cJSON_AddItemToArray(cJSON_AddArrayToObject(req, "tags"), kv("shardlearn.run_uuid", uuid));
    enum sl_deliver r = sl_api_call(h, "POST", "/api/2.0/mlflow/logged-models", req, &ans, 1);
    cJSON_Delete(req);
    if (r != SL_DELIVER_DONE) return sl_api_note_unsettled(h, run_dir, st, r);
    *out = cJSON_DetachItemFromObject(cJSON_GetObjectItem(ans, "model"), "info");
    cJSON_Delete(ans);
    if (!sl_jstr(*out, "model_id")) {
        snprintf(h->err, sizeof h->err, "%s: a logged model without model_id", h->shown);
        return SL_DELIVER_RETRY;
    }
    return SL_DELIVER_DONE;
}

/* The record's files ("model/<file>" in the run's artifacts) into the
 * logged model's artifacts as <file>: PUT replaces, so a retry is harmless. */
static enum sl_deliver upload_files(struct sl_http *h, const char *run_dir, const cJSON *rec,
                                    const char *artifact_uri) {
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(rec, "files")) {
        const char *path = cJSON_IsString(f) ? f->valuestring : NULL;
        const char *slash = path ? strchr(path, '/') : NULL;
        if (!sl_artifact_path_ok(path) || !slash || !slash[1]) {
            sl_warn("tracking: %s/" SL_JOURNAL_FILE ": logged model file '%s' is not a model "
                    "artifact; skipped",
                    run_dir, path ? path : "(none)");
            continue;
        }
        char local[PATH_MAX * 2];
        sl_journal_artifact_file(run_dir, path, local, sizeof local);
        enum sl_deliver r = sl_api_upload_to(h, artifact_uri, run_dir, local, slash + 1);
        if (r != SL_DELIVER_DONE) return r;
    }
    return SL_DELIVER_DONE;
}

static enum sl_deliver finalize(struct sl_http *h, const char *model_id) {
    char path[256];
    snprintf(path, sizeof path, "/api/2.0/mlflow/logged-models/%s", model_id);
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "model_id", model_id);
    cJSON_AddNumberToObject(req, "status", LOGGED_MODEL_READY);
    enum sl_deliver r = sl_api_call(h, "PATCH", path, req, NULL, 0);
    cJSON_Delete(req);
    return r;
}

/* The model found or created (info), its files, READY. */
static enum sl_deliver complete(struct sl_http *h, const char *run_dir, struct sl_sync_state *st,
                                const cJSON *rec, const cJSON *info) {
    const char *id = sl_jstr(info, "model_id"), *uri = sl_jstr(info, "artifact_uri");
    snprintf(st->model_id, sizeof st->model_id, "%s", id);
    if (sl_state_save(run_dir, st)) return SL_DELIVER_RETRY;
    const char *status = sl_jstr(info, "status");
    if (status && strcmp(status, "LOGGED_MODEL_READY") == 0) return SL_DELIVER_DONE;
    enum sl_deliver r = upload_files(h, run_dir, rec, uri ? uri : "");
    return r == SL_DELIVER_DONE ? finalize(h, id) : r;
}

enum sl_deliver sl_api_logged_model(struct sl_http *h, const char *run_dir,
                                    struct sl_sync_state *st, const cJSON *rec,
                                    const char *run_uuid) {
    cJSON *info = NULL;
    enum sl_deliver r = find_model(h, st, run_uuid, &info);
    if (r == SL_DELIVER_DONE && !info) r = create_model(h, run_dir, st, rec, run_uuid, &info);
    if (r == SL_DELIVER_REJECTED && no_logged_models(h)) {
        sl_info("tracking: the server has no logged models (MLflow 2.x?): the model stays the "
                "run's artifact 'model/'");
        return SL_DELIVER_DONE;
    }
    if (r == SL_DELIVER_REJECTED) {
        sl_warn("tracking: the server refused the logged model (%s); the model stays the run's "
                "artifact 'model/'",
                h->err);
        return SL_DELIVER_DONE;
    }
    if (r == SL_DELIVER_DONE && sl_jstr(info, "model_id")) r = complete(h, run_dir, st, rec, info);
    cJSON_Delete(info);
    return r;
}
