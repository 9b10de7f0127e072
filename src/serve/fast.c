/* fast.c - the common request scored without building a JSON tree: a body
 * {"instances": [...]} (with an optional "parameters": {"output": ...})
 * whose instances are all sparse objects {"indices": [...], "values":
 * [...]} or dense arrays of plain JSON numbers. cJSON spends a node
 * allocation and a strtod on every number; this scans the body once.
 *
 * It is a strict subset of the general path (request.c): anything else --
 * a model of hashed columns (whose objects are raw records), another member,
 * another instance form, a number outside JSON's grammar,
 * an index out of order, a value that is not finite, anything the general
 * path would answer with an error -- gives up (returns 0), and the general
 * path answers with its own messages. On what it accepts the two agree to
 * the bit: numbers are converted correctly rounded (core/number.c, strtod's
 * result, which is what cJSON stores) and the margins are summed in the same
 * order (a multinomial model's K per instance likewise). fuzz_serve checks
 * that agreement. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/number.h"
#include "serve/request.h"

struct scan {
    const char *p, *end;
};

/* JSON's whitespace. */
static void ws(struct scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

/* Consumes ch (after whitespace): 1, or 0 when the next byte is another.
 * The byte itself is looked at first: compact JSON has no whitespace. */
static inline int eat(struct scan *s, char ch) {
    if (s->p < s->end && *s->p == ch) {
        s->p++;
        return 1;
    }
    ws(s);
    if (s->p < s->end && *s->p == ch) {
        s->p++;
        return 1;
    }
    return 0;
}

/* A member name without escapes: "name" then ':'. Returns the name's length
 * and sets *name, or -1. */
static int key(struct scan *s, const char **name) {
    if (!eat(s, '"')) return -1;
    const char *q = s->p;
    while (s->p < s->end && *s->p != '"' && *s->p != '\\' && (unsigned char)*s->p >= 0x20)
        s->p++;
    if (s->p >= s->end || *s->p != '"') return -1;
    *name = q;
    int n = (int)(s->p - q);
    s->p++;
    return eat(s, ':') ? n : -1;
}

static int is_key(const char *name, int n, const char *want) {
    return (size_t)n == strlen(want) && memcmp(name, want, (size_t)n) == 0;
}

/* Exact powers of ten representable in a double. */
static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A number in JSON's grammar, -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?,
 * whose value is finite. 0 when it is anything else. The digits are
 * gathered while the grammar is checked, and the common number (at most 19
 * significant digits, a mantissa up to 2^53, a power of ten within +-22) is
 * converted here by sl_parse_double's own fast path: the same one multiply
 * or divide, so the same bits. Anything else goes to sl_parse_double. */
static int number(struct scan *s, double *x) {
    ws(s);
    const char *q = s->p, *e = s->end;
    int neg = 0;
    if (q < e && *q == '-') {
        neg = 1;
        q++;
    }
    if (q >= e || *q < '0' || *q > '9') return 0;
    if (*q == '0' && q + 1 < e && q[1] >= '0' && q[1] <= '9') return 0;
    uint64_t mant = 0;
    int digits = 0, frac = 0, exact = 1;
    while (q < e && *q >= '0' && *q <= '9') {
        if (digits < 19) {
            mant = mant * 10 + (uint64_t)(*q - '0');
            if (mant) digits++;
        } else {
            exact = 0;
        }
        q++;
    }
    if (q < e && *q == '.') {
        q++;
        if (q >= e || *q < '0' || *q > '9') return 0;
        while (q < e && *q >= '0' && *q <= '9') {
            if (digits < 19) {
                mant = mant * 10 + (uint64_t)(*q - '0');
                if (mant) digits++;
                frac++;
            } else {
                exact = 0;
            }
            q++;
        }
    }
    int exp10 = 0;
    if (q < e && (*q == 'e' || *q == 'E')) {
        q++;
        int eneg = 0;
        if (q < e && (*q == '+' || *q == '-')) eneg = *q++ == '-';
        if (q >= e || *q < '0' || *q > '9') return 0;
        while (q < e && *q >= '0' && *q <= '9') {
            if (exp10 < 100000) exp10 = exp10 * 10 + (*q - '0');
            q++;
        }
        if (eneg) exp10 = -exp10;
    }
    int p10 = exp10 - frac;
    if (exact && mant <= (UINT64_C(1) << 53) && p10 >= -22 && p10 <= 22) {
        double v = (double)mant;
        v = p10 < 0 ? v / POW10[-p10] : v * POW10[p10];
        *x = neg ? -v : v;
    } else {
        const char *after = sl_parse_double(s->p, q, x);
        if (after != q || !(*x - *x == 0)) return 0; /* not all of it, or inf/nan */
    }
    s->p = q;
    return 1;
}

/* A feature index: plain digits, at most INT32_MAX. */
static int index_of(struct scan *s, int64_t *j) {
    ws(s);
    const char *q = s->p;
    int64_t v = 0;
    if (q >= s->end || *q < '0' || *q > '9' || (*q == '0' && q + 1 < s->end && q[1] >= '0' &&
                                                 q[1] <= '9'))
        return 0;
    while (q < s->end && *q >= '0' && *q <= '9') {
        v = v * 10 + (*q - '0');
        if (v > INT32_MAX) return 0;
        q++;
    }
    if (q < s->end && (*q == '.' || *q == 'e' || *q == 'E')) return 0;
    s->p = q;
    *j = v;
    return 1;
}

/* [x_0, ..., x_{d-1}] after its '[': exactly the model's width. */
static int dense(struct scan *s, const struct sl_model *m, double *margin) {
    double acc = m->intercept, x;
    for (int64_t j = 0; j < m->n_features; j++) {
        if ((j > 0 && !eat(s, ',')) || !number(s, &x)) return 0;
        acc += m->weights[j] * x;
    }
    if (!eat(s, ']')) return 0;
    *margin = acc;
    return 1;
}

/* {"indices": [...], "values": [...]} after its '{', in that order, the
 * indices strictly increasing; a feature the model never saw weighs 0. The
 * indices are read first into idx (grown as needed), then the values. */
static int sparse(struct scan *s, const struct sl_model *m, int64_t **idx, int64_t *cap,
                  double *margin) {
    const char *name;
    int n = key(s, &name);
    if (n < 0 || !is_key(name, n, "indices") || !eat(s, '[')) return 0;
    int64_t k = 0, prev = -1;
    if (!eat(s, ']')) {
        do {
            int64_t j;
            if (!index_of(s, &j) || j <= prev) return 0;
            if (k == *cap) {
                *cap = *cap ? 2 * *cap : 256;
                *idx = sl_realloc(*idx, sizeof(int64_t) * (size_t)*cap);
            }
            /* The weight is fetched while the rest of the indices are read:
             * the values' loop then finds it in cache. */
            if (j < m->n_features) __builtin_prefetch(&m->weights[j]);
            (*idx)[k++] = prev = j;
        } while (eat(s, ','));
        if (!eat(s, ']')) return 0;
    }
    if (!eat(s, ',')) return 0;
    n = key(s, &name);
    if (n < 0 || !is_key(name, n, "values") || !eat(s, '[')) return 0;
    double acc = m->intercept, x;
    for (int64_t t = 0; t < k; t++) {
        if ((t > 0 && !eat(s, ',')) || !number(s, &x)) return 0;
        if ((*idx)[t] < m->n_features) acc += m->weights[(*idx)[t]] * x;
    }
    if (!eat(s, ']') || !eat(s, '}')) return 0;
    *margin = acc;
    return 1;
}

/* The instances array after its '['. */
static int instances(struct scan *s, const struct sl_model *m, struct sl_fast_result *r) {
    int64_t *idx = NULL, cap = 0;
    int ok = 1;
    if (!eat(s, ']')) {
        do {
            double margin;
            if (eat(s, '['))
                ok = dense(s, m, &margin);
            else if (eat(s, '{'))
                ok = sparse(s, m, &idx, &cap, &margin);
            else
                ok = 0;
            if (!ok) break;
            if (r->n == r->cap) {
                r->cap = r->cap ? 2 * r->cap : 128;
                r->margins = sl_realloc(r->margins, sizeof(double) * (size_t)r->cap);
            }
            r->margins[r->n++] = margin;
        } while (eat(s, ','));
        ok = ok && eat(s, ']');
    }
    free(idx);
    return ok;
}

/* A multinomial model's (K classes) instances: the forms above, each giving
 * K margins into r (K a row), summed as the general path sums them: class
 * k's W_k.x from 0, the features in order, then b_k. The binary loops above
 * stay as they are. */
static int dense_mn(struct scan *s, const struct sl_model *m, double *mk) {
    const int64_t K = m->n_classes, d = m->n_features;
    double x;
    memset(mk, 0, sizeof(double) * (size_t)K);
    for (int64_t j = 0; j < d; j++) {
        if ((j > 0 && !eat(s, ',')) || !number(s, &x)) return 0;
        for (int64_t k = 0; k < K; k++)
            mk[k] += m->weights[k * d + j] * x;
    }
    if (!eat(s, ']')) return 0;
    for (int64_t k = 0; k < K; k++)
        mk[k] += m->intercepts[k];
    return 1;
}

static int sparse_mn(struct scan *s, const struct sl_model *m, int64_t **idx, int64_t *cap,
                     double *mk) {
    const int64_t K = m->n_classes, d = m->n_features;
    const char *name;
    int n = key(s, &name);
    if (n < 0 || !is_key(name, n, "indices") || !eat(s, '[')) return 0;
    int64_t nnz = 0, prev = -1;
    if (!eat(s, ']')) {
        do {
            int64_t j;
            if (!index_of(s, &j) || j <= prev) return 0;
            if (nnz == *cap) {
                *cap = *cap ? 2 * *cap : 256;
                *idx = sl_realloc(*idx, sizeof(int64_t) * (size_t)*cap);
            }
            (*idx)[nnz++] = prev = j;
        } while (eat(s, ','));
        if (!eat(s, ']')) return 0;
    }
    if (!eat(s, ',')) return 0;
    n = key(s, &name);
    if (n < 0 || !is_key(name, n, "values") || !eat(s, '[')) return 0;
    double x;
    memset(mk, 0, sizeof(double) * (size_t)K);
    for (int64_t t = 0; t < nnz; t++) {
        if ((t > 0 && !eat(s, ',')) || !number(s, &x)) return 0;
        const int64_t j = (*idx)[t];
        if (j < d)
            for (int64_t k = 0; k < K; k++)
                mk[k] += m->weights[k * d + j] * x;
    }
    if (!eat(s, ']') || !eat(s, '}')) return 0;
    for (int64_t k = 0; k < K; k++)
        mk[k] += m->intercepts[k];
    return 1;
}

static int instances_mn(struct scan *s, const struct sl_model *m, struct sl_fast_result *r) {
    const int64_t K = m->n_classes;
    int64_t *idx = NULL, cap = 0;
    int ok = 1;
    if (!eat(s, ']')) {
        do {
            if ((r->n + 1) * K > r->cap) {
                r->cap = r->cap ? 2 * r->cap : 128 * K;
                r->margins = sl_realloc(r->margins, sizeof(double) * (size_t)r->cap);
            }
            double *mk = r->margins + r->n * K;
            if (eat(s, '['))
                ok = dense_mn(s, m, mk);
            else if (eat(s, '{'))
                ok = sparse_mn(s, m, &idx, &cap, mk);
            else
                ok = 0;
            if (!ok) break;
            r->n++;
        } while (eat(s, ','));
        ok = ok && eat(s, ']');
    }
    free(idx);
    return ok;
}

/* {"output": "label" | "probability" | "both"} or {} after its '{'. */
static int parameters(struct scan *s, struct sl_fast_result *r) {
    if (eat(s, '}')) return 1;
    const char *name;
    int n = key(s, &name);
    if (n < 0 || !is_key(name, n, "output") || !eat(s, '"')) return 0;
    static const char *const outs[] = {"probability", "label", "both"};
    for (int o = 0; o < 3; o++) {
        size_t len = strlen(outs[o]);
        if ((size_t)(s->end - s->p) > len && memcmp(s->p, outs[o], len) == 0 &&
            s->p[len] == '"') {
            s->p += len + 1;
            r->output = o;
            return eat(s, '}');
        }
    }
    return 0;
}

int sl_serve_fast_margins(const struct sl_model *m, enum sl_serve_proto proto, const char *body,
                          size_t len, struct sl_fast_result *r) {
    struct scan s = {body, body + len};
    r->n = 0;
    r->output = 0;
    if (m->hash) return 0; /* an object is a record of raw columns there (raw.c) */
    int seen_instances = 0, seen_parameters = 0, ok = eat(&s, '{');
    while (ok) {
        const char *name;
        int n = key(&s, &name);
        if (n < 0) {
            ok = 0;
        } else if (is_key(name, n, "instances") && !seen_instances) {
            seen_instances = 1;
            ok = eat(&s, '[') && (m->n_classes ? instances_mn(&s, m, r) : instances(&s, m, r));
        } else if (is_key(name, n, "inputs") && proto == SL_PROTO_MLFLOW && !seen_instances) {
            seen_instances = 1; /* MLflow's "inputs" as a list of instances */
            ok = eat(&s, '[') && (m->n_classes ? instances_mn(&s, m, r) : instances(&s, m, r));
        } else if (is_key(name, n, "parameters") && !seen_parameters) {
            seen_parameters = 1;
            ok = eat(&s, '{') && parameters(&s, r);
        } else {
            ok = 0;
        }
        if (ok && !eat(&s, ',')) break;
    }
    ok = ok && seen_instances && eat(&s, '}');
    ws(&s);
    return ok && s.p == s.end;
}
