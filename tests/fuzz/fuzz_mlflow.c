/* fuzz_mlflow.c - the MLflow response handling: sl_mlflow_deliver of a
 * fixed run journal, with every answer of the server taken from the input
 * (the http layer is http_stub.c).
 *
 * Input: one byte choosing the run, then the answers in the order the
 * requests are made, separated by "\n~~~\n". An answer is "NNN body":
 *   NNN  the HTTP status; 000 no connection, 001 a timeout (the request may
 *        have been applied), 002 a URL libcurl refuses
 *   "NNN*body" repeats the body to about 64 KiB; without a "NNN" prefix the
 *        whole chunk is the body of a 200.
 * When the answers run out the server stops answering (no connection).
 * The run (byte & 3):
 *   0  a new run in experiment "fuzz-exp": experiments/get-by-name (and
 *      create), runs/search, runs/create, log-batch, runs/log-inputs,
 *      log-batch, the artifact upload, logged-models/search (and create, the
 *      model's upload, its PATCH to READY), log-batch of the final metric
 *      with model_id, registered-models/create, model-versions/search and
 *      create, runs/update
 *   1  a resumed run (MLFLOW_RUN_ID): runs/get, runs/update, runs/get for its
 *      params, then as 0
 *   2  run 0 known from state.json, with a log-batch whose answer was lost:
 *      metrics/get-history per key before log-batch
 *   3  run 0 known, its artifact store not proxied (no upload)
 * Delivery is tried up to 4 times while it says RETRY, as the sender does,
 * each try going on with the next answers; a try that only waited for an
 * unanswered request to settle lets that time pass before the next.
 * Checks beyond "no crash": acked only grows, stays at a line boundary of
 * the journal, and reaches its end exactly when delivery says DONE, which
 * also means the finish record was sent; a pending window lies inside the
 * journal; a failure comes with a message. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "http_stub.h"
#include "track/deliver.h"
#include "track/state.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A run as shardlearn writes it (src/track/journal.c), shortened. */
static const char JOURNAL_NEW[] =
    "{\"type\":\"start\",\"run_uuid\":\"f5a7b010d804c430ba98d090f71c79b3\",\"start_time\":"
    "1795965337818,\"experiment_name\":\"fuzz-exp\",\"run_name\":\"seed\",\"seq\":1}\n"
    "{\"type\":\"tag\",\"key\":\"mlflow.runName\",\"value\":\"seed\",\"seq\":2}\n"
    "{\"type\":\"tag\",\"key\":\"shardlearn.run_uuid\",\"value\":"
    "\"f5a7b010d804c430ba98d090f71c79b3\",\"seq\":3}\n"
    "{\"type\":\"param\",\"key\":\"optimizer\",\"value\":\"lbfgs\",\"seq\":4}\n"
    "{\"type\":\"param\",\"key\":\"l2\",\"value\":\"0.0001\",\"seq\":5}\n"
    "{\"type\":\"input\",\"name\":\"train.svm\",\"digest\":\"0ac2126f-485618\",\"source_type\":"
    "\"local\",\"source\":\"{\\\"uri\\\":\\\"/data/train.svm\\\"}\",\"schema\":\"{\\\"format\\\":"
    "\\\"libsvm\\\",\\\"rows\\\":4000}\",\"profile\":\"{\\\"bytes\\\":485618}\",\"context\":"
    "\"training\",\"seq\":6}\n"
    "{\"type\":\"metric\",\"key\":\"objective\",\"value\":0.67975284054865059,\"step\":1,"
    "\"timestamp\":1795965337820,\"seq\":7}\n"
    "{\"type\":\"metric\",\"key\":\"accuracy\",\"value\":0.60850000000000004,\"step\":1,"
    "\"timestamp\":1795965337820,\"seq\":8}\n"
    "{\"type\":\"metric\",\"key\":\"objective\",\"value\":0.60057758177940057,\"step\":2,"
    "\"timestamp\":1795965337821,\"seq\":9}\n"
    "{\"type\":\"metric\",\"key\":\"grad_norm\",\"value\":\"NaN\",\"step\":2,"
    "\"timestamp\":1795965337821,\"seq\":10}\n"
    "{\"type\":\"artifact\",\"path\":\"model/model.json\",\"seq\":11}\n"
    "{\"type\":\"logged_model\",\"name\":\"model\",\"files\":[\"model/model.json\"],\"params\":"
    "{\"optimizer\":\"lbfgs\",\"l2\":\"0.0001\"},\"seq\":12}\n"
    "{\"type\":\"metric\",\"key\":\"final_objective\",\"value\":0.5,\"step\":0,"
    "\"timestamp\":1795965337822,\"model\":true,\"seq\":13}\n"
    "{\"type\":\"register\",\"name\":\"fuzzmodel\",\"artifact_path\":\"model\",\"seq\":14}\n"
    "{\"type\":\"finish\",\"status\":\"FINISHED\",\"end_time\":1795965337822,\"seq\":15}\n";

/* The same run resumed from MLFLOW_RUN_ID: no name, no experiment. */
static const char JOURNAL_RESUMED[] =
    "{\"type\":\"start\",\"run_uuid\":\"8c1f0e0b2a9d4c6e8f7a6b5c4d3e2f10\",\"start_time\":"
    "1795965400000,\"experiment_id\":\"0\",\"resume_run_id\":\"5d0c7a3e9b8f4e21a6c3b2d1e0f9a8b7\","
    "\"seq\":1}\n"
    "{\"type\":\"tag\",\"key\":\"shardlearn.run_uuid\",\"value\":"
    "\"8c1f0e0b2a9d4c6e8f7a6b5c4d3e2f10\",\"seq\":2}\n"
    "{\"type\":\"param\",\"key\":\"optimizer\",\"value\":\"newton\",\"seq\":3}\n"
    "{\"type\":\"param\",\"key\":\"l2\",\"value\":\"0.0001\",\"seq\":4}\n"
    "{\"type\":\"metric\",\"key\":\"objective\",\"value\":0.5,\"step\":3,\"timestamp\":"
    "1795965400100,\"seq\":5}\n"
    "{\"type\":\"finish\",\"status\":\"FINISHED\",\"end_time\":1795965400200,\"seq\":6}\n";

static const char MODEL[] = "{\"format\": \"shardlearn-model\", \"version\": 1, \"loss\": "
                            "\"logistic\", \"objective\": 0.5, \"n_features\": 2, "
                            "\"fit_intercept\": true, \"intercept\": 0.25, \"weights\": [1, -1]}\n";

static char g_new[512], g_resumed[512];

static void make_run(char *dir, size_t cap, const char *name, const char *journal) {
    char path[1024];
    snprintf(dir, cap, "%s/%s", fuzz_dir(), name);
    FUZZ_CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
    snprintf(path, sizeof path, "%s/artifacts", dir);
    FUZZ_CHECK(mkdir(path, 0700) == 0, "mkdir %s", path);
    snprintf(path, sizeof path, "%s/artifacts/model", dir);
    FUZZ_CHECK(mkdir(path, 0700) == 0, "mkdir %s", path);
    snprintf(path, sizeof path, "%s/artifacts/model/model.json", dir);
    fuzz_write_file(path, MODEL, sizeof MODEL - 1);
    snprintf(path, sizeof path, "%s/journal.jsonl", dir);
    fuzz_write_file(path, journal, strlen(journal));
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_quiet_log();
    make_run(g_new, sizeof g_new, "run-new", JOURNAL_NEW);
    make_run(g_resumed, sizeof g_resumed, "run-resumed", JOURNAL_RESUMED);
    return 0;
}

#define MAX_REQUESTS 64 /* no new delivery after this many requests in one input */

/* The journal offset is a line boundary of j. */
static int at_line_start(const char *j, size_t len, int64_t at) {
    return at == 0 || (at > 0 && (size_t)at <= len && j[at - 1] == '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int run = data[0] & 3;
    const char *dir = run == 1 ? g_resumed : g_new;
    const char *journal = run == 1 ? JOURNAL_RESUMED : JOURNAL_NEW;
    const size_t len = strlen(journal);
    char path[1024];
    snprintf(path, sizeof path, "%s/" SL_STATE_FILE, dir);
    unlink(path);
    struct sl_sync_state st = {.pending_from = -1, .pending_to = -1};
    if (run >= 2) {
        snprintf(st.experiment_id, sizeof st.experiment_id, "1");
        snprintf(st.run_id, sizeof st.run_id, "0a1b2c3d4e5f40718293a4b5c6d7e8f9");
        snprintf(st.artifact_uri, sizeof st.artifact_uri, "%s",
                 run == 2 ? "mlflow-artifacts:/1/0a1b2c3d4e5f40718293a4b5c6d7e8f9/artifacts"
                          : "file:///srv/mlruns/1/0a1b2c3d4e5f40718293a4b5c6d7e8f9/artifacts");
        if (run == 2) st.pending_from = 0, st.pending_to = (int64_t)len;
    }

    fuzz_http_script(data + 1, size - 1);
    struct sl_mlflow_conn *conn = sl_mlflow_conn_create("http://127.0.0.1:5000");
    FUZZ_CHECK(conn != NULL, "conn");
    fuzz_http_take_count();
    long requests = 0;
    for (int attempt = 0; attempt < 4 && requests < MAX_REQUESTS; attempt++) {
        char msg[512] = "";
        const int64_t before = st.acked;
        enum sl_deliver r = sl_mlflow_deliver(conn, dir, &st, NULL, 0, msg, sizeof msg);
        const long sent = fuzz_http_take_count();
        requests += sent;
        FUZZ_CHECK(st.acked >= before, "acked went back from %lld to %lld", (long long)before,
                   (long long)st.acked);
        FUZZ_CHECK(at_line_start(journal, len, st.acked), "acked %lld is not a line boundary",
                   (long long)st.acked);
        FUZZ_CHECK((r == SL_DELIVER_DONE) == ((size_t)st.acked == len),
                   "delivery %d with %lld of %zu bytes acked", r, (long long)st.acked, len);
        FUZZ_CHECK(r != SL_DELIVER_DONE || st.finished_sent, "done, but the finish was not sent");
        FUZZ_CHECK((st.pending_from == -1 && st.pending_to == -1) ||
                       (st.pending_from >= 0 && st.pending_from <= st.pending_to &&
                        (size_t)st.pending_to <= len),
                   "pending [%lld, %lld)", (long long)st.pending_from, (long long)st.pending_to);
        if (r != SL_DELIVER_DONE) FUZZ_CHECK(msg[0] != '\0', "delivery %d without a message", r);
        if (r != SL_DELIVER_RETRY) break;
        /* A try that waited for an unanswered request to settle: let the
         * time pass, as the sender's backoff would. */
        if (sent == 0 && st.unsettled_until_ms > 0) st.unsettled_until_ms = 1;
    }
    sl_mlflow_conn_destroy(conn);
    fuzz_http_set_server(NULL);
    return 0;
}
