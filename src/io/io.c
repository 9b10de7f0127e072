/* io.c - the dispatcher: a source spec goes to the local or the remote
 * backend by its scheme, a stream to its object's backend, and a decoded
 * stream is the codec over the object's whole stored bytes.
 *
 * Every stream handed out here is wrapped once (struct top), so that the
 * CRC-32 and the count of the stored bytes that passed through it can be
 * asked for whatever the backend or the codec: data/ digests the data set
 * from them without a second pass. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "io/backend.h"
#include "shardlearn/fileio.h"

int sl_io_is_remote(const char *spec) {
    return strncmp(spec, "gs://", 5) == 0 || strncmp(spec, "http://", 7) == 0 ||
           strncmp(spec, "https://", 8) == 0;
}

enum sl_status sl_io_list_make(struct sl_io_list *out, const char *spec, struct sl_err *err) {
    memset(out, 0, sizeof *out);
    if (!spec || !spec[0]) return sl_err_set(err, SL_ERR_ARG, "empty data path");
    enum sl_status st =
        sl_io_is_remote(spec) ? sl_remote_list(out, spec, err) : sl_local_list(out, spec, err);
    if (st != SL_OK) {
        sl_io_list_free(out);
        return st;
    }
    if (out->n == 0) {
        sl_io_list_free(out);
        return sl_err_set(err, SL_ERR_IO, "%s: no data files", spec);
    }
    return SL_OK;
}

void sl_io_list_free(struct sl_io_list *l) {
    if (!l) return;
    free(l->obj);
    l->obj = NULL;
    l->n = 0;
}

/* The stored-byte counter between a backend stream and its reader (or its
 * codec): crc and n over every byte the backend returned. */
struct counted {
    struct sl_io_stream base;
    struct sl_io_stream *inner;
    uint32_t crc;
    int64_t n;
};

static enum sl_status counted_read(struct sl_io_stream *s, void *buf, size_t cap, size_t *got,
                                   struct sl_err *err) {
    struct counted *c = (struct counted *)s;
    enum sl_status st = c->inner->ops->read(c->inner, buf, cap, got, err);
    if (st == SL_OK && *got > 0) {
        c->crc = (uint32_t)crc32_z(c->crc, (const Bytef *)buf, *got);
        c->n += (int64_t)*got;
    }
    return st;
}

static void counted_close(struct sl_io_stream *s) {
    struct counted *c = (struct counted *)s;
    c->inner->ops->close(c->inner);
    free(c);
}

static const struct sl_io_stream_ops counted_ops = {counted_read, counted_close};

/* What a caller of io.h holds: the stream it reads (the counter itself, or
 * a codec over it) and the counter. */
struct top {
    struct sl_io_stream base;
    struct sl_io_stream *read_from;
    const struct counted *stored;
};

static enum sl_status top_read(struct sl_io_stream *s, void *buf, size_t cap, size_t *got,
                               struct sl_err *err) {
    struct top *t = (struct top *)s;
    return t->read_from->ops->read(t->read_from, buf, cap, got, err);
}

static void top_close(struct sl_io_stream *s) {
    struct top *t = (struct top *)s;
    t->read_from->ops->close(t->read_from);
    free(t);
}

static const struct sl_io_stream_ops top_ops = {top_read, top_close};

static enum sl_status open_counted(struct counted **out, const struct sl_io_object *o,
                                   int64_t begin, int64_t end, struct sl_err *err) {
    *out = NULL;
    if (begin < 0 || end < begin || end > o->size)
        return sl_err_set(err, SL_ERR_ARG, "%s: byte range [%lld, %lld) outside its %lld bytes",
                          o->name, (long long)begin, (long long)end, (long long)o->size);
    struct sl_io_stream *raw = NULL;
    enum sl_status st = o->kind == SL_IO_LOCAL ? sl_local_open_range(&raw, o, begin, end, err)
                                               : sl_remote_open_range(&raw, o, begin, end, err);
    if (st != SL_OK) return st;
    struct counted *c = sl_calloc(1, sizeof *c);
    c->base.ops = &counted_ops;
    c->inner = raw;
    *out = c;
    return SL_OK;
}

static struct sl_io_stream *make_top(struct sl_io_stream *read_from, const struct counted *c) {
    struct top *t = sl_calloc(1, sizeof *t);
    t->base.ops = &top_ops;
    t->read_from = read_from;
    t->stored = c;
    return &t->base;
}

enum sl_status sl_io_open_range(struct sl_io_stream **out, const struct sl_io_object *o,
                                int64_t begin, int64_t end, struct sl_err *err) {
    *out = NULL;
    struct counted *c;
    enum sl_status st = open_counted(&c, o, begin, end, err);
    if (st != SL_OK) return st;
    *out = make_top(&c->base, c);
    return SL_OK;
}

enum sl_status sl_io_open_decoded(struct sl_io_stream **out, const struct sl_io_object *o,
                                  struct sl_err *err) {
    *out = NULL;
    struct counted *c;
    enum sl_status st = open_counted(&c, o, 0, o->size, err);
    if (st != SL_OK) return st;
    struct sl_io_stream *read_from = &c->base;
    if (o->codec != SL_CODEC_NONE) {
        st = sl_codec_open(&read_from, &c->base, o, err); /* owns c from here */
        if (st != SL_OK) return st;
    }
    *out = make_top(read_from, c);
    return SL_OK;
}

enum sl_status sl_io_read(struct sl_io_stream *s, void *buf, size_t cap, size_t *got,
                          struct sl_err *err) {
    *got = 0;
    if (cap == 0) return SL_OK;
    return s->ops->read(s, buf, cap, got, err);
}

void sl_io_close(struct sl_io_stream *s) {
    if (s) s->ops->close(s);
}

void sl_io_stored_digest(const struct sl_io_stream *s, uint32_t *crc, int64_t *bytes) {
    const struct top *t = (const struct top *)s;
    *crc = t->stored->crc;
    *bytes = t->stored->n;
}

enum sl_status sl_io_put(const char *dest, const void *data, size_t len, const char *content_type,
                         struct sl_err *err) {
    if (sl_io_is_remote(dest)) return sl_remote_put(dest, data, len, content_type, err);
    struct sl_atomic_file a;
    enum sl_status st = sl_atomic_open(&a, dest, err);
    if (st != SL_OK) return st;
    if (len > 0 && fwrite(data, 1, len, a.f) != len) {
        sl_atomic_discard(&a);
        return sl_err_set(err, SL_ERR_IO, "%s: write failed", dest);
    }
    return sl_atomic_commit(&a, err);
}

enum sl_status sl_io_check_dest(const char *dest, struct sl_err *err) {
    return sl_io_is_remote(dest) ? sl_remote_check_dest(dest, err) : sl_local_check_dest(dest, err);
}
