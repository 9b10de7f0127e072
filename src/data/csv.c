/* data_csv.c - dense CSV into a row-major matrix: label in the first column,
 * then one column per feature; an optional header row (line 1 of each file
 * whose first field is not a number). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/reader.h"

/* One row into s (values appended); returns 0 or fails ls. */
static int parse_row(const char *p, const char *end, int64_t line, struct sl_shard *s,
                     int64_t *cap_rows, int64_t *cap_vals, struct sl_load_state *ls) {
    double y;
    int zero;
    const char *q;
    while (p < end && sl_is_space(*p))
        p++;
    if (sl_parse_label(p, end, &q, &y, &zero, ls->real_labels) != 0) {
        int n = 0;
        while (p + n < end && p[n] != ',' && n < 24)
            n++;
        sl_parse_fail(ls, line, "bad label '%.*s' (%s)", n, p, sl_label_expected(ls->real_labels));
        return -1;
    }
    ls->saw_zero_label |= zero;
    int64_t row = s->n_rows, col = 0;
    int64_t width = ls->ncols > 0 ? ls->ncols - 1 : -1; /* -1: this is the first row */
    p = q;
    for (;;) {
        while (p < end && sl_is_space(*p))
            p++;
        if (p == end) break;
        if (*p != ',') {
            sl_parse_fail(ls, line, "expected ',' after field %lld", (long long)(col + 1));
            return -1;
        }
        p++;
        while (p < end && sl_is_space(*p))
            p++;
        double v;
        const char *after = sl_parse_double(p, end, &v);
        if (!after || (after < end && *after != ',' && !sl_is_space(*after))) {
            int n = 0;
            while (p + n < end && p[n] != ',' && n < 24)
                n++;
            sl_parse_fail(ls, line, "non-numeric value '%.*s' in column %lld", n, p,
                          (long long)(col + 2));
            return -1;
        }
        if (!isfinite(v)) {
            sl_parse_fail(ls, line, "non-finite value in column %lld", (long long)(col + 2));
            return -1;
        }
        if (width >= 0 && col >= width) {
            sl_parse_fail(ls, line, "ragged row: more than %lld columns", (long long)(width + 1));
            ls->as_line = ls->first_row_line;
            return -1;
        }
        sl_grow((void **)&s->values, cap_vals, row * (width >= 0 ? width : 0) + col + 1,
                sizeof(double));
        s->values[row * (width >= 0 ? width : 0) + col] = v;
        col++;
        p = after;
    }
    if (width < 0) {
        ls->ncols = col + 1;
        ls->first_row_line = line;
    } else if (col != width) {
        sl_parse_fail(ls, line, "ragged row: %lld columns, expected %lld", (long long)(col + 1),
                      (long long)(width + 1));
        ls->as_line = ls->first_row_line;
        return -1;
    }
    sl_grow((void **)&s->y, cap_rows, row + 1, sizeof(double));
    s->y[row] = y;
    s->n_rows++;
    return 0;
}

void sl_parse_csv(struct sl_range *r, struct sl_shard *s, const struct sl_load_opts *o,
                  struct sl_load_state *ls) {
    (void)o;
    int64_t cap_rows = 0, cap_vals = 0;
    const char *p, *end;
    s->dense = 1;
    while (sl_range_next(r, &p, &end)) {
        int64_t line = ++ls->lines;
        const char *t = p;
        while (t < end && sl_is_space(*t))
            t++;
        if (t == end) continue;
        if (r->file_first) {
            /* A header: the first field of a file's first line is not a number
             * (each part of a directory may have its own, as Spark writes them). */
            double v;
            const char *after = sl_parse_double(t, end, &v);
            if (!after || (after < end && *after != ',' && !sl_is_space(*after))) continue;
        }
        if (parse_row(p, end, line, s, &cap_rows, &cap_vals, ls) != 0) {
            sl_count_rest(r, ls);
            break;
        }
    }
    int64_t width = ls->ncols > 0 ? ls->ncols - 1 : 0;
    s->nnz = s->n_rows * width;
    sl_shrink((void **)&s->y, s->n_rows, sizeof(double));
    sl_shrink((void **)&s->values, s->nnz, sizeof(double));
}
