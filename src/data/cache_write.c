/* cache_write.c - writing the binary cache (layout: cache_fmt.h)
 * collectively: rank 0 creates the section files in a temporary directory
 * beside the target, every rank pwrites its own rows at offsets from a scan
 * of the row and value counts, the ranks checksum the blocks between them,
 * and rank 0 writes the header last and renames the directory into place.
 * A convert that fails or dies leaves no directory that reads as a cache. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/cache_fmt.h"

/* The temporary and target directories, the same names on every rank. */
struct cache_paths {
    char dir[PATH_MAX];
    char tmp[PATH_MAX];
    char old[PATH_MAX];
};

static void sec_path(char *out, size_t cap, const char *dir, int q) {
    snprintf(out, cap, "%s/%s", dir, CACHE_SEC_FILE[q]);
}

/* Removes a cache directory's own files and the directory; anything else
 * in it stays (then so does the directory). */
static void remove_cache_dir(const char *dir) {
    char p[PATH_MAX];
    for (int q = 0; q < SEC_N; q++) {
        sec_path(p, sizeof p, dir, q);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/%s", dir, SL_CACHE_HEADER);
    unlink(p);
    rmdir(dir);
}

/* 1 when dir does not exist, is empty, or holds a cache header. */
static int may_replace(const char *dir) {
    struct stat st;
    if (stat(dir, &st) != 0) return errno == ENOENT;
    if (!S_ISDIR(st.st_mode)) return 0;
    char head[PATH_MAX];
    snprintf(head, sizeof head, "%s/%s", dir, SL_CACHE_HEADER);
    if (access(head, F_OK) == 0) return 1;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)))
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

/* Rank 0: the temporary directory with every section file at its full size. */
static enum sl_status prepare(const struct cache_paths *p, const int64_t *bytes,
                              struct sl_err *err) {
    if (!may_replace(p->dir))
        return sl_err_set(err, SL_ERR_IO, "%s: exists and is not a shardlearn cache", p->dir);
    if (mkdir(p->tmp, 0777) != 0) /* named by the target: the user never chose tmp */
        return sl_err_set(err, SL_ERR_IO, "%s: %s", p->dir, strerror(errno));
    for (int q = 0; q < SEC_N; q++) {
        char path[PATH_MAX];
        sec_path(path, sizeof path, p->tmp, q);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd < 0 || ftruncate(fd, (off_t)bytes[q]) != 0) {
            int e = errno;
            if (fd >= 0) close(fd);
            remove_cache_dir(p->tmp);
            return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(e));
        }
        close(fd);
    }
    return SL_OK;
}

/* This rank's part of section q: n elements of buf at element offset at. */
static enum sl_status put(const struct cache_paths *p, int q, const void *buf, int64_t n,
                          int64_t at, struct sl_err *err) {
    if (n == 0) return SL_OK;
    char path[PATH_MAX];
    sec_path(path, sizeof path, p->tmp, q);
    int fd = open(path, O_WRONLY);
    int bad = fd < 0 || cache_pwrite(fd, buf, n * CACHE_SEC_ELEM[q], at * CACHE_SEC_ELEM[q]) != 0 ||
              fdatasync(fd) != 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    return bad ? sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(e)) : SL_OK;
}

/* Every rank writes its rows. */
static enum sl_status write_rows(const struct cache_paths *p, const struct sl_shard *s,
                                 int64_t nnz0, struct sl_comm *c, struct sl_err *err) {
    const int64_t n = s->n_rows, r0 = s->row_begin;
    enum sl_status st = put(p, SEC_KEYS, s->row_key, n, r0, err);
    if (!st) st = put(p, SEC_Y, s->y, n, r0, err);
    if (!st && s->dense) st = put(p, SEC_VALUES, s->values, s->nnz, nnz0, err);
    if (st || s->dense) return st;
    /* indptr over the whole data: this rank's starts shifted by the values
     * before it; the last rank adds the end. */
    const int last = c->rank == c->size - 1;
    int64_t *ip = sl_malloc(sizeof(int64_t) * (size_t)(n + 1));
    for (int64_t i = 0; i <= n; i++)
        ip[i] = s->indptr[i] + nnz0;
    st = put(p, SEC_INDPTR, ip, n + last, r0, err);
    free(ip);
    if (!st) st = put(p, SEC_INDICES, s->indices, s->nnz, nnz0, err);
    if (!st) st = put(p, SEC_VALUES, s->values, s->nnz, nnz0, err);
    return st;
}

/* Collective. sums[q] on rank 0: (blocks of q) CRC-32 of every block of
 * every section, each rank checking an even share of the blocks. */
static enum sl_status block_sums(const struct cache_paths *p, const struct cache_fixed *f,
                                 uint32_t **sums, struct sl_comm *c, struct sl_err *err) {
    enum sl_status st = SL_OK;
    char *buf = sl_malloc((size_t)f->block_bytes);
    for (int q = 0; q < SEC_N; q++) {
        const int64_t size = f->count[q] * CACHE_SEC_ELEM[q];
        const int64_t nb = cache_blocks(size, f->block_bytes);
        const int64_t b0 = nb * c->rank / c->size, b1 = nb * (c->rank + 1) / c->size;
        double *mine = sl_malloc(sizeof(double) * (size_t)(b1 - b0 + 1));
        char path[PATH_MAX];
        sec_path(path, sizeof path, p->tmp, q);
        int fd = st ? -1 : open(path, O_RDONLY);
        if (!st && fd < 0) st = sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
        for (int64_t b = b0; b < b1 && !st; b++) {
            const int64_t s0 = b * f->block_bytes;
            const int64_t len = size - s0 < f->block_bytes ? size - s0 : f->block_bytes;
            if (cache_pread(fd, buf, len, s0) != 0)
                st = sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
            else
                mine[b - b0] = (double)crc32_z(0, (const Bytef *)buf, (size_t)len);
        }
        if (fd >= 0) close(fd);
        /* A CRC-32 is exact in a double. */
        double *all = c->rank == 0 ? sl_malloc(sizeof(double) * (size_t)(nb + 1)) : NULL;
        sl_comm_gather_f64(c, mine, b1 - b0, all, 0);
        if (c->rank == 0) {
            sums[q] = sl_malloc(sizeof(uint32_t) * (size_t)(nb + 1));
            for (int64_t b = 0; b < nb; b++)
                sums[q][b] = (uint32_t)all[b];
        }
        free(all);
        free(mine);
    }
    free(buf);
    return st;
}

/* Rank 0: the header into the temporary directory, then the directory in
 * place of p->dir (an old cache there is moved aside and removed). */
static enum sl_status publish(const struct cache_paths *p, struct cache_fixed *f,
                              const struct cache_src *src, const char *spec, uint32_t *const *sums,
                              struct sl_err *err) {
    const int64_t nkb = cache_blocks(f->count[SEC_KEYS] * 8, f->block_bytes);
    int64_t *first = sl_malloc(sizeof(int64_t) * (size_t)(nkb + 1));
    char path[PATH_MAX];
    sec_path(path, sizeof path, p->tmp, SEC_KEYS);
    int fd = open(path, O_RDONLY);
    int bad = fd < 0;
    for (int64_t b = 0; b < nkb && !bad; b++)
        bad = cache_pread(fd, &first[b], 8, b * f->block_bytes) != 0;
    if (fd >= 0) close(fd);
    if (bad) {
        free(first);
        return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
    }
    f->head_bytes = cache_head_bytes(f);
    f->crc = 0;
    uLong crc = crc32_z(0, (const Bytef *)f, sizeof *f);
    crc = crc32_z(crc, (const Bytef *)src, sizeof *src * (size_t)f->n_src);
    if (f->spec_bytes) /* never a NULL buffer: zlib's crc32 of one is its initial value */
        crc = crc32_z(crc, (const Bytef *)spec, (size_t)f->spec_bytes);
    crc = crc32_z(crc, (const Bytef *)first, (size_t)nkb * 8);
    for (int q = 0; q < SEC_N; q++)
        crc = crc32_z(crc, (const Bytef *)sums[q],
                      4 * (size_t)cache_blocks(f->count[q] * CACHE_SEC_ELEM[q], f->block_bytes));
    f->crc = (uint32_t)crc;
    snprintf(path, sizeof path, "%s/%s", p->tmp, SL_CACHE_HEADER);
    FILE *h = fopen(path, "wb");
    bad = !h;
    if (h) {
        fwrite(f, sizeof *f, 1, h);
        fwrite(src, sizeof *src, (size_t)f->n_src, h);
        if (f->spec_bytes) fwrite(spec, 1, (size_t)f->spec_bytes, h); /* spec NULL without one */
        fwrite(first, 8, (size_t)nkb, h);
        for (int q = 0; q < SEC_N; q++)
            fwrite(sums[q], 4,
                   (size_t)cache_blocks(f->count[q] * CACHE_SEC_ELEM[q], f->block_bytes), h);
        bad = fflush(h) != 0 || ferror(h) || fsync(fileno(h)) != 0;
        bad = fclose(h) != 0 || bad;
    }
    free(first);
    if (bad) return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    const int had = stat(p->dir, &st) == 0;
    if (had && rename(p->dir, p->old) != 0)
        return sl_err_set(err, SL_ERR_IO, "%s: %s", p->dir, strerror(errno));
    if (rename(p->tmp, p->dir) != 0) {
        int e = errno;
        if (had) rename(p->old, p->dir);
        return sl_err_set(err, SL_ERR_IO, "%s: %s", p->dir, strerror(e));
    }
    if (had) remove_cache_dir(p->old);
    return SL_OK;
}

/* The elements of each section for the shards' totals. */
static void sec_counts(const struct sl_shard *s, int64_t *count) {
    count[SEC_KEYS] = count[SEC_Y] = s->n_rows_global;
    count[SEC_INDPTR] = s->dense ? 0 : s->n_rows_global + 1;
    count[SEC_INDICES] = s->dense ? 0 : s->nnz_global;
    count[SEC_VALUES] = s->nnz_global;
}

/* Rank 0: the header's fixed part and the source's identity. */
static enum sl_status describe(const struct sl_shard *s, const char *src,
                               const struct sl_load_opts *o, int64_t max_index, int64_t block_bytes,
                               struct cache_fixed *f, struct cache_src **id, char **spec,
                               struct sl_err *err) {
    int64_t n = 0, stored = 0;
    enum sl_status st = cache_source_id(src, id, &n, err);
    if (st) return st;
    for (int64_t i = 0; i < n; i++)
        stored += (*id)[i].size;
    if (stored != s->file_bytes)
        return sl_err_set(err, SL_ERR_IO, "%s: changed while it was converted", src);
    memset(f, 0, sizeof *f);
    memcpy(f->magic, CACHE_MAGIC, 8);
    f->endian = CACHE_ENDIAN;
    f->version = SL_CACHE_VERSION;
    f->file_crc32 = s->file_crc32;
    f->dense = s->dense;
    f->labels01 = s->labels01;
    f->format = o->format == SL_FORMAT_AUTO ? sl_format_from_path(src) : o->format;
    f->zero_based = o->zero_based != 0;
    f->opt_n_features = o->n_features;
    f->n_rows = s->n_rows_global;
    f->n_features = s->n_features;
    f->max_index = max_index;
    f->nnz = s->nnz_global;
    f->file_bytes = s->file_bytes;
    f->block_bytes = block_bytes;
    f->n_src = n;
    sec_counts(s, f->count);
    f->real_labels = o->real_labels != 0;
    if (o->hash) { /* the text, NUL-padded to 8 bytes: first_key after it stays aligned */
        char *text = sl_hash_spec_text(o->hash);
        const size_t len = strlen(text) + 1;
        f->spec_bytes = (int64_t)((len + 7) / 8 * 8);
        *spec = sl_calloc(1, (size_t)f->spec_bytes);
        memcpy(*spec, text, len);
        free(text);
    }
    return SL_OK;
}

enum sl_status sl_cache_write(const struct sl_shard *s, const char *src,
                              const struct sl_load_opts *o, const char *dir, int64_t block_bytes,
                              struct sl_comm *c, struct sl_err *err) {
    if (block_bytes <= 0) block_bytes = SL_CACHE_BLOCK;
    SL_ASSERT(block_bytes % 8 == 0);
    SL_ASSERT(s->row_key || s->n_rows == 0); /* loaded with o->row_keys */
    sl_err_clear(err);
    struct cache_paths p;
    int64_t pid = (int64_t)getpid();
    sl_comm_bcast(c, &pid, sizeof pid, 0);
    snprintf(p.dir, sizeof p.dir, "%s", dir);
    snprintf(p.tmp, sizeof p.tmp, "%s.tmp.%lld", dir, (long long)pid);
    snprintf(p.old, sizeof p.old, "%s.old.%lld", dir, (long long)pid);
    /* d for a sparse cache loaded later with --n-features: the largest
     * column in use. */
    int64_t max_index = 0;
    for (int64_t i = 0; !s->dense && i < s->nnz; i++)
        if (s->indices[i] + 1 > max_index) max_index = s->indices[i] + 1;
    sl_comm_max_i64(c, &max_index, 1);
    const int64_t nnz0 = sl_comm_exscan_i64(c, s->nnz);
    struct cache_fixed f;
    struct cache_src *id = NULL;
    char *spec = NULL;
    enum sl_status st = SL_OK;
    if (c->rank == 0)
        st = describe(s, src, o, s->dense ? s->n_features : max_index, block_bytes, &f, &id, &spec,
                      err);
    if (c->rank == 0 && !st) {
        int64_t bytes[SEC_N];
        for (int q = 0; q < SEC_N; q++)
            bytes[q] = f.count[q] * CACHE_SEC_ELEM[q];
        st = prepare(&p, bytes, err);
    }
    st = cache_agree(c, st, err);
    if (st) { /* nothing was created, or rank 0 could not create it */
        free(id);
        free(spec);
        return st;
    }
    st = cache_agree(c, write_rows(&p, s, nnz0, c, err), err);
    uint32_t *sums[SEC_N] = {NULL};
    if (!st) {
        /* Every part is on disk (agreed above) before any block is summed. */
        struct cache_fixed g = {.block_bytes = block_bytes};
        sec_counts(s, g.count);
        st = cache_agree(c, block_sums(&p, &g, sums, c, err), err);
    }
    if (!st && c->rank == 0) st = publish(&p, &f, id, spec, sums, err);
    st = cache_agree(c, st, err);
    for (int q = 0; q < SEC_N; q++)
        free(sums[q]);
    free(id);
    free(spec);
    if (st && c->rank == 0) remove_cache_dir(p.tmp);
    return st;
}
