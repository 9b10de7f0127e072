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
#include "shardlearn/data.h"

#define SL_READ_CHUNK ((size_t)4 << 20) /* bytes read at a time */

/* The lines that start in [begin, end) of the file belong to this rank. */
struct sl_range {
    int fd;
    int64_t size, begin, end, pos; /* pos: next file offset to read */
    int64_t mtime_ns;              /* the file's modification time at open */
    char *buf;                     /* (cap + 1) bytes, NUL after len */
    size_t cap, len, off;          /* off: start of the unconsumed bytes */
    int err;                       /* errno of a failure */
    int io_failed;
    uint32_t crc; /* zlib crc32 of the bytes [begin, pos) read so far */
};

/* This rank's byte range [*begin, *end) of a file of `size` bytes before it is
 * moved to line boundaries. */
void sl_byte_range(int64_t size, int rank, int nranks, int64_t *begin, int64_t *end);

enum sl_status sl_range_open(struct sl_range *r, const char *path, struct sl_comm *c);
/* 1 when the file's size or modification time is no longer what it was at
 * open: a writer changed it while the ranks read it. */
int sl_range_changed(const struct sl_range *r);
/* The next line without its '\n' as [*line, *line_end); 0 at the end. */
int sl_range_next(struct sl_range *r, const char **line, const char **line_end);
void sl_range_close(struct sl_range *r);

/* What a rank found while parsing; the first error stops parsing, but the
 * lines are still counted so that every rank's line numbers stay right. */
struct sl_load_state {
    enum sl_status status;
    int64_t lines;    /* lines in this rank's range */
    int64_t err_line; /* 1-based within the range; 0: no line (I/O) */
    char msg[512];
    int64_t max_index;      /* LIBSVM: largest 0-based column + 1 seen */
    int64_t ncols;          /* CSV: fields in this rank's rows (0: none) */
    int64_t first_row_line; /* CSV: line of this rank's first data row */
    int saw_zero_label;
};

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

/* A label token: -1, 0 or +1 in any numeric spelling. 0 on success. */
int sl_parse_label(const char *p, const char *end, const char **after, double *y, int *was_zero);

static inline int sl_is_space(char ch) {
    return ch == ' ' || ch == '\t' || ch == '\r';
}

#endif
