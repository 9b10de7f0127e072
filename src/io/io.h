/* io.h - byte sources for the readers: what a data argument names (a local
 * file, a directory, a glob, gs://bucket/prefix-or-glob, an http(s):// URL)
 * listed once as an ordered set of objects, and a stream over the stored
 * bytes [begin, end) of one object, pinned to the version seen when it was
 * listed. gzip/zstd objects are decoded by a stream over the whole object.
 * Knows nothing of rows, formats or ranks: data/ decides who reads what.
 *
 * Implementations: io/local.c (files, directories, globs), io/codec.c
 * (gzip, zstd), io/http.c + io/gcs.c + io/auth.c (remote objects and
 * credentials). Every function returns a status and fills err with one line
 * that names the object and never carries a credential. */
#ifndef SHARDLEARN_IO_IO_H
#define SHARDLEARN_IO_IO_H

#include <stddef.h>
#include <stdint.h>

#include "shardlearn/status.h"

enum sl_io_kind { SL_IO_LOCAL = 0, SL_IO_HTTP, SL_IO_GCS };
enum sl_codec { SL_CODEC_NONE = 0, SL_CODEC_GZIP, SL_CODEC_ZSTD };

#define SL_IO_NAME 2048
#define SL_IO_TAG 128

/* One object of a source, as listed. */
struct sl_io_object {
    char name[SL_IO_NAME]; /* path or URL as shown in messages (no credentials) */
    enum sl_io_kind kind;
    enum sl_codec codec; /* from the name's suffix (.gz, .zst) */
    int64_t size;        /* stored bytes (compressed size for a codec) */
    /* The version pinned at listing: local, the modification time in ns;
     * GCS, the generation; http(s), 0 (tag holds the ETag). */
    int64_t version;
    char tag[SL_IO_TAG]; /* http(s): the ETag, sent as If-Match; else "" */
};

/* An ordered list of objects: the rows of a source are the objects' rows in
 * this order. The objects are flat and fixed-size, so rank 0 lists once and
 * broadcasts n, then n * sizeof(struct sl_io_object) bytes. */
struct sl_io_list {
    int64_t n;
    struct sl_io_object *obj; /* (n), owned; free with sl_io_list_free */
};

/* Lists what spec names. A file is itself; a directory is every regular
 * file in it, in byte order of the names, skipping names that start with
 * '.' or '_' (_SUCCESS, _committed_*) and empty files; a glob (* ? [...]
 * in the last component) matches files in name order. gs://b/p is the
 * object p if it exists, else every object under the prefix p/ (the same
 * skipping rules), else the glob. http(s):// is one object (HEAD for size
 * and ETag). An empty result is an error that names spec. Not collective:
 * rank 0 calls it. */
enum sl_status sl_io_list_make(struct sl_io_list *out, const char *spec,
                               struct sl_err *err) SL_WARN_UNUSED;
void sl_io_list_free(struct sl_io_list *l);
/* 1 when spec is a remote URL (gs://, http://, https://). */
int sl_io_is_remote(const char *spec);

/* An open stream; opaque. */
struct sl_io_stream;

/* Opens the stored bytes [begin, end) of o (end <= o->size), checked
 * against o->version/tag on every request: an object that changed since it
 * was listed fails with a message saying so. Remote streams resume a cut
 * connection from the last byte received and retry 408/429/5xx with
 * backoff. Caller frees with sl_io_close. */
enum sl_status sl_io_open_range(struct sl_io_stream **out, const struct sl_io_object *o,
                                int64_t begin, int64_t end, struct sl_err *err) SL_WARN_UNUSED;
/* Opens the decoded bytes of a whole object (o->codec decides; NONE gives
 * the stored bytes). Caller frees with sl_io_close. */
enum sl_status sl_io_open_decoded(struct sl_io_stream **out, const struct sl_io_object *o,
                                  struct sl_err *err) SL_WARN_UNUSED;
/* Reads up to cap bytes into buf; *got = 0 only at the end. A fault is a
 * status with err filled (the object named). */
enum sl_status sl_io_read(struct sl_io_stream *s, void *buf, size_t cap, size_t *got,
                          struct sl_err *err) SL_WARN_UNUSED;
void sl_io_close(struct sl_io_stream *s);
/* The zlib CRC-32 and the count of the stored bytes that s has read from
 * its object so far (for a decoded stream, the compressed bytes): data/
 * digests the data set from these without a second pass. */
void sl_io_stored_digest(const struct sl_io_stream *s, uint32_t *crc, int64_t *bytes);

/* Writes a whole output object atomically from a reader's point of view:
 * local, temp file + rename (core/fileio); gs://, one upload whose object
 * appears only when complete. Not collective. */
enum sl_status sl_io_put(const char *dest, const void *data, size_t len,
                         const char *content_type, struct sl_err *err) SL_WARN_UNUSED;

/* Whether dest can take an output, asked before a job spends its time:
 * local, dest is not a directory and its directory exists and is writable;
 * gs://, the bucket exists and, where the server answers IAM's
 * testPermissions, the credentials may create objects in it. A yes is no
 * promise (permissions can change) but catches the typo and the missing
 * bucket an hour earlier. Not collective. */
enum sl_status sl_io_check_dest(const char *dest, struct sl_err *err) SL_WARN_UNUSED;

#endif
