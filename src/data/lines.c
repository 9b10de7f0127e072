/* lines.c - every line of a source (a file, a directory, a glob, .gz/.zst
 * parts, gs:// or https://), in order, read by one rank on its own: for the
 * small side files that every rank reads whole (a weights file) and for
 * the first line of a source (a CSV header). */
#include <stdlib.h>
#include <string.h>

#include "data/reader.h"

#define LINES_CHUNK ((size_t)1 << 16)

/* Delivers the whole lines of buf[0, *len) (the last one too when at_end),
 * keeping a partial last line at the front. 1 when fn asked to stop. */
static int deliver(char *buf, size_t *len, int at_end, const char *file, int64_t *lineno,
                   sl_line_fn fn, void *ctx) {
    size_t off = 0;
    for (;;) {
        char *nl = memchr(buf + off, '\n', *len - off);
        if (!nl && !(at_end && off < *len)) break;
        size_t n = nl ? (size_t)(nl - (buf + off)) : *len - off;
        if (fn(buf + off, n, file, ++*lineno, ctx)) return 1;
        off += n + (nl ? 1 : 0);
        if (!nl) break;
    }
    memmove(buf, buf + off, *len - off);
    *len -= off;
    return 0;
}

static enum sl_status object_lines(const struct sl_io_object *o, sl_line_fn fn, void *ctx,
                                   int *stopped, struct sl_err *err) {
    struct sl_io_stream *st = NULL;
    enum sl_status rc = sl_io_open_decoded(&st, o, err);
    if (rc != SL_OK) return rc;
    size_t cap = LINES_CHUNK, len = 0;
    char *buf = sl_malloc(cap);
    int64_t lineno = 0;
    for (;;) {
        if (cap - len < LINES_CHUNK / 2) buf = sl_realloc(buf, cap *= 2); /* a long line */
        size_t got = 0;
        rc = sl_io_read(st, buf + len, cap - len, &got, err);
        if (rc != SL_OK) break;
        len += got;
        if (deliver(buf, &len, got == 0, o->name, &lineno, fn, ctx)) {
            *stopped = 1;
            break;
        }
        if (got == 0) break;
    }
    free(buf);
    sl_io_close(st);
    return rc;
}

enum sl_status sl_source_lines(const char *spec, sl_line_fn fn, void *ctx, struct sl_err *err) {
    struct sl_io_list l;
    enum sl_status rc = sl_io_list_make(&l, spec, err);
    if (rc != SL_OK) return rc;
    int stopped = 0;
    for (int64_t i = 0; i < l.n && rc == SL_OK && !stopped; i++)
        rc = object_lines(&l.obj[i], fn, ctx, &stopped, err);
    sl_io_list_free(&l);
    return rc;
}

/* Keeps the first line. */
static int keep_first(const char *line, size_t len, const char *file, int64_t lineno,
                      void *ctx) {
    (void)file;
    (void)lineno;
    char **out = ctx;
    *out = sl_malloc(len + 1);
    memcpy(*out, line, len);
    (*out)[len] = '\0';
    return 1;
}

char *sl_source_first_line(const char *spec, struct sl_err *err) {
    char *line = NULL;
    if (sl_source_lines(spec, keep_first, &line, err) != SL_OK) {
        free(line);
        return NULL;
    }
    if (!line) { /* listed, but no line at all */
        line = sl_malloc(1);
        line[0] = '\0';
    }
    return line;
}

enum sl_format sl_format_of_source(const char *spec) {
    enum sl_format f = sl_format_from_path(spec);
    if (f != SL_FORMAT_LIBSVM) return f;
    /* A directory, a glob or a prefix: the first object's name decides, as
     * in sl_shard_load. Not listable: the loader will say why. */
    struct sl_io_list l;
    struct sl_err e;
    if (sl_io_list_make(&l, spec, &e) != SL_OK) return f;
    f = sl_format_from_path(l.obj[0].name);
    sl_io_list_free(&l);
    return f;
}
