/* range.c - one rank's share of a source, and a chunked line reader over it.
 *
 * The objects of a source (io/io.h), in list order, form one virtual stream
 * of stored bytes; the ranks split its total with sl_byte_range. Within a
 * plain object a line belongs to the rank whose range holds its first byte,
 * so each row lands on exactly one rank, as with one file; an object's end
 * is always a line's end. A compressed object cannot be split: it belongs
 * wholly to the rank whose range holds its first stored byte, so many parts
 * balance by size. A rank's share is a list of pieces read in order. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/fault.h"
#include "data/reader.h"

void sl_byte_range(int64_t size, int rank, int nranks, int64_t *begin, int64_t *end) {
    /* (size * rank) / nranks without overflow for any realistic file. */
    *begin = (int64_t)((__int128)size * rank / nranks);
    *end = (int64_t)((__int128)size * (rank + 1) / nranks);
}

static void fail_io(struct sl_range *r, int errnum, const char *msg) {
    r->io_failed = 1;
    r->err = errnum;
    snprintf(r->io_msg, sizeof r->io_msg, "%s", msg);
}

/* *out: the first byte of the first line of o that starts at or after pos. */
static enum sl_status line_start(const struct sl_io_object *o, int64_t pos, int64_t *out,
                                 struct sl_err *err) {
    if (pos <= 0 || pos >= o->size) {
        *out = pos <= 0 ? 0 : o->size;
        return SL_OK;
    }
    /* A line starts at pos exactly when byte pos-1 is a newline. */
    struct sl_io_stream *s;
    enum sl_status st = sl_io_open_range(&s, o, pos - 1, o->size, err);
    if (st != SL_OK) return st;
    char buf[65536];
    int64_t at = pos - 1;
    *out = o->size;
    for (;;) {
        size_t k;
        st = sl_io_read(s, buf, sizeof buf, &k, err);
        if (st != SL_OK || k == 0) break;
        char *nl = memchr(buf, '\n', k);
        if (nl) {
            *out = at + (nl - buf) + 1;
            break;
        }
        at += (int64_t)k;
    }
    sl_io_close(s);
    return st;
}

static void add_piece(struct sl_range *r, int64_t obj, int64_t begin, int64_t end, int decoded) {
    r->piece = sl_realloc(r->piece, sizeof *r->piece * (size_t)(r->n_pieces + 1));
    struct sl_piece *p = &r->piece[r->n_pieces++];
    memset(p, 0, sizeof *p);
    p->obj = obj;
    p->begin = begin;
    p->end = end;
    p->decoded = decoded;
}

/* Fills r's pieces for rank of nranks over l. r->begin and r->end: where the
 * rank's share starts and ends in the virtual stream of stored bytes. */
static enum sl_status plan(struct sl_range *r, int rank, int nranks, struct sl_err *err) {
    const struct sl_io_list *l = r->list;
    int64_t total = 0;
    for (int64_t i = 0; i < l->n; i++)
        total += l->obj[i].size;
    int64_t b, e;
    sl_byte_range(total, rank, nranks, &b, &e);
    r->size = total;
    r->begin = r->end = total;
    int64_t at = 0; /* first stored byte of object i in the virtual stream */
    for (int64_t i = 0; i < l->n; i++) {
        const struct sl_io_object *o = &l->obj[i];
        const int64_t size = o->size, has_b = b >= at && b < at + size,
                      has_e = e >= at && e < at + size;
        if (o->codec != SL_CODEC_NONE) {
            if (size > 0 && b <= at && at < e) add_piece(r, i, 0, size, 1);
            if (has_b) r->begin = b == at ? at : at + size;
            if (has_e) r->end = e == at ? at : at + size;
        } else {
            int64_t lb = 0, le = size;
            enum sl_status st = SL_OK;
            if (has_b) st = line_start(o, b - at, &lb, err);
            if (st == SL_OK && has_e) st = line_start(o, e - at, &le, err);
            if (st != SL_OK) return st;
            if (has_b) r->begin = at + lb;
            if (has_e) r->end = at + le;
            if (b < at + size && e > at && lb < le) add_piece(r, i, lb, le, 0);
        }
        at += size;
    }
    if (r->end < r->begin) r->end = r->begin;
    return SL_OK;
}

enum sl_status sl_range_open_list(struct sl_range *r, const struct sl_io_list *l,
                                  struct sl_comm *c) {
    memset(r, 0, sizeof *r);
    r->list = l;
    r->cur = -1;
    struct sl_err err;
    sl_err_clear(&err);
    if (sl_fault("data.open")) {
        snprintf(err.msg, sizeof err.msg, "%s: %s", l->n ? l->obj[0].name : "data", strerror(EIO));
        fail_io(r, EIO, err.msg);
        return SL_ERR_IO;
    }
    if (plan(r, c->rank, c->size, &err) != SL_OK) {
        fail_io(r, EIO, err.msg);
        return SL_ERR_IO;
    }
    r->cap = SL_READ_CHUNK;
    r->buf = sl_malloc(r->cap + 1);
    return SL_OK;
}

enum sl_status sl_range_open(struct sl_range *r, const char *path, struct sl_comm *c) {
    struct sl_io_list l;
    struct sl_err err;
    if (sl_io_list_make(&l, path, &err) != SL_OK) {
        memset(r, 0, sizeof *r);
        fail_io(r, errno ? errno : EIO, err.msg);
        return SL_ERR_IO;
    }
    enum sl_status st = sl_range_open_list(r, &l, c);
    r->own = l; /* freed by sl_range_close */
    r->list = &r->own;
    return st;
}

/* Closes the current piece's stream; its stored bytes join the digest. */
static void end_piece(struct sl_range *r) {
    if (!r->s) return;
    struct sl_piece *p = &r->piece[r->cur];
    sl_io_stored_digest(r->s, &p->crc, &p->stored);
    r->crc = (uint32_t)crc32_combine(r->crc, p->crc, (z_off_t)p->stored);
    r->bytes += p->stored;
    sl_io_close(r->s);
    r->s = NULL;
}

/* Opens the next piece; 0 at the end or on a failure (r->io_failed). */
static int next_piece(struct sl_range *r) {
    end_piece(r);
    if (r->io_failed || r->cur + 1 >= r->n_pieces) return 0;
    struct sl_piece *p = &r->piece[++r->cur];
    const struct sl_io_object *o = &r->list->obj[p->obj];
    struct sl_err err;
    enum sl_status st = p->decoded ? sl_io_open_decoded(&r->s, o, &err)
                                   : sl_io_open_range(&r->s, o, p->begin, p->end, &err);
    if (st != SL_OK) {
        r->s = NULL;
        fail_io(r, EIO, err.msg);
        return 0;
    }
    p->first_line = r->lines;
    r->piece_eof = 0;
    r->piece_start = 1;
    r->len = r->off = 0;
    return 1;
}

/* Fills the buffer from the current piece behind the unconsumed bytes; 0 on
 * a failure. Sets piece_eof at the piece's end. */
static int refill(struct sl_range *r) {
    /* Keep the partial line, refill behind it; grow for a very long line. */
    size_t keep = r->len - r->off;
    memmove(r->buf, r->buf + r->off, keep);
    r->len = keep;
    r->off = 0;
    if (r->cap - r->len < SL_READ_CHUNK / 2) {
        r->cap *= 2;
        r->buf = sl_realloc(r->buf, r->cap + 1);
    }
    size_t got = 0;
    struct sl_err err;
    enum sl_status st;
    if (sl_fault("data.read"))
        st = sl_err_set(&err, SL_ERR_IO, "%s: read error: %s",
                        r->list->obj[r->piece[r->cur].obj].name, strerror(EIO));
    else
        st = sl_io_read(r->s, r->buf + r->len, r->cap - r->len, &got, &err);
    if (st != SL_OK) {
        fail_io(r, EIO, err.msg);
        return 0;
    }
    if (got == 0) r->piece_eof = 1;
    r->len += got;
    r->buf[r->len] = '\0';
    return 1;
}

static int emit(struct sl_range *r, char *s, char *e, const char **line, const char **line_end) {
    *line = s;
    *line_end = e;
    r->file_first = r->piece_start && r->piece[r->cur].begin == 0;
    r->piece_start = 0;
    r->lines++;
    return 1;
}

int sl_range_next(struct sl_range *r, const char **line, const char **line_end) {
    for (;;) {
        if (r->io_failed) return 0;
        if (r->off < r->len) {
            char *s = r->buf + r->off;
            char *nl = memchr(s, '\n', r->len - r->off);
            if (nl) {
                r->off = (size_t)(nl - r->buf) + 1;
                return emit(r, s, nl, line, line_end);
            }
            if (r->piece_eof) { /* the object's last line, without a newline */
                r->off = r->len;
                return emit(r, s, r->buf + r->len, line, line_end);
            }
        } else if (!r->s || r->piece_eof) {
            if (!next_piece(r)) return 0;
            continue;
        }
        if (!refill(r)) return 0;
    }
}

void sl_range_close(struct sl_range *r) {
    if (r->s) sl_io_close(r->s);
    free(r->buf);
    free(r->piece);
    sl_io_list_free(&r->own);
    r->s = NULL;
    r->buf = NULL;
    r->piece = NULL;
    r->n_pieces = 0;
}
