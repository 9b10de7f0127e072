/* test_io.c - byte sources (src/io) on one rank: what a directory and a glob
 * list (order, skipped markers and empty files), byte ranges of a local
 * file, the stored-byte digest, gzip and zstd streams (several members and
 * frames, written by the real tools), truncated and corrupt ones, a file
 * changed after listing (also as the reader meets it), and the atomic
 * put. Needs gzip and zstd on PATH. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/reader.h"
#include "io/io.h"
#include "test_util.h"

static char dir[256];

static void put(const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
}

static void sh(const char *cmd) {
    char c[1024];
    snprintf(c, sizeof c, "cd %s && %s", dir, cmd);
    CHECK(system(c) == 0, "command failed: %s", c);
}

/* The whole decoded (or stored [b, e)) content of o, NUL-terminated; NULL on
 * a failure, with err filled. */
static char *slurp(const struct sl_io_object *o, int decoded, int64_t b, int64_t e,
                   struct sl_err *err) {
    struct sl_io_stream *s;
    enum sl_status st =
        decoded ? sl_io_open_decoded(&s, o, err) : sl_io_open_range(&s, o, b, e, err);
    if (st != SL_OK) return NULL;
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap + 1);
    for (;;) {
        size_t got;
        /* small reads: the codecs must carry their state across calls */
        if (sl_io_read(s, buf + len, cap - len < 7 ? cap - len : 7, &got, err) != SL_OK) {
            free(buf);
            sl_io_close(s);
            return NULL;
        }
        if (got == 0) break;
        len += got;
        if (len == cap) buf = realloc(buf, (cap *= 2) + 1);
    }
    uint32_t crc;
    int64_t n;
    sl_io_stored_digest(s, &crc, &n);
    CHECK(n == e - b || decoded, "%s: %lld stored bytes counted", o->name, (long long)n);
    sl_io_close(s);
    buf[len] = '\0';
    return buf;
}

static const char *base(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static void listing(void) {
    struct sl_io_list l;
    struct sl_err err;
    put("part-00001", "b\n");
    put("part-00000", "a\n");
    put("part-00002.gz", "");      /* empty: a marker, skipped */
    put("_SUCCESS", "");           /* marker */
    put("_committed_123", "x\n");  /* marker with content */
    put(".part-00000.crc", "x\n"); /* hidden */
    put("Z-upper", "z\n");         /* byte order: 'Z' < 'p' */
    char sub[512];
    snprintf(sub, sizeof sub, "%s/subdir", dir);
    mkdir(sub, 0755);
    CHECK(sl_io_list_make(&l, dir, &err) == SL_OK, "list dir: %s", err.msg);
    CHECK(l.n == 3, "dir: %lld objects", (long long)l.n);
    if (l.n == 3) {
        CHECK(strcmp(base(l.obj[0].name), "Z-upper") == 0, "first %s", l.obj[0].name);
        CHECK(strcmp(base(l.obj[1].name), "part-00000") == 0, "second %s", l.obj[1].name);
        CHECK(strcmp(base(l.obj[2].name), "part-00001") == 0, "third %s", l.obj[2].name);
        CHECK(l.obj[1].size == 2 && l.obj[1].version > 0 && l.obj[1].codec == SL_CODEC_NONE,
              "size/version");
    }
    sl_io_list_free(&l);

    char pat[512];
    snprintf(pat, sizeof pat, "%s/part-*", dir);
    CHECK(sl_io_list_make(&l, pat, &err) == SL_OK, "glob: %s", err.msg);
    CHECK(l.n == 2 && strcmp(base(l.obj[0].name), "part-00000") == 0, "glob: %lld objects",
          (long long)l.n);
    sl_io_list_free(&l);

    snprintf(pat, sizeof pat, "%s/nothing-*", dir);
    CHECK(sl_io_list_make(&l, pat, &err) == SL_ERR_IO && strstr(err.msg, "nothing-*"),
          "empty glob: %s", err.msg);
    snprintf(pat, sizeof pat, "%s/missing.svm", dir);
    CHECK(sl_io_list_make(&l, pat, &err) == SL_ERR_IO && strstr(err.msg, "missing.svm") &&
              strstr(err.msg, "No such file"),
          "missing: %s", err.msg);
    CHECK(sl_io_list_make(&l, sub, &err) == SL_ERR_IO && strstr(err.msg, "no data files"),
          "empty dir: %s", err.msg);
    /* gs:// goes to the remote backend (tests/io/test_remote.py): here, a
     * credentials file that is not there, so nothing leaves the machine. */
    setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json", 1);
    CHECK(sl_io_list_make(&l, "gs://b/x", &err) == SL_ERR_IO && strstr(err.msg, "gs://b/x") &&
              strstr(err.msg, "/nonexistent/key.json"),
          "gs:// to the remote backend: %s", err.msg);
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    sl_io_list_free(&l);
    CHECK(sl_io_is_remote("gs://b/x") && sl_io_is_remote("https://h/x") &&
              !sl_io_is_remote("/data/gs://x"),
          "is_remote");
}

static void ranges(void) {
    struct sl_io_list l;
    struct sl_err err;
    const char text[] = "0123456789abcdef";
    put("r.txt", text);
    char p[512];
    snprintf(p, sizeof p, "%s/r.txt", dir);
    CHECK(sl_io_list_make(&l, p, &err) == SL_OK && l.n == 1, "list file: %s", err.msg);
    char *got = slurp(&l.obj[0], 0, 3, 11, &err);
    CHECK(got && strcmp(got, "3456789a") == 0, "range [3, 11): %s", got ? got : err.msg);
    free(got);
    /* The stored digest over [0, 16) is zlib's crc32 of the file. */
    struct sl_io_stream *s;
    CHECK(sl_io_open_range(&s, &l.obj[0], 0, 16, &err) == SL_OK, "open: %s", err.msg);
    char buf[64];
    size_t n;
    CHECK(sl_io_read(s, buf, sizeof buf, &n, &err) == SL_OK && n == 16, "read all");
    uint32_t crc;
    int64_t bytes;
    sl_io_stored_digest(s, &crc, &bytes);
    CHECK(crc == (uint32_t)crc32(0, (const Bytef *)text, 16) && bytes == 16, "digest");
    sl_io_close(s);
    CHECK(sl_io_open_range(&s, &l.obj[0], 0, 17, &err) == SL_ERR_ARG, "range past the end");

    /* Changed after listing: caught at open, and at the end of a stream
     * opened before the change. */
    CHECK(sl_io_open_range(&s, &l.obj[0], 0, 4, &err) == SL_OK, "open: %s", err.msg);
    put("r.txt", "0123456789abcdefXYZ");
    enum sl_status st = sl_io_read(s, buf, sizeof buf, &n, &err);
    if (st == SL_OK) st = sl_io_read(s, buf, sizeof buf, &n, &err);
    CHECK(st == SL_ERR_IO && strstr(err.msg, "r.txt") && strstr(err.msg, "changed"),
          "changed while read: %s", err.msg);
    sl_io_close(s);
    CHECK(sl_io_open_range(&s, &l.obj[0], 0, 4, &err) == SL_ERR_IO && strstr(err.msg, "changed"),
          "changed before open: %s", err.msg);
    sl_io_list_free(&l);
}

/* gzip with two members (gzip -c a > x; gzip -c b >> x), zstd with two frames. */
static void codecs(void) {
    struct sl_io_list l;
    struct sl_err err;
    put("m1", "first member\n");
    put("m2", "second\nmember\n");
    sh("gzip -c m1 > c.gz && gzip -c m2 >> c.gz && zstd -q -c m1 > c.zst && "
       "zstd -q -c m2 >> c.zst && head -c 20 c.gz > t.gz && head -c 20 c.zst > t.zst && "
       "cp c.zst bad.zst && printf 'XXXX' | dd of=bad.zst bs=1 seek=14 conv=notrunc 2>/dev/null && "
       "cp c.gz bad.gz && printf 'XXXX' | dd of=bad.gz bs=1 seek=24 conv=notrunc 2>/dev/null && "
       "(cat c.gz; printf 'junk') > trail.gz");
    const char *good[] = {"c.gz", "c.zst"};
    for (int i = 0; i < 2; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, good[i]);
        CHECK(sl_io_list_make(&l, p, &err) == SL_OK, "list %s", p);
        CHECK(l.obj[0].codec == (i ? SL_CODEC_ZSTD : SL_CODEC_GZIP), "%s: codec", p);
        char *got = slurp(&l.obj[0], 1, 0, 0, &err);
        CHECK(got && strcmp(got, "first member\nsecond\nmember\n") == 0, "%s: '%s'", p,
              got ? got : err.msg);
        free(got);
        sl_io_list_free(&l);
    }
    const char *bad[] = {"t.gz", "t.zst", "bad.gz", "bad.zst", "trail.gz"};
    const char *why[] = {"truncated", "truncated", "corrupt", "corrupt", "corrupt"};
    for (int i = 0; i < 5; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, bad[i]);
        CHECK(sl_io_list_make(&l, p, &err) == SL_OK, "list %s", p);
        char *got = slurp(&l.obj[0], 1, 0, 0, &err);
        CHECK(!got && strstr(err.msg, bad[i]) && strstr(err.msg, why[i]), "%s: %s", bad[i],
              got ? "decoded" : err.msg);
        free(got);
        sl_io_list_free(&l);
    }
}

/* The reader over a listed directory whose second part changes before the
 * rank reaches it: one I/O failure naming that part, no rows of a torn read. */
static void reader_sees_change(void) {
    char sub[512], p[600];
    snprintf(sub, sizeof sub, "%s/chg", dir);
    mkdir(sub, 0755);
    put("chg/part-0", "+1 1:1\n-1 2:1\n");
    put("chg/part-1", "+1 1:2\n");
    struct sl_io_list l;
    struct sl_err err;
    CHECK(sl_io_list_make(&l, sub, &err) == SL_OK && l.n == 2, "list chg: %s", err.msg);
    snprintf(p, sizeof p, "%s/part-1", sub);
    FILE *f = fopen(p, "ab");
    fputs("-1 3:1\n", f); /* a writer appends after the listing */
    fclose(f);
    struct sl_comm c = {.rank = 0, .size = 1};
    struct sl_range r;
    CHECK(sl_range_open_list(&r, &l, &c) == SL_OK, "open the share: %s", r.io_msg);
    const char *a, *b;
    int lines = 0;
    while (sl_range_next(&r, &a, &b))
        lines++;
    CHECK(r.io_failed && strstr(r.io_msg, "part-1") && strstr(r.io_msg, "changed"),
          "change after listing: failed %d, '%s'", r.io_failed, r.io_msg);
    CHECK(lines == 2, "%d lines before the changed part (want part-0's 2)", lines);
    sl_range_close(&r);
    sl_io_list_free(&l);
}

static void put_file(void) {
    struct sl_err err;
    char p[512], tmp[600];
    snprintf(p, sizeof p, "%s/out.json", dir);
    CHECK(sl_io_put(p, "{}\n", 3, "application/json", &err) == SL_OK, "put: %s", err.msg);
    FILE *f = fopen(p, "rb");
    char buf[8] = {0};
    CHECK(f && fread(buf, 1, sizeof buf, f) == 3 && strcmp(buf, "{}\n") == 0, "put content");
    if (f) fclose(f);
    snprintf(tmp, sizeof tmp, "%s/no-such-dir/out.json", dir);
    CHECK(sl_io_put(tmp, "{}", 2, "application/json", &err) == SL_ERR_IO, "put into nothing");
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    sl_log_init(0);
    snprintf(dir, sizeof dir, "/tmp/sl_test_io_XXXXXX");
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    listing();
    ranges();
    codecs();
    reader_sees_change();
    put_file();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", dir);
    return test_finish(0);
}
