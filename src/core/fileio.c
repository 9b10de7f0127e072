/* fileio.c - temp file + fsync + rename, so no reader sees a partial file;
 * whole-file reads; numbers in JSON that read back to the same bits. */
#include "shardlearn/fileio.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum sl_status sl_atomic_open(struct sl_atomic_file *a, const char *path, struct sl_err *err) {
    memset(a, 0, sizeof *a);
    if (strlen(path) >= sizeof a->path)
        return sl_err_set(err, SL_ERR_ARG, "%s: path too long", path);
    strcpy(a->path, path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid());
    a->f = fopen(a->tmp, "w");
    if (!a->f) return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
    return SL_OK;
}

enum sl_status sl_atomic_commit(struct sl_atomic_file *a, struct sl_err *err) {
    int bad = ferror(a->f);
    int e = 0;
    if (!bad && fflush(a->f) != 0) bad = 1;
    if (!bad && fsync(fileno(a->f)) != 0) bad = 1;
    if (bad) e = errno;
    if (fclose(a->f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    a->f = NULL;
    if (!bad && rename(a->tmp, a->path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        unlink(a->tmp);
        return sl_err_set(err, SL_ERR_IO, "%s: %s", a->path, e ? strerror(e) : "write error");
    }
    return SL_OK;
}

char *sl_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0, k;
    char *buf = sl_malloc(cap + 1);
    while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) buf = sl_realloc(buf, (cap *= 2) + 1);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

char *sl_fmt_double(char *buf, size_t cap, double x) {
    snprintf(buf, cap, "%.17g", x);
    return buf;
}

void sl_json_put_num(FILE *f, double x) {
    if (isfinite(x))
        fprintf(f, "%.17g", x);
    else
        fputs("null", f);
}

void sl_json_put_field(FILE *f, const char *key, double x) {
    fprintf(f, "\"%s\": ", key);
    sl_json_put_num(f, x);
}
