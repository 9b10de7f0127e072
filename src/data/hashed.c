/* hashed.c - delimited text with categorical columns into CSR: each line of
 * this rank's range split at the spec's delimiter, the label from column 1,
 * the other fields through sl_hash_row (hashspec.c), the same rule the model
 * file and the server use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/reader.h"
#include "shardlearn/hashing.h"

struct hashed_build {
    int64_t n, nnz, cap_rows, cap_nnz;
    struct sl_field *f; /* (n_cols) the fields of the line being parsed */
    int32_t *idx;       /* (n_cols) its features */
    double *val;
    struct sl_hash_scratch sc;
    char *text; /* unquoted fields of the line (sl_hash_split) */
    size_t text_cap;
};

/* The fields of [p, end) into b->f; the count, or -1 for a quote that does
 * not end (and ls failed). */
static int split(const struct sl_hash_spec *sp, const char *p, const char *end, int64_t line,
                 struct hashed_build *b, struct sl_load_state *ls) {
    int n = sl_hash_split(sp->delim, p, end, b->f, sp->n_cols, &b->text, &b->text_cap);
    if (n < 0) sl_parse_fail(ls, line, "a quoted field does not end on its line");
    return n;
}

/* The header line of the file: it must name the spec's columns. */
static int check_header(const struct sl_hash_spec *sp, const struct sl_field *f, int n,
                        int64_t line, struct sl_load_state *ls) {
    if (n != sp->n_cols) {
        sl_parse_fail(ls, line, "the header has %d columns, expected %d", n, sp->n_cols);
        return -1;
    }
    for (int j = 0; j < n; j++) {
        if (f[j].n != strlen(sp->names[j]) || memcmp(f[j].s, sp->names[j], f[j].n) != 0) {
            int shown = f[j].n > 40 ? 40 : (int)f[j].n;
            sl_parse_fail(ls, line, "the header's column %d is '%.*s', expected '%s'", j + 1, shown,
                          f[j].s, sp->names[j]);
            return -1;
        }
    }
    return 0;
}

static void push_row(struct sl_shard *s, struct hashed_build *b, double y, int nnz) {
    if (b->n + 2 > b->cap_rows) { /* indptr holds n + 1 entries, y n */
        int64_t cap = b->cap_rows;
        sl_grow((void **)&s->y, &cap, b->n + 2, sizeof(double));
        sl_grow((void **)&s->indptr, &b->cap_rows, b->n + 2, sizeof(int64_t));
    }
    if (nnz > 0) { /* a row of missing values only has none, and may be the first */
        if (b->nnz + nnz > b->cap_nnz) {
            int64_t cap = b->cap_nnz;
            sl_grow((void **)&s->indices, &cap, b->nnz + nnz, sizeof(int32_t));
            sl_grow((void **)&s->values, &b->cap_nnz, b->nnz + nnz, sizeof(double));
        }
        memcpy(s->indices + b->nnz, b->idx, sizeof(int32_t) * (size_t)nnz);
        memcpy(s->values + b->nnz, b->val, sizeof(double) * (size_t)nnz);
        b->nnz += nnz;
    }
    s->y[b->n] = y;
    b->n++;
    s->indptr[b->n] = b->nnz;
}

/* One non-blank data line; 0 or fails ls. */
static int parse_line(const struct sl_hash_spec *sp, const char *p, const char *end, int64_t line,
                      int64_t key, struct sl_shard *s, const struct sl_load_opts *o,
                      struct hashed_build *b, struct sl_load_state *ls) {
    int n = split(sp, p, end, line, b, ls);
    if (n < 0) return -1;
    if (n != sp->n_cols) {
        sl_parse_fail(ls, line, "ragged row: %d columns, expected %d", n, sp->n_cols);
        return -1;
    }
    double y;
    int zero;
    const char *after;
    const struct sl_field *lf = &b->f[0];
    if (lf->n == 0 || sl_parse_label(lf->s, lf->s + lf->n, &after, &y, &zero, ls->real_labels) != 0 ||
        after != lf->s + lf->n) {
        int shown = lf->n > 24 ? 24 : (int)lf->n;
        sl_parse_fail(ls, line, "bad label '%.*s' (%s)", shown, lf->s,
                      sl_label_expected(ls->real_labels));
        return -1;
    }
    ls->saw_zero_label |= zero;
    int nnz = 0;
    char msg[256];
    if (sl_hash_row(sp, b->f, &b->sc, b->idx, b->val, &nnz, msg, sizeof msg) != 0) {
        sl_parse_fail(ls, line, "%s", msg);
        return -1;
    }
    push_row(s, b, y, nnz);
    sl_push_row_key(s, o, ls, b->n - 1, key);
    return 0;
}

void sl_parse_hashed(struct sl_range *r, struct sl_shard *s, const struct sl_load_opts *o,
                     struct sl_load_state *ls) {
    const struct sl_hash_spec *sp = o->hash;
    struct hashed_build b = {.n = 0};
    b.f = sl_calloc((size_t)sp->n_cols, sizeof *b.f);
    b.idx = sl_calloc((size_t)sp->n_cols, sizeof *b.idx);
    b.val = sl_calloc((size_t)sp->n_cols, sizeof *b.val);
    s->dense = 0;
    s->indptr = sl_calloc(1, sizeof(int64_t)); /* indptr[0] = 0, even with no rows */
    const char *p, *end;
    while (sl_range_next(r, &p, &end)) {
        int64_t line = ++ls->lines;
        const char *t = p;
        while (t < end && sl_is_space(*t))
            t++;
        if (t == end) continue;
        const int64_t key = sl_range_key(r, p); /* the line's first byte, before a BOM */
        /* Each file of a directory starts with its own header (and maybe a BOM). */
        if (r->file_first && end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
            p += 3; /* a UTF-8 byte-order mark */
        int rc;
        if (r->file_first && sp->header)
            rc = check_header(sp, b.f, split(sp, p, end, line, &b, ls), line, ls);
        else
            rc = parse_line(sp, p, end, line, key, s, o, &b, ls);
        if (rc != 0) {
            sl_count_rest(r, ls);
            break;
        }
    }
    s->n_rows = b.n;
    s->nnz = b.nnz;
    sl_shrink((void **)&s->y, s->n_rows, sizeof(double));
    sl_shrink((void **)&s->indptr, s->n_rows + 1, sizeof(int64_t));
    sl_shrink((void **)&s->indices, s->nnz, sizeof(int32_t));
    sl_shrink((void **)&s->values, s->nnz, sizeof(double));
    sl_hash_scratch_free(&b.sc);
    free(b.text);
    free(b.f);
    free(b.idx);
    free(b.val);
}
