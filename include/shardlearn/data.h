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

#ifdef __cplusplus
}
#endif

#endif
