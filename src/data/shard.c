/* shard.c - loading a shard: rank 0 lists the source (a file, a directory,
 * a glob, compressed parts) and shares the list; every rank parses the
 * lines of its own share (range.c) with the format's parser, and the ranks
 * agree on the first error, the feature count, the row offsets and the
 * totals. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/reader.h"
#include "shardlearn/clock.h"

enum sl_format sl_format_from_path(const char *path) {
    size_t n = strlen(path);
    /* A compressed part is named for its content: x.csv.gz, x.csv.zst. */
    if (n >= 3 && strcmp(path + n - 3, ".gz") == 0)
        n -= 3;
    else if (n >= 4 && strcmp(path + n - 4, ".zst") == 0)
        n -= 4;
    if (n >= 4 && strncmp(path + n - 4, ".csv", 4) == 0) return SL_FORMAT_CSV;
    if (n >= 4 && strncmp(path + n - 4, ".tsv", 4) == 0) return SL_FORMAT_TSV;
    return SL_FORMAT_LIBSVM;
}

/* Where a rank-local line is in its file, for messages: the rank's pieces
 * (object, first rank-local line) and the lines of its first object read by
 * lower ranks. */
struct line_map {
    int64_t n;
    int64_t *obj, *first_line; /* (n) */
    int64_t before;            /* lines of obj[0] on lower ranks */
};

/* Collective. Each rank's last object and its lines in it, gathered: the
 * lines of a rank's first object on lower ranks sit in their last pieces. */
static void line_map_make(struct line_map *m, const struct sl_range *r, struct sl_comm *c) {
    m->n = r->n_pieces;
    m->obj = sl_malloc(sizeof(int64_t) * (size_t)(m->n + 1));
    m->first_line = sl_malloc(sizeof(int64_t) * (size_t)(m->n + 1));
    for (int64_t p = 0; p < m->n; p++) {
        m->obj[p] = r->piece[p].obj;
        m->first_line[p] = r->piece[p].first_line;
    }
    int64_t *last = sl_malloc(sizeof(int64_t) * 2 * (size_t)c->size);
    sl_comm_allgather_i64(c, m->n ? m->obj[m->n - 1] : -1, last);
    sl_comm_allgather_i64(c, m->n ? r->lines - m->first_line[m->n - 1] : 0, last + c->size);
    m->before = 0;
    for (int q = 0; q < c->rank && m->n; q++)
        if (last[q] == m->obj[0]) m->before += last[c->size + q];
    free(last);
}

static void line_map_free(struct line_map *m) {
    free(m->obj);
    free(m->first_line);
}

/* Rank-local line (1-based) -> its object and its line in that object. */
static void line_where(const struct line_map *m, int64_t line, int64_t *obj, int64_t *in_file) {
    int64_t p = 0;
    while (p + 1 < m->n && m->first_line[p + 1] < line)
        p++;
    *obj = m->n ? m->obj[p] : 0;
    *in_file = line - (m->n ? m->first_line[p] : 0) + (p == 0 ? m->before : 0);
}

static enum sl_status agree_error(struct sl_comm *c, struct sl_load_state *ls,
                                  const struct sl_io_list *l, const struct line_map *m,
                                  struct sl_err *err) {
    /* Global line of this rank's first bad line; errors without a line
     * (I/O, whose messages name their object) sort first. */
    int64_t first_line = sl_comm_exscan_i64(c, ls->lines) + 1;
    int has = ls->status != SL_OK;
    int64_t key = ls->err_line > 0 ? first_line + ls->err_line - 1 : 0;
    int who = sl_comm_first_error(c, has, key);
    if (who < 0) return SL_OK;
    int64_t st = ls->status;
    sl_comm_bcast(c, &st, sizeof st, who);
    if (c->rank == who) {
        if (ls->err_line > 0) {
            int64_t obj, line, as_obj, as_line;
            char as[SL_IO_NAME + 64] = "";
            line_where(m, ls->err_line, &obj, &line);
            if (ls->as_line > 0) {
                line_where(m, ls->as_line, &as_obj, &as_line);
                if (as_obj == obj)
                    snprintf(as, sizeof as, " (as on line %lld)", (long long)as_line);
                else
                    snprintf(as, sizeof as, " (as on %s:%lld)", l->obj[as_obj].name,
                             (long long)as_line);
            }
            sl_err_set(err, (enum sl_status)st, "%s:%lld: %s%s", l->obj[obj].name, (long long)line,
                       ls->msg, as);
        } else {
            sl_err_set(err, (enum sl_status)st, "%s", ls->msg);
        }
    }
    return (enum sl_status)st;
}

static enum sl_status finish_shard(struct sl_shard *s, enum sl_format fmt,
                                   const struct sl_load_opts *o, struct sl_comm *c,
                                   struct sl_load_state *ls, const char *path,
                                   const struct sl_io_list *l, const struct line_map *m,
                                   struct sl_err *err) {
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
        const int64_t want = o->csv_features > 0 ? o->csv_features : o->n_features;
        int64_t *w = sl_malloc(sizeof(int64_t) * (size_t)c->size);
        sl_comm_allgather_i64(c, ls->ncols, w);
        int64_t ref = 0;
        for (int q = 0; q < c->size && !ref; q++)
            ref = w[q];
        free(w);
        if (ls->ncols && ls->ncols != ref)
            sl_parse_fail(ls, ls->first_row_line, "ragged row: %lld columns, expected %lld",
                          (long long)ls->ncols, (long long)ref);
        else if (ls->ncols && want > 0 && ref - 1 != want)
            sl_parse_fail(ls, ls->first_row_line, "%lld features, expected %lld",
                          (long long)(ref - 1), (long long)want);
        enum sl_status st = agree_error(c, ls, l, m, err);
        if (st) return st;
        s->n_features = ref - 1;
    } else {
        int64_t d = ls->max_index;
        sl_comm_max_i64(c, &d, 1);
        s->n_features = o->n_features > 0 ? o->n_features : d;
    }
    return SL_OK;
}

/* Parses this rank's lines; a read error (the object named) fails the rank
 * with no line number, and explains a bad line or a short read better than
 * they explain themselves (a file changed under the reader, a truncated
 * compressed part). */
static void parse(struct sl_range *r, enum sl_format fmt, const struct sl_load_opts *o,
                  struct sl_shard *s, struct sl_load_state *ls) {
    if (o->hash)
        sl_parse_hashed(r, s, o, ls);
    else if (fmt == SL_FORMAT_CSV)
        sl_parse_csv(r, s, o, ls);
    else
        sl_parse_libsvm(r, s, o, ls);
    if (r->io_failed) {
        ls->status = SL_ERR_IO;
        ls->err_line = 0;
        snprintf(ls->msg, sizeof ls->msg, "%s", r->io_msg);
    }
}

/* Collective. Rank 0 lists spec; every rank gets the list. On failure every
 * rank returns the same status, err filled on rank 0. */
static enum sl_status share_list(struct sl_io_list *l, const char *spec, struct sl_comm *c,
                                 struct sl_err *err) {
    int64_t head[2] = {0, 0}; /* status, objects */
    memset(l, 0, sizeof *l);
    if (c->rank == 0) {
        head[0] = sl_io_list_make(l, spec, err);
        head[1] = l->n;
    }
    sl_comm_bcast(c, head, sizeof head, 0);
    if (head[0] != SL_OK) return (enum sl_status)head[0];
    if (c->rank != 0) {
        l->n = head[1];
        l->obj = sl_malloc(sizeof *l->obj * (size_t)l->n);
    }
    sl_comm_bcast(c, l->obj, sizeof *l->obj * (size_t)l->n, 0);
    return SL_OK;
}

/* Collective. s->file_crc32 and file_bytes from every rank's CRC of the
 * stored bytes it read (crc, s->bytes bytes): the ranks' shares tile the
 * concatenation of the objects' stored bytes in list order, so
 * crc32_combine gives its CRC (for one file, the file's), the same for any
 * rank count, with no second pass over the data. */
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
    double t0 = sl_wtime();
    struct sl_io_list l;
    enum sl_status st = share_list(&l, path, c, err);
    if (st != SL_OK) return st;
    enum sl_format fmt =
        o->format == SL_FORMAT_AUTO ? sl_format_from_path(l.obj[0].name) : o->format;
    if (!o->hash && (fmt == SL_FORMAT_TSV || fmt == SL_FORMAT_CRITEO)) {
        /* The same on every rank: no collective needed to agree on it. */
        if (c->rank == 0) sl_err_set(err, SL_ERR_ARG, "%s: tsv/criteo needs a hashing spec", path);
        sl_io_list_free(&l);
        return SL_ERR_ARG;
    }
    struct sl_range r;
    struct sl_load_state ls;
    memset(&ls, 0, sizeof ls);
    ls.real_labels = o->real_labels;
    if (sl_range_open_list(&r, &l, c) == SL_OK) {
        parse(&r, fmt, o, s, &ls);
    } else {
        ls.status = SL_ERR_IO;
        snprintf(ls.msg, sizeof ls.msg, "%s", r.io_msg);
    }
    s->bytes = r.bytes;
    const uint32_t crc = r.crc;
    struct line_map m;
    line_map_make(&m, &r, c);
    sl_range_close(&r);
    st = agree_error(c, &ls, &l, &m, err);
    if (st == SL_OK) st = finish_shard(s, fmt, o, c, &ls, path, &l, &m, err);
    if (st == SL_OK) file_digest(s, crc, c);
    line_map_free(&m);
    sl_io_list_free(&l);
    if (st != SL_OK) {
        sl_shard_free(s);
        return st;
    }
    s->load_seconds = sl_wtime() - t0;
    return SL_OK;
}

void sl_shard_free(struct sl_shard *s) {
    if (s->maps) sl_cache_unmap(s);
    free(s->y);
    free(s->weights);
    free(s->indptr);
    free(s->indices);
    free(s->values);
    free(s->row_key);
    if (s->cache_hash) sl_hash_spec_free(s->cache_hash);
    free(s->cache_hash);
    memset(s, 0, sizeof *s);
}
