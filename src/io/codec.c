/* codec.c - gzip (zlib) and zstd (libzstd) decoding streams over a stream of
 * stored bytes, decoded as they arrive: memory stays at one input buffer
 * and the decoder's window whatever the object's size.
 *
 * Concatenations are whole data: a gzip file of several members (gzip -c a
 * b, pigz, Hadoop/Spark writers) decodes to the members' bytes in order, a
 * zstd file of several frames likewise. A stream that ends inside a member
 * or frame is truncated; bytes that decode to nothing valid are corrupt;
 * both are errors that name the object. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "io/backend.h"

#define IN_CAP ((size_t)256 << 10) /* stored bytes read at a time */

struct codec_stream {
    struct sl_io_stream base;
    struct sl_io_stream *raw; /* owned */
    const struct sl_io_object *o;
    unsigned char *in; /* (IN_CAP) */
    size_t in_len, in_pos;
    int raw_eof;
    int unit_done; /* the last member/frame ended and no next one has started */
    int started;   /* some stored byte has been decoded */
    z_stream z;
    ZSTD_DStream *zd;
};

/* Refills in from raw when it is used up; 0 or a raw fault. */
static enum sl_status refill(struct codec_stream *c, struct sl_err *err) {
    if (c->in_pos < c->in_len || c->raw_eof) return SL_OK;
    size_t got = 0;
    enum sl_status st = c->raw->ops->read(c->raw, c->in, IN_CAP, &got, err);
    if (st != SL_OK) return st;
    c->in_len = got;
    c->in_pos = 0;
    if (got == 0) c->raw_eof = 1;
    return SL_OK;
}

static enum sl_status truncated(const struct codec_stream *c, const char *what,
                                struct sl_err *err) {
    return sl_err_set(err, SL_ERR_IO, "%s: truncated %s data (the file ends inside a %s)",
                      c->o->name, what, c->zd ? "frame" : "member");
}

static enum sl_status gzip_read(struct sl_io_stream *s, void *buf, size_t cap, size_t *got,
                                struct sl_err *err) {
    struct codec_stream *c = (struct codec_stream *)s;
    *got = 0;
    for (;;) {
        enum sl_status st = refill(c, err);
        if (st != SL_OK) return st;
        if (c->in_pos == c->in_len) { /* raw is at its end */
            if (c->unit_done) return SL_OK;
            return c->started ? truncated(c, "gzip", err)
                              : sl_err_set(err, SL_ERR_IO, "%s: empty gzip file", c->o->name);
        }
        if (c->unit_done) { /* another member follows */
            inflateReset(&c->z);
            c->unit_done = 0;
        }
        c->started = 1;
        c->z.next_in = c->in + c->in_pos;
        c->z.avail_in = (uInt)(c->in_len - c->in_pos);
        c->z.next_out = (Bytef *)buf;
        c->z.avail_out = (uInt)(cap > UINT32_MAX ? UINT32_MAX : cap);
        int rc = inflate(&c->z, Z_NO_FLUSH);
        c->in_pos = c->in_len - c->z.avail_in;
        *got = (size_t)((unsigned char *)c->z.next_out - (unsigned char *)buf);
        if (rc == Z_STREAM_END)
            c->unit_done = 1;
        else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT)
            return sl_err_set(err, SL_ERR_IO, "%s: corrupt gzip data (%s)", c->o->name,
                              c->z.msg ? c->z.msg : "bad stream");
        else if (rc == Z_MEM_ERROR)
            return sl_err_set(err, SL_ERR_IO, "%s: out of memory decoding gzip", c->o->name);
        else if (rc != Z_OK && rc != Z_BUF_ERROR)
            return sl_err_set(err, SL_ERR_IO, "%s: gzip error %d", c->o->name, rc);
        if (*got > 0) return SL_OK;
    }
}

static enum sl_status zstd_read(struct sl_io_stream *s, void *buf, size_t cap, size_t *got,
                                struct sl_err *err) {
    struct codec_stream *c = (struct codec_stream *)s;
    *got = 0;
    for (;;) {
        enum sl_status st = refill(c, err);
        if (st != SL_OK) return st;
        ZSTD_inBuffer in = {c->in, c->in_len, c->in_pos};
        ZSTD_outBuffer out = {buf, cap, 0};
        size_t rc = ZSTD_decompressStream(c->zd, &out, &in);
        if (ZSTD_isError(rc))
            return sl_err_set(err, SL_ERR_IO, "%s: corrupt zstd data (%s)", c->o->name,
                              ZSTD_getErrorName(rc));
        /* A call that moved nothing says nothing about where the frame is. */
        if (in.pos != c->in_pos || out.pos > 0) {
            c->unit_done = rc == 0;
            c->started = 1;
        }
        c->in_pos = in.pos;
        *got = out.pos;
        if (*got > 0) return SL_OK;
        if (c->in_pos == c->in_len && c->raw_eof) {
            if (c->unit_done) return SL_OK;
            return c->started ? truncated(c, "zstd", err)
                              : sl_err_set(err, SL_ERR_IO, "%s: empty zstd file", c->o->name);
        }
    }
}

static void codec_close(struct sl_io_stream *s) {
    struct codec_stream *c = (struct codec_stream *)s;
    if (c->zd)
        ZSTD_freeDStream(c->zd);
    else
        inflateEnd(&c->z);
    c->raw->ops->close(c->raw);
    free(c->in);
    free(c);
}

static const struct sl_io_stream_ops gzip_ops = {gzip_read, codec_close};
static const struct sl_io_stream_ops zstd_ops = {zstd_read, codec_close};

enum sl_status sl_codec_open(struct sl_io_stream **out, struct sl_io_stream *raw,
                             const struct sl_io_object *o, struct sl_err *err) {
    *out = NULL;
    struct codec_stream *c = sl_calloc(1, sizeof *c);
    c->raw = raw;
    c->o = o;
    c->in = sl_malloc(IN_CAP);
    if (o->codec == SL_CODEC_ZSTD) {
        c->base.ops = &zstd_ops;
        c->zd = ZSTD_createDStream();
        if (c->zd && ZSTD_isError(ZSTD_initDStream(c->zd))) {
            ZSTD_freeDStream(c->zd);
            c->zd = NULL;
        }
        if (!c->zd) c->base.ops = NULL;
    } else {
        c->base.ops = &gzip_ops;
        /* 15 + 16: a gzip wrapper, checked (CRC-32 and length of each member). */
        if (inflateInit2(&c->z, 15 + 16) != Z_OK) c->base.ops = NULL;
    }
    if (!c->base.ops) {
        raw->ops->close(raw);
        free(c->in);
        free(c);
        return sl_err_set(err, SL_ERR_IO, "%s: cannot start the decoder (out of memory)", o->name);
    }
    *out = &c->base;
    return SL_OK;
}
