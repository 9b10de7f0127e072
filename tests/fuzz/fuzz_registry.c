/* fuzz_registry.c - the answers `shardlearn gate` reads from an MLflow
 * server (src/track/registry.c: runs/get, model-versions/get, the alias
 * lookups, and the promotion calls), every answer taken from the input
 * (the http layer is http_stub.c).
 *
 * Input: one byte choosing the call, then the answers in the order the
 * requests are made, separated by "\n~~~\n", each "NNN body" as in
 * fuzz_mlflow.c (000 no connection, 001 a timeout, 002 a bad URL; without a
 * "NNN" prefix the chunk is the body of a 200). The call (byte & 7):
 *   0  sl_mlflow_metrics of runs:/RUN          2  of models:/m@champion
 *   1  sl_mlflow_metrics of models:/m/3        3  sl_mlflow_alias_exists, then
 *                                                 sl_mlflow_promote of RUN
 *   4  sl_mlflow_model_file (serve) of models:/m@champion, 5 of runs:/RUN,
 *   6  of models:/m@champion when version 3 is served, 7 of runs:/RUN/dir
 * Checks beyond "no crash": a failure has a message and is SL_ERR_IO (the
 * server refused, or answered nonsense) or SL_ERR_NET, and leaves no
 * metrics; metrics read have non-empty keys, each once, and a run id; a
 * model version read names its model and version; a promotion names the
 * version; a model file fetched comes with its run (and for models:/ its
 * model and version), and only a refresh that finds version 3 again fetches
 * nothing. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "http_stub.h"
#include "shardlearn/runs.h"

FUZZ_QUIET_INITIALIZE

static void check_failure(enum sl_status st, const struct sl_err *err) {
    FUZZ_CHECK((st == SL_ERR_IO || st == SL_ERR_NET) && err->msg[0] != '\0',
               "status %d, message '%s'", st, err->msg);
}

static void check_metrics(const char *source, int model) {
    struct sl_mlflow *m = NULL;
    struct sl_err err;
    sl_err_clear(&err);
    FUZZ_CHECK(sl_mlflow_create(&m, "http://127.0.0.1:5000", 1e9, &err) == SL_OK, "create");
    struct sl_metric_set s;
    enum sl_status st = sl_mlflow_metrics(m, source, &s, &err);
    if (st) {
        check_failure(st, &err);
        FUZZ_CHECK(s.n == 0 && s.keys == NULL, "a failure kept %zu metrics", s.n);
    } else {
        FUZZ_CHECK(s.run_id[0] != '\0', "no run id");
        FUZZ_CHECK(!model || (strcmp(s.model, "m") == 0 && s.version[0] != '\0'),
                   "model '%s' version '%s'", s.model, s.version);
        for (size_t i = 0; i < s.n; i++)
            FUZZ_CHECK(s.keys[i][0] != '\0' && sl_metric_set_find(&s, s.keys[i]) == &s.values[i],
                       "key '%s'", s.keys[i]);
        sl_metric_set_free(&s);
    }
    sl_mlflow_destroy(m);
}

static void check_promote(void) {
    struct sl_mlflow *m = NULL;
    struct sl_err err;
    sl_err_clear(&err);
    FUZZ_CHECK(sl_mlflow_create(&m, "http://127.0.0.1:5000", 1e9, &err) == SL_OK, "create");
    int exists = -1;
    enum sl_status st = sl_mlflow_alias_exists(m, "m", "champion", &exists, &err);
    if (st) {
        check_failure(st, &err);
    } else {
        FUZZ_CHECK(exists == 0 || exists == 1, "exists %d", exists);
        char version[32] = "unset";
        int created = -1;
        st =
            sl_mlflow_promote(m, "0a1b2c3d4e5f40718293a4b5c6d7e8f9", "m", "champion",
                              "shardlearn.gate", "passed", version, sizeof version, &created, &err);
        if (st)
            check_failure(st, &err);
        else
            FUZZ_CHECK(version[0] != '\0' && (created == 0 || created == 1),
                       "promoted to version '%s' (created %d)", version, created);
    }
    sl_mlflow_destroy(m);
}

static void check_model_file(const char *source, const char *have_version) {
    struct sl_mlflow *m = NULL;
    struct sl_err err;
    sl_err_clear(&err);
    FUZZ_CHECK(sl_mlflow_create(&m, "http://127.0.0.1:5000", 1e9, &err) == SL_OK, "create");
    struct sl_model_ref ref;
    char *text = NULL;
    enum sl_status st = sl_mlflow_model_file(m, source, have_version, &ref, &text, &err);
    if (st) {
        check_failure(st, &err);
        FUZZ_CHECK(text == NULL, "a failure kept the text");
    } else {
        int model = strncmp(source, "models:/", 8) == 0;
        FUZZ_CHECK(ref.run_id[0] != '\0' && !strchr(ref.run_id, '/'), "run id '%s'", ref.run_id);
        FUZZ_CHECK(!model || (strcmp(ref.name, "m") == 0 && ref.version[0] != '\0'),
                   "model '%s' version '%s'", ref.name, ref.version);
        int same = have_version && strcmp(ref.version, have_version) == 0;
        FUZZ_CHECK(same == (text == NULL), "version '%s' (serving '%s') but text %s", ref.version,
                   have_version ? have_version : "", text ? "fetched" : "not fetched");
        free(text);
    }
    sl_mlflow_destroy(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int call = data[0] & 7;
    fuzz_http_script(data + 1, size - 1);
    if (call == 0) check_metrics("runs:/0a1b2c3d4e5f40718293a4b5c6d7e8f9", 0);
    if (call == 1) check_metrics("models:/m/3", 1);
    if (call == 2) check_metrics("models:/m@champion", 1);
    if (call == 3) check_promote();
    if (call == 4) check_model_file("models:/m@champion", NULL);
    if (call == 5) check_model_file("runs:/0a1b2c3d4e5f40718293a4b5c6d7e8f9", NULL);
    if (call == 6) check_model_file("models:/m@champion", "3");
    if (call == 7) check_model_file("runs:/0a1b2c3d4e5f40718293a4b5c6d7e8f9/dir", NULL);
    fuzz_http_set_server(NULL);
    return 0;
}
