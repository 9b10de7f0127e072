/* fileio.c - temp file + fsync + rename, so no reader sees a partial file;
 * whole-file reads; numbers in JSON that read back to the same bits. */
#include "shardlearn/fileio.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fault.h"

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

/* errno after a failed call, never 0. */
static int last_error(void) {
    return errno ? errno : EIO;
}

enum sl_status sl_atomic_finish(struct sl_atomic_file *a, struct sl_err *err) {
    int e = 0;
    if (ferror(a->f)) {
        /* A write failed while the text was written (stdio flushed a full
         * buffer); errno is long gone. Flushing again fails the same way and
         * says why (a full disk, say); the file is incomplete either way. */
        clearerr(a->f);
        e = fflush(a->f) != 0 ? last_error() : EIO;
    }
    if (!e && fflush(a->f) != 0) e = last_error();
    if (!e && fsync(fileno(a->f)) != 0) e = last_error();
    if (!e && sl_fault("output.write")) e = ENOSPC;
    if (fclose(a->f) != 0 && !e) e = last_error();
    a->f = NULL;
    if (!e) return SL_OK;
    unlink(a->tmp);
    return sl_err_set(err, SL_ERR_IO, "%s: %s", a->path, strerror(e));
}

enum sl_status sl_atomic_publish(struct sl_atomic_file *a, struct sl_err *err) {
    if (rename(a->tmp, a->path) == 0) return SL_OK;
    int e = errno;
    unlink(a->tmp);
    return sl_err_set(err, SL_ERR_IO, "%s: %s", a->path, strerror(e));
}

enum sl_status sl_atomic_commit(struct sl_atomic_file *a, struct sl_err *err) {
    enum sl_status st = sl_atomic_finish(a, err);
    return st ? st : sl_atomic_publish(a, err);
}

void sl_atomic_discard(struct sl_atomic_file *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    if (a->tmp[0]) unlink(a->tmp);
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
