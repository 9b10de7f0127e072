/* backend.h - private to io/: the stream every backend embeds first, and the
 * entry points io.c dispatches to by object kind. */
#ifndef SHARDLEARN_IO_BACKEND_H
#define SHARDLEARN_IO_BACKEND_H

#include "io/io.h"

struct sl_io_stream_ops {
    enum sl_status (*read)(struct sl_io_stream *s, void *buf, size_t cap, size_t *got,
                           struct sl_err *err);
    void (*close)(struct sl_io_stream *s); /* frees s */
};

/* Every backend's stream starts with this. */
struct sl_io_stream {
    const struct sl_io_stream_ops *ops;
};

/* io/local.c: files, directories and globs on a mounted file system. */
enum sl_status sl_local_list(struct sl_io_list *out, const char *spec, struct sl_err *err);
enum sl_status sl_local_open_range(struct sl_io_stream **out, const struct sl_io_object *o,
                                   int64_t begin, int64_t end, struct sl_err *err);
enum sl_status sl_local_check_dest(const char *dest, struct sl_err *err);

/* io/remote.c (gs://, http(s)://): the same for remote objects. */
enum sl_status sl_remote_list(struct sl_io_list *out, const char *spec, struct sl_err *err);
enum sl_status sl_remote_open_range(struct sl_io_stream **out, const struct sl_io_object *o,
                                    int64_t begin, int64_t end, struct sl_err *err);
enum sl_status sl_remote_put(const char *dest, const void *data, size_t len,
                             const char *content_type, struct sl_err *err);
enum sl_status sl_remote_check_dest(const char *dest, struct sl_err *err);

/* io/codec.c: a decoding stream over a stream of stored bytes (takes
 * ownership of raw). */
enum sl_status sl_codec_open(struct sl_io_stream **out, struct sl_io_stream *raw,
                             const struct sl_io_object *o, struct sl_err *err);

#endif
