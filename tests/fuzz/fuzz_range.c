/* fuzz_range.c - byte ranges (sl_byte_range) and the line reader over them
 * (sl_range_open, sl_range_next) for 1 to 4 ranks.
 *
 * Input: one option byte, then the file.
 *   bits 0-1  read buffer: as sl_range_open leaves it, or 1, 5 or 300 bytes
 *   bits 2-7  where the file is cut in two for the directory case (k/63 of it)
 * Each rank is opened by itself, as it is in a job (an sl_comm with only
 * rank and size set: sl_range_open uses nothing else). Checks, for every
 * rank count: the byte ranges tile [0, size); each range is moved to line
 * starts; a rank reads exactly the lines whose first byte is in its byte
 * range, and the ranks' lines, in rank order, are the file's lines, each
 * once, with the same bytes. Then the same bytes as a directory of two files
 * (cut anywhere, also inside a line; an empty half is skipped): every rank
 * count reads the two files' lines in order, each once, the cut ending a
 * line, and each rank exactly the lines whose first byte (in the files'
 * concatenation) is in its byte range. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/reader.h"
#include "fuzz_util.h"

static const size_t CAPS[4] = {0, 1, 5, 300};

FUZZ_QUIET_INITIALIZE

/* The file's lines: start offsets and lengths without the '\n'. */
struct lines {
    int64_t n;
    int64_t *start, *len;
};

static void split_lines(const uint8_t *d, size_t size, struct lines *l) {
    l->n = fuzz_count_lines(d, size);
    l->start = sl_malloc(sizeof(int64_t) * (size_t)(l->n + 1));
    l->len = sl_malloc(sizeof(int64_t) * (size_t)(l->n + 1));
    int64_t k = 0;
    size_t at = 0;
    while (at < size) {
        const uint8_t *nl = memchr(d + at, '\n', size - at);
        size_t end = nl ? (size_t)(nl - d) : size;
        l->start[k] = (int64_t)at;
        l->len[k] = (int64_t)(end - at);
        k++;
        at = end + 1;
    }
    FUZZ_CHECK(k == l->n, "split %lld lines, counted %lld", (long long)k, (long long)l->n);
}

static int is_line_start(const uint8_t *d, int64_t size, int64_t at) {
    return at == 0 || at == size || (at > 0 && at < size && d[at - 1] == '\n');
}

/* Reads rank's lines of nranks; *next: index of the file line expected next. */
static void read_rank(const char *path, const uint8_t *d, int64_t size, const struct lines *l,
                      int rank, int nranks, size_t cap, int64_t *next) {
    int64_t b, e;
    sl_byte_range(size, rank, nranks, &b, &e);
    struct sl_comm c = {.rank = rank, .size = nranks};
    struct sl_range r;
    FUZZ_CHECK(sl_range_open(&r, path, &c) == SL_OK, "open %s", path);
    FUZZ_CHECK(r.size == size, "size %lld of %lld", (long long)r.size, (long long)size);
    FUZZ_CHECK(r.begin >= b && r.begin <= r.end && r.end <= size, "rank %d/%d: [%lld, %lld)", rank,
               nranks, (long long)r.begin, (long long)r.end);
    FUZZ_CHECK(is_line_start(d, size, r.begin) && is_line_start(d, size, r.end),
               "rank %d/%d: [%lld, %lld) not at line starts", rank, nranks, (long long)r.begin,
               (long long)r.end);
    fuzz_range_small_buffer(&r, cap);
    const char *p, *q;
    int64_t at = r.begin; /* file offset of the line sl_range_next returns next */
    while (sl_range_next(&r, &p, &q)) {
        const int64_t k = *next;
        FUZZ_CHECK(k < l->n, "rank %d/%d: a line past the file's %lld", rank, nranks,
                   (long long)l->n);
        FUZZ_CHECK(at == l->start[k], "rank %d/%d: line %lld at %lld, in the file at %lld", rank,
                   nranks, (long long)k, (long long)at, (long long)l->start[k]);
        FUZZ_CHECK(at >= b && at < e, "rank %d/%d: line at %lld outside its bytes [%lld, %lld)",
                   rank, nranks, (long long)at, (long long)b, (long long)e);
        FUZZ_CHECK(q - p == l->len[k] && memcmp(p, d + at, (size_t)(q - p)) == 0,
                   "rank %d/%d: line %lld differs from the file", rank, nranks, (long long)k);
        at += l->len[k] + 1;
        (*next)++;
    }
    FUZZ_CHECK(!r.io_failed, "rank %d/%d: read error %d", rank, nranks, r.err);
    /* A line that starts in the range is read to its end, past r.end. */
    FUZZ_CHECK(*next == l->n || l->start[*next] >= e,
               "rank %d/%d: stopped before line %lld at %lld", rank, nranks, (long long)*next,
               (long long)l->start[*next]);
    sl_range_close(&r);
}

/* The lines of a and then of b, each file's end ending a line. */
static void split_two(const uint8_t *d, size_t size, size_t cut, struct lines *l) {
    struct lines a, b;
    split_lines(d, cut, &a);
    split_lines(d + cut, size - cut, &b);
    l->n = a.n + b.n;
    l->start = sl_malloc(sizeof(int64_t) * (size_t)(l->n + 1));
    l->len = sl_malloc(sizeof(int64_t) * (size_t)(l->n + 1));
    for (int64_t k = 0; k < a.n; k++)
        l->start[k] = a.start[k], l->len[k] = a.len[k];
    for (int64_t k = 0; k < b.n; k++)
        l->start[a.n + k] = (int64_t)cut + b.start[k], l->len[a.n + k] = b.len[k];
    free(a.start), free(a.len), free(b.start), free(b.len);
}

static void two_files(const uint8_t *d, size_t size, size_t cut, size_t cap) {
    char dir[512], pa[600], pb[600];
    fuzz_path(dir, sizeof dir, "parts");
    mkdir(dir, 0700);
    snprintf(pa, sizeof pa, "%s/a", dir);
    snprintf(pb, sizeof pb, "%s/b", dir);
    fuzz_write_file(pa, d, cut);
    fuzz_write_file(pb, d + cut, size - cut);
    struct lines l;
    split_two(d, size, cut, &l);
    for (int nranks = 1; nranks <= 4; nranks++) {
        int64_t next = 0;
        for (int rank = 0; rank < nranks; rank++) {
            int64_t b, e;
            sl_byte_range((int64_t)size, rank, nranks, &b, &e);
            struct sl_comm c = {.rank = rank, .size = nranks};
            struct sl_range r;
            if (size == 0) { /* both halves empty: nothing is listed */
                FUZZ_CHECK(sl_range_open(&r, dir, &c) != SL_OK, "an empty directory opened");
                sl_range_close(&r);
                continue;
            }
            FUZZ_CHECK(sl_range_open(&r, dir, &c) == SL_OK, "open %s: %s", dir, r.io_msg);
            FUZZ_CHECK(r.size == (int64_t)size, "size %lld of %zu", (long long)r.size, size);
            fuzz_range_small_buffer(&r, cap);
            const char *p, *q;
            while (sl_range_next(&r, &p, &q)) {
                const int64_t k = next;
                FUZZ_CHECK(k < l.n, "two files, rank %d/%d: a line past the %lld", rank, nranks,
                           (long long)l.n);
                if (k >= l.n) break;
                FUZZ_CHECK(l.start[k] >= b && l.start[k] < e,
                           "two files, rank %d/%d: line %lld at %lld outside [%lld, %lld)", rank,
                           nranks, (long long)k, (long long)l.start[k], (long long)b, (long long)e);
                FUZZ_CHECK(q - p == l.len[k] && memcmp(p, d + l.start[k], (size_t)(q - p)) == 0,
                           "two files, rank %d/%d: line %lld differs", rank, nranks, (long long)k);
                next++;
            }
            FUZZ_CHECK(!r.io_failed, "two files, rank %d/%d: %s", rank, nranks, r.io_msg);
            FUZZ_CHECK(next == l.n || l.start[next] >= e,
                       "two files, rank %d/%d: stopped before line %lld", rank, nranks,
                       (long long)next);
            sl_range_close(&r);
        }
        FUZZ_CHECK(size == 0 || next == l.n, "two files, %d ranks read %lld of %lld lines", nranks,
                   (long long)next, (long long)l.n);
    }
    free(l.start);
    free(l.len);
    unlink(pa);
    unlink(pb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const size_t cap = CAPS[data[0] & 3];
    const unsigned cut_k = data[0] >> 2; /* 0..63 */
    data++, size--;

    char path[512];
    fuzz_path(path, sizeof path, "lines.txt");
    fuzz_write_file(path, data, size);
    struct lines l;
    split_lines(data, size, &l);
    for (int nranks = 1; nranks <= 4; nranks++) {
        int64_t prev_end = 0, next = 0;
        for (int rank = 0; rank < nranks; rank++) {
            int64_t b, e;
            sl_byte_range((int64_t)size, rank, nranks, &b, &e);
            FUZZ_CHECK(b == prev_end && b <= e, "ranges of %d ranks do not tile", nranks);
            prev_end = e;
            read_rank(path, data, (int64_t)size, &l, rank, nranks, cap, &next);
        }
        FUZZ_CHECK(prev_end == (int64_t)size, "%d ranges end at %lld of %zu", nranks,
                   (long long)prev_end, size);
        FUZZ_CHECK(next == l.n, "%d ranks read %lld of %lld lines", nranks, (long long)next,
                   (long long)l.n);
    }
    free(l.start);
    free(l.len);
    two_files(data, size, size * cut_k / 63, cap);
    return 0;
}
