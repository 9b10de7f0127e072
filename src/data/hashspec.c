/* hashspec.c - the hashing spec of delimited text with categorical columns:
 * --categorical resolved against the file's header or column numbers, the
 * criteo preset, and the hashing rule itself (hashing.h). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <murmurhash.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/reader.h"
#include "shardlearn/hashing.h"

int32_t sl_hash_index(const char *s, size_t n, int bits) {
    uint32_t h = 0;
    lmmh_x86_32(s, (unsigned)n, 0, &h);
    const int64_t nf = (int64_t)1 << bits;
    const int32_t sh = (int32_t)h;
    /* FeatureHasher: abs() of the signed hash; abs(-2^31) is defined there
     * as (2^31 - 1 - (nf - 1)) % nf. */
    if (sh == INT32_MIN) return (int32_t)((INT64_C(2147483647) - (nf - 1)) % nf);
    return (int32_t)((int64_t)(sh < 0 ? -sh : sh) % nf);
}

int64_t sl_hash_range(const struct sl_hash_spec *sp) {
    for (int j = 0; j < sp->n_cols; j++)
        if (sp->kind[j] == SL_COL_CATEGORICAL) return (int64_t)1 << sp->hash_bits;
    return 0;
}

int64_t sl_hash_n_features(const struct sl_hash_spec *sp) {
    int64_t d = sl_hash_range(sp);
    for (int j = 0; j < sp->n_cols; j++)
        d += sp->kind[j] == SL_COL_NUMERIC;
    return d;
}

void sl_hash_spec_free(struct sl_hash_spec *sp) {
    for (int j = 0; sp->names && j < sp->n_cols; j++)
        free(sp->names[j]);
    free(sp->names);
    free(sp->kind);
    memset(sp, 0, sizeof *sp);
}

static void alloc_cols(struct sl_hash_spec *sp, int n) {
    sp->n_cols = n;
    sp->names = sl_calloc((size_t)n, sizeof *sp->names);
    sp->kind = sl_calloc((size_t)n, 1);
}

static char *dup_n(const char *s, size_t n) {
    char *t = sl_malloc(n + 1);
    memcpy(t, s, n);
    t[n] = '\0';
    return t;
}

void sl_hash_spec_copy(struct sl_hash_spec *dst, const struct sl_hash_spec *src) {
    *dst = *src;
    alloc_cols(dst, src->n_cols);
    memcpy(dst->kind, src->kind, (size_t)src->n_cols);
    for (int j = 0; j < src->n_cols; j++)
        dst->names[j] = dup_n(src->names[j], strlen(src->names[j]));
}

void sl_hash_spec_criteo(struct sl_hash_spec *sp, int hash_bits) {
    memset(sp, 0, sizeof *sp);
    snprintf(sp->format, sizeof sp->format, "criteo");
    sp->delim = '\t';
    sp->hash_bits = hash_bits;
    alloc_cols(sp, 40);
    sp->names[0] = dup_n("label", 5);
    for (int j = 1; j < 40; j++) {
        char nm[8];
        snprintf(nm, sizeof nm, j <= 13 ? "I%d" : "C%d", j <= 13 ? j : j - 13);
        sp->names[j] = dup_n(nm, strlen(nm));
        sp->kind[j] = j <= 13 ? SL_COL_NUMERIC : SL_COL_CATEGORICAL;
    }
}

const char *sl_hash_spec_check(const struct sl_hash_spec *sp) {
    if (strcmp(sp->format, "csv") != 0 && strcmp(sp->format, "tsv") != 0 &&
        strcmp(sp->format, "criteo") != 0)
        return "the format is not csv, tsv or criteo";
    if (sp->delim != ',' && sp->delim != '\t') return "the delimiter is not ',' or a tab";
    if (sp->hash_bits < 1 || sp->hash_bits > 31) return "hash_bits is not in 1..31";
    if (sp->n_cols < 2) return "fewer than two columns";
    if (sp->kind[0] != SL_COL_LABEL) return "column 1 is not the label";
    for (int j = 1; j < sp->n_cols; j++) {
        if (sp->kind[j] != SL_COL_NUMERIC && sp->kind[j] != SL_COL_CATEGORICAL)
            return "a column other than the first is the label";
        for (int k = 0; k < j; k++)
            if (strcmp(sp->names[k], sp->names[j]) == 0) return "two columns have one name";
    }
    if (sl_hash_n_features(sp) > INT32_MAX - 1)
        return "2^hash_bits plus the numeric columns is beyond 2^31 - 2 features";
    return NULL;
}

int sl_hash_split(char delim, const char *p, const char *end, struct sl_field *f, int max,
                  char **buf, size_t *cap) {
    const size_t need = (size_t)(end - p) + 1; /* unquoted text is never longer */
    if (need > *cap) {
        *cap = need + need / 2;
        *buf = sl_realloc(*buf, *cap);
    }
    char *out = *buf;
    int n = 0;
    for (;;) {
        while (p < end && *p != delim && sl_is_space(*p))
            p++;
        const char *b = p, *e;
        size_t len;
        if (delim == ',' && p < end && *p == '"') {
            b = out; /* "...", with "" for a quote */
            for (p++;; p++) {
                if (p == end) return -1;
                if (*p == '"' && (p + 1 == end || p[1] != '"')) break;
                if (*p == '"') p++;
                *out++ = *p;
            }
            len = (size_t)(out - b);
            p++; /* after the closing quote: spaces, then the delimiter */
            while (p < end && *p != delim && sl_is_space(*p))
                p++;
            if (p < end && *p != delim) return -1; /* text after the closing quote */
            e = p;
        } else {
            e = p;
            while (e < end && *e != delim)
                e++;
            const char *t = e;
            while (t > b && sl_is_space(t[-1]))
                t--;
            len = (size_t)(t - b);
        }
        if (n < max) f[n] = (struct sl_field){.s = b, .n = len};
        n++;
        if (e == end) return n;
        p = e + 1;
    }
}

/* [*b, *e) without the spaces around it. */
static void trim(const char **b, const char **e) {
    while (*b < *e && sl_is_space(**b))
        (*b)++;
    while (*e > *b && sl_is_space((*e)[-1]))
        (*e)--;
}

/* Columns and names from the first line: a header, or "C<k>" names. */
static enum sl_status layout(struct sl_hash_spec *sp, const char *path, struct sl_err *err) {
    char *line = sl_source_first_line(path, err); /* a directory: its first file */
    if (!line) return SL_ERR_IO;
    const char *end = line + strlen(line);
    const char *start = strncmp(line, "\xEF\xBB\xBF", 3) == 0 ? line + 3 : line; /* a BOM */
    char *buf = NULL;
    size_t cap = 0;
    struct sl_field first;
    int n = sl_hash_split(sp->delim, start, end, &first, 1, &buf, &cap);
    double v;
    const char *after = n > 0 && first.n ? sl_parse_double(first.s, first.s + first.n, &v) : NULL;
    sp->header = !after || after != first.s + first.n;
    enum sl_status st = SL_OK;
    if (n < 0)
        st = sl_err_set(err, SL_ERR_PARSE, "%s:1: a quoted field does not end", path);
    else if (first.n == 0 && n == 1)
        st = sl_err_set(err, SL_ERR_PARSE, "%s:1: the first line is empty", path);
    else if (n < 2)
        st = sl_err_set(err, SL_ERR_PARSE,
                        "%s:1: one column only: a label and no features "
                        "(is the delimiter '%s'?)",
                        path, sp->delim == ',' ? "," : "\\t");
    if (st) {
        free(buf);
        free(line);
        return st;
    }
    alloc_cols(sp, n);
    struct sl_field *f = sl_calloc((size_t)n, sizeof *f);
    sl_hash_split(sp->delim, start, end, f, n, &buf, &cap);
    for (int j = 0; j < n; j++) {
        if (sp->header) {
            sp->names[j] = dup_n(f[j].s, f[j].n);
        } else {
            char nm[16];
            snprintf(nm, sizeof nm, "C%d", j + 1);
            sp->names[j] = dup_n(nm, strlen(nm));
        }
        sp->kind[j] = j ? SL_COL_NUMERIC : SL_COL_LABEL;
    }
    free(f);
    free(buf);
    free(line);
    for (int j = 1; j < n && sp->header; j++) {
        if (!sp->names[j][0])
            return sl_err_set(err, SL_ERR_PARSE, "%s:1: column %d has no name in the header", path,
                              j + 1);
        for (int k = 0; k < j; k++)
            if (strcmp(sp->names[k], sp->names[j]) == 0)
                return sl_err_set(err, SL_ERR_PARSE,
                                  "%s:1: the header names two columns '%s' (%d and %d)", path,
                                  sp->names[j], k + 1, j + 1);
    }
    return SL_OK;
}

/* Marks column j (0-based) categorical; the label cannot be. */
static enum sl_status mark(struct sl_hash_spec *sp, long j, const char *tok, const char *path,
                           struct sl_err *err) {
    if (j == 0)
        return sl_err_set(err, SL_ERR_ARG, "--categorical: '%s': column 1 is the label", tok);
    if (j < 0 || j >= sp->n_cols)
        return sl_err_set(err, SL_ERR_ARG, "--categorical: '%s': %s:1 has %d columns", tok, path,
                          sp->n_cols);
    sp->kind[j] = SL_COL_CATEGORICAL;
    return SL_OK;
}

/* "name", "7" or "2-5": a number range when the token is digits (and one '-'). */
static enum sl_status categorical_token(struct sl_hash_spec *sp, const char *tok, const char *path,
                                        struct sl_err *err) {
    char *e1 = NULL, *e2 = NULL;
    if (isdigit((unsigned char)tok[0])) {
        long a = strtol(tok, &e1, 10), b = a;
        if (*e1 == '-' && isdigit((unsigned char)e1[1])) b = strtol(e1 + 1, &e2, 10);
        const char *rest = e2 ? e2 : e1;
        if (*rest == '\0') {
            if (a < 1 || b < a || b > INT_MAX)
                return sl_err_set(err, SL_ERR_ARG,
                                  "--categorical: '%s' is not a range A-B of "
                                  "1-based columns with A <= B",
                                  tok);
            for (long j = a; j <= b; j++) {
                enum sl_status st = mark(sp, j - 1, tok, path, err);
                if (st) return st;
            }
            return SL_OK;
        }
    }
    if (!sp->header)
        return sl_err_set(err, SL_ERR_ARG,
                          "--categorical: '%s': %s has no header to name columns (give "
                          "1-based column numbers)",
                          tok, path);
    for (int j = 0; j < sp->n_cols; j++)
        if (strcmp(sp->names[j], tok) == 0) return mark(sp, j, tok, path, err);
    return sl_err_set(err, SL_ERR_ARG, "%s:1: --categorical: no column '%s' in the header", path,
                      tok);
}

static enum sl_status categorical(struct sl_hash_spec *sp, const char *list, const char *path,
                                  struct sl_err *err) {
    char *copy = dup_n(list, strlen(list)), *save = NULL;
    enum sl_status st = SL_OK;
    int any = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && !st; tok = strtok_r(NULL, ",", &save)) {
        const char *b = tok, *e = tok + strlen(tok);
        trim(&b, &e);
        tok[e - tok] = '\0';
        if (b == e) continue;
        st = categorical_token(sp, b, path, err);
        any = 1;
    }
    if (!st && !any) st = sl_err_set(err, SL_ERR_ARG, "--categorical: no column given");
    free(copy);
    return st;
}

enum sl_status sl_hash_spec_resolve(struct sl_hash_spec *sp, const struct sl_hash_request *rq,
                                    const char *path, struct sl_err *err) {
    memset(sp, 0, sizeof *sp);
    const int bits = rq->hash_bits ? rq->hash_bits : SL_HASH_BITS_DEFAULT;
    if (bits < 1 || bits > 31)
        return sl_err_set(err, SL_ERR_ARG, "--hash-bits: %d is not in 1..31", bits);
    enum sl_status st = SL_OK;
    if (strcmp(rq->format, "criteo") == 0) {
        if (rq->categorical)
            return sl_err_set(err, SL_ERR_ARG,
                              "--categorical: --format criteo has its columns (C1..C26)");
        sl_hash_spec_criteo(sp, bits);
    } else {
        snprintf(sp->format, sizeof sp->format, "%s", rq->format);
        sp->delim = strcmp(rq->format, "tsv") == 0 ? '\t' : ',';
        sp->hash_bits = bits;
        st = layout(sp, path, err);
        if (!st && rq->categorical) st = categorical(sp, rq->categorical, path, err);
    }
    if (!st && sl_hash_n_features(sp) > INT32_MAX - 1)
        st = sl_err_set(err, SL_ERR_ARG,
                        "--hash-bits: 2^%d plus %lld numeric columns is beyond 2^31 - 2 features",
                        bits, (long long)(sl_hash_n_features(sp) - sl_hash_range(sp)));
    if (st) sl_hash_spec_free(sp);
    return st;
}

void sl_hash_scratch_free(struct sl_hash_scratch *sc) {
    free(sc->key);
    memset(sc, 0, sizeof *sc);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int sl_hash_row(const struct sl_hash_spec *sp, const struct sl_field *f, struct sl_hash_scratch *sc,
                int32_t *idx, double *val, int *nnz, char *msg, size_t cap) {
    int n = 0;
    /* The hashed features first (they sort below the numeric ones). */
    for (int j = 1; j < sp->n_cols; j++) {
        if (sp->kind[j] != SL_COL_CATEGORICAL || !f[j].s || f[j].n == 0) continue;
        size_t ln = strlen(sp->names[j]), need = ln + 1 + f[j].n;
        if (need > sc->key_cap) {
            sc->key_cap = need + need / 2 + 64;
            sc->key = sl_realloc(sc->key, sc->key_cap);
        }
        memcpy(sc->key, sp->names[j], ln);
        sc->key[ln] = '=';
        memcpy(sc->key + ln + 1, f[j].s, f[j].n);
        idx[n++] = sl_hash_index(sc->key, need, sp->hash_bits);
    }
    qsort(idx, (size_t)n, sizeof *idx, cmp_i32);
    int m = 0; /* collisions within the row add up, as in FeatureHasher */
    for (int k = 0; k < n; k++) {
        if (m && idx[m - 1] == idx[k]) {
            val[m - 1] += 1.0;
            continue;
        }
        idx[m] = idx[k];
        val[m++] = 1.0;
    }
    int64_t at = sl_hash_range(sp);
    for (int j = 1; j < sp->n_cols; j++) {
        if (sp->kind[j] != SL_COL_NUMERIC) continue;
        const int32_t col = (int32_t)at++;
        if (!f[j].s || f[j].n == 0) continue;
        double v;
        const char *e = f[j].s + f[j].n;
        const char *after = sl_parse_double(f[j].s, e, &v);
        if (!after || after != e || !(v - v == 0)) {
            int shown = f[j].n > 24 ? 24 : (int)f[j].n;
            snprintf(msg, cap, "%s value '%.*s' in column %d (%s)",
                     after == e ? "non-finite" : "non-numeric", shown, f[j].s, j + 1, sp->names[j]);
            return -1;
        }
        if (v == 0) continue; /* sparse: a 0 is no feature */
        idx[m] = col;
        val[m++] = v;
    }
    *nnz = m;
    return 0;
}
