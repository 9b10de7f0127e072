/* fuzz_serve.c - prediction request bodies: sl_serve_score (src/serve/
 * request.c) on every envelope of both protocols, JSON and CSV.
 *
 * Input: an option byte, then the body. The option byte:
 *   bit 0     protocol: 0 Vertex AI (instances), 1 MLflow (/invocations)
 *   bits 1-2  Content-Type: none, application/json, text/csv, text/plain
 *   bit 3     the model's index_base (1 or 0)
 *   bits 4-5  the model's width: 1, 3, 4 or 2000 features
 *   bit 6     instead, a model of hashed columns (the criteo preset, 2^4 + 13
 *             features): objects, dataframe rows and CSV lines are raw records
 *   bit 7     a multinomial model of 3 classes (-2, 1, 4) of that width (with
 *             bit 6: of those hashed columns)
 * Checks beyond "no crash": the status is 200, 400 or 415 (415 exactly for
 * text/plain); the answer is JSON; a 200 is {"predictions": [...]} with one
 * entry per instance counted, each a probability in [0, 1], a label 1 or
 * -1, or {"label", "probability"} agreeing with each other (multinomial:
 * 3 probabilities summing to 1, a class, or {"label", "probabilities"} with
 * the label's probability the largest); any other
 * status is {"error_code", "message"} with a non-empty message. And the
 * fast path (src/serve/fast.c) changes nothing: the answer is the general
 * path's, byte for byte. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "serve/request.h"

FUZZ_QUIET_INITIALIZE

static const double CLASSES[3] = {-2, 1, 4};

/* A multinomial answer's probabilities: K in [0, 1] summing to 1; returns
 * the largest. */
static double check_probabilities(const cJSON *a) {
    FUZZ_CHECK(cJSON_IsArray(a) && cJSON_GetArraySize(a) == 3, "not 3 probabilities");
    double sum = 0, max = 0;
    const cJSON *q;
    cJSON_ArrayForEach(q, a) {
        FUZZ_CHECK(cJSON_IsNumber(q) && q->valuedouble >= 0 && q->valuedouble <= 1,
                   "probability %.17g", q->valuedouble);
        sum += q->valuedouble;
        max = q->valuedouble > max ? q->valuedouble : max;
    }
    FUZZ_CHECK(fabs(sum - 1) <= 1e-12, "probabilities sum to %.17g", sum);
    return max;
}

static int class_index(const cJSON *l) {
    for (int k = 0; k < 3; k++)
        if (cJSON_IsNumber(l) && l->valuedouble == CLASSES[k]) return k;
    return -1;
}

static void check_prediction_multi(const cJSON *p) {
    if (cJSON_IsNumber(p)) {
        FUZZ_CHECK(class_index(p) >= 0, "label %.17g is not a class", p->valuedouble);
        return;
    }
    if (cJSON_IsArray(p)) {
        check_probabilities(p);
        return;
    }
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(p, "label");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(p, "probabilities");
    FUZZ_CHECK(cJSON_IsObject(p) && cJSON_GetArraySize(p) == 2, "prediction shape");
    int k = class_index(l);
    FUZZ_CHECK(k >= 0, "label is not a class");
    double max = check_probabilities(q);
    FUZZ_CHECK(cJSON_GetArrayItem(q, k)->valuedouble == max, "label %g is not the likeliest",
               l->valuedouble);
}

static void check_prediction(const cJSON *p) {
    if (cJSON_IsNumber(p)) {
        double x = p->valuedouble;
        FUZZ_CHECK((x >= 0 && x <= 1) || x == -1, "prediction %.17g", x);
        return;
    }
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(p, "label");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(p, "probability");
    FUZZ_CHECK(cJSON_IsNumber(l) && cJSON_IsNumber(q), "prediction is neither a number nor both");
    FUZZ_CHECK(q->valuedouble >= 0 && q->valuedouble <= 1, "probability %.17g", q->valuedouble);
    /* The label is the margin's sign: 1 exactly when P > 1/2 (P = 1/2 at margin 0 is -1). */
    FUZZ_CHECK(l->valuedouble == 1 ? q->valuedouble >= 0.5 : q->valuedouble <= 0.5,
               "label %g with probability %.17g", l->valuedouble, q->valuedouble);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int opt = data[0];
    static const char *const types[] = {NULL, "application/json", "text/csv", "text/plain"};
    static const int64_t widths[] = {1, 3, 4, 2000};
    const char *type = types[(opt >> 1) & 3];
    struct sl_model m;
    struct sl_hash_spec criteo;
    sl_hash_spec_criteo(&criteo, 4);
    const int64_t d = (opt >> 6) & 1 ? sl_hash_n_features(&criteo) : widths[(opt >> 4) & 3];
    const int multi = (opt >> 7) & 1;
    if (multi)
        sl_model_init_multi(&m, d, 1, 3, CLASSES);
    else
        sl_model_init(&m, d, 1);
    if ((opt >> 6) & 1) {
        m.hash = malloc(sizeof *m.hash);
        FUZZ_CHECK(m.hash != NULL, "out of memory");
        *m.hash = criteo; /* the model owns it from here */
    } else {
        sl_hash_spec_free(&criteo);
    }
    m.index_base = (opt >> 3) & 1 ? 0 : 1;
    m.intercept = 0.25;
    if (multi) { /* the classes' weights differ in sign and size */
        m.loss = SL_LOSS_MULTINOMIAL;
        for (int64_t k = 0; k < 3; k++) {
            m.intercepts[k] = 0.25 - 0.375 * (double)k;
            for (int64_t j = 0; j < d; j++)
                m.weights[k * d + j] = ((j + k) % 2 ? -1.0 : 1.0) * (double)(j + 1 + 2 * k) / 8;
        }
    } else {
        for (int64_t j = 0; j < m.n_features; j++)
            m.weights[j] = (j % 2 ? -1.0 : 1.0) * (double)(j + 1) / 8;
    }
    struct sl_serve_answer a;
    sl_serve_score(&m, opt & 1 ? SL_PROTO_MLFLOW : SL_PROTO_VERTEX, type, (const char *)data + 1,
                   size - 1, &a);
    FUZZ_CHECK(a.body && a.len == strlen(a.body), "answer body");
    struct sl_serve_answer g;
    sl_serve_score_ex(&m, opt & 1 ? SL_PROTO_MLFLOW : SL_PROTO_VERTEX, type,
                      (const char *)data + 1, size - 1, 0, &g);
    FUZZ_CHECK(g.status == a.status && g.len == a.len && memcmp(g.body, a.body, a.len) == 0 &&
                   g.n_instances == a.n_instances,
               "the fast path answered %d %.200s, the general path %d %.200s", a.status, a.body,
               g.status, g.body);
    free(g.body);
    FUZZ_CHECK(a.status == 200 || a.status == 400 || a.status == 415, "status %d", a.status);
    FUZZ_CHECK((a.status == 415) == (((opt >> 1) & 3) == 3), "status %d for type %s", a.status,
               type ? type : "(none)");
    cJSON *root = cJSON_Parse(a.body);
    FUZZ_CHECK(root != NULL, "the answer is not JSON: %.200s", a.body);
    if (a.status == 200) {
        const cJSON *preds = cJSON_GetObjectItemCaseSensitive(root, "predictions");
        FUZZ_CHECK(cJSON_IsArray(preds) && cJSON_GetArraySize(preds) == a.n_instances,
                   "%d predictions for %lld instances", cJSON_GetArraySize(preds),
                   (long long)a.n_instances);
        const cJSON *p;
        cJSON_ArrayForEach(p, preds) {
            if (multi)
                check_prediction_multi(p);
            else
                check_prediction(p);
        }
    } else {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, "message");
        FUZZ_CHECK(cJSON_IsString(msg) && msg->valuestring[0] != '\0' && a.n_instances == 0,
                   "error without a message");
        FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "error_code")),
                   "error without a code");
    }
    cJSON_Delete(root);
    free(a.body);
    sl_model_free(&m);
    return 0;
}
