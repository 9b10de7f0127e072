/* data_libsvm.c - LIBSVM / svmlight text into CSR:
 *   label [qid:N] idx:val idx:val ...   # comment
 * Indices strictly increasing, 1-based unless zero_based. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "data/reader.h"

/* At most 24 characters of a bad token, for a message. */
static int tok_len(const char *p, const char *end) {
    int n = 0;
    while (p + n < end && !sl_is_space(p[n]) && n < 24)
        n++;
    return n;
}

/* CSR arrays with capacities; indices and values grow together. */
struct csr_build {
    int64_t n, nnz, cap_rows, cap_nnz;
};

static void push_row(struct sl_shard *s, struct csr_build *b, double y) {
    if (b->n + 2 > b->cap_rows) { /* indptr holds n + 1 entries, y n */
        int64_t cap = b->cap_rows;
        sl_grow((void **)&s->y, &cap, b->n + 2, sizeof(double));
        sl_grow((void **)&s->indptr, &b->cap_rows, b->n + 2, sizeof(int64_t));
    }
    s->y[b->n] = y;
    b->n++;
    s->indptr[b->n] = b->nnz;
}

static void push_nz(struct sl_shard *s, struct csr_build *b, int32_t j, double v) {
    if (b->nnz == b->cap_nnz) {
        int64_t cap = b->cap_nnz;
        sl_grow((void **)&s->indices, &cap, b->nnz + 1, sizeof(int32_t));
        sl_grow((void **)&s->values, &b->cap_nnz, b->nnz + 1, sizeof(double));
    }
    s->indices[b->nnz] = j;
    s->values[b->nnz] = v;
    b->nnz++;
}

/* Parses one non-blank line into the row being built; returns 0 or fails ls. */
static int parse_line(const char *p, const char *end, int64_t line, int64_t base,
                      const struct sl_load_opts *o, struct sl_shard *s, struct csr_build *b,
                      struct sl_load_state *ls) {
    double y;
    int zero;
    const char *q;
    if (sl_parse_label(p, end, &q, &y, &zero, ls->real_labels) != 0) {
        sl_parse_fail(ls, line, "bad label '%.*s' (%s)", tok_len(p, end), p,
                      sl_label_expected(ls->real_labels));
        return -1;
    }
    ls->saw_zero_label |= zero;
    int64_t prev = -1;
    p = q;
    for (;;) {
        while (p < end && sl_is_space(*p))
            p++;
        if (p == end || *p == '#') break;
        if (prev < 0 && end - p > 4 && memcmp(p, "qid:", 4) == 0) {
            while (p < end && !sl_is_space(*p))
                p++;
            continue;
        }
        const char *tok = p;
        int64_t idx = 0;
        int nd = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (idx < ((int64_t)1 << 40)) idx = idx * 10 + (*p - '0');
            p++;
            nd++;
        }
        if (nd == 0 || p == end || *p != ':') {
            sl_parse_fail(ls, line, "expected index:value, found '%.*s'", tok_len(tok, end), tok);
            return -1;
        }
        double v;
        const char *after = sl_parse_double(p + 1, end, &v);
        if (!after || (after < end && !sl_is_space(*after) && *after != '#')) {
            sl_parse_fail(ls, line, "non-numeric value in '%.*s'", tok_len(tok, end), tok);
            return -1;
        }
        if (!isfinite(v)) {
            sl_parse_fail(ls, line, "non-finite value in '%.*s'", tok_len(tok, end), tok);
            return -1;
        }
        p = after;
        if (idx < base) {
            sl_parse_fail(ls, line, "feature index 0 in a 1-based file (use --zero-based)");
            return -1;
        }
        int64_t j = idx - base;
        if (j <= prev) {
            sl_parse_fail(ls, line, "feature index %lld %s (indices must increase)", (long long)idx,
                          j == prev ? "repeated" : "out of order");
            return -1;
        }
        if (o->n_features > 0 && j >= o->n_features) {
            sl_parse_fail(ls, line, "feature index %lld beyond --n-features %lld", (long long)idx,
                          (long long)o->n_features);
            return -1;
        }
        if (j >= INT32_MAX - 1) {
            sl_parse_fail(ls, line, "feature index %lld too large (at most 2^31 - 2)",
                          (long long)idx);
            return -1;
        }
        prev = j;
        push_nz(s, b, (int32_t)j, v);
    }
    if (prev + 1 > ls->max_index) ls->max_index = prev + 1;
    push_row(s, b, y);
    return 0;
}

void sl_parse_libsvm(struct sl_range *r, struct sl_shard *s, const struct sl_load_opts *o,
                     struct sl_load_state *ls) {
    struct csr_build b = {.n = 0, .nnz = 0, .cap_rows = 0, .cap_nnz = 0};
    const int64_t base = o->zero_based ? 0 : 1;
    const char *p, *end;
    s->indptr = sl_malloc(sizeof(int64_t));
    s->indptr[0] = 0;
    while (sl_range_next(r, &p, &end)) {
        int64_t line = ++ls->lines;
        while (p < end && sl_is_space(*p))
            p++;
        if (p == end || *p == '#') continue;
        if (parse_line(p, end, line, base, o, s, &b, ls) != 0) {
            sl_count_rest(r, ls);
            break;
        }
    }
    s->n_rows = b.n;
    s->nnz = b.nnz;
    /* Shrink to fit: peak memory is the arrays' growth slack, not a copy. */
    sl_shrink((void **)&s->y, b.n, sizeof(double));
    sl_shrink((void **)&s->indptr, b.n + 1, sizeof(int64_t));
    sl_shrink((void **)&s->indices, b.nnz, sizeof(int32_t));
    sl_shrink((void **)&s->values, b.nnz, sizeof(double));
}
