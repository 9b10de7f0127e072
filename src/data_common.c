/* data_common.c - what both readers share: byte ranges moved to line
 * boundaries, a chunked line reader over one rank's range, exact fast number
 * parsing, and agreeing on the first error across ranks. */
#include "data_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shardlearn/log.h"

enum sl_format sl_format_from_path(const char *path) {
    size_t n = strlen(path);
    if (n >= 4 && strcmp(path + n - 4, ".csv") == 0) return SL_FORMAT_CSV;
    return SL_FORMAT_LIBSVM;
}

void sl_byte_range(int64_t size, int rank, int nranks, int64_t *begin, int64_t *end) {
    /* (size * rank) / nranks without overflow for any realistic file. */
    *begin = (int64_t)((__int128)size * rank / nranks);
    *end = (int64_t)((__int128)size * (rank + 1) / nranks);
}

/* Exact powers of ten representable in a double. */
static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_num_char(char ch) {
    return (ch >= '0' && ch <= '9') || ch == '.' || ch == 'e' || ch == 'E' || ch == '+' ||
           ch == '-' || ch == 'x' || ch == 'X' || (ch >= 'a' && ch <= 'f') ||
           (ch >= 'A' && ch <= 'F') || ch == 'n' || ch == 'N' || ch == 'i' || ch == 'I' ||
           ch == 't' || ch == 'T' || ch == 'y' || ch == 'Y' || ch == 'p' || ch == 'P';
}

static const char *slow_parse(const char *p, const char *end, double *out) {
    char tmp[128];
    size_t n = 0;
    while (p + n < end && n < sizeof tmp - 1 && is_num_char(p[n])) n++;
    if (n == 0 || n == sizeof tmp - 1) return NULL;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    char *e = NULL;
    errno = 0;
    double v = strtod(tmp, &e);
    if (e == tmp) return NULL;
    *out = v; /* overflow gives +-HUGE_VAL: the caller rejects non-finite values */
    return p + (e - tmp);
}

const char *sl_parse_double(const char *p, const char *end, double *out) {
    /* Clinger's fast path: at most 19 significant digits in a uint64, and
     * when the mantissa is below 2^53 and the decimal exponent is within
     * +-22 the result of one multiply or divide by an exact power of ten is
     * correctly rounded, hence identical to strtod. Anything else goes to
     * strtod. */
    const char *s = p;
    int neg = 0;
    if (s < end && (*s == '-' || *s == '+')) neg = *s++ == '-';
    uint64_t mant = 0;
    int digits = 0, frac = 0, any = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        if (digits < 19) {
            mant = mant * 10 + (uint64_t)(*s - '0');
            if (mant) digits++;
        } else {
            return slow_parse(p, end, out);
        }
        any = 1;
        s++;
    }
    if (s < end && *s == '.') {
        s++;
        while (s < end && *s >= '0' && *s <= '9') {
            if (digits < 19) {
                mant = mant * 10 + (uint64_t)(*s - '0');
                if (mant) digits++;
                frac++;
            } else {
                return slow_parse(p, end, out);
            }
            any = 1;
            s++;
        }
    }
    if (!any) return slow_parse(p, end, out); /* "inf", "nan", ".", "-" ... */
    int exp10 = 0;
    if (s < end && (*s == 'e' || *s == 'E')) {
        const char *t = s + 1;
        int eneg = 0;
        if (t < end && (*t == '-' || *t == '+')) eneg = *t++ == '-';
        if (!(t < end && *t >= '0' && *t <= '9')) return slow_parse(p, end, out);
        int e = 0;
        while (t < end && *t >= '0' && *t <= '9') {
            if (e < 100000) e = e * 10 + (*t - '0');
            t++;
        }
        exp10 = eneg ? -e : e;
        s = t;
    }
    if (s < end && (*s == 'x' || *s == 'X' || *s == 'p' || *s == 'P'))
        return slow_parse(p, end, out); /* hex float: strtod's business */
    int e = exp10 - frac;
    if (mant > (UINT64_C(1) << 53) || e < -22 || e > 22) return slow_parse(p, end, out);
    double v = (double)mant;
    v = e < 0 ? v / POW10[-e] : v * POW10[e];
    *out = neg ? -v : v;
    return s;
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
    r->size = (int64_t)stt.st_size;
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
        ssize_t k = pread(r->fd, r->buf + r->len, want, (off_t)r->pos);
        if (k <= 0) {
            r->err = k < 0 ? errno : EIO;
            r->pos = r->end; /* stop; the caller sees the read error */
            r->io_failed = 1;
            return 0;
        }
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

void sl_grow(void **p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return;
    int64_t nc = *cap ? *cap + *cap / 2 : 4096;
    if (nc < need) nc = need;
    *p = sl_realloc(*p, (size_t)nc * elem);
    *cap = nc;
}

void sl_shrink(void **p, int64_t n, size_t elem) {
    *p = sl_realloc(*p, (size_t)(n ? n : 1) * elem);
}

enum sl_status sl_agree_error(struct sl_comm *c, struct sl_load_state *ls, const char *path,
                              struct sl_err *err) {
    /* Global line of this rank's first bad line; errors without a line
     * (I/O) sort first. */
    int64_t first_line = sl_comm_exscan_i64(c, ls->lines) + 1;
    int has = ls->status != SL_OK;
    int64_t key = ls->err_line > 0 ? first_line + ls->err_line - 1 : 0;
    int who = sl_comm_first_error(c, has, key);
    if (who < 0) return SL_OK;
    int64_t st = ls->status;
    sl_comm_bcast(c, &st, sizeof st, who);
    if (c->rank == who) {
        if (ls->err_line > 0)
            sl_err_set(err, (enum sl_status)st, "%s:%lld: %s", path, (long long)key, ls->msg);
        else
            sl_err_set(err, (enum sl_status)st, "%s: %s", path, ls->msg);
    }
    return (enum sl_status)st;
}

enum sl_status sl_shard_load(struct sl_shard *s, const char *path, const struct sl_load_opts *o,
                             struct sl_comm *c, struct sl_err *err) {
    memset(s, 0, sizeof *s);
    sl_err_clear(err);
    enum sl_format fmt = o->format == SL_FORMAT_AUTO ? sl_format_from_path(path) : o->format;
    double t0 = sl_wtime();
    struct sl_range r;
    struct sl_load_state ls;
    memset(&ls, 0, sizeof ls);
    if (sl_range_open(&r, path, c) != SL_OK) {
        ls.status = SL_ERR_IO;
        snprintf(ls.msg, sizeof ls.msg, "%s", strerror(r.err ? r.err : EIO));
    } else {
        if (fmt == SL_FORMAT_CSV)
            sl_parse_csv(&r, s, o, &ls);
        else
            sl_parse_libsvm(&r, s, o, &ls);
        if (r.io_failed && ls.status == SL_OK) {
            ls.status = SL_ERR_IO;
            ls.err_line = 0;
            snprintf(ls.msg, sizeof ls.msg, "read error: %s", strerror(r.err));
        }
        s->bytes = r.end - r.begin;
        sl_range_close(&r);
    }
    enum sl_status st = sl_agree_error(c, &ls, path, err);
    if (st == SL_OK) st = sl_finish_shard(s, fmt, o, c, &ls, path, err);
    if (st != SL_OK) {
        sl_shard_free(s);
        return st;
    }
    s->load_seconds = sl_wtime() - t0;
    return SL_OK;
}

void sl_shard_free(struct sl_shard *s) {
    free(s->y);
    free(s->indptr);
    free(s->indices);
    free(s->values);
    memset(s, 0, sizeof *s);
}
