/* parse.c - what both line parsers share: recording the first error of a
 * rank, counting the lines after it, labels, and growing arrays. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "data/reader.h"

void sl_parse_fail(struct sl_load_state *ls, int64_t line, const char *fmt, ...) {
    if (ls->status != SL_OK) return;
    ls->status = SL_ERR_PARSE;
    ls->err_line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ls->msg, sizeof ls->msg, fmt, ap);
    va_end(ap);
}

void sl_count_rest(struct sl_range *r, struct sl_load_state *ls) {
    const char *a, *b;
    while (sl_range_next(r, &a, &b))
        ls->lines++;
}

int sl_parse_label(const char *p, const char *end, const char **after, double *y, int *was_zero,
                   int real) {
    double v;
    const char *q = sl_parse_double(p, end, &v);
    if (!q || (q < end && !sl_is_space(*q) && *q != ',')) return -1;
    if (real == 2) { /* class labels: integers, exactly representable */
        if (!(v == floor(v) && fabs(v) <= 9007199254740992.0)) return -1;
        *y = v;
    } else if (real) {
        if (!isfinite(v)) return -1;
        *y = v;
    } else if (v == 1.0)
        *y = 1.0;
    else if (v == -1.0 || v == 0.0)
        *y = -1.0;
    else
        return -1;
    *was_zero = v == 0.0;
    *after = q;
    return 0;
}

const char *sl_label_expected(int real) {
    if (real == 2) return "expected an integer class label for multinomial";
    return real ? "expected a finite number for regression" : "expected +1/-1 or 1/0";
}

void sl_grow(void **p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return;
    int64_t nc = *cap ? *cap + *cap / 2 : 4096;
    if (nc < need) nc = need;
    *p = sl_realloc(*p, (size_t)nc * elem);
    *cap = nc;
}

void sl_shrink(void **p, int64_t n, size_t elem) {
    *p = sl_realloc(*p, (size_t)(n ? n : 1) * elem);
}

void sl_push_row_key(struct sl_shard *s, const struct sl_load_opts *o, struct sl_load_state *ls,
                     int64_t row, int64_t key) {
    if (!o->row_keys) return;
    sl_grow((void **)&s->row_key, &ls->key_cap, row + 1, sizeof(int64_t));
    s->row_key[row] = key;
}
