/* fileio.c - temp file + fsync + rename, so no reader sees a partial file. */
#include "fileio.h"

#include <errno.h>
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

void sl_atomic_abandon(struct sl_atomic_file *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    if (a->tmp[0]) unlink(a->tmp);
}
