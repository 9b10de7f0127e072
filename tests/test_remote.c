/* test_remote.c - the remote byte sources (src/io/remote.c) driven by
 * tests/io/test_remote.py against real servers:
 *
 *   test_remote list SPEC                  one line per object: name size version tag
 *   test_remote cat SPEC INDEX BEGIN END   the bytes [BEGIN, END) of object INDEX to
 *                                          stdout, read 1000 bytes at a time; then
 *                                          "maxrss_kb N" (peak resident) on stderr
 *   test_remote check SPEC FILE...         every object of SPEC against the local
 *                                          FILE in the same place, whole and in 40
 *                                          ranges (edges, one byte, empty, random)
 *   test_remote put DEST FILE              FILE's bytes uploaded to DEST
 *   test_remote zcat SPEC                  the decoded bytes of every object of SPEC
 *                                          (io.h: sl_io_list_make, sl_io_open_decoded)
 *
 * A failure prints the library's one-line message and exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/backend.h"
#include "io/io.h"
#include "shardlearn/fileio.h"

static int fail(const struct sl_err *err) {
    fprintf(stderr, "error: %s\n", err->msg);
    return 1;
}

/* The bytes [b, e) of o, read `step` at a time, into a new buffer. */
static enum sl_status read_range(const struct sl_io_object *o, int64_t b, int64_t e, size_t step,
                                 char **out, struct sl_err *err) {
    struct sl_io_stream *s = NULL;
    enum sl_status st = sl_remote_open_range(&s, o, b, e, err);
    if (st) return st;
    char *buf = malloc((size_t)(e - b) + step);
    size_t have = 0, got = 0;
    do {
        st = s->ops->read(s, buf + have, step, &got, err);
        have += got;
        if (!st && have > (size_t)(e - b)) st = sl_err_set(err, SL_ERR_IO, "read past the end");
    } while (!st && got > 0);
    s->ops->close(s);
    if (!st && have != (size_t)(e - b))
        st = sl_err_set(err, SL_ERR_IO, "%s [%lld, %lld): got %zu bytes", o->name, (long long)b,
                        (long long)e, have);
    if (st) {
        free(buf);
        return st;
    }
    *out = buf;
    return SL_OK;
}

static int cmd_list(const char *spec) {
    struct sl_io_list l;
    struct sl_err err = {{0}};
    if (sl_remote_list(&l, spec, &err)) return fail(&err);
    for (int64_t i = 0; i < l.n; i++)
        printf("%s %lld %lld %s\n", l.obj[i].name, (long long)l.obj[i].size,
               (long long)l.obj[i].version, l.obj[i].tag[0] ? l.obj[i].tag : "-");
    free(l.obj);
    return 0;
}

static int cmd_cat(const char *spec, int64_t idx, int64_t b, int64_t e) {
    struct sl_io_list l;
    struct sl_err err = {{0}};
    if (sl_remote_list(&l, spec, &err)) return fail(&err);
    if (idx >= l.n) return fprintf(stderr, "no object %lld\n", (long long)idx), 1;
    if (e < 0) e = l.obj[idx].size;
    struct sl_io_stream *s = NULL;
    int rc = 0;
    if (sl_remote_open_range(&s, &l.obj[idx], b, e, &err)) {
        rc = fail(&err);
    } else {
        char buf[1000];
        size_t got = 0;
        enum sl_status st;
        while (!(st = s->ops->read(s, buf, sizeof buf, &got, &err)) && got > 0)
            fwrite(buf, 1, got, stdout);
        s->ops->close(s);
        if (st) rc = fail(&err);
    }
    /* VmHWM: the peak of this program's own memory (ru_maxrss would carry
     * the peak of the process that forked it across exec). */
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) fprintf(stderr, "maxrss_kb %ld\n", atol(line + 6));
    if (f) fclose(f);
    free(l.obj);
    return rc;
}

static int check_one(const struct sl_io_object *o, const char *path, unsigned *seed) {
    size_t n = 0;
    char *want = sl_read_file(path, &n);
    struct sl_err err = {{0}};
    if (!want) return fprintf(stderr, "%s: cannot read\n", path), 1;
    if ((int64_t)n != o->size)
        return fprintf(stderr, "%s: %lld bytes listed, %zu local\n", o->name, (long long)o->size,
                       n),
               1;
    int64_t N = o->size;
    for (int k = 0; k < 40; k++) {
        int64_t b, e;
        if (k == 0)
            b = 0, e = N; /* whole */
        else if (k == 1)
            b = N / 2, e = N / 2; /* empty */
        else if (k == 2)
            b = N - 1, e = N; /* last byte */
        else if (k == 3)
            b = 0, e = N > 0 ? 1 : 0; /* first byte */
        else {
            b = N ? (int64_t)(rand_r(seed) % (unsigned)N) : 0;
            e = b + (N - b ? (int64_t)(rand_r(seed) % (unsigned)(N - b + 1)) : 0);
        }
        if (b < 0) b = 0;
        char *got = NULL;
        size_t step = k % 2 ? 7 : 65536;
        if (read_range(o, b, e, step, &got, &err)) return free(want), fail(&err);
        if (memcmp(got, want + b, (size_t)(e - b)) != 0)
            return fprintf(stderr, "%s [%lld, %lld): bytes differ\n", o->name, (long long)b,
                           (long long)e),
                   free(got), free(want), 1;
        free(got);
    }
    free(want);
    return 0;
}

static int cmd_check(const char *spec, int nfiles, char **files) {
    struct sl_io_list l;
    struct sl_err err = {{0}};
    if (sl_remote_list(&l, spec, &err)) return fail(&err);
    if (l.n != nfiles)
        return fprintf(stderr, "%s: %lld objects listed, %d expected\n", spec, (long long)l.n,
                       nfiles),
               1;
    unsigned seed = 12;
    int rc = 0;
    for (int i = 0; i < nfiles && !rc; i++)
        rc = check_one(&l.obj[i], files[i], &seed);
    free(l.obj);
    if (!rc) printf("ok %d objects\n", nfiles);
    return rc;
}

static int cmd_put(const char *dest, const char *file) {
    size_t n = 0;
    char *data = sl_read_file(file, &n);
    struct sl_err err = {{0}};
    if (!data) return fprintf(stderr, "%s: cannot read\n", file), 1;
    enum sl_status st = sl_remote_put(dest, data, n, "text/plain", &err);
    free(data);
    return st ? fail(&err) : 0;
}

static int cmd_zcat(const char *spec) {
    struct sl_io_list l;
    struct sl_err err = {{0}};
    if (sl_io_list_make(&l, spec, &err)) return fail(&err);
    int rc = 0;
    for (int64_t i = 0; i < l.n && !rc; i++) {
        struct sl_io_stream *s = NULL;
        if (sl_io_open_decoded(&s, &l.obj[i], &err)) {
            rc = fail(&err);
            break;
        }
        char buf[4096];
        size_t got = 0;
        enum sl_status st;
        while (!(st = sl_io_read(s, buf, sizeof buf, &got, &err)) && got > 0)
            fwrite(buf, 1, got, stdout);
        sl_io_close(s);
        if (st) rc = fail(&err);
    }
    sl_io_list_free(&l);
    return rc;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "list") == 0) return cmd_list(argv[2]);
    if (argc == 6 && strcmp(argv[1], "cat") == 0)
        return cmd_cat(argv[2], atoll(argv[3]), atoll(argv[4]), atoll(argv[5]));
    if (argc >= 4 && strcmp(argv[1], "check") == 0) return cmd_check(argv[2], argc - 3, argv + 3);
    if (argc == 4 && strcmp(argv[1], "put") == 0) return cmd_put(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "zcat") == 0) return cmd_zcat(argv[2]);
    fprintf(stderr, "usage: test_remote list|cat|check|put|zcat ...\n");
    return 2;
}
