/* model.c - model files (JSON via cJSON on load, printf on save), margins
 * and probabilities. */
#include "shardlearn/model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fault.h"
#include "io/io.h"
#include "model/kernels.h"
#include "model/loss.h"
#include "model/model_hash.h"
#include "model/model_sparse.h"
#include "shardlearn/fileio.h"

static const char *const LOSS_NAMES[] = {"logistic", "squared-hinge", "squared"};

const char *sl_loss_name(enum sl_loss l) {
    return (unsigned)l < sizeof LOSS_NAMES / sizeof *LOSS_NAMES ? LOSS_NAMES[l] : "?";
}

int sl_loss_parse(const char *name, enum sl_loss *out) {
    for (unsigned k = 0; k < sizeof LOSS_NAMES / sizeof *LOSS_NAMES; k++)
        if (strcmp(name, LOSS_NAMES[k]) == 0) {
            *out = (enum sl_loss)k;
            return 0;
        }
    return -1;
}

void sl_model_init(struct sl_model *m, int64_t n_features, int fit_intercept) {
    memset(m, 0, sizeof *m);
    m->n_features = n_features;
    m->fit_intercept = fit_intercept;
    m->index_base = 1;
    m->negative_label = -1;
    m->weights = sl_calloc((size_t)(n_features ? n_features : 1), sizeof(double));
}

void sl_model_free(struct sl_model *m) {
    free(m->weights);
    if (m->hash) sl_hash_spec_free(m->hash);
    free(m->hash);
    memset(m, 0, sizeof *m);
}

void sl_model_write(const struct sl_model *m, FILE *f) {
    fprintf(f, "{\"format\": \"%s\", \"version\": %d, \"loss\": \"%s\", \"objective\": ",
            SL_MODEL_FORMAT, SL_MODEL_VERSION, sl_loss_name(m->loss));
    sl_json_put_num(f, m->objective);
    fprintf(f, ", \"n_features\": %lld, \"fit_intercept\": %s, \"intercept\": ",
            (long long)m->n_features, m->fit_intercept ? "true" : "false");
    sl_json_put_num(f, m->intercept);
    /* Written only when it is not the default, so 1-based model files stay
     * byte for byte what earlier versions wrote, and they read them. */
    if (m->index_base != 1) fprintf(f, ", \"index_base\": %d", m->index_base);
    if (m->negative_label != -1) fprintf(f, ", \"negative_label\": %d", m->negative_label);
    if (m->hash) sl_model_write_hash(f, m->hash); /* only for hashed columns, likewise */
    sl_model_write_weights(f, m); /* dense, or sparse when shorter */
    fputs("}\n", f);
}

enum sl_status sl_model_save(const struct sl_model *m, const char *path, struct sl_err *err) {
    struct sl_atomic_file af;
    enum sl_status st = sl_atomic_open(&af, path, err);
    if (st) return st;
    sl_model_write(m, af.f);
    return sl_atomic_commit(&af, err);
}

/* A model at a gs:// or http(s):// URL (written by --model-out gs://...):
 * the whole object, NUL-terminated, into *text (caller frees). */
static enum sl_status read_remote(const char *path, char **text, struct sl_err *err) {
    struct sl_io_list l;
    enum sl_status st = sl_io_list_make(&l, path, err);
    if (st) return st;
    if (l.n != 1 || strcmp(l.obj[0].name, path) != 0) {
        sl_io_list_free(&l);
        return sl_err_set(err, SL_ERR_IO, "%s: no such model object", path);
    }
    struct sl_io_stream *s = NULL;
    size_t n = (size_t)l.obj[0].size, have = 0, got = 0;
    char *buf = sl_malloc(n + 1);
    st = sl_io_open_range(&s, &l.obj[0], 0, l.obj[0].size, err);
    while (!st && have < n && !(st = sl_io_read(s, buf + have, n - have, &got, err)) && got > 0)
        have += got;
    if (s) sl_io_close(s);
    sl_io_list_free(&l);
    if (!st && have != n) st = sl_err_set(err, SL_ERR_IO, "%s: the object ended early", path);
    if (st) {
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *text = buf;
    return SL_OK;
}

enum sl_status sl_model_load(struct sl_model *m, const char *path, struct sl_err *err) {
    enum sl_status st;
    memset(m, 0, sizeof *m);
    if (sl_fault("model.load")) return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(EIO));
    char *text = NULL;
    if (sl_io_is_remote(path)) {
        if ((st = read_remote(path, &text, err))) return st;
    } else if (!(text = sl_read_file(path, NULL))) {
        return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
    }
    st = sl_model_parse(m, text, path, err);
    free(text);
    return st;
}

enum sl_status sl_model_parse(struct sl_model *m, const char *text, const char *path,
                              struct sl_err *err) {
    enum sl_status st;
    memset(m, 0, sizeof *m);
    cJSON *root = cJSON_Parse(text);
    if (!root) return sl_err_set(err, SL_ERR_PARSE, "%s: not a JSON model file", path);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *nf = cJSON_GetObjectItemCaseSensitive(root, "n_features");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "intercept");
    const cJSON *fi = cJSON_GetObjectItemCaseSensitive(root, "fit_intercept");
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(root, "weights");
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(root, "loss");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, "objective");
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(root, "index_base");
    const cJSON *neg = cJSON_GetObjectItemCaseSensitive(root, "negative_label");
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(root, "hashing");
    /* Exactly one of the two forms of the weights (model_sparse.h). */
    const cJSON *sparse = cJSON_GetObjectItemCaseSensitive(root, "weights_sparse");
    enum sl_loss kind = SL_LOSS_LOGISTIC;
    st = SL_OK;
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, SL_MODEL_FORMAT) != 0)
        st = sl_err_set(err, SL_ERR_PARSE, "%s: not a shardlearn model (format)", path);
    else if (!cJSON_IsNumber(ver) || ver->valueint != SL_MODEL_VERSION)
        st = sl_err_set(err, SL_ERR_PARSE, "%s: unsupported model version", path);
    else if (loss && (!cJSON_IsString(loss) || sl_loss_parse(loss->valuestring, &kind) != 0))
        st = sl_err_set(err, SL_ERR_PARSE, "%s: unsupported loss", path);
    /* n_features is checked to be in int's range before the cast (a cast of
     * a double outside it is undefined); numbers that overflow (1e999) parse
     * as infinities, which no model holds. */
    else if (!cJSON_IsNumber(nf) || !(nf->valuedouble >= 0 && nf->valuedouble <= INT_MAX) ||
             !cJSON_IsNumber(b) || !isfinite(b->valuedouble) || (ws && sparse) ||
             (sparse ? !cJSON_IsObject(sparse)
                     : !cJSON_IsArray(ws) || cJSON_GetArraySize(ws) != (int)nf->valuedouble))
        st = sl_err_set(err, SL_ERR_PARSE, "%s: malformed model (n_features/intercept/weights)",
                        path);
    else if (base && (!cJSON_IsNumber(base) || (base->valuedouble != 0 && base->valuedouble != 1)))
        st = sl_err_set(err, SL_ERR_PARSE, "%s: index_base is not 0 or 1", path);
    else if (neg && (!cJSON_IsNumber(neg) || (neg->valuedouble != 0 && neg->valuedouble != -1)))
        st = sl_err_set(err, SL_ERR_PARSE, "%s: negative_label is not 0 or -1", path);
    if (st == SL_OK) {
        sl_model_init(m, (int64_t)nf->valuedouble, fi ? cJSON_IsTrue(fi) : 1);
        m->intercept = b->valuedouble;
        m->loss = kind;
        m->index_base = base ? (int)base->valuedouble : 1;
        m->negative_label = neg ? (int)neg->valuedouble : -1;
        m->objective =
            cJSON_IsNumber(obj) && isfinite(obj->valuedouble) ? obj->valuedouble : (double)NAN;
        if (sparse) {
            st = sl_model_parse_sparse(m, sparse, path, err);
            if (st) sl_model_free(m);
        } else {
            int64_t j = 0;
            const cJSON *it;
            cJSON_ArrayForEach(it, ws) {
                if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) {
                    st = sl_err_set(err, SL_ERR_PARSE, "%s: weight %lld is not a finite number",
                                    path, (long long)j);
                    sl_model_free(m);
                    break;
                }
                m->weights[j++] = it->valuedouble;
            }
        }
    }
    if (st == SL_OK && hash) {
        st = sl_model_parse_hash(m, hash, path, err);
        if (st) sl_model_free(m);
    }
    cJSON_Delete(root);
    return st;
}

void sl_model_margins(const struct sl_model *m, const struct sl_shard *s, double *margins) {
    if (s->n_features <= m->n_features) {
        sl_kernel_margins(s, m->weights, m->intercept, margins);
        return;
    }
    /* The data has columns the model never saw: they weigh 0. */
    double *w = sl_calloc((size_t)s->n_features, sizeof(double));
    memcpy(w, m->weights, sizeof(double) * (size_t)m->n_features);
    sl_kernel_margins(s, w, m->intercept, margins);
    free(w);
}

double sl_model_probability(const struct sl_model *m, double margin) {
    (void)m; /* logistic: the only loss so far */
    return sl_sigmoid(margin);
}
