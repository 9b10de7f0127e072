/* weights.c - sample weights for a loaded shard: from a file with one
 * weight a line in row order, or per class. Every rank reads the whole
 * weights file (8-20 bytes a row, far less than the data) and keeps the
 * lines of its own rows [row_begin, row_begin + n_rows), so every rank
 * checks every line and all of them agree on the first bad one without a
 * collective for it. */
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
    char file[SL_IO_NAME]; /* the file of that line */
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

/* One line of the weights source (sl_line_fn). */
struct wctx {
    const struct sl_shard *s;
    double *out;
    struct wread *wr;
};

static int weight_line(const char *p, size_t len, const char *file, int64_t lineno, void *ctx) {
    struct wctx *w = ctx;
    const char *end = p + len;
    while (end > p && (end[-1] == '\r' || sl_is_space(end[-1])))
        end--;
    const char *t = p;
    while (t < end && sl_is_space(*t))
        t++;
    if (t == end) return 0; /* blank lines are no rows, as in the data readers */
    double v = 0.0;
    const char *bad = parse_weight(p, end, &v);
    if (bad) {
        w->wr->line = lineno;
        snprintf(w->wr->file, sizeof w->wr->file, "%s", file);
        snprintf(w->wr->msg, sizeof w->wr->msg, "%s '%.*s'", bad,
                 (int)(end - t > 24 ? 24 : end - t), t);
        return 1;
    }
    const int64_t i = w->wr->rows - w->s->row_begin;
    if (i >= 0 && i < w->s->n_rows) w->out[i] = v;
    w->wr->rows++;
    return 0;
}

enum sl_status sl_shard_read_weights(struct sl_shard *s, const char *path, struct sl_comm *c,
                                     struct sl_err *err) {
    struct wread wr = {.rows = 0, .line = 0, .msg = ""};
    double *w = sl_calloc((size_t)(s->n_rows ? s->n_rows : 1), sizeof(double));
    struct wctx ctx = {s, w, &wr};
    struct sl_err ioerr;
    sl_err_clear(&ioerr);
    if (sl_source_lines(path, weight_line, &ctx, &ioerr) != SL_OK)
        snprintf(wr.msg, sizeof wr.msg, "%s", ioerr.msg[0] ? ioerr.msg : "read error");
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
            return sl_err_set(err, SL_ERR_PARSE, "%s:%lld: %s", wr.file, (long long)wr.line,
                              wr.msg);
        if (strncmp(wr.msg, path, strlen(path)) == 0) /* an I/O message names it already */
            return sl_err_set(err, SL_ERR_PARSE, "%s", wr.msg);
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

/* ---- --weight-column: a CSV column holding the weights ---- */

/* The first line of path (a directory: its first file), without its end of
 * line, into buf, or -1. */
static int first_line(const char *path, char *buf, size_t cap) {
    struct sl_err e;
    char *line = sl_source_first_line(path, &e);
    if (!line) return -1;
    snprintf(buf, cap, "%s", line);
    free(line);
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

/* The 0-based field of the header line named name, or -1. */
static int64_t header_field(const char *line, const char *name) {
    const size_t n = strlen(name);
    int64_t k = 0;
    for (const char *p = line;; k++) {
        while (sl_is_space(*p))
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && sl_is_space(t[-1]))
            t--;
        if ((size_t)(t - p) == n && memcmp(p, name, n) == 0) return k;
        if (!*e) return -1;
        p = e + 1;
    }
}

/* The field --weight-column names: an index (0-based, the label is 0) or a
 * header name. Not collective: every rank reads the same first line. */
static const char *resolve_column(const char *path, const char *spec, int64_t width, int64_t *field,
                                  char *msg, size_t cap) {
    char *end = NULL;
    long long k = strtoll(spec, &end, 10);
    if (*spec && !*end) {
        *field = k;
    } else {
        static char line[1 << 16];
        double v;
        if (first_line(path, line, sizeof line) != 0 ||
            sl_parse_double(line, line + strlen(line), &v) != NULL) {
            snprintf(msg, cap, "--weight-column %s: the file has no header row to find it in",
                     spec);
            return msg;
        }
        *field = header_field(line, spec);
        if (*field < 0) {
            snprintf(msg, cap, "--weight-column %s: no such column in the header", spec);
            return msg;
        }
    }
    if (*field < 1 || *field > width) {
        snprintf(msg, cap,
                 "--weight-column %s: column %lld is %s (columns 1..%lld hold the features)", spec,
                 (long long)*field, *field == 0 ? "the label" : "not in the file",
                 (long long)width);
        return msg;
    }
    return NULL;
}

/* Finding the line of a data row (sl_line_fn). */
struct rowfind {
    int64_t row, seen, line;
    char file[SL_IO_NAME];
};

static int row_line(const char *p, size_t len, const char *file, int64_t lineno, void *ctx) {
    struct rowfind *f = ctx;
    const char *end = p + len;
    while (p < end && (sl_is_space(*p) || *p == '\n'))
        p++;
    if (p == end) return 0;
    double v;
    const char *a = sl_parse_double(p, end, &v);
    if (lineno == 1 && (!a || (a < end && *a != ',' && !sl_is_space(*a))))
        return 0; /* a file's header */
    if (++f->seen != f->row) return 0;
    f->line = lineno;
    snprintf(f->file, sizeof f->file, "%s", file);
    return 1;
}

/* The file and 1-based line that hold data row `row` (0-based, global): the
 * CSV reader's rows are the non-blank lines after each file's optional
 * header. */
static void line_of_row(const char *path, int64_t row, struct rowfind *f) {
    *f = (struct rowfind){.row = row, .seen = -1, .line = 0};
    snprintf(f->file, sizeof f->file, "%s", path);
    struct sl_err e;
    (void)sl_source_lines(path, row_line, f, &e); /* only for the message: 0 if unreadable */
}

enum sl_status sl_shard_weight_column(struct sl_shard *s, const char *path, const char *spec,
                                      struct sl_comm *c, struct sl_err *err) {
    char msg[300];
    int64_t field = 0;
    char *e = NULL;
    (void)strtoll(spec, &e, 10);
    const int by_number = *spec && !*e;
    if (s->dense && s->maps && !by_number)
        snprintf(msg, sizeof msg,
                 "--weight-column %s: a cache keeps no header row; give the column's number "
                 "(0-based, the label is 0)",
                 spec);
    const char *bad = !s->dense ? "--weight-column needs CSV data"
                      : s->maps && !by_number
                          ? msg
                          : resolve_column(path, spec, s->n_features, &field, msg, sizeof msg);
    if (bad) /* the same on every rank: they read the same header */
        return c->rank == 0 ? sl_err_set(err, SL_ERR_ARG, "%s", bad) : SL_ERR_ARG;
    sl_cache_own_values(s); /* a cache's rows are mapped read-only (cache.c) */
    /* Row-major (n, d) -> (n, d - 1) in place: each row moves down, never over
     * a row not yet read. */
    const int64_t d = s->n_features, j = field - 1;
    double *w = sl_malloc(sizeof(double) * (size_t)(s->n_rows ? s->n_rows : 1));
    int64_t first_bad = -1;
    for (int64_t i = 0; i < s->n_rows; i++) {
        const double *row = s->values + i * d;
        double *out = s->values + i * (d - 1);
        w[i] = row[j];
        if (first_bad < 0 && !(w[i] >= 0)) first_bad = i;
        memmove(out, row, sizeof(double) * (size_t)j);
        memmove(out + j, row + j + 1, sizeof(double) * (size_t)(d - 1 - j));
    }
    int who = sl_comm_first_error(c, first_bad >= 0, s->row_begin + first_bad);
    if (who >= 0) {
        enum sl_status st = SL_ERR_PARSE;
        if (c->rank == who && s->maps) { /* a cache: no lines to name */
            st = sl_err_set(err, st, "%s: row %lld: negative weight %g in column %lld (%s)", path,
                            (long long)(s->row_begin + first_bad + 1), w[first_bad],
                            (long long)field, spec);
        } else if (c->rank == who) {
            struct rowfind at;
            line_of_row(path, s->row_begin + first_bad, &at);
            st = sl_err_set(err, st, "%s:%lld: negative weight %g in column %lld (%s)", at.file,
                            (long long)at.line, w[first_bad], (long long)field, spec);
        }
        free(w);
        return st;
    }
    s->n_features = d - 1;
    s->nnz = s->n_rows * s->n_features;
    s->nnz_global = s->n_rows_global * s->n_features;
    sl_shard_scale_weights(s, w);
    free(w);
    return SL_OK;
}
