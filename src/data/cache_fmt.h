/* cache_fmt.h - private to cache.c and cache_write.c: the on-disk layout of
 * the binary cache (data.h: SL_CACHE_HEADER).
 *
 * A cache is a directory:
 *   shardlearn.cache  the header, written last: struct cache_fixed, then
 *                     n_src struct cache_src (the source's identity), then
 *                     (version 2) spec_bytes of the hashing spec's JSON text
 *                     (hashing.h: sl_hash_spec_text), NUL-padded, then
 *                     the first key of every block of keys.bin (int64), then
 *                     the CRC-32 of every block of every section (uint32, in
 *                     section order); `crc` covers the whole file.
 *   keys.bin          (n) int64: each row's key (sl_shard.row_key)
 *   indptr.bin        (n + 1) int64: CSR row starts over the whole data; empty when dense
 *   y.bin             (n) double: labels, -1/+1 (real_labels: as in the source)
 *   indices.bin       (nnz) int32: CSR columns; empty when dense
 *   values.bin        (nnz) double: CSR values, or the (n, d) row-major matrix
 * Numbers are in the writer's byte order, which `endian` records; a reader
 * of the other order refuses the cache rather than swap. Sections are
 * checked in blocks of block_bytes, so a rank verifies just what it reads. */
#ifndef SHARDLEARN_DATA_CACHE_FMT_H
#define SHARDLEARN_DATA_CACHE_FMT_H

#include <stddef.h>
#include <stdint.h>

#include "io/io.h"
#include "shardlearn/data.h"

#define CACHE_MAGIC "SLCACHE"    /* 8 bytes with its NUL */
#define CACHE_ENDIAN 0x01020304u /* reads 0x04030201 in the other byte order */
#define CACHE_NAME 4096

enum cache_sec { SEC_KEYS = 0, SEC_INDPTR, SEC_Y, SEC_INDICES, SEC_VALUES, SEC_N };

extern const char *const CACHE_SEC_FILE[SEC_N]; /* "keys.bin", ... */
extern const int64_t CACHE_SEC_ELEM[SEC_N];     /* bytes per element */

struct cache_fixed {
    char magic[8];
    uint32_t endian;
    uint32_t version;
    uint32_t crc;        /* CRC-32 of the header file with this field 0 */
    uint32_t file_crc32; /* sl_shard.file_crc32 of the source */
    int64_t head_bytes;  /* size of the header file */
    int32_t dense, labels01;
    int32_t format, zero_based; /* the parse options (format resolved, never AUTO) */
    int64_t opt_n_features;     /* --n-features at convert, 0: none */
    int64_t n_rows, n_features, max_index, nnz, file_bytes;
    int64_t block_bytes;
    int64_t n_src;
    int64_t count[SEC_N]; /* elements of each section */
    /* Version 2: a version 1 header ends here, and reads as if these were 0. */
    int32_t real_labels; /* 1: y holds each label's value (regression); 0: -1/+1 */
    int32_t spare;       /* 0 */
    int64_t spec_bytes;  /* the hashing spec's text after the sources, a multiple of 8 with at
                            least one NUL at its end; 0: the rows were not hashed */
};

/* The fixed part's size in a header of version v (1 or 2). */
#define CACHE_FIXED_V1 ((int64_t)offsetof(struct cache_fixed, real_labels))
static inline int64_t cache_fixed_bytes(uint32_t v) {
    return v == 1 ? CACHE_FIXED_V1 : (int64_t)sizeof(struct cache_fixed);
}

/* One object of the source as it was listed when the cache was built
 * (io.h: struct sl_io_object). */
struct cache_src {
    char name[CACHE_NAME]; /* absolute path, or URL */
    char tag[SL_IO_TAG];   /* http(s): the ETag; else "" */
    int64_t size;          /* stored bytes */
    int64_t version;       /* local: modification time, ns; GCS: the generation */
};

/* A header read and checked (cache.c). */
struct cache_head {
    struct cache_fixed f;
    const struct cache_src *src; /* (n_src) */
    const char *spec;            /* the hashing spec's JSON text; NULL when not hashed */
    const int64_t *first_key;    /* (blocks of keys.bin) */
    const uint32_t *sums[SEC_N]; /* (blocks of each section) */
    char *buf;                   /* the whole file; owns the arrays above */
};

static inline int64_t cache_blocks(int64_t bytes, int64_t block) {
    return (bytes + block - 1) / block;
}

/* The header's size for these counts and sources. */
int64_t cache_head_bytes(const struct cache_fixed *f);

/* The identity of a source: its objects as sl_io_list_make lists them (a
 * local spec made absolute first, so that a cache is found from any working
 * directory). *out: (*n) owned by the caller, free(). Not collective. */
enum sl_status cache_source_id(const char *src, struct cache_src **out, int64_t *n,
                               struct sl_err *err);

/* Not collective. Reads and checks dir's header into h (free h->buf). */
enum sl_status cache_read_head(const char *dir, struct cache_head *h, struct sl_err *err);

/* 1 when a cache's spec text (NULL: not hashed) is the spec sp (NULL: none). */
int cache_spec_same(const char *text, const struct sl_hash_spec *sp);

/* pread/pwrite of exactly n bytes; -1 with errno on failure (0 bytes read
 * early: errno EIO). */
int cache_pread(int fd, void *buf, int64_t n, int64_t off);
int cache_pwrite(int fd, const void *buf, int64_t n, int64_t off);

/* Collective: every rank returns the status of the first rank that failed,
 * with its message in err on that rank only. */
enum sl_status cache_agree(struct sl_comm *c, enum sl_status st, struct sl_err *err);

#endif
