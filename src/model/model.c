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

static const char *const LOSS_NAMES[] = {"logistic", "squared-hinge", "squared", "multinomial"};

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

void sl_model_init_multi(struct sl_model *m, int64_t n_features, int fit_intercept, int64_t K,
                         const double *classes) {
    memset(m, 0, sizeof *m);
    m->n_features = n_features;
    m->fit_intercept = fit_intercept;
    m->index_base = 1;
    m->loss = SL_LOSS_MULTINOMIAL;
    m->n_classes = K;
    m->weights = sl_calloc((size_t)(n_features > 0 ? n_features * K : 1), sizeof(double));
    m->intercepts = sl_calloc((size_t)K, sizeof(double));
    m->classes = sl_malloc(sizeof(double) * (size_t)K);
    memcpy(m->classes, classes, sizeof(double) * (size_t)K);
}

void sl_model_free(struct sl_model *m) {
    free(m->weights);
    free(m->intercepts);
    free(m->classes);
    if (m->hash) sl_hash_spec_free(m->hash);
    free(m->hash);
    memset(m, 0, sizeof *m);
}

/* Version 2: the multinomial model's classes, intercepts and (K, d) weights
 * as K arrays of d. */
static void write_multi(const struct sl_model *m, FILE *f) {
    const int64_t K = m->n_classes, d = m->n_features;
    fprintf(f, ", \"n_classes\": %lld, \"classes\": [", (long long)K);
    for (int64_t k = 0; k < K; k++)
        fprintf(f, "%s%.0f", k ? ", " : "", m->classes[k]);
    fputs("], \"intercepts\": [", f);
    for (int64_t k = 0; k < K; k++) {
        if (k) fputs(", ", f);
        sl_json_put_num(f, m->intercepts[k]);
    }
    fputs("], \"weights\": [", f);
    for (int64_t k = 0; k < K; k++) {
        fputs(k ? "],\n[" : "\n[", f);
        for (int64_t j = 0; j < d; j++) {
            if (j) fputs(j % 8 ? ", " : ",\n", f);
            sl_json_put_num(f, m->weights[k * d + j]);
        }
    }
    fputs("]]}\n", f);
}

void sl_model_write(const struct sl_model *m, FILE *f) {
    const int multi = m->loss == SL_LOSS_MULTINOMIAL;
    fprintf(f, "{\"format\": \"%s\", \"version\": %d, \"loss\": \"%s\", \"objective\": ",
            SL_MODEL_FORMAT, multi ? SL_MODEL_VERSION_MULTI : SL_MODEL_VERSION,
            sl_loss_name(m->loss));
    sl_json_put_num(f, m->objective);
    fprintf(f, ", \"n_features\": %lld, \"fit_intercept\": %s, \"intercept\": ",
            (long long)m->n_features, m->fit_intercept ? "true" : "false");
    sl_json_put_num(f, m->intercept);
    /* Written only when it is not the default, so 1-based model files stay
     * byte for byte what earlier versions wrote, and they read them. */
    if (m->index_base != 1) fprintf(f, ", \"index_base\": %d", m->index_base);
    if (m->negative_label != -1) fprintf(f, ", \"negative_label\": %d", m->negative_label);
    if (m->hash) sl_model_write_hash(f, m->hash); /* only for hashed columns, likewise */
    if (multi) {
        write_multi(m, f);
        return;
    }
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

/* n numbers of a JSON array into out: (n); -1 unless it is an array of n
 * finite numbers. */
static int read_numbers(const cJSON *a, int64_t n, double *out) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return -1;
    int64_t j = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a) {
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) return -1;
        out[j++] = it->valuedouble;
    }
    return 0;
}

/* The version 2 (multinomial) fields of a parsed file. */
static enum sl_status parse_multi(struct sl_model *m, const cJSON *root, const char *path,
                                  struct sl_err *err) {
    const cJSON *nf = cJSON_GetObjectItemCaseSensitive(root, "n_features");
    const cJSON *nk = cJSON_GetObjectItemCaseSensitive(root, "n_classes");
    const cJSON *fi = cJSON_GetObjectItemCaseSensitive(root, "fit_intercept");
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "classes");
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(root, "intercepts");
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(root, "weights");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, "objective");
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(root, "index_base");
    if (!cJSON_IsNumber(nf) || !(nf->valuedouble >= 0 && nf->valuedouble <= INT_MAX) ||
        !cJSON_IsNumber(nk) || !(nk->valuedouble >= 3 && nk->valuedouble <= 1e6) ||
        !cJSON_IsArray(ws) || cJSON_GetArraySize(ws) != (int)nk->valuedouble)
        return sl_err_set(err, SL_ERR_PARSE, "%s: malformed model (n_features/n_classes/weights)",
                          path);
    if (base && (!cJSON_IsNumber(base) || (base->valuedouble != 0 && base->valuedouble != 1)))
        return sl_err_set(err, SL_ERR_PARSE, "%s: index_base is not 0 or 1", path);
    const int64_t d = (int64_t)nf->valuedouble, K = (int64_t)nk->valuedouble;
    double *c = sl_malloc(sizeof(double) * (size_t)K);
    int bad = read_numbers(cls, K, c);
    for (int64_t k = 0; !bad && k < K; k++)
        bad = c[k] != floor(c[k]) || (k && c[k] <= c[k - 1]);
    sl_model_init_multi(m, d, fi ? cJSON_IsTrue(fi) : 1, K, c);
    free(c);
    if (bad) {
        sl_model_free(m);
        return sl_err_set(err, SL_ERR_PARSE, "%s: classes are not %lld increasing integers", path,
                          (long long)K);
    }
    if (read_numbers(bs, K, m->intercepts) != 0) {
        sl_model_free(m);
        return sl_err_set(err, SL_ERR_PARSE, "%s: intercepts are not %lld finite numbers", path,
                          (long long)K);
    }
    int64_t k = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, ws) {
        if (read_numbers(row, d, m->weights + k * d) != 0) {
            sl_model_free(m);
            return sl_err_set(err, SL_ERR_PARSE, "%s: weights[%lld] is not %lld finite numbers",
                              path, (long long)k, (long long)d);
        }
        k++;
    }
    m->index_base = base ? (int)base->valuedouble : 1;
    m->objective =
        cJSON_IsNumber(obj) && isfinite(obj->valuedouble) ? obj->valuedouble : (double)NAN;
    return SL_OK;
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
    else if (!cJSON_IsNumber(ver) ||
             (ver->valuedouble != SL_MODEL_VERSION && ver->valuedouble != SL_MODEL_VERSION_MULTI))
        st = sl_err_set(err, SL_ERR_PARSE, "%s: unsupported model version", path);
    else if (loss && (!cJSON_IsString(loss) || sl_loss_parse(loss->valuestring, &kind) != 0))
        st = sl_err_set(err, SL_ERR_PARSE, "%s: unsupported loss", path);
    else if ((kind == SL_LOSS_MULTINOMIAL) != (ver->valuedouble == SL_MODEL_VERSION_MULTI))
        st = sl_err_set(err, SL_ERR_PARSE, "%s: a %s model in a version %d file", path,
                        sl_loss_name(kind), ver->valueint);
    else if (kind == SL_LOSS_MULTINOMIAL) {
        st = parse_multi(m, root, path, err);
        if (st == SL_OK && hash && (st = sl_model_parse_hash(m, hash, path, err)))
            sl_model_free(m);
        cJSON_Delete(root);
        return st;
    }
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

/* Multinomial margins: (n_rows, K) <- W x_i + b, W: (K, d_model); the data's
 * columns beyond the model's d weigh 0. */
static void margins_multi(const struct sl_model *m, const struct sl_shard *s, double *margins) {
    const int64_t K = m->n_classes, d = s->n_features, dm = m->n_features;
    /* wt: (d, K), the kernels' layout */
    double *wt = sl_calloc((size_t)(d > 0 ? d * K : 1), sizeof(double));
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < d && j < dm; j++)
            wt[j * K + k] = m->weights[k * dm + j];
    sl_kernel_mn_margins(s, K, wt, m->intercepts, margins);
    free(wt);
}

void sl_softmax(const double *m, int64_t K, double *p) {
    double mx = m[0], z = 0.0;
    for (int64_t k = 1; k < K; k++)
        mx = m[k] > mx ? m[k] : mx;
    for (int64_t k = 0; k < K; k++) {
        p[k] = exp(m[k] - mx);
        z += p[k];
    }
    for (int64_t k = 0; k < K; k++)
        p[k] /= z;
}

void sl_model_margins(const struct sl_model *m, const struct sl_shard *s, double *margins) {
    if (m->loss == SL_LOSS_MULTINOMIAL) {
        margins_multi(m, s, margins);
        return;
    }
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
