/* reader.h - private to the readers: one rank's byte range read in chunks
 * (range.c), label parsing and growth helpers (parse.c; numbers:
 * core/number.c), the per-rank parse state that the ranks agree on afterwards
 * (shard.c), and the two line parsers (libsvm.c, csv.c). Tests include it
 * for sl_byte_range and sl_parse_double. */
#ifndef SHARDLEARN_DATA_READER_H
#define SHARDLEARN_DATA_READER_H

#include <stddef.h>
#include <stdint.h>

#include "core/number.h" /* sl_parse_double */
#include "io/io.h"
#include "shardlearn/data.h"

#define SL_READ_CHUNK ((size_t)4 << 20) /* bytes read at a time */

/* One object's part of a rank's share: stored bytes [begin, end) of a plain
 * object, moved to line starts, or a whole compressed object (decoded). */
struct sl_piece {
    int64_t obj;        /* index in the list */
    int64_t begin, end; /* stored bytes */
    int decoded;
    int64_t first_line; /* lines the rank read before this piece */
    int64_t at;         /* the object's first stored byte in the virtual stream */
    uint32_t crc;       /* zlib crc32 of the piece's stored bytes, once read */
    int64_t stored;     /* and their count */
};

/* A rank's share of a source (range.c) and a line reader over it. */
struct sl_range {
    const struct sl_io_list *list;
    struct sl_io_list own;  /* the list when sl_range_open made it */
    struct sl_piece *piece; /* (n_pieces), in stream order */
    int64_t n_pieces, cur;  /* cur: the piece being read (-1: none yet) */
    struct sl_io_stream *s; /* the current piece's stream */
    /* size: stored bytes of the whole source; [begin, end): this rank's share
     * in the virtual stream of stored bytes (for one plain file, its byte
     * range moved to line starts). */
    int64_t size, begin, end;
    char *buf;            /* (cap + 1) bytes, NUL after len */
    size_t cap, len, off; /* off: start of the unconsumed bytes */
    int64_t buf_at;       /* the current piece's byte (decoded, for a codec) at buf[0] */
    int piece_eof;        /* the current piece has no more bytes */
    int piece_start;      /* no line of the current piece returned yet */
    int file_first;       /* the last line returned is its object's first line */
    int64_t lines;        /* lines returned so far */
    int err;              /* errno of a failure */
    int io_failed;
    char io_msg[512]; /* the failure, naming the object */
    uint32_t crc;     /* zlib crc32 of the stored bytes of the finished pieces */
    int64_t bytes;    /* and their count */
};

/* This rank's byte range [*begin, *end) of a file of `size` bytes before it is
 * moved to line boundaries. */
void sl_byte_range(int64_t size, int rank, int nranks, int64_t *begin, int64_t *end);

/* Opens this rank's share of l (c->rank, c->size; nothing collective).
 * The list must outlive r. On failure r->io_msg says why. */
enum sl_status sl_range_open_list(struct sl_range *r, const struct sl_io_list *l,
                                  struct sl_comm *c);
/* The same for a spec listed here (tests and fuzzing). */
enum sl_status sl_range_open(struct sl_range *r, const char *path, struct sl_comm *c);
/* The next line without its '\n' as [*line, *line_end); 0 at the end or
 * on a failure (r->io_failed). */
int sl_range_next(struct sl_range *r, const char **line, const char **line_end);
void sl_range_close(struct sl_range *r);

/* What a rank found while parsing; the first error stops parsing, but the
 * lines are still counted so that every rank's line numbers stay right. */
struct sl_load_state {
    enum sl_status status;
    int64_t lines;    /* lines in this rank's range */
    int64_t err_line; /* 1-based within the range; 0: no line (I/O) */
    char msg[512];
    /* > 0: msg compares with this (rank-local) line, the row that set the
     * width; shard.c appends where it is in its file: " (as on line N)". */
    int64_t as_line;
    int64_t max_index;      /* LIBSVM: largest 0-based column + 1 seen */
    int64_t ncols;          /* CSV: fields in this rank's rows (0: none) */
    int64_t first_row_line; /* CSV: line of this rank's first data row */
    int saw_zero_label;
    int real_labels; /* sl_load_opts.real_labels */
    int64_t key_cap; /* capacity of the shard's row_key */
};

/* The key of the line that starts at p (in r's buffer), which decides its
 * rank (data.h: sl_rank_keys): its first stored byte in the virtual stream,
 * or for a compressed object, the object's first stored byte. */
int64_t sl_range_key(const struct sl_range *r, const char *p);
/* cache.c: unmaps s->maps and clears the arrays that pointed into them. */
void sl_cache_unmap(struct sl_shard *s);
/* A shard loaded from a cache: s->values becomes the shard's own writable
 * copy (its mapping is read-only), for the few callers that change it. */
void sl_cache_own_values(struct sl_shard *s);

/* Row `row`'s key (sl_shard.row_key) when o->row_keys: the offset of its
 * line's first byte. */
void sl_push_row_key(struct sl_shard *s, const struct sl_load_opts *o, struct sl_load_state *ls,
                     int64_t row, int64_t key);

void sl_parse_libsvm(struct sl_range *r, struct sl_shard *s, const struct sl_load_opts *o,
                     struct sl_load_state *ls);
void sl_parse_csv(struct sl_range *r, struct sl_shard *s, const struct sl_load_opts *o,
                  struct sl_load_state *ls);
/* Delimited text with o->hash's columns into CSR (hashed.c). */
void sl_parse_hashed(struct sl_range *r, struct sl_shard *s, const struct sl_load_opts *o,
                     struct sl_load_state *ls);

/* Records the first error of this rank at (1-based) local line `line`. */
void sl_parse_fail(struct sl_load_state *ls, int64_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Counts the remaining lines after an error. */
void sl_count_rest(struct sl_range *r, struct sl_load_state *ls);

/* Grows *p (elements of elem bytes) to hold need, by 1.5x steps. */
void sl_grow(void **p, int64_t *cap, int64_t need, size_t elem);
void sl_shrink(void **p, int64_t n, size_t elem);

/* A label token: -1, 0 or +1 in any numeric spelling, or with real any
 * finite number (kept as it is). 0 on success. */
int sl_parse_label(const char *p, const char *end, const char **after, double *y, int *was_zero,
                   int real);
/* What a label must be, for the parsers' messages. */
const char *sl_label_expected(int real);

static inline int sl_is_space(char ch) {
    return ch == ' ' || ch == '\t' || ch == '\r';
}

/* A line of a source, without its '\n': the object it is in and its 1-based
 * number there. Returns non-zero to stop. */
typedef int (*sl_line_fn)(const char *line, size_t len, const char *file, int64_t lineno,
                          void *ctx);
/* Calls fn for every line of every object of spec (lines.c), in list order,
 * decoded, until fn returns non-zero (that is SL_OK too). Not collective: a
 * rank reads it all on its own. A fault is a status with err filled. */
enum sl_status sl_source_lines(const char *spec, sl_line_fn fn, void *ctx, struct sl_err *err);
/* The first line of spec's first object, NUL-terminated ("" when it has none);
 * NULL with err filled on a fault. Caller frees. */
char *sl_source_first_line(const char *spec, struct sl_err *err);

#endif
