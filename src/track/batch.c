/* batch.c - log-batch requests within MLflow's limits. */
#include "track/batch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/fileio.h"
#include "shardlearn/log.h"
#include "track/api.h"
#include "track/json.h"
#include "track/key.h"

/* MLflow's limits for one runs/log-batch request. */
#define MAX_METRICS 1000
#define MAX_PARAMS 100
#define MAX_TAGS 100
#define MAX_ENTITIES 1000
#define MAX_BODY (900 * 1024) /* below the 1 MB request limit */
#define MAX_PARAM_VALUE 6000
#define MAX_TAG_VALUE 8000

/* Metric histories fetched from the server, to drop points it already has
 * when resending a request whose acknowledgement was lost. */
struct sl_history {
    char key[256];
    cJSON *points; /* array of {key, value, timestamp, step} */
};

void sl_batch_reset(struct sl_batch *b, const char *run_id) {
    if (b->req) cJSON_Delete(b->req);
    b->req = cJSON_CreateObject();
    cJSON_AddStringToObject(b->req, "run_id", run_id);
    b->metrics = cJSON_AddArrayToObject(b->req, "metrics");
    b->params = cJSON_AddArrayToObject(b->req, "params");
    b->tags = cJSON_AddArrayToObject(b->req, "tags");
    b->n_metrics = b->n_params = b->n_tags = 0;
    b->bytes = 64;
}

void sl_batch_free(struct sl_batch *b) {
    cJSON_Delete(b->req);
    cJSON_Delete(b->run_params);
    for (int i = 0; i < b->n_hist; i++)
        cJSON_Delete(b->hist[i].points);
    free(b->hist);
    *b = (struct sl_batch){0};
}

static int batch_empty(const struct sl_batch *b) {
    return !b->n_metrics && !b->n_params && !b->n_tags;
}

int sl_batch_full_for(const struct sl_batch *b, const char *type, size_t bytes) {
    int total = b->n_metrics + b->n_params + b->n_tags;
    if (total + 1 > MAX_ENTITIES || b->bytes + bytes > MAX_BODY) return 1;
    if (strcmp(type, "metric") == 0) return b->n_metrics + 1 > MAX_METRICS;
    if (strcmp(type, "param") == 0) return b->n_params + 1 > MAX_PARAMS;
    return b->n_tags + 1 > MAX_TAGS;
}

static int same_value(const cJSON *a, const cJSON *b) {
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b)) return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a) && cJSON_IsString(b)) return strcmp(a->valuestring, b->valuestring) == 0;
    /* The server answers NaN/Inf as strings; ours may be numbers or strings. */
    double x = cJSON_IsNumber(a) ? a->valuedouble : (double)NAN;
    double y = cJSON_IsNumber(b) ? b->valuedouble : (double)NAN;
    return isnan(x) && isnan(y) && (cJSON_IsString(a) || cJSON_IsString(b));
}

/* The server's history of key, fetched once and kept in b. */
static enum sl_deliver history(struct sl_http *h, struct sl_batch *b, const char *run_id,
                               const char *key, const struct sl_history **out) {
    for (int i = 0; i < b->n_hist; i++)
        if (strcmp(b->hist[i].key, key) == 0) *out = &b->hist[i];
    if (*out) return SL_DELIVER_DONE;
    cJSON *points = NULL;
    enum sl_deliver r = sl_api_metric_history(h, run_id, key, &points);
    if (r != SL_DELIVER_DONE) return r;
    b->hist = sl_realloc(b->hist, sizeof *b->hist * (size_t)(b->n_hist + 1));
    struct sl_history *hs = &b->hist[b->n_hist++];
    snprintf(hs->key, sizeof hs->key, "%s", key);
    hs->points = points;
    *out = hs;
    return SL_DELIVER_DONE;
}

enum sl_deliver sl_batch_on_server(struct sl_http *h, struct sl_batch *b, const char *run_id,
                                   const cJSON *m, int *has) {
    *has = 0;
    const char *raw = sl_jstr(m, "key");
    if (!raw) return SL_DELIVER_DONE; /* not sent at all (sl_batch_add) */
    char key[256];
    sl_mlflow_key(raw, key, sizeof key);
    const struct sl_history *hs = NULL;
    enum sl_deliver r = history(h, b, run_id, key, &hs);
    if (r != SL_DELIVER_DONE) return r;
    const cJSON *p;
    cJSON_ArrayForEach(p, hs->points) {
        if (sl_jnum(p, "step", 0) == sl_jnum(m, "step", 0) &&
            sl_jnum(p, "timestamp", 0) == sl_jnum(m, "timestamp", 0) &&
            same_value(cJSON_GetObjectItem(p, "value"), cJSON_GetObjectItem(m, "value"))) {
            *has = 1;
            break;
        }
    }
    return SL_DELIVER_DONE;
}

/* {key, value} with value cut to max_len bytes, at a character boundary
 * (MLflow answers 500 to a body with a broken UTF-8 character). */
static cJSON *kv(const char *key, const char *value, size_t max_len) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", key);
    if (strlen(value) > max_len) {
        size_t n = max_len;
        while (n > 0 && ((unsigned char)value[n] & 0xC0) == 0x80)
            n--; /* value[n] continues a character: cut before it starts */
        char *cut = sl_malloc(n + 1);
        memcpy(cut, value, n);
        cut[n] = '\0';
        cJSON_AddStringToObject(o, "value", cut);
        free(cut);
    } else {
        cJSON_AddStringToObject(o, "value", value);
    }
    return o;
}

static void add_metric(struct sl_batch *b, const char *key, const cJSON *rec) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "key", key);
    const cJSON *v = cJSON_GetObjectItem(rec, "value");
    if (cJSON_IsNumber(v) && !isfinite(v->valuedouble)) {
        /* A number that overflowed in the journal: JSON has no inf, MLflow
         * takes these strings (as sl_journal_metric writes them). */
        cJSON_AddStringToObject(m, "value",
                                isnan(v->valuedouble) ? "NaN"
                                : v->valuedouble > 0  ? "Infinity"
                                                      : "-Infinity");
    } else if (cJSON_IsNumber(v)) {
        char num[32]; /* every bit: cJSON's own printing may drop the last one */
        cJSON_AddRawToObject(m, "value", sl_fmt_double(num, sizeof num, v->valuedouble));
    } else {
        cJSON_AddItemToObject(m, "value", cJSON_Duplicate(v, 1));
    }
    cJSON_AddNumberToObject(m, "timestamp", sl_jnum(rec, "timestamp", 0));
    cJSON_AddNumberToObject(m, "step", sl_jnum(rec, "step", 0));
    /* The final metrics, recorded after the logged model: shown with it. */
    if (cJSON_IsTrue(cJSON_GetObjectItem(rec, "model")) && b->model_id && b->model_id[0])
        cJSON_AddStringToObject(m, "model_id", b->model_id);
    cJSON_AddItemToArray(b->metrics, m);
    b->n_metrics++;
}

static void add_tag(struct sl_batch *b, const char *key, const char *value) {
    cJSON_AddItemToArray(b->tags, kv(key, value, MAX_TAG_VALUE));
    b->n_tags++;
}

static void add_param(struct sl_batch *b, const char *key, const char *v) {
    const char *was = sl_jstr(b->run_params, key);
    if (was && v && strcmp(was, v) != 0) {
        /* MLflow refuses to change a param, and would refuse the whole
         * batch with it: a resumed run keeps the old value and the new
         * one goes in a tag. */
        char tag[300];
        snprintf(tag, sizeof tag, "shardlearn.resumed.%s", key);
        sl_warn("tracking: param '%s' was '%.80s' in the resumed run; the new value '%.80s' "
                "is logged as tag %s",
                key, was, v, tag);
        add_tag(b, tag, v);
        return;
    }
    if (v && strlen(v) > MAX_PARAM_VALUE)
        sl_warn("tracking: param '%s' is longer than MLflow's %d characters; truncated", key,
                MAX_PARAM_VALUE);
    cJSON_AddItemToArray(b->params, kv(key, v ? v : "", MAX_PARAM_VALUE));
    b->n_params++;
}

void sl_batch_add(struct sl_batch *b, const char *type, const cJSON *rec, size_t bytes) {
    const char *raw = sl_jstr(rec, "key");
    const cJSON *value = cJSON_GetObjectItem(rec, "value");
    /* MLflow refuses the whole request for one bad entity: a record with no
     * key, or a metric with no value, is left out; a key it would refuse is
     * made one it takes (key.h). */
    if (!raw || (strcmp(type, "metric") == 0 && !cJSON_IsNumber(value) && !cJSON_IsString(value)))
        return;
    char key[256];
    sl_mlflow_key(raw, key, sizeof key);
    if (strcmp(type, "metric") == 0) {
        add_metric(b, key, rec);
    } else if (strcmp(type, "param") == 0) {
        add_param(b, key, sl_jstr(rec, "value"));
    } else {
        const char *v = sl_jstr(rec, "value");
        add_tag(b, key, v ? v : "");
    }
    b->bytes += bytes + 16;
}

enum sl_deliver sl_batch_send(struct sl_http *h, struct sl_batch *b, const char *run_dir,
                              struct sl_sync_state *st) {
    if (batch_empty(b)) {
        st->acked = b->end > st->acked ? b->end : st->acked;
        return SL_DELIVER_DONE;
    }
    int64_t from = st->acked;
    int opened = st->pending_to < 0;
    if (opened) {
        st->pending_from = from;
        st->pending_to = b->end;
        if (sl_state_save(run_dir, st)) return SL_DELIVER_RETRY;
    }
    /* Once: if the answer is lost, the next delivery checks the server's
     * history for the pending range before sending its metrics again. */
    enum sl_deliver r = sl_api_log_batch(h, b->req);
    if (r != SL_DELIVER_DONE && h->unsent && opened) {
        /* Never reached the server: nothing to check next time. */
        st->pending_from = st->pending_to = -1;
        (void)sl_state_save(run_dir, st);
    }
    if (r != SL_DELIVER_DONE) return sl_api_note_unsettled(h, run_dir, st, r);
    st->acked = b->end;
    if (st->acked >= st->pending_to) st->pending_from = st->pending_to = -1;
    if (sl_state_save(run_dir, st)) return SL_DELIVER_RETRY;
    sl_batch_reset(b, st->run_id);
    return SL_DELIVER_DONE;
}
