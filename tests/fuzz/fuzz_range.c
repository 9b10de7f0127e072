/* fuzz_range.c - byte ranges (sl_byte_range) and the line reader over them
 * (sl_range_open, sl_range_next) for 1 to 4 ranks.
 *
 * Input: one option byte, then the file.
 *   bits 0-1  read buffer: as sl_range_open leaves it, or 1, 5 or 300 bytes
 * Each rank is opened by itself, as it is in a job (an sl_comm with only
 * rank and size set: sl_range_open uses nothing else). Checks, for every
 * rank count: the byte ranges tile [0, size); each range is moved to line
 * starts; a rank reads exactly the lines whose first byte is in its byte
 * range, and the ranks' lines, in rank order, are the file's lines, each
 * once, with the same bytes. */
#include <stdlib.h>
#include <string.h>

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const size_t cap = CAPS[data[0] & 3];
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
    return 0;
}
