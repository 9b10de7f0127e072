/* local.c - byte sources on a mounted file system: a file, a directory of
 * part files, or a glob; and a pread stream over a byte range of one file,
 * checked against the size and modification time seen when it was listed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/backend.h"

static const char CHANGED[] = "the file changed while it was being read (a writer still at work?)";

static int64_t mtime_ns(const struct stat *st) {
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static enum sl_codec codec_of(const char *name) {
    size_t n = strlen(name);
    if (n >= 3 && strcmp(name + n - 3, ".gz") == 0) return SL_CODEC_GZIP;
    if (n >= 4 && strcmp(name + n - 4, ".zst") == 0) return SL_CODEC_ZSTD;
    return SL_CODEC_NONE;
}

/* Hidden files and markers (_SUCCESS, _committed_*, _temporary) are not data. */
static int skipped_name(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return base[0] == '.' || base[0] == '_';
}

static int has_glob(const char *spec) {
    return strpbrk(spec, "*?[") != NULL;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends path (already stat'ed) to l. */
static enum sl_status push(struct sl_io_list *l, int64_t *cap, const char *path,
                           const struct stat *st, struct sl_err *err) {
    if (strlen(path) >= SL_IO_NAME)
        return sl_err_set(err, SL_ERR_ARG, "%.200s...: path too long", path);
    if (l->n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        l->obj = sl_realloc(l->obj, sizeof *l->obj * (size_t)*cap);
    }
    struct sl_io_object *o = &l->obj[l->n++];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", path);
    o->kind = SL_IO_LOCAL;
    o->codec = codec_of(path);
    o->size = (int64_t)st->st_size;
    o->version = mtime_ns(st);
    return SL_OK;
}

/* Sorted candidate paths (owned, each malloc'd) -> the regular, non-empty,
 * non-hidden files among them. */
static enum sl_status push_files(struct sl_io_list *l, char **paths, size_t n, struct sl_err *err) {
    int64_t cap = 0;
    enum sl_status st = SL_OK;
    if (n > 1) qsort(paths, n, sizeof *paths, by_name);
    for (size_t i = 0; i < n && st == SL_OK; i++) {
        struct stat sb;
        if (skipped_name(paths[i])) continue;
        if (stat(paths[i], &sb) != 0) {
            st = sl_err_set(err, SL_ERR_IO, "%s: %s", paths[i], strerror(errno));
            break;
        }
        if (!S_ISREG(sb.st_mode) || sb.st_size == 0) continue;
        st = push(l, &cap, paths[i], &sb, err);
    }
    return st;
}

static enum sl_status list_dir(struct sl_io_list *l, const char *dir, struct sl_err *err) {
    DIR *d = opendir(dir);
    if (!d) return sl_err_set(err, SL_ERR_IO, "%s: %s", dir, strerror(errno));
    char **paths = NULL;
    size_t n = 0, cap = 0;
    size_t dl = strlen(dir);
    const char *sep = dl > 0 && dir[dl - 1] == '/' ? "" : "/";
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || e->d_name[0] == '_') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            paths = sl_realloc(paths, sizeof *paths * cap);
        }
        size_t len = dl + strlen(e->d_name) + 2;
        paths[n] = sl_malloc(len);
        snprintf(paths[n], len, "%s%s%s", dir, sep, e->d_name);
        n++;
    }
    int rerr = errno;
    closedir(d);
    enum sl_status st = rerr ? sl_err_set(err, SL_ERR_IO, "%s: %s", dir, strerror(rerr))
                             : push_files(l, paths, n, err);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    if (st == SL_OK && l->n == 0)
        st = sl_err_set(err, SL_ERR_IO, "%s: no data files in the directory", dir);
    return st;
}

static enum sl_status list_glob(struct sl_io_list *l, const char *pattern, struct sl_err *err) {
    glob_t g;
    memset(&g, 0, sizeof g);
    int rc = glob(pattern, GLOB_NOSORT, NULL, &g);
    if (rc == GLOB_NOMATCH) {
        globfree(&g);
        return sl_err_set(err, SL_ERR_IO, "%s: no file matches", pattern);
    }
    if (rc != 0) {
        globfree(&g);
        return sl_err_set(err, SL_ERR_IO, "%s: cannot expand the pattern", pattern);
    }
    /* push_files sorts in place: sort a copy of the pointers, glob owns them. */
    char **paths = sl_malloc(sizeof *paths * (g.gl_pathc ? g.gl_pathc : 1));
    memcpy(paths, g.gl_pathv, sizeof *paths * g.gl_pathc);
    enum sl_status st = push_files(l, paths, g.gl_pathc, err);
    free(paths);
    globfree(&g);
    if (st == SL_OK && l->n == 0)
        st = sl_err_set(err, SL_ERR_IO, "%s: no data files match", pattern);
    return st;
}

enum sl_status sl_local_list(struct sl_io_list *out, const char *spec, struct sl_err *err) {
    memset(out, 0, sizeof *out);
    struct stat sb;
    if (stat(spec, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) return list_dir(out, spec, err);
        if (!S_ISREG(sb.st_mode)) return sl_err_set(err, SL_ERR_IO, "%s: not a regular file", spec);
        /* A file named on its own is read even if empty or hidden. */
        int64_t cap = 0;
        return push(out, &cap, spec, &sb, err);
    }
    if (errno == ENOENT && has_glob(spec)) return list_glob(out, spec, err);
    return sl_err_set(err, SL_ERR_IO, "%s: %s", spec, strerror(errno));
}

/* A pread stream over [pos, end) of one file. */
struct local_stream {
    struct sl_io_stream base;
    int fd;
    int64_t pos, end;
    const struct sl_io_object *o; /* the caller's object outlives the stream */
};

/* 0 when the file is still the one listed. */
static int changed(int fd, const struct sl_io_object *o) {
    struct stat sb;
    if (fstat(fd, &sb) != 0) return 1;
    return (int64_t)sb.st_size != o->size || mtime_ns(&sb) != o->version;
}

static enum sl_status local_read(struct sl_io_stream *s, void *buf, size_t cap, size_t *got,
                                 struct sl_err *err) {
    struct local_stream *l = (struct local_stream *)s;
    *got = 0;
    if (l->pos >= l->end) {
        /* The end: the file must still be what the ranks split. */
        if (changed(l->fd, l->o)) return sl_err_set(err, SL_ERR_IO, "%s: %s", l->o->name, CHANGED);
        return SL_OK;
    }
    if ((int64_t)cap > l->end - l->pos) cap = (size_t)(l->end - l->pos);
    ssize_t k;
    do {
        k = pread(l->fd, buf, cap, (off_t)l->pos);
    } while (k < 0 && errno == EINTR);
    if (k < 0) return sl_err_set(err, SL_ERR_IO, "%s: read error: %s", l->o->name, strerror(errno));
    if (k == 0) /* shorter than listed */
        return sl_err_set(err, SL_ERR_IO, "%s: %s", l->o->name, CHANGED);
    l->pos += k;
    *got = (size_t)k;
    return SL_OK;
}

static void local_close(struct sl_io_stream *s) {
    struct local_stream *l = (struct local_stream *)s;
    if (l->fd >= 0) close(l->fd);
    free(l);
}

static const struct sl_io_stream_ops local_ops = {local_read, local_close};

enum sl_status sl_local_open_range(struct sl_io_stream **out, const struct sl_io_object *o,
                                   int64_t begin, int64_t end, struct sl_err *err) {
    *out = NULL;
    int fd = open(o->name, O_RDONLY);
    if (fd < 0) return sl_err_set(err, SL_ERR_IO, "%s: %s", o->name, strerror(errno));
    if (changed(fd, o)) {
        close(fd);
        return sl_err_set(err, SL_ERR_IO, "%s: %s", o->name, CHANGED);
    }
    struct local_stream *l = sl_calloc(1, sizeof *l);
    l->base.ops = &local_ops;
    l->fd = fd;
    l->pos = begin;
    l->end = end;
    l->o = o;
    *out = &l->base;
    return SL_OK;
}

enum sl_status sl_local_check_dest(const char *dest, struct sl_err *err) {
    struct stat sb;
    if (stat(dest, &sb) == 0 && S_ISDIR(sb.st_mode))
        return sl_err_set(err, SL_ERR_ARG, "%s: is a directory; an output needs a file name", dest);
    const char *slash = strrchr(dest, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == dest ? 1 : (int)(slash - dest), dest);
    if (stat(dir, &sb) != 0)
        return sl_err_set(err, SL_ERR_IO, "%s: cannot write there: %s: %s", dest, dir,
                          strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return sl_err_set(err, SL_ERR_IO, "%s: cannot write there: %s is not a directory", dest,
                          dir);
    if (access(dir, W_OK | X_OK) != 0)
        return sl_err_set(err, SL_ERR_IO, "%s: cannot write in %s: %s", dest, dir, strerror(errno));
    return SL_OK;
}
