/* data.h - sharded readers for LIBSVM/svmlight text and dense CSV.
 *
 * Every rank opens the file itself and parses only its own byte range,
 * split at line boundaries: a line belongs to the rank whose range holds its
 * first byte, so each row lands on exactly one rank and no rank holds the
 * whole data set. Sparse rows go to CSR, dense rows to a row-major matrix. */
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

struct sl_load_opts {
    enum sl_format format; /* AUTO: .csv -> CSV, .tsv -> TSV, anything else -> LIBSVM */
    int zero_based;        /* LIBSVM: feature indices start at 0, not 1 */
    int64_t n_features;    /* > 0: fixed d, larger index is an error; 0: agreed max */
    /* Non-NULL: delimited text with these columns, hashed into CSR
     * (hashing.h); format and n_features are then not looked at. Not owned. */
    const struct sl_hash_spec *hash;
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
    double *y;           /* (n_rows) labels mapped to -1/+1 */
    int64_t *indptr;     /* CSR: (n_rows + 1); NULL when dense */
    int32_t *indices;    /* CSR: (nnz) 0-based column, strictly increasing in a row */
    double *values;      /* CSR: (nnz); dense: (n_rows, d) row-major */
    int64_t bytes;       /* bytes of the file parsed by this rank */
    int64_t file_bytes;  /* bytes of the whole file */
    uint32_t file_crc32; /* zlib's CRC-32 of the whole file, the same on every rank and
                            for any rank count: each rank's CRC of its own byte range,
                            combined in rank order (crc32_combine) */
    double load_seconds; /* wall time of this rank's read + parse */
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

#ifdef __cplusplus
}
#endif

#endif
