/* data.h - sharded readers for LIBSVM/svmlight text and dense CSV.
 *
 * A source is a file, a directory of part files, a glob, or a remote
 * object/prefix (io/io.h); its files, in name order, form one stream of
 * rows. Every rank reads only its own share of the stored bytes, split at
 * line boundaries: a line belongs to the rank whose range holds its first
 * byte, so each row lands on exactly one rank and no rank holds the whole
 * data set. A compressed (.gz, .zst) file is not split: it goes whole to the
 * rank whose range holds its first byte. Sparse rows go to CSR, dense rows
 * to a row-major matrix. */
#ifndef SHARDLEARN_DATA_H
#define SHARDLEARN_DATA_H

#include <stdint.h>

#include "shardlearn/comm.h"
#include "shardlearn/hashing.h"
#include "shardlearn/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* TSV and CRITEO are read only with a hashing spec (sl_load_opts.hash). */
enum sl_format {
    SL_FORMAT_AUTO = 0,
    SL_FORMAT_LIBSVM,
    SL_FORMAT_CSV,
    SL_FORMAT_TSV,
    SL_FORMAT_CRITEO
};

struct sl_cache_maps; /* cache.c */

struct sl_load_opts {
    enum sl_format format; /* AUTO: .csv, .csv.gz, .csv.zst -> CSV, .tsv (and compressed) -> TSV,
                              anything else -> LIBSVM (a directory or glob: its first file's name) */
    int zero_based;        /* LIBSVM: feature indices start at 0, not 1 */
    int64_t n_features;    /* > 0: fixed d, larger index is an error; 0: agreed max */
    /* > 0: when the data turn out to be CSV, each row must have exactly this
     * many features (predict: the model's), whatever n_features says. Lets a
     * caller that does not know the format before listing (a directory of
     * .csv.gz parts) ask for it. 0: n_features decides. */
    int64_t csv_features;
    /* Non-NULL: delimited text with these columns, hashed into CSR
     * (hashing.h); format and n_features are then not looked at. Not owned. */
    const struct sl_hash_spec *hash;
    int real_labels; /* 1: keep each label's value (regression); 2: likewise, but each must be
                        an integer (multinomial classes); 0: map to -1/+1 */
    int row_keys;    /* 1: fill sl_shard.row_key (the binary cache needs it) */
};

struct sl_shard {
    int dense;             /* 0: CSR (LIBSVM), 1: row-major dense (CSV) */
    int64_t n_rows;        /* rows held by this rank */
    int64_t n_rows_global; /* rows over all ranks */
    int64_t row_begin;     /* global index of this rank's first row */
    int64_t n_features;    /* d, the same on every rank */
    int64_t nnz;           /* stored values on this rank (dense: n_rows * d) */
    int64_t nnz_global;
    int labels01;        /* 1 when the file's negative label is 0 (any rank) */
    double *y;           /* (n_rows) labels mapped to -1/+1 (real_labels: as in the file) */
    double *weights;     /* (n_rows) sample weights, finite and >= 0; NULL: every row 1.
                            Owned by the shard (sl_shard_free frees it) */
    int64_t *indptr;     /* CSR: (n_rows + 1); NULL when dense */
    int32_t *indices;    /* CSR: (nnz) 0-based column, strictly increasing in a row */
    double *values;      /* CSR: (nnz); dense: (n_rows, d) row-major */
    int64_t bytes;       /* stored bytes of the source read by this rank */
    int64_t file_bytes;  /* stored bytes of the whole source (all its files) */
    uint32_t file_crc32; /* zlib's CRC-32 of the source's stored bytes (for several files,
                            their concatenation in list order; compressed files as stored),
                            the same on every rank and for any rank count: each rank's CRC
                            of what it read, combined in rank order (crc32_combine) */
    double load_seconds; /* wall time of this rank's read + parse */

    /* The binary cache's (cache.c). */
    int64_t *row_key; /* (n_rows) when sl_load_opts.row_keys, else NULL: the offset in the source
                         of the stored byte that decides each row's rank (its line's first byte);
                         non-decreasing (sl_rank_keys) */
    struct sl_cache_maps *maps; /* loaded from a cache: the read-only mappings that y and values
                                   point into; NULL otherwise. Released by sl_shard_free; y and
                                   values are never written */
    struct sl_hash_spec *cache_hash; /* loaded from a cache of hashed columns: the spec its rows
                                        were hashed with (owned, sl_calloc'd; sl_shard_free frees
                                        it; a caller may take it and set NULL); else NULL */
};

/* Collective. On success every rank holds its shard; free with
 * sl_shard_free. On failure every rank returns the same status, the shard
 * is left empty, and err->msg is filled ("file:line: what") on exactly one
 * rank: the one holding the earliest bad line. */
enum sl_status sl_shard_load(struct sl_shard *s, const char *path, const struct sl_load_opts *o,
                             struct sl_comm *c, struct sl_err *err) SL_WARN_UNUSED;
void sl_shard_free(struct sl_shard *s);

/* .csv -> CSV, .tsv -> TSV, anything else -> LIBSVM. */
enum sl_format sl_format_from_path(const char *path);
/* The same for a source: a directory, glob or prefix by its first file's
 * name (it is listed for that). Not collective. */
enum sl_format sl_format_of_source(const char *spec);

/* Collective. s->weights <- (times) the weights in path: one finite number
 * >= 0 a line, in row order (blank lines skipped, as in the data), exactly
 * as many as the data's rows; each rank keeps its rows' lines. On failure
 * every rank returns the same status, s is unchanged and err->msg
 * ("path:line: what") is filled on rank 0. */
enum sl_status sl_shard_read_weights(struct sl_shard *s, const char *path, struct sl_comm *c,
                                     struct sl_err *err) SL_WARN_UNUSED;
/* Collective. For a dense (CSV) shard loaded from path: takes the column
 * spec names out of the features into s->weights (times those already
 * there). spec is a 0-based column of the line (the label is 0, the first
 * feature 1) or a name in the file's header row. A negative weight is an
 * error naming its line (non-finite values the reader refused already);
 * on failure s is left to be freed, err filled on one rank. */
enum sl_status sl_shard_weight_column(struct sl_shard *s, const char *path, const char *spec,
                                      struct sl_comm *c, struct sl_err *err) SL_WARN_UNUSED;
/* Not collective. s->weights <- s->weights (1 when NULL) times w: (n_rows). */
void sl_shard_scale_weights(struct sl_shard *s, const double *w);
/* The binary cache (cache.c): a directory holding the parsed rows of a
 * source - labels, CSR arrays (or the dense matrix) and each row's key -
 * as one file per section, with a header file (SL_CACHE_HEADER) that is
 * written last and carries a magic number, a byte-order mark, a format
 * version, the source's identity and the parse options, and a CRC-32 of
 * every block of every section. Any rank count reads its own rows from it
 * with pread, the same rows the text reader would give it (sl_rank_keys). */
#define SL_CACHE_HEADER "shardlearn.cache"
#define SL_CACHE_VERSION 2 /* 2: real labels and the hashing spec; 1 is still read */
#define SL_CACHE_BLOCK ((int64_t)1 << 20)

/* Why train --cache did what it did, for a message. */
struct sl_cache_use {
    int reused;    /* 1: loaded from the cache; 0: parsed the source and wrote the cache */
    int stale;     /* 0 and not reused: there was no cache yet */
    char why[512]; /* when rebuilt: what differed ("no cache yet", "the source changed ...") */
};

/* Collective. 1 when path is a directory holding a cache header (rank 0
 * looks; every rank gets its answer). */
int sl_cache_is(const char *path, struct sl_comm *c);

/* Collective. s: a shard loaded from src with o->row_keys set (every rank
 * its own). Writes the cache to dir through a temporary directory renamed
 * into place, so a failed convert leaves no cache; a cache already at dir
 * is replaced, any other non-empty directory is an error. block_bytes:
 * the bytes each checksum covers, a multiple of 8 (0: SL_CACHE_BLOCK). */
enum sl_status sl_cache_write(const struct sl_shard *s, const char *src,
                              const struct sl_load_opts *o, const char *dir, int64_t block_bytes,
                              struct sl_comm *c, struct sl_err *err) SL_WARN_UNUSED;

/* Collective. This rank's rows of the cache at dir, checked (header,
 * version, byte order, sizes, the CRC of every block read), as sl_shard_load
 * would give them from the source on this rank count. o->n_features > 0 is
 * applied as by the text reader; the format options are the cache's own.
 * o->real_labels must be the cache's (convert --real-labels), and o->hash,
 * when given, the spec the cache was hashed with: else an SL_ERR_ARG that
 * says what to convert. s->cache_hash <- the cache's spec, if it has one. */
enum sl_status sl_cache_load(struct sl_shard *s, const char *dir, const struct sl_load_opts *o,
                             struct sl_comm *c, struct sl_err *err) SL_WARN_UNUSED;

/* Collective. A cache at path (sl_cache_is), else the source itself. */
enum sl_status sl_data_load(struct sl_shard *s, const char *path, const struct sl_load_opts *o,
                            struct sl_comm *c, struct sl_err *err) SL_WARN_UNUSED;

/* Collective. train --cache: the cache at dir when it was built from src as
 * it is now (names, sizes, modification times) with the same options (the
 * format ones, o->real_labels and the spec o->hash); else
 * parses src and (re)writes dir. *use says which and why. */
enum sl_status sl_cache_use(struct sl_shard *s, const char *src, const char *dir,
                            const struct sl_load_opts *o, struct sl_comm *c,
                            struct sl_cache_use *use, struct sl_err *err) SL_WARN_UNUSED;

/* The keys [*key_lo, *key_hi) of the rows that belong to rank `rank` of
 * nranks over a source of total_bytes stored bytes: the rank's byte range
 * (sl_byte_range), since a line belongs to the rank whose range holds its
 * first byte, and a row of a compressed file to the rank whose range holds
 * the file's first stored byte (its key). The one statement of that rule,
 * for the cache now and for the readers to share. */
void sl_rank_keys(int64_t total_bytes, int rank, int nranks, int64_t *key_lo, int64_t *key_hi);

#ifdef __cplusplus
}
#endif

#endif
