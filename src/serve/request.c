/* request.c - prediction requests: the instance forms (dense array, sparse
 * {"indices", "values"}, LIBSVM string), the envelopes of both protocols,
 * CSV, and the answer written as it is scored (README: Serving predictions). */
#include "serve/request.h"
#include "serve/g17.h"
#include "serve/raw.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum output { OUT_PROBABILITY, OUT_LABEL, OUT_BOTH };

/* One request being scored: the answer grows in out as instances are met. */
struct scorer {
    const struct sl_model *m;
    int64_t K;  /* the classes of a multinomial model, 0 for a binary one */
    double *mk; /* (2 K) an instance's K margins being summed, then its probabilities */
    enum output output;
    FILE *out; /* open_memstream over text */
    char *text;
    size_t len;
    int64_t n;
    char msg[512]; /* the first error; "" while none */
};

static int fail(struct scorer *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct scorer *sc, const char *fmt, ...) {
    if (sc->msg[0]) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sc->msg, sizeof sc->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* Appends the prediction for margin: the probability as shardlearn predict
 * --proba writes it (%.17g), the label as the sign: 1, or the training
 * file's negative label (-1, or 0 when it wrote 0/1). A margin of
 * +-inf (values near DBL_MAX) is a probability of 1 or 0; a NaN one (inf
 * - inf) has no answer. */
static int emit(struct scorer *sc, double margin) {
    if (isnan(margin))
        return fail(sc, "instance %lld: the values are too large to score (the margin overflows)",
                    (long long)sc->n);
    double p = sl_model_probability(sc->m, margin);
    const char *label = margin > 0 ? "1" : sc->m->negative_label == 0 ? "0" : "-1";
    char num[SL_G17_MAX]; /* p as %.17g writes it, without printf's cost */
    size_t len = sl_g17(p, num);
    if (sc->n) fputs(", ", sc->out);
    if (sc->output == OUT_PROBABILITY)
        fwrite(num, 1, len, sc->out);
    else if (sc->output == OUT_LABEL)
        fputs(label, sc->out);
    else
        fprintf(sc->out, "{\"label\": %s, \"probability\": %s}", label, num);
    sc->n++;
    return 0;
}

/* A multinomial model's answer for one instance's margins mk: (K): its K
 * class probabilities (sl_softmax, what shardlearn predict --proba prints,
 * in the order of the model's classes), its class (the largest margin, ties
 * to the first, as predict) or both. A margin that overflowed has no
 * softmax: refused, where the binary answer is a probability of 0 or 1. */
static int emit_multi(struct scorer *sc, const double *mk) {
    const int64_t K = sc->K;
    int64_t best = 0;
    for (int64_t k = 0; k < K; k++) {
        if (!isfinite(mk[k]))
            return fail(sc,
                        "instance %lld: the values are too large to score (class %.0f's "
                        "margin overflows)",
                        (long long)sc->n, sc->m->classes[k]);
        if (mk[k] > mk[best]) best = k;
    }
    double *p = sc->mk + K;
    if (sc->n) fputs(", ", sc->out);
    if (sc->output != OUT_LABEL) sl_softmax(mk, K, p);
    if (sc->output == OUT_LABEL) {
        fprintf(sc->out, "%.0f", sc->m->classes[best]);
    } else {
        if (sc->output == OUT_BOTH)
            fprintf(sc->out, "{\"label\": %.0f, \"probabilities\": ", sc->m->classes[best]);
        char num[SL_G17_MAX];
        for (int64_t k = 0; k < K; k++) {
            fputs(k ? ", " : "[", sc->out);
            fwrite(num, 1, sl_g17(p[k], num), sc->out);
        }
        fputs(sc->output == OUT_BOTH ? "]}" : "]", sc->out);
    }
    sc->n++;
    return 0;
}

/* An instance's margins are summed through these three: acc (binary:
 * w.x + b, from b) or sc->mk (multinomial: class k's W_k.x from 0, then
 * b_k, as shardlearn predict sums a CSR row). */
static double begin(struct scorer *sc) {
    if (sc->K) memset(sc->mk, 0, sizeof(double) * (size_t)sc->K);
    return sc->m->intercept;
}

static void add(struct scorer *sc, double *acc, int64_t j, double x) {
    if (!sc->K) {
        *acc += sc->m->weights[j] * x;
        return;
    }
    const double *w = sc->m->weights + j; /* (K, d): class k's weight of j at k d */
    const int64_t d = sc->m->n_features;
    for (int64_t k = 0; k < sc->K; k++)
        sc->mk[k] += w[k * d] * x;
}

static int finish(struct scorer *sc, double acc) {
    if (!sc->K) return emit(sc, acc);
    for (int64_t k = 0; k < sc->K; k++)
        sc->mk[k] += sc->m->intercepts[k];
    return emit_multi(sc, sc->mk);
}

static int number(struct scorer *sc, const cJSON *v, double *x, int64_t row, int64_t col) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return fail(sc, "instance %lld: value %lld is not a finite number", (long long)row,
                    (long long)col);
    *x = v->valuedouble;
    return 0;
}

/* [x_0, ..., x_{d-1}]: exactly the model's width. */
static int dense(struct scorer *sc, const cJSON *arr, int64_t row) {
    const struct sl_model *m = sc->m;
    int64_t d = cJSON_GetArraySize(arr);
    if (d != m->n_features)
        return fail(sc, "instance %lld: %lld values for a model of %lld features", (long long)row,
                    (long long)d, (long long)m->n_features);
    double acc = begin(sc), x = 0;
    int64_t j = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        if (number(sc, v, &x, row, j)) return -1;
        add(sc, &acc, j++, x);
    }
    return finish(sc, acc);
}

/* Adds w_j x for feature j (0-based), in the order given, as the training
 * reader's rows are summed: strictly increasing indices; one the model
 * never saw weighs 0, as in shardlearn predict. Messages show j + base, the
 * index as the client wrote it. */
static int add_feature(struct scorer *sc, double *acc, int64_t j, int64_t *prev, double x,
                       int64_t row, int base) {
    if (j < 0 || j > INT32_MAX)
        return fail(sc, "instance %lld: feature index %lld is out of range", (long long)row,
                    (long long)(j + base));
    if (j <= *prev)
        return fail(sc, "instance %lld: feature index %lld does not increase (after %lld)",
                    (long long)row, (long long)(j + base), (long long)(*prev + base));
    *prev = j;
    if (j < sc->m->n_features) add(sc, acc, j, x);
    return 0;
}

/* {"indices": [j...], "values": [x...]}, 0-based. */
static int sparse(struct scorer *sc, const cJSON *obj, int64_t row) {
    const cJSON *ix = cJSON_GetObjectItemCaseSensitive(obj, "indices");
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(obj, "values");
    if (!cJSON_IsArray(ix) || !cJSON_IsArray(vs))
        return fail(sc,
                    "instance %lld: a sparse instance is {\"indices\": [...], \"values\": [...]}",
                    (long long)row);
    if (cJSON_GetArraySize(ix) != cJSON_GetArraySize(vs))
        return fail(sc, "instance %lld: %d indices but %d values", (long long)row,
                    cJSON_GetArraySize(ix), cJSON_GetArraySize(vs));
    double acc = begin(sc), x = 0;
    int64_t prev = -1, k = 0;
    const cJSON *i = ix->child, *v = vs->child;
    for (; i && v; i = i->next, v = v->next, k++) {
        double jd = cJSON_IsNumber(i) ? i->valuedouble : -1;
        if (!(jd >= 0 && jd <= INT32_MAX && jd == floor(jd)))
            return fail(sc, "instance %lld: index %lld is not a feature number from 0",
                        (long long)row, (long long)k);
        if (number(sc, v, &x, row, k) || add_feature(sc, &acc, (int64_t)jd, &prev, x, row, 0))
            return -1;
    }
    return finish(sc, acc);
}

/* "3:0.5 17:1", in the training file's numbering (m->index_base); a first
 * token that is a number is a label and is skipped, and so is qid:N, so a
 * line of a LIBSVM file scores as it is. */
static int libsvm(struct scorer *sc, const char *s, int64_t row) {
    const int base = sc->m->index_base;
    double acc = begin(sc);
    int64_t prev = -1;
    const char *p = s;
    for (int first = 1;; first = 0) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p) break;
        const char *end = p + strcspn(p, " \t\r\n\v\f");
        const char *colon = memchr(p, ':', (size_t)(end - p));
        char tok[64];
        int short_tok = end - p < (long)sizeof tok;
        if (short_tok) {
            memcpy(tok, p, (size_t)(end - p));
            tok[end - p] = '\0';
        }
        /* A leading label (a number, as in a data file) and qid:N, which
         * the training reader skips too. */
        int label = 0;
        if (!colon && first && short_tok) {
            char *le;
            strtod(tok, &le);
            label = le != tok && *le == '\0';
        }
        if (label) {
            p = end;
            continue;
        }
        if (colon && colon - p == 3 && strncmp(p, "qid", 3) == 0) {
            p = end;
            continue;
        }
        if (!colon || colon == p || !isdigit((unsigned char)*p) || !short_tok)
            return fail(sc, "instance %lld: '%.*s' is not INDEX:VALUE", (long long)row,
                        (int)(end - p > 40 ? 40 : end - p), p);
        char *ie, *ve;
        errno = 0;
        long long idx = strtoll(tok, &ie, 10);
        int idx_range = errno != 0;
        double x = strtod(ie + 1, &ve); /* an underflow to 0 or a denormal is a value */
        if (idx_range || *ie != ':' || *ve || ve == ie + 1 || !isfinite(x) || idx < base)
            return fail(sc, "instance %lld: '%s' is not INDEX:VALUE with INDEX from %d",
                        (long long)row, tok, base);
        if (add_feature(sc, &acc, idx - base, &prev, x, row, base)) return -1;
        p = end;
    }
    return finish(sc, acc);
}

/* A record of raw column values, for a model with a hashing spec (raw.c):
 * an object, or (names non-NULL) values in the order of names. */
static int raw(struct scorer *sc, const cJSON *names, const cJSON *values, int64_t row) {
    char msg[256];
    double margin = 0;
    if (sl_serve_raw_margin(sc->m, names, values, sc->K ? sc->mk : &margin, msg, sizeof msg))
        return fail(sc, "instance %lld: %s", (long long)row, msg);
    return sc->K ? emit_multi(sc, sc->mk) : emit(sc, margin);
}

static int instance(struct scorer *sc, const cJSON *it, int64_t row) {
    if (cJSON_IsObject(it) && sc->m->hash) return raw(sc, NULL, it, row);
    if (cJSON_IsArray(it)) return dense(sc, it, row);
    if (cJSON_IsObject(it)) return sparse(sc, it, row);
    if (cJSON_IsString(it)) return libsvm(sc, it->valuestring, row);
    if (cJSON_IsNumber(it) && sc->m->n_features == 1) { /* one column, one value a row */
        double x = 0, acc = begin(sc);
        if (number(sc, it, &x, row, 0)) return -1;
        add(sc, &acc, 0, x);
        return finish(sc, acc);
    }
    return fail(sc,
                "instance %lld: not an array of %lld numbers, a {\"indices\", \"values\"} object "
                "or a LIBSVM string",
                (long long)row, (long long)sc->m->n_features);
}

static int instances(struct scorer *sc, const cJSON *arr, const char *key) {
    if (!cJSON_IsArray(arr)) return fail(sc, "\"%s\" is not an array", key);
    int64_t row = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        if (instance(sc, it, row++)) return -1;
    }
    return 0;
}

/* {"columns": [...], "data": [[...], ...]} (pandas orient="split"): rows by
 * position, columns named as they may be. */
static int split(struct scorer *sc, const cJSON *obj) {
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
    if (!cJSON_IsObject(obj) || !cJSON_IsArray(data))
        return fail(sc, "\"dataframe_split\" needs \"data\": an array of rows");
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(obj, "columns");
    if (sc->m->hash && !cJSON_IsArray(names))
        return fail(sc, "\"dataframe_split\" needs \"columns\" for a model of raw columns");
    int64_t row = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, data) {
        if (!cJSON_IsArray(r))
            return fail(sc, "dataframe_split row %lld is not an array", (long long)row);
        if (sc->m->hash ? raw(sc, names, r, row++) : dense(sc, r, row++)) return -1;
    }
    return 0;
}

/* [{"col": x, ...}, ...] (orient="records"): a record's values in order. */
static int records(struct scorer *sc, const cJSON *arr) {
    if (!cJSON_IsArray(arr)) return fail(sc, "\"dataframe_records\" is not an array");
    int64_t row = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, arr) {
        if (!cJSON_IsObject(r))
            return fail(sc, "dataframe_records row %lld is not an object", (long long)row);
        if (sc->m->hash) {
            if (raw(sc, NULL, r, row++)) return -1;
        } else if (dense(sc, r, row++)) {
            return -1; /* an object's members are a list in cJSON */
        }
    }
    return 0;
}

/* {"inputs": {"col": [x per row], ...}}: one array per feature, in order. */
static int columns(struct scorer *sc, const cJSON *obj) {
    const struct sl_model *m = sc->m;
    if (m->hash)
        return fail(sc, "\"inputs\" as columns is not taken for a model of raw columns: send "
                        "records (instances, dataframe_records or dataframe_split)");
    int64_t d = cJSON_GetArraySize(obj), n = -1, j = 0;
    if (d != m->n_features)
        return fail(sc, "\"inputs\" has %lld columns for a model of %lld features", (long long)d,
                    (long long)m->n_features);
    const cJSON *col;
    cJSON_ArrayForEach(col, obj) {
        if (!cJSON_IsArray(col) || (n >= 0 && cJSON_GetArraySize(col) != n))
            return fail(sc, "\"inputs\" column %lld is not an array as long as the first",
                        (long long)j);
        n = cJSON_GetArraySize(col);
        j++;
    }
    if (n < 0) n = 0;
    /* Row-wise answers from column-wise data: one pass per row, each column
     * walked to row i from where it stopped. */
    const cJSON **at = sl_calloc((size_t)(d ? d : 1), sizeof *at);
    j = 0;
    cJSON_ArrayForEach(col, obj) {
        at[j++] = col->child;
    }
    int rc = 0;
    for (int64_t i = 0; i < n && !rc; i++) {
        double acc = begin(sc), x = 0;
        for (j = 0; j < d && !rc; j++) {
            rc = number(sc, at[j], &x, i, j);
            if (!rc) add(sc, &acc, j, x);
            at[j] = at[j]->next;
        }
        if (!rc) rc = finish(sc, acc);
    }
    free(at);
    return rc;
}

static int parameters(struct scorer *sc, const cJSON *root) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "parameters");
    if (!p) p = cJSON_GetObjectItemCaseSensitive(root, "params"); /* MLflow's name */
    if (!p || cJSON_IsNull(p)) return 0;
    if (!cJSON_IsObject(p)) return fail(sc, "\"parameters\" is not an object");
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(p, "output");
    if (!o) return 0;
    const char *s = cJSON_IsString(o) ? o->valuestring : "";
    if (strcmp(s, "probability") == 0)
        sc->output = OUT_PROBABILITY;
    else if (strcmp(s, "label") == 0)
        sc->output = OUT_LABEL;
    else if (strcmp(s, "both") == 0)
        sc->output = OUT_BOTH;
    else
        return fail(sc, "parameters.output is \"label\", \"probability\" or \"both\"");
    return 0;
}

static int json_body(struct scorer *sc, enum sl_serve_proto proto, const char *body, size_t len) {
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) return fail(sc, "the body is not valid JSON");
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        fail(sc, "the body is not a JSON object");
    } else if (parameters(sc, root) == 0 && proto == SL_PROTO_VERTEX) {
        rc = instances(sc, cJSON_GetObjectItemCaseSensitive(root, "instances"), "instances");
    } else if (!sc->msg[0]) {
        static const char *const keys[] = {"dataframe_split", "dataframe_records", "instances",
                                           "inputs"};
        const cJSON *found = NULL;
        int which = -1, count = 0;
        for (int k = 0; k < 4; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[k]);
            if (v) found = v, which = k, count++;
        }
        if (count != 1)
            fail(sc, "the body needs exactly one of dataframe_split, dataframe_records, "
                     "instances, inputs");
        else if (which == 0)
            rc = split(sc, found);
        else if (which == 1)
            rc = records(sc, found);
        else if (which == 3 && cJSON_IsObject(found))
            rc = columns(sc, found);
        else
            rc = instances(sc, found, keys[which]);
    }
    cJSON_Delete(root);
    return rc;
}

/* One CSV field as a number: the whole field, spaces around allowed. */
static int csv_number(const char *s, size_t n, double *x) {
    char tok[128];
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0 || n >= sizeof tok) return -1;
    memcpy(tok, s, n);
    tok[n] = '\0';
    char *end;
    *x = strtod(tok, &end);
    return *end || !isfinite(*x) ? -1 : 0;
}

/* text/csv as MLflow reads it (pandas.read_csv): the first line is the
 * header, each other non-empty line a row of the model's width. */
static int csv_body(struct scorer *sc, const char *body, size_t len) {
    const struct sl_model *m = sc->m;
    const char *p = body, *end = body + len;
    const char *head = NULL, *head_end = NULL; /* the header line: names raw columns */
    int64_t line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        if (e > p && e[-1] == '\r') e--;
        line++;
        if (line == 1) head = p, head_end = e;
        if (line == 1 || e == p) {
            p = next;
            continue;
        }
        if (m->hash) {
            char msg[256];
            double margin = 0, *mk = sc->K ? sc->mk : &margin;
            if (sl_serve_raw_csv(m, head, head_end, p, e, mk, msg, sizeof msg))
                return fail(sc, "CSV line %lld: %s", (long long)line, msg);
            if (sc->K ? emit_multi(sc, mk) : emit(sc, margin)) return -1;
            p = next;
            continue;
        }
        double acc = begin(sc), x = 0;
        int64_t j = 0;
        for (const char *f = p;; j++) {
            const char *comma = memchr(f, ',', (size_t)(e - f));
            const char *fe = comma ? comma : e;
            if (j >= m->n_features)
                return fail(sc, "CSV line %lld: more than %lld values", (long long)line,
                            (long long)m->n_features);
            if (csv_number(f, (size_t)(fe - f), &x))
                return fail(sc, "CSV line %lld: value %lld is not a finite number", (long long)line,
                            (long long)j + 1);
            add(sc, &acc, j, x);
            if (!comma) break;
            f = comma + 1;
        }
        if (j + 1 != m->n_features)
            return fail(sc, "CSV line %lld: %lld values for a model of %lld features",
                        (long long)line, (long long)j + 1, (long long)m->n_features);
        if (finish(sc, acc)) return -1;
        p = next;
    }
    return 0;
}

/* "application/json; charset=utf-8" -> is it mime? */
static int is_type(const char *content_type, const char *mime) {
    size_t n = strlen(mime);
    while (isspace((unsigned char)*content_type))
        content_type++;
    return strncasecmp(content_type, mime, n) == 0 &&
           (content_type[n] == '\0' || content_type[n] == ';' || content_type[n] == ' ');
}

char *sl_serve_error_json(int status, const char *msg, size_t *len) {
    cJSON *o = cJSON_CreateObject();
    const char *code = status == 400   ? "BAD_REQUEST"
                       : status == 404 ? "ENDPOINT_NOT_FOUND"
                       : status == 405 ? "METHOD_NOT_ALLOWED"
                       : status == 413 ? "REQUEST_LIMIT_EXCEEDED"
                       : status == 415 ? "UNSUPPORTED_MEDIA_TYPE"
                       : status == 503 ? "TEMPORARILY_UNAVAILABLE"
                                       : "INTERNAL_ERROR";
    cJSON_AddStringToObject(o, "error_code", code);
    cJSON_AddStringToObject(o, "message", msg);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    SL_ASSERT(s);
    *len = strlen(s);
    return s;
}

/* Emits the fast path's margins; 0 when it did not take the body. */
static int fast_body(struct scorer *sc, enum sl_serve_proto proto, const char *body, size_t len,
                     int *rc) {
    struct sl_fast_result r = {0};
    int taken = sl_serve_fast_margins(sc->m, proto, body, len, &r);
    if (taken) {
        sc->output = (enum output)r.output;
        *rc = 0;
        for (int64_t i = 0; i < r.n && !*rc; i++)
            *rc = sc->K ? emit_multi(sc, r.margins + i * sc->K) : emit(sc, r.margins[i]);
    }
    free(r.margins);
    return taken;
}

void sl_serve_score(const struct sl_model *m, enum sl_serve_proto proto, const char *content_type,
                    const char *body, size_t len, struct sl_serve_answer *answer) {
    sl_serve_score_ex(m, proto, content_type, body, len, 1, answer);
}

void sl_serve_score_ex(const struct sl_model *m, enum sl_serve_proto proto,
                       const char *content_type, const char *body, size_t len, int fast,
                       struct sl_serve_answer *answer) {
    struct scorer sc = {.m = m, .K = m->n_classes, .output = OUT_PROBABILITY};
    *answer = (struct sl_serve_answer){.status = 200};
    int csv = content_type && is_type(content_type, "text/csv");
    if (content_type && content_type[0] && !csv && !is_type(content_type, "application/json")) {
        answer->status = 415;
        answer->body =
            sl_serve_error_json(415, "the body is application/json or text/csv", &answer->len);
        return;
    }
    if (sc.K) sc.mk = sl_malloc(sizeof(double) * (size_t)(2 * sc.K));
    sc.out = open_memstream(&sc.text, &sc.len);
    SL_ASSERT(sc.out);
    fputs("{\"predictions\": [", sc.out);
    int rc = 0;
    if (csv)
        rc = csv_body(&sc, body, len);
    else if (!fast || !fast_body(&sc, proto, body, len, &rc))
        rc = json_body(&sc, proto, body, len);
    fputs("]}", sc.out);
    SL_ASSERT(fclose(sc.out) == 0);
    free(sc.mk);
    if (rc) {
        free(sc.text);
        answer->status = 400;
        answer->body = sl_serve_error_json(400, sc.msg[0] ? sc.msg : "bad request", &answer->len);
        return;
    }
    answer->body = sc.text;
    answer->len = sc.len;
    answer->n_instances = sc.n;
}
