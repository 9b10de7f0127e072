/* weights.c - sample weights for a loaded shard: from a file with one
 * weight a line in row order, or per class. Every rank reads the whole
 * weights file (8-20 bytes a row, far less than the data) and keeps the
 * lines of its own rows [row_begin, row_begin + n_rows), so every rank
 * checks every line and all of them agree on the first bad one without a
 * collective for it. */
#define _POSIX_C_SOURCE 200809L /* getline */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/reader.h"

/* What reading the file found; the first fault stops it. */
struct wread {
    int64_t rows;  /* weight lines read */
    int64_t line;  /* 1-based line of the fault; 0: none or no line */
    char msg[200]; /* the fault, empty when none */
};

/* One line [p, end): a finite weight >= 0 into *w, or a message. */
static const char *parse_weight(const char *p, const char *end, double *w) {
    while (p < end && sl_is_space(*p))
        p++;
    const char *q = sl_parse_double(p, end, w);
    if (!q) return "not a number";
    while (q < end && sl_is_space(*q))
        q++;
    if (q != end) return "not a number";
    if (!isfinite(*w)) return "non-finite weight";
    if (*w < 0) return "negative weight";
    return NULL;
}

static void read_lines(FILE *f, struct sl_shard *s, double *out, struct wread *wr) {
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t line = 0;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        line++;
        const char *p = buf, *end = buf + len;
        while (end > p && (end[-1] == '\n' || sl_is_space(end[-1])))
            end--;
        const char *t = p;
        while (t < end && sl_is_space(*t))
            t++;
        if (t == end) continue; /* blank lines are no rows, as in the data readers */
        double w = 0.0;
        const char *bad = parse_weight(p, end, &w);
        if (bad) {
            wr->line = line;
            snprintf(wr->msg, sizeof wr->msg, "%s '%.*s'", bad, (int)(end - t > 24 ? 24 : end - t),
                     t);
            break;
        }
        const int64_t i = wr->rows - s->row_begin;
        if (i >= 0 && i < s->n_rows) out[i] = w;
        wr->rows++;
    }
    free(buf);
}

enum sl_status sl_shard_read_weights(struct sl_shard *s, const char *path, struct sl_comm *c,
                                     struct sl_err *err) {
    struct wread wr = {.rows = 0, .line = 0, .msg = ""};
    double *w = sl_calloc((size_t)(s->n_rows ? s->n_rows : 1), sizeof(double));
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(wr.msg, sizeof wr.msg, "%s", strerror(errno));
    } else {
        read_lines(f, s, w, &wr);
        if (!wr.msg[0] && ferror(f)) snprintf(wr.msg, sizeof wr.msg, "read error");
        fclose(f);
    }
    if (!wr.msg[0] && wr.rows != s->n_rows_global)
        snprintf(wr.msg, sizeof wr.msg, "%lld weights for %lld data rows", (long long)wr.rows,
                 (long long)s->n_rows_global);
    /* Every rank read the same lines; a rank that could not read the file
     * at all (a path that differs by host) is agreed on here. */
    int64_t failed = wr.msg[0] != 0;
    sl_comm_max_i64(c, &failed, 1);
    if (failed) {
        free(w);
        if (c->rank != 0) return SL_ERR_PARSE;
        if (!wr.msg[0]) return sl_err_set(err, SL_ERR_IO, "%s: another rank cannot read it", path);
        if (wr.line > 0)
            return sl_err_set(err, SL_ERR_PARSE, "%s:%lld: %s", path, (long long)wr.line, wr.msg);
        return sl_err_set(err, SL_ERR_PARSE, "%s: %s", path, wr.msg);
    }
    sl_shard_scale_weights(s, w);
    free(w);
    return SL_OK;
}

void sl_shard_scale_weights(struct sl_shard *s, const double *w) {
    if (!s->weights) {
        s->weights = sl_malloc(sizeof(double) * (size_t)(s->n_rows ? s->n_rows : 1));
        for (int64_t i = 0; i < s->n_rows; i++)
            s->weights[i] = 1.0;
    }
    for (int64_t i = 0; i < s->n_rows; i++)
        s->weights[i] *= w[i];
}
