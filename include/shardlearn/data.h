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
#include "shardlearn/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum sl_format { SL_FORMAT_AUTO = 0, SL_FORMAT_LIBSVM, SL_FORMAT_CSV };

struct sl_load_opts {
    enum sl_format format; /* AUTO: .csv, .csv.gz, .csv.zst -> CSV, anything else -> LIBSVM
                              (a directory or glob: its first file's name) */
    int zero_based;        /* LIBSVM: feature indices start at 0, not 1 */
    int64_t n_features;    /* > 0: fixed d, larger index is an error; 0: agreed max */
    /* > 0: when the data turn out to be CSV, each row must have exactly this
     * many features (predict: the model's), whatever n_features says. Lets a
     * caller that does not know the format before listing (a directory of
     * .csv.gz parts) ask for it. 0: n_features decides. */
    int64_t csv_features;
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
    int64_t bytes;       /* stored bytes of the source read by this rank */
    int64_t file_bytes;  /* stored bytes of the whole source (all its files) */
    uint32_t file_crc32; /* zlib's CRC-32 of the source's stored bytes (for several files,
                            their concatenation in list order; compressed files as stored),
                            the same on every rank and for any rank count: each rank's CRC
                            of what it read, combined in rank order (crc32_combine) */
    double load_seconds; /* wall time of this rank's read + parse */
};

/* Collective. On success every rank holds its shard; free with
 * sl_shard_free. On failure every rank returns the same status, the shard
 * is left empty, and err->msg is filled ("file:line: what") on exactly one
 * rank: the one holding the earliest bad line. */
enum sl_status sl_shard_load(struct sl_shard *s, const char *path, const struct sl_load_opts *o,
                             struct sl_comm *c, struct sl_err *err) SL_WARN_UNUSED;
void sl_shard_free(struct sl_shard *s);

enum sl_format sl_format_from_path(const char *path);

#ifdef __cplusplus
}
#endif

#endif
