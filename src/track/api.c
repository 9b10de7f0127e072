/* api.c - MLflow REST API calls: the runs API, log-batch, metric history,
 * artifacts and the model registry. */
#include "track/api.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/clock.h"
#include "shardlearn/fileio.h"
#include "shardlearn/log.h"
#include "track/json.h"

/* After a non-idempotent request was abandoned unanswered, nothing is
 * checked or resent until it has had as long again as it went unanswered
 * (plus 5 s) to land: a proxy may still be holding it, and a check made
 * before it lands would send it twice. */
enum sl_deliver sl_api_note_unsettled(const struct sl_http *h, const char *run_dir,
                                      struct sl_sync_state *st, enum sl_deliver r) {
    if (r != SL_DELIVER_RETRY || !h->in_flight) return r;
    st->unsettled_until_ms = sl_now_ms() + (int64_t)(1000 * (h->waited + 5));
    (void)sl_state_save(run_dir, st); /* lost on a crash: then the process is gone anyway */
    return r;
}

/* One try of a call: DONE with the answer parsed into *ans, or not. */
static enum sl_deliver call_once(struct sl_http *h, const char *method, const char *path,
                                 const char *body, int once, cJSON **ans) {
    *ans = NULL;
    enum sl_deliver r =
        sl_http_request(h, method, path, body, body ? strlen(body) : 0, NULL, !once);
    if (r != SL_DELIVER_DONE) return r;
    /* MLflow answers every call with a JSON object. Anything else (a
     * proxy's error page, a cut-off answer) did not come from it: the call
     * counts as not answered, and not settled when it was a create or a
     * log-batch, so the caller looks at the server before it sends again. */
    *ans = h->body ? cJSON_Parse(h->body) : NULL;
    if (cJSON_IsObject(*ans)) return SL_DELIVER_DONE;
    cJSON_Delete(*ans);
    *ans = NULL;
    snprintf(h->err, sizeof h->err, "%s%s: the answer is not a JSON object", h->shown, path);
    h->in_flight = once;
    return SL_DELIVER_RETRY;
}

enum sl_deliver sl_api_call(struct sl_http *h, const char *method, const char *path, cJSON *req,
                            cJSON **out, int once) {
    char *body = req ? cJSON_PrintUnformatted(req) : NULL;
    cJSON *ans = NULL;
    enum sl_deliver r = call_once(h, method, path, body, once, &ans);
    /* A call safe to repeat is asked again at once after a nonsense answer,
     * as often as after a 5xx. */
    for (int k = 0; r == SL_DELIVER_RETRY && !once && h->status / 100 == 2 && k < h->max_retries &&
                    !sl_http_stopped(h);
         k++)
        r = call_once(h, method, path, body, once, &ans);
    cJSON_free(body);
    if (out)
        *out = ans;
    else
        cJSON_Delete(ans);
    return r;
}

/* An idempotent call: retried on transient faults. */
static enum sl_deliver api(struct sl_http *h, const char *method, const char *path, cJSON *req,
                           cJSON **out) {
    return sl_api_call(h, method, path, req, out, 0);
}

/* The state was saved: DONE, else RETRY. */
static enum sl_deliver saved(const char *run_dir, const struct sl_sync_state *st) {
    return sl_state_save(run_dir, st) ? SL_DELIVER_RETRY : SL_DELIVER_DONE;
}

static enum sl_deliver get_run(struct sl_http *h, const char *run_id, cJSON **ans) {
    char esc[256], path[512];
    sl_http_escape(h, run_id, esc, sizeof esc);
    snprintf(path, sizeof path, "/api/2.0/mlflow/runs/get?run_id=%s", esc);
    return api(h, "GET", path, NULL, ans);
}

static void take_run_info(struct sl_sync_state *st, const cJSON *run) {
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(run, "info");
    const char *id = sl_jstr(info, "run_id"), *exp = sl_jstr(info, "experiment_id");
    const char *art = sl_jstr(info, "artifact_uri");
    if (id) snprintf(st->run_id, sizeof st->run_id, "%s", id);
    if (exp) snprintf(st->experiment_id, sizeof st->experiment_id, "%s", exp);
    if (art) snprintf(st->artifact_uri, sizeof st->artifact_uri, "%s", art);
}

/* out <- holder.experiment_id from an answer, which is deleted. */
/* A 2xx answer without the field a call is for: one it cannot use. */
static enum sl_deliver lacks(struct sl_http *h, const char *what) {
    snprintf(h->err, sizeof h->err, "%s: an answer without %s", h->shown, what);
    return SL_DELIVER_RETRY;
}

static enum sl_deliver take_experiment_id(struct sl_http *h, cJSON *ans, const cJSON *holder,
                                          char *out, size_t cap) {
    const char *id = sl_jstr(holder, "experiment_id");
    if (id) snprintf(out, cap, "%s", id);
    cJSON_Delete(ans);
    return id ? SL_DELIVER_DONE : lacks(h, "experiment_id");
}

/* The id of the experiment called name, created when there is none. */
static enum sl_deliver experiment_id(struct sl_http *h, const char *name, char *out, size_t cap) {
    char esc[1024], path[1200];
    sl_http_escape(h, name, esc, sizeof esc);
    snprintf(path, sizeof path, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=%s", esc);
    for (int round = 0; round < 2; round++) {
        cJSON *ans = NULL;
        enum sl_deliver r = api(h, "GET", path, NULL, &ans);
        if (r == SL_DELIVER_DONE)
            return take_experiment_id(h, ans, cJSON_GetObjectItem(ans, "experiment"), out, cap);
        if (r != SL_DELIVER_REJECTED || !sl_http_error_code_is(h, "RESOURCE_DOES_NOT_EXIST"))
            return r;
        cJSON *req = cJSON_CreateObject();
        cJSON_AddStringToObject(req, "name", name);
        r = api(h, "POST", "/api/2.0/mlflow/experiments/create", req, &ans);
        cJSON_Delete(req);
        if (r == SL_DELIVER_DONE) return take_experiment_id(h, ans, ans, out, cap);
        /* Someone created it between our two calls: look it up again. */
        if (r != SL_DELIVER_REJECTED || !sl_http_error_code_is(h, "RESOURCE_ALREADY_EXISTS"))
            return r;
    }
    return SL_DELIVER_RETRY;
}

static enum sl_deliver resume_run(struct sl_http *h, const char *resume, const char *run_dir,
                                  struct sl_sync_state *st) {
    cJSON *ans = NULL;
    enum sl_deliver r = get_run(h, resume, &ans);
    if (r != SL_DELIVER_DONE) return r;
    take_run_info(st, cJSON_GetObjectItem(ans, "run"));
    cJSON_Delete(ans);
    /* An ended run takes no more metrics: make it active again, as
     * MLflow's own client does when it resumes a run. */
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "run_id", st->run_id);
    cJSON_AddStringToObject(req, "status", "RUNNING");
    r = api(h, "POST", "/api/2.0/mlflow/runs/update", req, NULL);
    cJSON_Delete(req);
    if (r != SL_DELIVER_DONE) {
        st->run_id[0] = '\0'; /* not resumed yet: do it again next time */
        return r;
    }
    return saved(run_dir, st);
}

/* A run created before a crash, whose id never reached state.json: *found. */
static enum sl_deliver find_run(struct sl_http *h, const char *exp, const char *uuid,
                                const char *run_dir, struct sl_sync_state *st, int *found) {
    *found = 0;
    cJSON *req = cJSON_CreateObject(), *ans = NULL;
    cJSON *ids = cJSON_AddArrayToObject(req, "experiment_ids");
    cJSON_AddItemToArray(ids, cJSON_CreateString(exp));
    char filter[256];
    snprintf(filter, sizeof filter, "tags.`shardlearn.run_uuid` = '%s'", uuid ? uuid : "");
    cJSON_AddStringToObject(req, "filter", filter);
    cJSON_AddStringToObject(req, "run_view_type", "ALL");
    cJSON_AddNumberToObject(req, "max_results", 1);
    enum sl_deliver r = api(h, "POST", "/api/2.0/mlflow/runs/search", req, &ans);
    cJSON_Delete(req);
    if (r != SL_DELIVER_DONE) return r;
    const cJSON *runs = cJSON_GetObjectItem(ans, "runs");
    *found = cJSON_GetArraySize(runs) > 0;
    if (*found) take_run_info(st, cJSON_GetArrayItem(runs, 0));
    cJSON_Delete(ans);
    return *found ? saved(run_dir, st) : SL_DELIVER_DONE;
}

/* runs/create, once: a lost answer is settled by find_run next time. */
static enum sl_deliver create_run(struct sl_http *h, const cJSON *start, const char *exp,
                                  const char *uuid, const char *parent_id, const char *run_dir,
                                  struct sl_sync_state *st) {
    cJSON *req = cJSON_CreateObject(), *ans = NULL;
    cJSON_AddStringToObject(req, "experiment_id", exp);
    cJSON_AddNumberToObject(req, "start_time", sl_jnum(start, "start_time", 0));
    if (sl_jstr(start, "run_name"))
        cJSON_AddStringToObject(req, "run_name", sl_jstr(start, "run_name"));
    cJSON *tags = cJSON_AddArrayToObject(req, "tags");
    cJSON *tag = cJSON_CreateObject();
    cJSON_AddStringToObject(tag, "key", "shardlearn.run_uuid");
    cJSON_AddStringToObject(tag, "value", uuid ? uuid : "");
    cJSON_AddItemToArray(tags, tag);
    if (parent_id) { /* a child: the UI nests it under its parent */
        tag = cJSON_CreateObject();
        cJSON_AddStringToObject(tag, "key", "mlflow.parentRunId");
        cJSON_AddStringToObject(tag, "value", parent_id);
        cJSON_AddItemToArray(tags, tag);
    }
    enum sl_deliver r = sl_api_call(h, "POST", "/api/2.0/mlflow/runs/create", req, &ans, 1);
    cJSON_Delete(req);
    if (r != SL_DELIVER_DONE) return sl_api_note_unsettled(h, run_dir, st, r);
    take_run_info(st, cJSON_GetObjectItem(ans, "run"));
    cJSON_Delete(ans);
    if (!st->run_id[0]) return lacks(h, "run.info.run_id");
    return saved(run_dir, st);
}

enum sl_deliver sl_api_ensure_run(struct sl_http *h, const cJSON *start, const char *run_dir,
                                  struct sl_sync_state *st) {
    if (st->run_id[0]) return SL_DELIVER_DONE;
    const char *resume = sl_jstr(start, "resume_run_id");
    if (resume) return resume_run(h, resume, run_dir, st);
    enum sl_deliver r;
    char exp[64] = "";
    const char *name = sl_jstr(start, "experiment_name"), *id = sl_jstr(start, "experiment_id");
    if (name) {
        if ((r = experiment_id(h, name, exp, sizeof exp)) != SL_DELIVER_DONE) return r;
    } else {
        snprintf(exp, sizeof exp, "%s", id ? id : "0");
    }
    /* A child waits for its parent's run: its id is the parent's state.json's. */
    struct sl_sync_state parent = {.run_id = ""};
    const char *up = sl_jstr(start, "parent");
    if (up) {
        char dir[PATH_MAX + 8];
        snprintf(dir, sizeof dir, "%s/%s", run_dir, up);
        (void)sl_state_load(dir, &parent);
        if (!parent.run_id[0]) {
            snprintf(h->err, sizeof h->err, "the parent run (%s) is not on the server yet", dir);
            return SL_DELIVER_RETRY;
        }
    }
    const char *uuid = sl_jstr(start, "run_uuid");
    int found;
    r = find_run(h, exp, uuid, run_dir, st, &found);
    if (r != SL_DELIVER_DONE || found) return r;
    return create_run(h, start, exp, uuid, up ? parent.run_id : NULL, run_dir, st);
}

enum sl_deliver sl_api_resumed_params(struct sl_http *h, const struct sl_sync_state *st,
                                      cJSON **out) {
    cJSON *ans = NULL;
    enum sl_deliver r = get_run(h, st->run_id, &ans);
    if (r != SL_DELIVER_DONE) return r;
    *out = cJSON_CreateObject();
    const cJSON *data = cJSON_GetObjectItem(cJSON_GetObjectItem(ans, "run"), "data");
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(data, "params")) {
        const char *k = sl_jstr(p, "key"), *v = sl_jstr(p, "value");
        if (k && v) cJSON_AddStringToObject(*out, k, v);
    }
    cJSON_Delete(ans);
    return SL_DELIVER_DONE;
}

enum sl_deliver sl_api_log_batch(struct sl_http *h, cJSON *req) {
    return sl_api_call(h, "POST", "/api/2.0/mlflow/runs/log-batch", req, NULL, 1);
}

enum sl_deliver sl_api_metric_history(struct sl_http *h, const char *run_id, const char *key,
                                      cJSON **points) {
    char ek[768], er[256], path[1200];
    sl_http_escape(h, key, ek, sizeof ek);
    sl_http_escape(h, run_id, er, sizeof er);
    snprintf(path, sizeof path, "/api/2.0/mlflow/metrics/get-history?run_id=%s&metric_key=%s", er,
             ek);
    cJSON *ans = NULL;
    enum sl_deliver r = api(h, "GET", path, NULL, &ans);
    if (r != SL_DELIVER_DONE) return r;
    *points = cJSON_DetachItemFromObject(ans, "metrics");
    cJSON_Delete(ans);
    return SL_DELIVER_DONE;
}

/* "mlflow-artifacts:/1/abc/artifacts" (or with //host:port) -> "1/abc/artifacts". */
static const char *proxied_root(const char *artifact_uri) {
    const char *p = "mlflow-artifacts:";
    if (strncmp(artifact_uri, p, strlen(p)) != 0) return NULL;
    const char *s = artifact_uri + strlen(p);
    if (s[0] == '/' && s[1] == '/') s = strchr(s + 2, '/');
    if (!s) return NULL;
    while (*s == '/')
        s++;
    return s;
}

enum sl_deliver sl_api_upload_to(struct sl_http *h, const char *artifact_uri, const char *run_dir,
                                 const char *local, const char *artifact_path) {
    const char *root = proxied_root(artifact_uri);
    if (!root) {
        sl_warn("tracking: the run's artifact store (%s) is not served by the tracking server "
                "(start it with --serve-artifacts); %s stays in %s/artifacts",
                artifact_uri, artifact_path, run_dir);
        return SL_DELIVER_DONE;
    }
    size_t len = 0;
    char *data = sl_read_file(local, &len);
    if (!data) {
        sl_warn("tracking: artifact %s is missing from %s", artifact_path, run_dir);
        return SL_DELIVER_DONE;
    }
    char path[4096];
    snprintf(path, sizeof path, "/api/2.0/mlflow-artifacts/artifacts/%s/%s", root, artifact_path);
    enum sl_deliver r =
        sl_http_request(h, "PUT", path, data, len, "Content-Type: application/octet-stream", 1);
    free(data);
    return r;
}

enum sl_deliver sl_api_upload(struct sl_http *h, const struct sl_sync_state *st,
                              const char *run_dir, const char *local, const char *artifact_path) {
    return sl_api_upload_to(h, st->artifact_uri, run_dir, local, artifact_path);
}

enum sl_deliver sl_api_ensure_registered_model(struct sl_http *h, const char *name) {
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "name", name);
    enum sl_deliver r = api(h, "POST", "/api/2.0/mlflow/registered-models/create", req, NULL);
    cJSON_Delete(req);
    if (r == SL_DELIVER_REJECTED && sl_http_error_code_is(h, "RESOURCE_ALREADY_EXISTS"))
        r = SL_DELIVER_DONE;
    return r;
}

enum sl_deliver sl_api_find_version(struct sl_http *h, const char *name, const char *run_id,
                                    char *version, size_t cap) {
    version[0] = '\0';
    char filter[512], esc[1024], path[1200];
    snprintf(filter, sizeof filter, "name='%s' and run_id='%s'", name, run_id);
    sl_http_escape(h, filter, esc, sizeof esc);
    snprintf(path, sizeof path, "/api/2.0/mlflow/model-versions/search?filter=%s", esc);
    cJSON *ans = NULL;
    enum sl_deliver r = api(h, "GET", path, NULL, &ans);
    if (r != SL_DELIVER_DONE) return r;
    long best = 0;
    const cJSON *mv;
    cJSON_ArrayForEach(mv, cJSON_GetObjectItem(ans, "model_versions")) {
        const char *v = sl_jstr(mv, "version");
        long k = v ? strtol(v, NULL, 10) : 0;
        if (k > best) {
            best = k;
            snprintf(version, cap, "%s", v);
        }
    }
    cJSON_Delete(ans);
    return SL_DELIVER_DONE;
}

enum sl_deliver sl_api_create_version(struct sl_http *h, const char *name, const char *run_id,
                                      const char *artifact_path, char *version, size_t cap) {
    char source[1200];
    snprintf(source, sizeof source, "runs:/%s/%s", run_id, artifact_path);
    cJSON *req = cJSON_CreateObject(), *ans = NULL;
    cJSON_AddStringToObject(req, "name", name);
    cJSON_AddStringToObject(req, "source", source);
    cJSON_AddStringToObject(req, "run_id", run_id);
    enum sl_deliver r =
        sl_api_call(h, "POST", "/api/2.0/mlflow/model-versions/create", req, &ans, 1);
    cJSON_Delete(req);
    if (r != SL_DELIVER_DONE) return r;
    const char *v = sl_jstr(cJSON_GetObjectItem(ans, "model_version"), "version");
    int ok = v && v[0];
    snprintf(version, cap, "%s", ok ? v : "");
    cJSON_Delete(ans);
    return ok ? SL_DELIVER_DONE : lacks(h, "model_version.version");
}

enum sl_deliver sl_api_register_model(struct sl_http *h, const char *run_dir,
                                      struct sl_sync_state *st, const cJSON *rec) {
    const char *name = sl_jstr(rec, "name"), *ap = sl_jstr(rec, "artifact_path");
    if (!name) return SL_DELIVER_DONE;
    enum sl_deliver r = sl_api_ensure_registered_model(h, name);
    if (r != SL_DELIVER_DONE) return r;
    /* Idempotent: a version from this run already registered is kept. */
    char version[32];
    if ((r = sl_api_find_version(h, name, st->run_id, version, sizeof version)) != SL_DELIVER_DONE)
        return r;
    if (version[0]) return SL_DELIVER_DONE;
    r = sl_api_create_version(h, name, st->run_id, ap ? ap : "model", version, sizeof version);
    return sl_api_note_unsettled(h, run_dir, st, r);
}

enum sl_deliver sl_api_finish_run(struct sl_http *h, const struct sl_sync_state *st,
                                  const cJSON *rec) {
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "run_id", st->run_id);
    const char *status = sl_jstr(rec, "status");
    cJSON_AddStringToObject(req, "status", status ? status : "FINISHED");
    cJSON_AddNumberToObject(req, "end_time", sl_jnum(rec, "end_time", 0));
    enum sl_deliver r = api(h, "POST", "/api/2.0/mlflow/runs/update", req, NULL);
    cJSON_Delete(req);
    return r;
}

enum sl_deliver sl_api_reopen_run(struct sl_http *h, const struct sl_sync_state *st) {
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "run_id", st->run_id);
    cJSON_AddStringToObject(req, "status", "RUNNING");
    enum sl_deliver r = api(h, "POST", "/api/2.0/mlflow/runs/update", req, NULL);
    cJSON_Delete(req);
    return r;
}
