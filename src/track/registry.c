/* registry.c - runs and registered model versions read back from an MLflow
 * server, and promotion of a run's model (runs.h), through the tracker's
 * HTTP client and API calls. */
#include <ctype.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/clock.h"
#include "shardlearn/runs.h"
#include "track/api.h"
#include "track/http.h"
#include "track/json.h"
#include "track/metricset.h"

struct sl_mlflow {
    struct sl_http h;
    atomic_int cancel; /* h.stop points here: sl_mlflow_cancel */
};

int sl_is_mlflow_source(const char *source) {
    return strncmp(source, "runs:/", 6) == 0 || strncmp(source, "models:/", 8) == 0;
}

enum sl_status sl_mlflow_create(struct sl_mlflow **out, const char *tracking_uri, double timeout_s,
                                struct sl_err *err) {
    *out = NULL;
    const char *uri = sl_tracking_uri(tracking_uri);
    if (!uri)
        return sl_err_set(err, SL_ERR_ARG,
                          "an MLflow source needs a server: give --tracking-uri or set "
                          "MLFLOW_TRACKING_URI");
    struct sl_mlflow *m = sl_calloc(1, sizeof *m);
    if (sl_http_init(&m->h, uri) != 0) {
        sl_http_free(&m->h);
        free(m);
        return sl_err_set(err, SL_ERR_NET, "libcurl cannot start");
    }
    m->h.deadline = sl_wtime() + timeout_s;
    atomic_init(&m->cancel, 0);
    m->h.stop = &m->cancel;
    *out = m;
    return SL_OK;
}

void sl_mlflow_cancel(struct sl_mlflow *m) {
    atomic_store(&m->cancel, 1);
}

void sl_mlflow_destroy(struct sl_mlflow *m) {
    if (!m) return;
    sl_http_free(&m->h);
    free(m);
}

/* How a call ended, as a status: a source that does not exist (or that the
 * server refuses) is SL_ERR_IO with the server's own message; a server that
 * cannot be reached, or went wrong, SL_ERR_NET. */
static enum sl_status call_status(struct sl_http *h, enum sl_deliver r, const char *what,
                                  struct sl_err *err) {
    if (r == SL_DELIVER_DONE) return SL_OK;
    if (r == SL_DELIVER_RETRY) return sl_err_set(err, SL_ERR_NET, "%s: %s", what, h->err);
    cJSON *ans = h->body ? cJSON_Parse(h->body) : NULL;
    const char *msg = sl_jstr(ans, "message");
    enum sl_status st =
        msg ? sl_err_set(err, SL_ERR_IO, "%s: %s (%s, HTTP %ld)", what, msg, h->shown, h->status)
            : sl_err_set(err, SL_ERR_IO, "%s: %s", what, h->err);
    cJSON_Delete(ans);
    return st;
}

/* GET base + path?k1=v1[&k2=v2], values escaped; *ans is the answer. */
static enum sl_status get(struct sl_mlflow *m, const char *what, const char *path, const char *k1,
                          const char *v1, const char *k2, const char *v2, cJSON **ans,
                          struct sl_err *err) {
    char e1[1024], e2[1024] = "", url[2400];
    sl_http_escape(&m->h, v1, e1, sizeof e1);
    if (k2) sl_http_escape(&m->h, v2, e2, sizeof e2);
    snprintf(url, sizeof url, "/api/2.0/mlflow/%s?%s=%s%s%s%s%s", path, k1, e1, k2 ? "&" : "",
             k2 ? k2 : "", k2 ? "=" : "", e2);
    return call_status(&m->h, sl_api_call(&m->h, "GET", url, NULL, ans, 0), what, err);
}

/* POST an idempotent call (set alias, set tag). */
static enum sl_status post(struct sl_mlflow *m, const char *what, const char *path, cJSON *req,
                           struct sl_err *err) {
    char url[256];
    snprintf(url, sizeof url, "/api/2.0/mlflow/%s", path);
    enum sl_deliver r = sl_api_call(&m->h, "POST", url, req, NULL, 0);
    cJSON_Delete(req);
    return call_status(&m->h, r, what, err);
}

/* A metric value as the server writes it: a number, or "NaN", "Infinity",
 * "-Infinity" (JSON has no literal for them). */
static int metric_value(const cJSON *v, double *x) {
    if (cJSON_IsNumber(v)) {
        *x = v->valuedouble;
        return 1;
    }
    if (!cJSON_IsString(v)) return 0;
    const char *s = v->valuestring;
    if (strcmp(s, "NaN") == 0)
        *x = (double)NAN;
    else if (strcmp(s, "Infinity") == 0)
        *x = (double)INFINITY;
    else if (strcmp(s, "-Infinity") == 0)
        *x = -(double)INFINITY;
    else
        return 0;
    return 1;
}

static enum sl_status run_metrics(struct sl_mlflow *m, const char *source, const char *run_id,
                                  struct sl_metric_set *out, struct sl_err *err) {
    cJSON *ans = NULL;
    enum sl_status st = get(m, source, "runs/get", "run_id", run_id, NULL, NULL, &ans, err);
    if (st) return st;
    const cJSON *run = cJSON_GetObjectItem(ans, "run");
    const char *id = sl_jstr(cJSON_GetObjectItem(run, "info"), "run_id");
    snprintf(out->run_id, sizeof out->run_id, "%s", id && id[0] ? id : run_id);
    const cJSON *mt;
    cJSON_ArrayForEach(mt, cJSON_GetObjectItem(cJSON_GetObjectItem(run, "data"), "metrics")) {
        const char *key = sl_jstr(mt, "key");
        double x;
        if (key && key[0] && metric_value(cJSON_GetObjectItem(mt, "value"), &x))
            sl_metric_set_add(out, key, x);
    }
    cJSON_Delete(ans);
    return SL_OK;
}

/* models:/NAME/VERSION or models:/NAME@ALIAS -> the version's source run. */
static enum sl_status resolve_model(struct sl_mlflow *m, const char *source,
                                    struct sl_metric_set *out, char *run_id, size_t cap,
                                    struct sl_err *err) {
    const char *spec = source + strlen("models:/");
    const char *at = strrchr(spec, '@'), *slash = strrchr(spec, '/');
    const char *sep = at ? at : slash;
    int digits = sep && sep[1] != '\0';
    for (const char *p = sep ? sep + 1 : ""; !at && *p; p++)
        digits &= isdigit((unsigned char)*p) != 0;
    if (!sep || sep == spec || !digits || (size_t)(sep - spec) >= sizeof out->model)
        return sl_err_set(err, SL_ERR_ARG,
                          "%s: not models:/NAME/VERSION (a number) or models:/NAME@ALIAS", source);
    snprintf(out->model, sizeof out->model, "%.*s", (int)(sep - spec), spec);
    cJSON *ans = NULL;
    enum sl_status st = at ? get(m, source, "registered-models/alias", "name", out->model, "alias",
                                 at + 1, &ans, err)
                           : get(m, source, "model-versions/get", "name", out->model, "version",
                                 sep + 1, &ans, err);
    if (st) return st;
    const cJSON *mv = cJSON_GetObjectItem(ans, "model_version");
    const char *v = sl_jstr(mv, "version"), *id = sl_jstr(mv, "run_id");
    snprintf(out->version, sizeof out->version, "%s", v ? v : "");
    snprintf(run_id, cap, "%s", id ? id : "");
    cJSON_Delete(ans);
    if (!out->version[0] || !run_id[0] || strchr(run_id, '/'))
        return sl_err_set(err, SL_ERR_IO, "%s: the answer names no version or no source run",
                          source);
    return SL_OK;
}

enum sl_status sl_mlflow_metrics(struct sl_mlflow *m, const char *source, struct sl_metric_set *out,
                                 struct sl_err *err) {
    *out = (struct sl_metric_set){.n = 0};
    char run_id[64];
    enum sl_status st = SL_OK;
    if (strncmp(source, "runs:/", 6) == 0) {
        /* runs:/ID, or runs:/ID/PATH (an artifact of the run): the run. */
        const char *id = source + 6;
        size_t n = strcspn(id, "/");
        if (n == 0 || n >= sizeof run_id)
            return sl_err_set(err, SL_ERR_ARG, "%s: not runs:/RUN_ID", source);
        snprintf(run_id, sizeof run_id, "%.*s", (int)n, id);
    } else if (strncmp(source, "models:/", 8) == 0) {
        st = resolve_model(m, source, out, run_id, sizeof run_id, err);
    } else {
        st = sl_err_set(err, SL_ERR_ARG, "%s: not a runs:/ or models:/ URI", source);
    }
    if (!st) st = run_metrics(m, source, run_id, out, err);
    if (st) sl_metric_set_free(out);
    return st;
}

/* runs:/ID -> ID and the artifact path of the model file: model/model.json,
 * or PATH/model.json for runs:/ID/PATH, or PATH itself when it ends .json. */
static enum sl_status run_source(const char *source, char *run_id, size_t cap, char *art,
                                 size_t art_cap, struct sl_err *err) {
    const char *id = source + 6;
    size_t n = strcspn(id, "/");
    if (n == 0 || n >= cap) return sl_err_set(err, SL_ERR_ARG, "%s: not runs:/RUN_ID", source);
    snprintf(run_id, cap, "%.*s", (int)n, id);
    const char *path = id[n] ? id + n + 1 : "model";
    size_t len = strlen(path);
    while (len && path[len - 1] == '/')
        len--;
    int file = len >= 5 && strncmp(path + len - 5, ".json", 5) == 0;
    if (len == 0 || strstr(path, "..") || len + 12 >= art_cap)
        return sl_err_set(err, SL_ERR_ARG, "%s: not runs:/RUN_ID[/PATH]", source);
    snprintf(art, art_cap, "%.*s%s", (int)len, path, file ? "" : "/model.json");
    return SL_OK;
}

/* "mlflow-artifacts:/1/abc/artifacts" (or with //host:port) -> "1/abc/artifacts". */
static const char *proxied(const char *uri) {
    const char *p = "mlflow-artifacts:";
    if (strncmp(uri, p, strlen(p)) != 0) return NULL;
    const char *s = uri + strlen(p);
    if (strncmp(s, "//", 2) == 0) s = strchr(s + 2, '/');
    while (s && *s == '/')
        s++;
    return s;
}

/* *text <- the artifact art of run_id, through the server's artifact proxy. */
static enum sl_status download(struct sl_mlflow *m, const char *source, const char *run_id,
                               const char *art, char **text, struct sl_err *err) {
    cJSON *ans = NULL;
    enum sl_status st = get(m, source, "runs/get", "run_id", run_id, NULL, NULL, &ans, err);
    if (st) return st;
    const char *uri =
        sl_jstr(cJSON_GetObjectItem(cJSON_GetObjectItem(ans, "run"), "info"), "artifact_uri");
    const char *root = uri ? proxied(uri) : NULL;
    char path[4096];
    if (root) snprintf(path, sizeof path, "/api/2.0/mlflow-artifacts/artifacts/%s/%s", root, art);
    if (!root)
        st = sl_err_set(err, SL_ERR_IO,
                        "%s: run %s keeps its artifacts at %s, which the tracking server does not "
                        "serve (start it with --serve-artifacts)",
                        source, run_id, uri ? uri : "(none)");
    cJSON_Delete(ans);
    if (st) return st;
    char what[1200];
    snprintf(what, sizeof what, "%s: artifact %s of run %s", source, art, run_id);
    st = call_status(&m->h, sl_http_request(&m->h, "GET", path, NULL, 0, NULL, 1), what, err);
    if (st) return st;
    *text = sl_malloc(m->h.body_len + 1);
    memcpy(*text, m->h.body ? m->h.body : "", m->h.body_len);
    (*text)[m->h.body_len] = '\0';
    return SL_OK;
}

enum sl_status sl_mlflow_model_file(struct sl_mlflow *m, const char *source,
                                    const char *have_version, struct sl_model_ref *ref, char **text,
                                    struct sl_err *err) {
    *text = NULL;
    memset(ref, 0, sizeof *ref);
    char art[1024] = "model/model.json";
    enum sl_status st;
    if (strncmp(source, "runs:/", 6) == 0) {
        st = run_source(source, ref->run_id, sizeof ref->run_id, art, sizeof art, err);
    } else if (strncmp(source, "models:/", 8) == 0) {
        struct sl_metric_set set = {.n = 0};
        st = resolve_model(m, source, &set, ref->run_id, sizeof ref->run_id, err);
        snprintf(ref->name, sizeof ref->name, "%s", set.model);
        snprintf(ref->version, sizeof ref->version, "%s", set.version);
        sl_metric_set_free(&set);
        if (!st && have_version && strcmp(have_version, ref->version) == 0) return SL_OK;
    } else {
        st = sl_err_set(err, SL_ERR_ARG, "%s: not a runs:/ or models:/ URI", source);
    }
    if (st) return st;
    return download(m, source, ref->run_id, art, text, err);
}

enum sl_status sl_mlflow_alias_exists(struct sl_mlflow *m, const char *name, const char *alias,
                                      int *exists, struct sl_err *err) {
    *exists = 0;
    char what[512];
    snprintf(what, sizeof what, "registered model %s", name);
    cJSON *ans = NULL;
    enum sl_status st = get(m, what, "registered-models/get", "name", name, NULL, NULL, &ans, err);
    if (st && sl_http_error_code_is(&m->h, "RESOURCE_DOES_NOT_EXIST")) {
        sl_err_clear(err);
        return SL_OK;
    }
    if (st) return st;
    const cJSON *a;
    cJSON_ArrayForEach(
        a, cJSON_GetObjectItem(cJSON_GetObjectItem(ans, "registered_model"), "aliases")) {
        const char *s = sl_jstr(a, "alias");
        if (s && strcmp(s, alias) == 0) *exists = 1;
    }
    cJSON_Delete(ans);
    return SL_OK;
}

/* version <- the run's version of name, registered now when it has none. */
static enum sl_status version_of_run(struct sl_mlflow *m, const char *run_id, const char *name,
                                     char *version, size_t cap, int *created, struct sl_err *err) {
    struct sl_http *h = &m->h;
    char what[512];
    snprintf(what, sizeof what, "registering runs:/%s/model as %s", run_id, name);
    *created = 0;
    enum sl_status st = call_status(h, sl_api_ensure_registered_model(h, name), what, err);
    if (!st) st = call_status(h, sl_api_find_version(h, name, run_id, version, cap), what, err);
    if (st || version[0]) return st;
    enum sl_deliver r = sl_api_create_version(h, name, run_id, "model", version, cap);
    /* Sent once: when its answer was lost, the server may have made it. */
    if (r == SL_DELIVER_RETRY &&
        sl_api_find_version(h, name, run_id, version, cap) == SL_DELIVER_DONE && version[0])
        r = SL_DELIVER_DONE;
    *created = r == SL_DELIVER_DONE;
    return call_status(h, r, what, err);
}

enum sl_status sl_mlflow_promote(struct sl_mlflow *m, const char *run_id, const char *name,
                                 const char *alias, const char *tag_key, const char *tag_value,
                                 char *version, size_t cap, int *created, struct sl_err *err) {
    enum sl_status st = version_of_run(m, run_id, name, version, cap, created, err);
    if (st) return st;
    char what[512];
    snprintf(what, sizeof what, "pointing %s@%s at version %s", name, alias, version);
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "name", name);
    cJSON_AddStringToObject(req, "alias", alias);
    cJSON_AddStringToObject(req, "version", version);
    if ((st = post(m, what, "registered-models/alias", req, err))) return st;
    snprintf(what, sizeof what, "tagging run %s", run_id);
    req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "run_id", run_id);
    cJSON_AddStringToObject(req, "key", tag_key);
    cJSON_AddStringToObject(req, "value", tag_value);
    return post(m, what, "runs/set-tag", req, err);
}
