/* fuzz_util.c - see fuzz_util.h. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "fuzz_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/reader.h"
#include "shardlearn/log.h"

void fuzz_fail(const char *file, int line, const char *expr, const char *fmt, ...) {
    fprintf(stderr, "%s:%d: fuzz check failed: %s: ", file, line, expr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

int fuzz_skip_known(void) {
    static int skip = -1;
    if (skip < 0) {
        const char *e = getenv("SL_FUZZ_SKIP_KNOWN");
        skip = e && strcmp(e, "1") == 0;
    }
    return skip;
}

static char g_dir[256];

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Only the process that made the directory removes it (libFuzzer's -fork
 * and -jobs modes start children that inherit atexit handlers). */
static pid_t g_owner;

static void remove_dir(void) {
    if (g_dir[0] && getpid() == g_owner) nftw(g_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_dir(void) {
    if (g_dir[0]) return g_dir;
    const char *bases[] = {getenv("SL_FUZZ_TMPDIR"), "/dev/shm", getenv("TMPDIR"), "/tmp"};
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        if (!bases[i] || !*bases[i]) continue;
        snprintf(g_dir, sizeof g_dir, "%s/sl-fuzz-XXXXXX", bases[i]);
        if (mkdtemp(g_dir)) {
            g_owner = getpid();
            atexit(remove_dir);
            return g_dir;
        }
    }
    fprintf(stderr, "fuzz: cannot create a scratch directory: %s\n", strerror(errno));
    abort();
}

char *fuzz_path(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", fuzz_dir(), name);
    return out;
}

void fuzz_write_file(const char *path, const void *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        fprintf(stderr, "fuzz: %s: %s\n", path, strerror(errno));
        abort();
    }
    const char *p = data;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k <= 0) {
            fprintf(stderr, "fuzz: write %s: %s\n", path, strerror(errno));
            abort();
        }
        p += k;
        n -= (size_t)k;
    }
    close(fd);
}

static void drop_line(enum sl_log_level level, int rank, const char *line, void *ctx) {
    (void)level, (void)rank, (void)line, (void)ctx;
}

void fuzz_quiet_log(void) {
    sl_log_set_handler(drop_line, NULL);
}

void fuzz_check_number(const uint8_t *p, size_t n) {
    char buf[512];
    if (n > sizeof buf - 1) n = sizeof buf - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    n = strlen(buf); /* strtod reads a C string */
    /* strtod skips leading white space, the parsers' caller does that. */
    if (n == 0 || strchr(" \t\n\v\f\r", buf[0])) return;
    double got = 0, want;
    const char *e = sl_parse_double(buf, buf + n, &got);
    char *f = NULL;
    errno = 0;
    want = strtod(buf, &f);
    if (!e) {
        FUZZ_CHECK(f == buf, "'%s' refused, strtod reads %td chars as %.17g", buf, f - buf, want);
        return;
    }
    /* "nan(chars)": strtod takes the parenthesis, which the readers refuse
     * anyway as a character that cannot follow a number. */
    if (f > e && memchr(e, '(', (size_t)(f - e))) return;
    FUZZ_CHECK(f == e, "'%s': parsed %td chars, strtod %td", buf, e - buf, f - buf);
    FUZZ_CHECK((isnan(got) && isnan(want)) || memcmp(&got, &want, sizeof got) == 0,
               "'%s': %.17g, strtod %.17g", buf, got, want);
}

int64_t fuzz_count_lines(const uint8_t *d, size_t n) {
    int64_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += d[i] == '\n';
    return k + (n > 0 && d[n - 1] != '\n');
}

void fuzz_range_small_buffer(struct sl_range *r, size_t cap) {
    if (cap == 0) return;
    FUZZ_CHECK(r->len == 0 && r->off == 0, "the range was read before its buffer was replaced");
    free(r->buf);
    r->cap = cap;
    r->buf = sl_malloc(cap + 1);
}

int fuzz_utf8_valid(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        const uint8_t c = p[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (p[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += k + 1;
    }
    return 1;
}

int64_t fuzz_row_lines(const uint8_t *d, size_t n, int comments) {
    int64_t rows = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && sl_is_space((char)d[i]))
            i++;
        if (i < n && d[i] != '\n' && !(comments && d[i] == '#')) rows++;
        const uint8_t *nl = memchr(d + i, '\n', n - i);
        i = nl ? (size_t)(nl - d) + 1 : n;
    }
    return rows;
}

void fuzz_parse_file(const uint8_t *data, size_t size, const char *name, size_t cap,
                     fuzz_parse_fn parse, const struct sl_load_opts *o, struct sl_shard *s,
                     struct sl_load_state *ls) {
    char path[512];
    fuzz_path(path, sizeof path, name);
    fuzz_write_file(path, data, size);
    struct sl_comm c = {.rank = 0, .size = 1};
    struct sl_range r;
    FUZZ_CHECK(sl_range_open(&r, path, &c) == SL_OK, "open %s", path);
    fuzz_range_small_buffer(&r, cap);
    memset(s, 0, sizeof *s);
    memset(ls, 0, sizeof *ls);
    parse(&r, s, o, ls);
    FUZZ_CHECK(!r.io_failed, "read error %d", r.err);
    sl_range_close(&r);
    const int64_t lines = fuzz_count_lines(data, size);
    FUZZ_CHECK(ls->lines == lines, "%lld lines counted, the file has %lld", (long long)ls->lines,
               (long long)lines);
    if (ls->status == SL_OK) return;
    FUZZ_CHECK(ls->status == SL_ERR_PARSE, "status %d", ls->status);
    FUZZ_CHECK(ls->err_line >= 1 && ls->err_line <= lines, "bad line %lld of %lld",
               (long long)ls->err_line, (long long)lines);
    FUZZ_CHECK(ls->msg[0] != '\0', "no message");
}

void fuzz_shard_free(struct sl_shard *s) {
    free(s->y);
    free(s->indptr);
    free(s->indices);
    free(s->values);
}
