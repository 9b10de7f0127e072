/* state.c - state.json load and save. */
#include "track/state.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "shardlearn/fileio.h"

static void state_path(const char *run_dir, char *out, size_t cap) {
    snprintf(out, cap, "%s/" SL_STATE_FILE, run_dir);
}

static void copy_str(char *dst, size_t cap, const cJSON *item) {
    if (cJSON_IsString(item)) snprintf(dst, cap, "%s", item->valuestring);
}

/* The whole number at key (dflt when absent); *bad set when it is not a
 * whole number within +-2^62 (a cast beyond int64_t is undefined). */
static int64_t int_or(const cJSON *j, const char *key, int64_t dflt, int *bad) {
    const cJSON *a = cJSON_GetObjectItem(j, key);
    if (!a) return dflt;
    const double v = cJSON_IsNumber(a) ? a->valuedouble : (double)NAN;
    if (!(v >= -0x1p62 && v <= 0x1p62) || v != floor(v)) {
        *bad = 1;
        return dflt;
    }
    return (int64_t)v;
}

void sl_state_recover(struct sl_sync_state *st, int64_t journal_bytes) {
    *st = (struct sl_sync_state){.pending_from = 0, .pending_to = journal_bytes};
}

enum sl_status sl_state_load(const char *run_dir, struct sl_sync_state *st) {
    *st = (struct sl_sync_state){.pending_from = -1, .pending_to = -1};
    char path[PATH_MAX + 32];
    state_path(run_dir, path, sizeof path);
    char *text = sl_read_file(path, NULL);
    /* No file: nothing acknowledged yet. sl_read_file says EIO only when the
     * file opened but could not be read. */
    if (!text) return errno == EIO ? SL_ERR_IO : SL_OK;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) return SL_ERR_PARSE;
    copy_str(st->experiment_id, sizeof st->experiment_id, cJSON_GetObjectItem(j, "experiment_id"));
    copy_str(st->run_id, sizeof st->run_id, cJSON_GetObjectItem(j, "run_id"));
    copy_str(st->artifact_uri, sizeof st->artifact_uri, cJSON_GetObjectItem(j, "artifact_uri"));
    copy_str(st->model_id, sizeof st->model_id, cJSON_GetObjectItem(j, "model_id"));
    int bad = !cJSON_IsObject(j);
    st->acked = int_or(j, "acked", 0, &bad);
    st->pending_from = int_or(j, "pending_from", -1, &bad);
    st->pending_to = int_or(j, "pending_to", -1, &bad);
    st->finished_sent = cJSON_IsTrue(cJSON_GetObjectItem(j, "finished_sent"));
    st->unsettled_until_ms = int_or(j, "unsettled_until_ms", 0, &bad);
    cJSON_Delete(j);
    return bad ? SL_ERR_PARSE : SL_OK;
}

enum sl_status sl_state_save(const char *run_dir, const struct sl_sync_state *st) {
    char path[PATH_MAX + 32];
    state_path(run_dir, path, sizeof path);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "experiment_id", st->experiment_id);
    cJSON_AddStringToObject(j, "run_id", st->run_id);
    cJSON_AddStringToObject(j, "artifact_uri", st->artifact_uri);
    if (st->model_id[0]) cJSON_AddStringToObject(j, "model_id", st->model_id);
    cJSON_AddNumberToObject(j, "acked", (double)st->acked);
    cJSON_AddNumberToObject(j, "pending_from", (double)st->pending_from);
    cJSON_AddNumberToObject(j, "pending_to", (double)st->pending_to);
    cJSON_AddBoolToObject(j, "finished_sent", st->finished_sent);
    cJSON_AddNumberToObject(j, "unsettled_until_ms", (double)st->unsettled_until_ms);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) return SL_ERR_IO;
    struct sl_atomic_file a;
    enum sl_status s = sl_atomic_open(&a, path, NULL);
    if (s == SL_OK) {
        fputs(text, a.f);
        s = sl_atomic_commit(&a, NULL);
    }
    cJSON_free(text);
    return s == SL_OK ? SL_OK : SL_ERR_IO;
}
