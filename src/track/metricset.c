/* metricset.c - a run's metrics by MLflow key, and reading them from a
 * metrics.json so that a file and a run on the server compare key for key. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/fileio.h"
#include "track/json.h"
#include "track/metricset.h"

void sl_metric_set_free(struct sl_metric_set *s) {
    for (size_t i = 0; i < s->n; i++)
        free(s->keys[i]);
    free(s->keys);
    free(s->values);
    *s = (struct sl_metric_set){.n = 0};
}

const double *sl_metric_set_find(const struct sl_metric_set *s, const char *key) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->keys[i], key) == 0) return &s->values[i];
    return NULL;
}

void sl_metric_set_add(struct sl_metric_set *s, const char *key, double v) {
    if (sl_metric_set_find(s, key)) return;
    s->keys = sl_realloc(s->keys, (s->n + 1) * sizeof *s->keys);
    s->values = sl_realloc(s->values, (s->n + 1) * sizeof *s->values);
    s->keys[s->n] = strdup(key);
    SL_ASSERT(s->keys[s->n] != NULL);
    s->values[s->n++] = v;
}

/* A JSON value as a metric: a number, null (metrics.json writes a value
 * that is not finite as null: read as NaN), a boolean as 1/0. *ok <- 0 for
 * anything else. */
static double as_metric(const cJSON *v, int *ok) {
    *ok = 1;
    if (cJSON_IsNumber(v)) return v->valuedouble;
    if (cJSON_IsNull(v)) return (double)NAN;
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v) ? 1.0 : 0.0;
    *ok = 0;
    return 0.0;
}

/* o.a.b for path "a.b" (NULL when absent). */
static const cJSON *at_path(const cJSON *o, const char *path) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    char *save = NULL;
    for (char *p = strtok_r(buf, ".", &save); p && o; p = strtok_r(NULL, ".", &save))
        o = cJSON_GetObjectItemCaseSensitive(o, p);
    return o;
}

/* What `train` logs to MLflow (cli/train_out.c), and where metrics.json
 * holds the same value. The per-iteration metrics' latest value on the
 * server is the last step's: the history's last entry. */
static const char *const FROM_LAST[][2] = {
    {"objective", "objective"},      {"train_logloss", "train_logloss"},
    {"grad_norm", "grad_norm"},      {"accuracy", "accuracy"},
    {"seconds_per_iter", "seconds"}, {"allreduce_seconds", "allreduce_seconds"},
    {"val_logloss", "val_logloss"},  {"val_accuracy", "val_accuracy"},
    {"val_auc", "val_auc"},          {"val_auc_ovr", "val_auc_ovr"}};
static const char *const FROM_TOP[][2] = {{"final_objective", "objective"},
                                          {"final_train_logloss", "train_logloss"},
                                          {"final_accuracy", "accuracy"},
                                          {"iterations", "iterations"},
                                          {"time_load_seconds", "timings.load"},
                                          {"time_compute_seconds", "timings.compute"},
                                          {"time_allreduce_seconds", "timings.allreduce"},
                                          {"time_total_seconds", "timings.total"},
                                          {"final_val_logloss", "validation.logloss"},
                                          {"final_val_accuracy", "validation.accuracy"},
                                          {"final_val_auc", "validation.auc"},
                                          {"final_val_auc_ovr", "validation.auc_ovr"}};

static void add_mapped(struct sl_metric_set *s, const cJSON *o, const char *const (*map)[2],
                       size_t n) {
    for (size_t i = 0; i < n; i++) {
        int ok;
        double v = as_metric(at_path(o, map[i][1]), &ok);
        if (ok) sl_metric_set_add(s, map[i][0], v);
    }
}

/* Every metric in o under prefix + its key, objects joined with '.'. */
static void add_flat(struct sl_metric_set *s, const cJSON *o, const char *prefix) {
    const cJSON *it;
    cJSON_ArrayForEach(it, o) {
        if (!it->string || !it->string[0]) continue; /* no rule can name "" */
        char key[512];
        snprintf(key, sizeof key, "%s%s", prefix, it->string);
        int ok;
        double v = as_metric(it, &ok);
        if (ok) {
            sl_metric_set_add(s, key, v);
        } else if (cJSON_IsObject(it)) {
            strncat(key, ".", sizeof key - strlen(key) - 1);
            add_flat(s, it, key);
        }
    }
}

/* 1-based line of byte `at` in text. */
static int line_of(const char *text, const char *at) {
    int line = 1;
    for (const char *p = text; p < at && *p; p++)
        line += *p == '\n';
    return line;
}

enum sl_status sl_metrics_read_file(const char *path, struct sl_metric_set *out,
                                    struct sl_err *err) {
    *out = (struct sl_metric_set){.n = 0};
    size_t len = 0;
    char *text = sl_read_file(path, &len);
    if (!text) return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    enum sl_status st = SL_OK;
    if (!root)
        st = sl_err_set(err, SL_ERR_PARSE, "%s:%d: not valid JSON", path,
                        line_of(text, end ? end : text + len));
    else if (!cJSON_IsObject(root))
        st = sl_err_set(err, SL_ERR_PARSE, "%s: not a JSON object of metrics", path);
    if (!st) {
        const cJSON *hist = cJSON_GetObjectItemCaseSensitive(root, "history");
        int n = cJSON_IsArray(hist) ? cJSON_GetArraySize(hist) : 0;
        if (n > 0)
            add_mapped(out, cJSON_GetArrayItem(hist, n - 1), FROM_LAST,
                       sizeof FROM_LAST / sizeof *FROM_LAST);
        if (cJSON_IsArray(hist))
            add_mapped(out, root, FROM_TOP, sizeof FROM_TOP / sizeof *FROM_TOP);
        add_flat(out, root, "");
    }
    cJSON_Delete(root);
    free(text);
    return st;
}
