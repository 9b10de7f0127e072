/* shard.c - loading a shard: every rank opens the file, parses the lines of
 * its own byte range (range.c) with the format's parser, and the ranks agree
 * on the first error, the feature count, the row offsets and the totals. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/reader.h"
#include "shardlearn/clock.h"

enum sl_format sl_format_from_path(const char *path) {
    size_t n = strlen(path);
    if (n >= 4 && strcmp(path + n - 4, ".csv") == 0) return SL_FORMAT_CSV;
    if (n >= 4 && strcmp(path + n - 4, ".tsv") == 0) return SL_FORMAT_TSV;
    return SL_FORMAT_LIBSVM;
}

static enum sl_status agree_error(struct sl_comm *c, struct sl_load_state *ls, const char *path,
                                  struct sl_err *err) {
    /* Global line of this rank's first bad line; errors without a line
     * (I/O) sort first. */
    int64_t first_line = sl_comm_exscan_i64(c, ls->lines) + 1;
    int has = ls->status != SL_OK;
    int64_t key = ls->err_line > 0 ? first_line + ls->err_line - 1 : 0;
    int who = sl_comm_first_error(c, has, key);
    if (who < 0) return SL_OK;
    int64_t st = ls->status;
    sl_comm_bcast(c, &st, sizeof st, who);
    if (c->rank == who) {
        if (ls->err_line > 0)
            sl_err_set(err, (enum sl_status)st, "%s:%lld: %s", path, (long long)key, ls->msg);
        else
            sl_err_set(err, (enum sl_status)st, "%s: %s", path, ls->msg);
    }
    return (enum sl_status)st;
}

static enum sl_status finish_shard(struct sl_shard *s, enum sl_format fmt,
                                   const struct sl_load_opts *o, struct sl_comm *c,
                                   struct sl_load_state *ls, const char *path, struct sl_err *err) {
    int64_t tot[3] = {s->n_rows, s->nnz, ls->saw_zero_label};
    sl_comm_sum_i64(c, tot, 3);
    if (tot[0] == 0) {
        if (c->rank == 0) sl_err_set(err, SL_ERR_PARSE, "%s: no data rows", path);
        return SL_ERR_PARSE;
    }
    s->n_rows_global = tot[0];
    s->nnz_global = tot[1];
    s->labels01 = tot[2] > 0;
    s->row_begin = sl_comm_exscan_i64(c, s->n_rows);
    if (o->hash) {
        s->n_features = sl_hash_n_features(o->hash); /* fixed by the spec */
    } else if (fmt == SL_FORMAT_CSV) {
        /* Every rank's rows must have the width of the file's first row. */
        int64_t *w = sl_malloc(sizeof(int64_t) * (size_t)c->size);
        sl_comm_allgather_i64(c, ls->ncols, w);
        int64_t ref = 0;
        for (int q = 0; q < c->size && !ref; q++)
            ref = w[q];
        free(w);
        if (ls->ncols && ls->ncols != ref)
            sl_parse_fail(ls, ls->first_row_line, "ragged row: %lld columns, expected %lld",
                          (long long)ls->ncols, (long long)ref);
        else if (ls->ncols && o->n_features > 0 && ref - 1 != o->n_features)
            sl_parse_fail(ls, ls->first_row_line, "%lld features, expected %lld",
                          (long long)(ref - 1), (long long)o->n_features);
        enum sl_status st = agree_error(c, ls, path, err);
        if (st) return st;
        s->n_features = ref - 1;
    } else {
        int64_t d = ls->max_index;
        sl_comm_max_i64(c, &d, 1);
        s->n_features = o->n_features > 0 ? o->n_features : d;
    }
    return SL_OK;
}

static const char CHANGED[] = "the file changed while it was being read (a writer still at work?)";

/* Collective. 0 when the ranks that opened the file (r non-NULL) saw
 * different sizes or modification times: their byte ranges would not tile
 * the file, and rows would be lost or read twice. */
static int same_file_everywhere(struct sl_comm *c, const struct sl_range *r) {
    /* max of (size, mtime) and of their negations: the max and the min. */
    int64_t v[4] = {INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN};
    if (r) {
        v[0] = r->size;
        v[1] = r->mtime_ns;
        v[2] = -r->size;
        v[3] = -r->mtime_ns;
    }
    sl_comm_max_i64(c, v, 4);
    if (v[0] == INT64_MIN) return 1; /* no rank opened it: nothing to compare */
    return v[0] == -v[2] && v[1] == -v[3];
}

/* Parses this rank's lines; a read error or a file that changed under the
 * reader fails the rank with no line number. */
static void parse(struct sl_range *r, enum sl_format fmt, const struct sl_load_opts *o,
                  struct sl_shard *s, struct sl_load_state *ls) {
    if (o->hash)
        sl_parse_hashed(r, s, o, ls);
    else if (fmt == SL_FORMAT_CSV)
        sl_parse_csv(r, s, o, ls);
    else
        sl_parse_libsvm(r, s, o, ls);
    /* A file changed under the reader explains a bad line or a short read
     * better than they explain themselves. */
    if (sl_range_changed(r)) {
        ls->status = SL_ERR_IO;
        ls->err_line = 0;
        snprintf(ls->msg, sizeof ls->msg, "%s", CHANGED);
    } else if (ls->status == SL_OK && r->io_failed) {
        ls->status = SL_ERR_IO;
        snprintf(ls->msg, sizeof ls->msg, "read error: %s", strerror(r->err));
    }
}

/* Collective. s->file_crc32 and file_bytes from every rank's CRC of its
 * byte range (crc, s->bytes bytes): the ranges tile the file in rank order,
 * so crc32_combine gives the CRC of the whole file, the same for any rank
 * count, with no second pass over the data. */
static void file_digest(struct sl_shard *s, uint32_t crc, struct sl_comm *c) {
    int64_t *v = sl_malloc(sizeof(int64_t) * 2 * (size_t)c->size);
    sl_comm_allgather_i64(c, (int64_t)crc, v);
    sl_comm_allgather_i64(c, s->bytes, v + c->size);
    uLong all = 0;
    int64_t total = 0;
    for (int q = 0; q < c->size; q++) {
        all = crc32_combine(all, (uLong)v[q], (z_off_t)v[c->size + q]);
        total += v[c->size + q];
    }
    free(v);
    s->file_crc32 = (uint32_t)all;
    s->file_bytes = total;
}

enum sl_status sl_shard_load(struct sl_shard *s, const char *path, const struct sl_load_opts *o,
                             struct sl_comm *c, struct sl_err *err) {
    memset(s, 0, sizeof *s);
    sl_err_clear(err);
    enum sl_format fmt = o->format == SL_FORMAT_AUTO ? sl_format_from_path(path) : o->format;
    if (!o->hash && (fmt == SL_FORMAT_TSV || fmt == SL_FORMAT_CRITEO)) {
        /* The same on every rank: no collective needed to agree on it. */
        if (c->rank == 0) sl_err_set(err, SL_ERR_ARG, "%s: tsv/criteo needs a hashing spec", path);
        return SL_ERR_ARG;
    }
    double t0 = sl_wtime();
    struct sl_range r;
    struct sl_load_state ls;
    memset(&ls, 0, sizeof ls);
    const int opened = sl_range_open(&r, path, c) == SL_OK;
    if (!opened) {
        ls.status = SL_ERR_IO;
        snprintf(ls.msg, sizeof ls.msg, "%s", strerror(r.err ? r.err : EIO));
    }
    /* Collective: every rank must have seen the same file. */
    if (!same_file_everywhere(c, opened ? &r : NULL) && opened) {
        ls.status = SL_ERR_IO;
        snprintf(ls.msg, sizeof ls.msg, "%s: the ranks saw different versions", CHANGED);
    }
    uint32_t crc = 0;
    if (opened) {
        if (ls.status == SL_OK) parse(&r, fmt, o, s, &ls);
        s->bytes = r.end - r.begin;
        crc = r.crc;
        sl_range_close(&r);
    }
    enum sl_status st = agree_error(c, &ls, path, err);
    if (st == SL_OK) st = finish_shard(s, fmt, o, c, &ls, path, err);
    if (st == SL_OK) file_digest(s, crc, c);
    if (st != SL_OK) {
        sl_shard_free(s);
        return st;
    }
    s->load_seconds = sl_wtime() - t0;
    return SL_OK;
}

void sl_shard_free(struct sl_shard *s) {
    free(s->y);
    free(s->indptr);
    free(s->indices);
    free(s->values);
    memset(s, 0, sizeof *s);
}
