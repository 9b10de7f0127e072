/* fuzz_journal.c - the journal reader path: the input is a run's
 * journal.jsonl; sl_journal_read_start and sl_journal_read_tail read it, and
 * sl_mlflow_deliver ships it to a well-behaved MLflow server (canned answers
 * in place of src/track/http.c, see http_stub.h).
 *
 * Input: one byte (bit 0: which delivery), then the journal.
 *   0  a new run (nothing acknowledged yet)
 *   1  a run the server knows, whose last log-batch answer was lost: a
 *      pending window over the whole journal, so metric points are first
 *      checked against the server's history
 * Checks beyond "no crash": the start record is a "start"; the tail is the
 * journal's complete lines, from the start and from a third in; a journal
 * with a start record is delivered to its end (DONE, acked = its complete
 * lines), and for a new run the finish is sent when there is one (and no
 * reopen record after it: a continued run is RUNNING again) and every
 * param, tag and metric record with a key reaches the server once; every
 * log-batch request is JSON within MLflow's limits (batch.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fuzz_util.h"
#include "http_stub.h"
#include "track/deliver.h"
#include "track/journal.h"
#include "track/json.h"
#include "track/state.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RUN_ID "0a1b2c3d4e5f40718293a4b5c6d7e8f9"
#define RUN_INFO                                                                                   \
    "{\"run_id\":\"" RUN_ID "\",\"run_uuid\":\"" RUN_ID "\",\"experiment_id\":\"1\","              \
    "\"status\":\"RUNNING\",\"artifact_uri\":\"mlflow-artifacts:/1/" RUN_ID "/artifacts\"}"

/* MLflow's limits for one runs/log-batch request (as batch.c states them). */
#define MAX_METRICS 1000
#define MAX_PARAMS 100
#define MAX_TAGS 100
#define MAX_ENTITIES 1000
#define MAX_REQUEST (1024 * 1024)
#define MAX_PARAM_VALUE 6000
#define MAX_TAG_VALUE 8000

static char g_dir[512];
static long g_sent;        /* params, tags and metrics the server took */
static int g_journal_utf8; /* the journal's complete lines are valid UTF-8 */

/* A key MLflow accepts for a param, tag or metric (mlflow/utils/validation.py):
 * 1 to 250 characters among alphanumerics, _ - . space : /, and a path
 * that normalises to itself and does not start with / or .. (so no trailing
 * /, no //, no . or .. segment; "..." is refused too). Checked against
 * MLflow 3.17. */
static int mlflow_key_ok(const char *k) {
    const size_t n = strlen(k);
    if (n == 0 || n > 250 || k[0] == '/' || k[n - 1] == '/' || strstr(k, "//") ||
        !strncmp(k, "..", 2))
        return 0;
    for (size_t i = 0; i < n; i++) {
        const char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == ' ' || c == ':' || c == '/'))
            return 0;
    }
    for (const char *seg = k; seg;) {
        const char *slash = strchr(seg, '/');
        const size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.')) return 0;
        seg = slash ? slash + 1 : NULL;
    }
    return 1;
}

/* Every entry of list is one MLflow takes: a key it accepts, a value of at
 * most max_len bytes, and for a metric (max_len 0) a value at all. */
static int entries_ok(const cJSON *list, size_t max_len) {
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "key");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "value");
        if (!cJSON_IsString(k) || !mlflow_key_ok(k->valuestring)) return 0;
        if (max_len && cJSON_IsString(v) && strlen(v->valuestring) > max_len) return 0;
        if (!max_len && !v) return 0;
    }
    return 1;
}

static void check_log_batch(const char *body, size_t len) {
    FUZZ_CHECK(len < MAX_REQUEST, "log-batch of %zu bytes", len);
    /* MLflow decodes the body as UTF-8 and refuses the request otherwise. */
    FUZZ_CHECK(!g_journal_utf8 || fuzz_utf8_valid((const uint8_t *)body, len),
               "log-batch body is not UTF-8, the journal is");
    cJSON *req = cJSON_Parse(body);
    FUZZ_CHECK(req != NULL, "log-batch body is not JSON");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(req, "metrics");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(req, "params");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(req, "tags");
    int nm = cJSON_GetArraySize(m), np = cJSON_GetArraySize(p), nt = cJSON_GetArraySize(t);
    FUZZ_CHECK(nm <= MAX_METRICS && np <= MAX_PARAMS && nt <= MAX_TAGS &&
                   nm + np + nt <= MAX_ENTITIES && nm + np + nt > 0,
               "log-batch of %d metrics, %d params, %d tags", nm, np, nt);
    FUZZ_CHECK(entries_ok(p, MAX_PARAM_VALUE) && entries_ok(t, MAX_TAG_VALUE) && entries_ok(m, 0),
               "an entry MLflow refuses (key, value length, or a metric without a value)");
    FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "run_id")), "no run_id");
    g_sent += nm + np + nt;
    cJSON_Delete(req);
}

/* An upload names a file inside the run's artifacts/ folder: the engine
 * read it from run_dir/artifacts/<the same path>. */
static void check_upload(const char *path) {
    const char *p = path + strlen("/api/2.0/mlflow-artifacts/artifacts/");
    const size_t n = strlen(p);
    const int escapes = !strncmp(p, "../", 3) || strstr(p, "/../") ||
                        (n >= 3 && !strcmp(p + n - 3, "/..")) || !strcmp(p, "..");
    FUZZ_CHECK(!escapes, "an upload from outside artifacts/: %s", path);
}

static int is(const char *path, const char *api) {
    return strncmp(path, api, strlen(api)) == 0;
}

/* A server that accepts everything, with MLflow's answer shapes. */
/* A logged model's info as MLflow 3 answers it, status LOGGED_MODEL_<s>. */
#define MODEL_INFO(s)                                                                              \
    "{\"model_id\":\"m-fuzz\",\"experiment_id\":\"1\",\"name\":\"model\",\"artifact_uri\":"        \
    "\"mlflow-artifacts:/1/models/m-fuzz/artifacts\",\"status\":\"LOGGED_MODEL_" s "\"}"

static void canned_server(const char *method, const char *path, const char *body, size_t body_len,
                          struct fuzz_answer *out) {
    const char *a = NULL;
    if (is(path, "/api/2.0/mlflow/experiments/get-by-name"))
        a = "{\"experiment\":{\"experiment_id\":\"1\",\"name\":\"fuzz-exp\","
            "\"artifact_location\":\"mlflow-artifacts:/1\",\"lifecycle_stage\":\"active\"}}";
    else if (is(path, "/api/2.0/mlflow/experiments/create"))
        a = "{\"experiment_id\":\"1\"}";
    else if (is(path, "/api/2.0/mlflow/runs/search"))
        a = "{}";
    else if (is(path, "/api/2.0/mlflow/runs/create"))
        a = "{\"run\":{\"info\":" RUN_INFO ",\"data\":{}}}";
    else if (is(path, "/api/2.0/mlflow/runs/get"))
        a = "{\"run\":{\"info\":" RUN_INFO ",\"data\":{\"params\":[{\"key\":\"optimizer\","
            "\"value\":\"lbfgs\"},{\"key\":\"l2\",\"value\":\"0.0001\"}]}}}";
    else if (is(path, "/api/2.0/mlflow/runs/update"))
        a = "{\"run_info\":" RUN_INFO "}";
    else if (is(path, "/api/2.0/mlflow/runs/log-batch")) {
        check_log_batch(body, body_len);
        a = "{}";
    } else if (is(path, "/api/2.0/mlflow/metrics/get-history"))
        a = "{\"metrics\":[{\"key\":\"objective\",\"value\":0.67975284054865059,"
            "\"timestamp\":1795965337820,\"step\":1}]}";
    else if (is(path, "/api/2.0/mlflow-artifacts/artifacts/")) {
        check_upload(path);
        a = "{}";
    } else if (is(path, "/api/2.0/mlflow/runs/log-inputs"))
        a = "{}";
    else if (is(path, "/api/2.0/mlflow/logged-models/search"))
        a = "{\"models\":[]}";
    else if (is(path, "/api/2.0/mlflow/logged-models"))
        /* create (POST) and finalise (PATCH .../<id>) both answer the model */
        a = !strcmp(method, "PATCH") ? "{\"model\":{\"info\":" MODEL_INFO("READY") "}}"
                                     : "{\"model\":{\"info\":" MODEL_INFO("PENDING") "}}";
    else if (is(path, "/api/2.0/mlflow/registered-models/create"))
        a = "{\"registered_model\":{\"name\":\"fuzzmodel\"}}";
    else if (is(path, "/api/2.0/mlflow/model-versions/search"))
        a = "{\"model_versions\":[]}";
    else if (is(path, "/api/2.0/mlflow/model-versions/create"))
        a = "{\"model_version\":{\"name\":\"fuzzmodel\",\"version\":\"1\"}}";
    if (a)
        *out = (struct fuzz_answer){.status = 200, .body = a, .len = strlen(a)};
    else
        *out = (struct fuzz_answer){
            .status = 404, .body = "{\"error_code\":\"ENDPOINT_NOT_FOUND\"}", .len = 35};
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet_log();
    char path[1024];
    snprintf(g_dir, sizeof g_dir, "%s/run", fuzz_dir());
    const char *sub[] = {"", "/artifacts", "/artifacts/model"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", g_dir, sub[i]);
        FUZZ_CHECK(mkdir(path, 0700) == 0, "mkdir %s", path);
    }
    snprintf(path, sizeof path, "%s/artifacts/model/model.json", g_dir);
    fuzz_write_file(path, "{}\n", 3);
    fuzz_http_set_server(canned_server);
    return 0;
}

/* What delivery should do with the complete lines of a journal. */
struct expected {
    long entities; /* param, tag and metric records with a key: one log-batch entry each */
    int finish;    /* a finish record after the last reopen record */
};

static void expect(char *tail, size_t len, struct expected *e) {
    *e = (struct expected){0};
    for (size_t pos = 0; pos < len;) {
        char *nl = memchr(tail + pos, '\n', len - pos);
        *nl = '\0';
        cJSON *rec = cJSON_Parse(tail + pos);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(rec, "type");
        const char *t = cJSON_IsString(type) ? type->valuestring : "";
        const int has_key = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(rec, "key"));
        const int entity = !strcmp(t, "param") || !strcmp(t, "tag") || !strcmp(t, "metric");
        /* batch.c leaves out a record without a key and a metric without a
         * number or string value: MLflow would refuse the whole request. */
        const cJSON *v = cJSON_GetObjectItem(rec, "value");
        const int valued = strcmp(t, "metric") != 0 || cJSON_IsNumber(v) || cJSON_IsString(v);
        if (entity && has_key && valued) e->entities++;
        if (!strcmp(t, "finish")) e->finish = 1;
        if (!strcmp(t, "reopen")) e->finish = 0; /* a continued run is RUNNING again */
        cJSON_Delete(rec);
        *nl = '\n';
        pos = (size_t)(nl - tail) + 1;
    }
}

/* tail (len bytes) is what sl_journal_read_tail returned from offset: the
 * complete lines after it. */
static void check_tail_text(const uint8_t *data, size_t size, int64_t offset, const char *tail,
                            size_t len) {
    size_t rest = size - (size_t)offset;
    FUZZ_CHECK(len <= rest && memcmp(tail, data + offset, len) == 0 && tail[len] == '\0',
               "tail from %lld: %zu bytes of %zu", (long long)offset, len, rest);
    FUZZ_CHECK(len == 0 || tail[len - 1] == '\n', "tail ends inside a line");
    FUZZ_CHECK(!memchr(data + offset + len, '\n', rest - len), "a complete line left out");
}

static void check_tail(const uint8_t *data, size_t size, int64_t offset) {
    size_t len = 0;
    char *tail = sl_journal_read_tail(g_dir, offset, &len);
    FUZZ_CHECK(tail != NULL, "no tail from %lld", (long long)offset);
    check_tail_text(data, size, offset, tail, len);
    free(tail);
}

static enum sl_deliver deliver(struct sl_sync_state *st) {
    char path[1024], msg[512] = "";
    snprintf(path, sizeof path, "%s/" SL_STATE_FILE, g_dir);
    unlink(path);
    struct sl_mlflow_conn *conn = sl_mlflow_conn_create("http://127.0.0.1:5000");
    FUZZ_CHECK(conn != NULL, "conn");
    enum sl_deliver r = sl_mlflow_deliver(conn, g_dir, st, NULL, 0, msg, sizeof msg);
    sl_mlflow_conn_destroy(conn);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int known_run = data[0] & 1;
    data++, size--;
    char path[1024];
    snprintf(path, sizeof path, "%s/" SL_JOURNAL_FILE, g_dir);
    fuzz_write_file(path, data, size);

    cJSON *start = sl_journal_read_start(g_dir);
    const int has_start = start != NULL;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(start, "type");
    FUZZ_CHECK(!start || (cJSON_IsString(type) && !strcmp(type->valuestring, "start")),
               "a start record that is not one");
    cJSON_Delete(start);
    check_tail(data, size, (int64_t)size / 3);

    size_t len = 0;
    char *tail = sl_journal_read_tail(g_dir, 0, &len);
    FUZZ_CHECK(tail != NULL, "no tail");
    check_tail_text(data, size, 0, tail, len);
    struct expected e;
    expect(tail, len, &e);
    g_journal_utf8 = fuzz_utf8_valid((const uint8_t *)tail, len);
    free(tail);
    struct sl_sync_state st = {.pending_from = -1, .pending_to = -1};
    if (known_run)
        st = (struct sl_sync_state){.experiment_id = "1",
                                    .run_id = RUN_ID,
                                    .artifact_uri = "mlflow-artifacts:/1/" RUN_ID "/artifacts",
                                    .pending_from = 0,
                                    .pending_to = (int64_t)len};
    g_sent = 0;
    enum sl_deliver r = deliver(&st);
    if (!has_start) {
        FUZZ_CHECK(r == SL_DELIVER_REJECTED, "no start record, delivery %d", r);
        return 0;
    }
    FUZZ_CHECK(r == SL_DELIVER_DONE && (size_t)st.acked == len,
               "delivery %d, %lld of %zu bytes acked", r, (long long)st.acked, len);
    if (known_run) {
        FUZZ_CHECK(g_sent <= e.entities, "known run: %ld sent, %ld in the journal", g_sent,
                   e.entities);
        return 0;
    }
    FUZZ_CHECK(st.finished_sent == e.finish, "new run: finish sent %d, in the journal %d",
               st.finished_sent, e.finish);
    FUZZ_CHECK(g_sent == e.entities,
               "new run: %ld params, tags and metrics sent, %ld in the journal", g_sent,
               e.entities);
    return 0;
}
