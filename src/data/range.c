/* range.c - one rank's byte range of a file, moved to line boundaries, and a
 * chunked line reader over it: a line belongs to the rank whose range holds
 * its first byte, so each row lands on exactly one rank. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/fault.h"
#include "data/reader.h"

void sl_byte_range(int64_t size, int rank, int nranks, int64_t *begin, int64_t *end) {
    /* (size * rank) / nranks without overflow for any realistic file. */
    *begin = (int64_t)((__int128)size * rank / nranks);
    *end = (int64_t)((__int128)size * (rank + 1) / nranks);
}

/* The first byte of the first line that starts at or after pos. */
static enum sl_status line_start(int fd, int64_t pos, int64_t size, int64_t *out) {
    if (pos <= 0) {
        *out = 0;
        return SL_OK;
    }
    if (pos >= size) {
        *out = size;
        return SL_OK;
    }
    /* A line starts at pos exactly when byte pos-1 is a newline. */
    char buf[65536];
    int64_t at = pos - 1;
    while (at < size) {
        ssize_t k = pread(fd, buf, sizeof buf, (off_t)at);
        if (k < 0) return SL_ERR_IO;
        if (k == 0) break;
        char *nl = memchr(buf, '\n', (size_t)k);
        if (nl) {
            *out = at + (nl - buf) + 1;
            return SL_OK;
        }
        at += k;
    }
    *out = size;
    return SL_OK;
}

enum sl_status sl_range_open(struct sl_range *r, const char *path, struct sl_comm *c) {
    memset(r, 0, sizeof *r);
    r->fd = open(path, O_RDONLY);
    if (r->fd < 0) {
        r->err = errno;
        return SL_ERR_IO;
    }
    struct stat stt;
    if (fstat(r->fd, &stt) != 0 || !S_ISREG(stt.st_mode)) {
        r->err = S_ISDIR(stt.st_mode) ? EISDIR : errno;
        close(r->fd);
        r->fd = -1;
        return SL_ERR_IO;
    }
    if (sl_fault("data.open")) {
        r->err = EIO;
        close(r->fd);
        r->fd = -1;
        return SL_ERR_IO;
    }
    r->size = (int64_t)stt.st_size;
    r->mtime_ns = (int64_t)stt.st_mtim.tv_sec * 1000000000 + stt.st_mtim.tv_nsec;
    int64_t b, e;
    sl_byte_range(r->size, c->rank, c->size, &b, &e);
    if (line_start(r->fd, b, r->size, &r->begin) || line_start(r->fd, e, r->size, &r->end)) {
        r->err = errno;
        close(r->fd);
        r->fd = -1;
        return SL_ERR_IO;
    }
    if (r->end < r->begin) r->end = r->begin;
    r->pos = r->begin;
    r->cap = SL_READ_CHUNK;
    r->buf = sl_malloc(r->cap + 1);
    return SL_OK;
}

int sl_range_changed(const struct sl_range *r) {
    struct stat stt;
    if (fstat(r->fd, &stt) != 0) return 1;
    return (int64_t)stt.st_size != r->size ||
           (int64_t)stt.st_mtim.tv_sec * 1000000000 + stt.st_mtim.tv_nsec != r->mtime_ns;
}

int sl_range_next(struct sl_range *r, const char **line, const char **line_end) {
    for (;;) {
        if (r->off < r->len) {
            char *s = r->buf + r->off;
            char *nl = memchr(s, '\n', r->len - r->off);
            if (nl) {
                *line = s;
                *line_end = nl;
                r->off = (size_t)(nl - r->buf) + 1;
                return 1;
            }
            if (r->pos >= r->end) { /* last line of the file without a newline */
                *line = s;
                *line_end = r->buf + r->len;
                r->off = r->len;
                return 1;
            }
        } else if (r->pos >= r->end) {
            return 0;
        }
        /* Keep the partial line, refill behind it; grow for a very long line. */
        size_t keep = r->len - r->off;
        memmove(r->buf, r->buf + r->off, keep);
        r->len = keep;
        r->off = 0;
        if (r->cap - r->len < SL_READ_CHUNK / 2) {
            r->cap *= 2;
            r->buf = sl_realloc(r->buf, r->cap + 1);
        }
        size_t want = r->cap - r->len;
        if ((int64_t)want > r->end - r->pos) want = (size_t)(r->end - r->pos);
        ssize_t k = -1;
        if (sl_fault("data.read"))
            errno = EIO;
        else
            k = pread(r->fd, r->buf + r->len, want, (off_t)r->pos);
        if (k <= 0) {
            r->err = k < 0 ? errno : EIO;
            r->pos = r->end; /* stop; the caller sees the read error */
            r->io_failed = 1;
            return 0;
        }
        /* The digest of the data set, as the bytes pass: the ranks' ranges
         * tile the file, so their CRCs combine into the file's (shard.c). */
        r->crc = (uint32_t)crc32_z(r->crc, (const Bytef *)(r->buf + r->len), (size_t)k);
        r->pos += k;
        r->len += (size_t)k;
        r->buf[r->len] = '\0';
    }
}

void sl_range_close(struct sl_range *r) {
    if (r->fd >= 0) close(r->fd);
    free(r->buf);
    r->fd = -1;
    r->buf = NULL;
}
