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

/* ---- --weight-column: a CSV column holding the weights ---- */

/* The first line of path (without its end of line) into buf, or -1. */
static int first_line(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    const int ok = fgets(buf, (int)cap, f) != NULL;
    fclose(f);
    if (!ok) return -1;
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

/* The 1-based line of the file that holds data row `row` (0-based, global):
 * the CSV reader's rows are its non-blank lines after an optional header. */
static int64_t line_of_row(const char *path, int64_t row) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t line = 0, seen = -1, found = 0;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        line++;
        const char *p = buf, *end = buf + len;
        while (p < end && (sl_is_space(*p) || *p == '\n'))
            p++;
        if (p == end) continue;
        double v;
        const char *a = sl_parse_double(p, end, &v);
        if (line == 1 && (!a || (a < end && *a != ',' && !sl_is_space(*a) && *a != '\n')))
            continue; /* the header */
        if (++seen == row) {
            found = line;
            break;
        }
    }
    free(buf);
    fclose(f);
    return found;
}

enum sl_status sl_shard_weight_column(struct sl_shard *s, const char *path, const char *spec,
                                      struct sl_comm *c, struct sl_err *err) {
    char msg[300];
    int64_t field = 0;
    const char *bad = !s->dense
                          ? "--weight-column needs CSV data"
                          : resolve_column(path, spec, s->n_features, &field, msg, sizeof msg);
    if (bad) /* the same on every rank: they read the same header */
        return c->rank == 0 ? sl_err_set(err, SL_ERR_ARG, "%s", bad) : SL_ERR_ARG;
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
        if (c->rank == who) {
            const int64_t line = line_of_row(path, s->row_begin + first_bad);
            st = sl_err_set(err, st, "%s:%lld: negative weight %g in column %lld (%s)", path,
                            (long long)line, w[first_bad], (long long)field, spec);
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
