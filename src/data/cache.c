/* cache.c - reading the binary cache (layout: cache_fmt.h): the header and
 * its checks, each rank's rows by pread with every block it reads checked.
 * The choice between a cache and its source (sl_data_load, sl_cache_use) is
 * in cache_use.c, writing in cache_write.c. */
#define _XOPEN_SOURCE 700 /* realpath */
#define _DEFAULT_SOURCE   /* MAP_POPULATE */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cjson/cJSON.h>

#include "data/cache_fmt.h"
#include "data/reader.h"
#include "shardlearn/clock.h"
#include "shardlearn/fileio.h"

const char *const CACHE_SEC_FILE[SEC_N] = {"keys.bin", "indptr.bin", "y.bin", "indices.bin",
                                           "values.bin"};
const int64_t CACHE_SEC_ELEM[SEC_N] = {8, 8, 8, 4, 8};

void sl_rank_keys(int64_t total_bytes, int rank, int nranks, int64_t *key_lo, int64_t *key_hi) {
    /* A line starts in the text reader's range [line_start(b), line_start(e))
     * exactly when its first byte lies in [b, e): no line starts between b
     * and line_start(b). */
    sl_byte_range(total_bytes, rank, nranks, key_lo, key_hi);
}

int cache_pread(int fd, void *buf, int64_t n, int64_t off) {
    char *p = buf;
    while (n > 0) {
        ssize_t k = pread(fd, p, (size_t)n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (k == 0) errno = EIO;
            return -1;
        }
        p += k;
        off += k;
        n -= k;
    }
    return 0;
}

int cache_pwrite(int fd, const void *buf, int64_t n, int64_t off) {
    const char *p = buf;
    while (n > 0) {
        ssize_t k = pwrite(fd, p, (size_t)n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        off += k;
        n -= k;
    }
    return 0;
}

enum sl_status cache_agree(struct sl_comm *c, enum sl_status st, struct sl_err *err) {
    int who = sl_comm_first_error(c, st != SL_OK, c->rank);
    if (who < 0) return SL_OK;
    int64_t v = st;
    sl_comm_bcast(c, &v, sizeof v, who);
    if (c->rank != who) sl_err_clear(err);
    return (enum sl_status)v;
}

int64_t cache_head_bytes(const struct cache_fixed *f) {
    int64_t n = cache_fixed_bytes(f->version) + f->n_src * (int64_t)sizeof(struct cache_src);
    n += f->spec_bytes;
    n += 8 * cache_blocks(f->count[SEC_KEYS] * 8, f->block_bytes);
    for (int q = 0; q < SEC_N; q++)
        n += 4 * cache_blocks(f->count[q] * CACHE_SEC_ELEM[q], f->block_bytes);
    return n;
}

enum sl_status cache_source_id(const char *src, struct cache_src **out, int64_t *n,
                               struct sl_err *err) {
    *out = NULL;
    *n = 0;
    char abs[PATH_MAX];
    const char *spec = src;
    if (!sl_io_is_remote(src) && realpath(src, abs)) spec = abs;
    struct sl_io_list l;
    enum sl_status st = sl_io_list_make(&l, spec, err);
    if (st) return st;
    *out = sl_calloc((size_t)l.n, sizeof **out);
    for (int64_t i = 0; i < l.n; i++) {
        snprintf((*out)[i].name, sizeof(*out)[i].name, "%s", l.obj[i].name);
        snprintf((*out)[i].tag, sizeof(*out)[i].tag, "%s", l.obj[i].tag);
        (*out)[i].size = l.obj[i].size;
        (*out)[i].version = l.obj[i].version;
    }
    *n = l.n;
    sl_io_list_free(&l);
    return SL_OK;
}

/* The counts agree with each other as convert writes them: a header with a
 * valid CRC but made by hand cannot send a reader out of its arrays. */
static int shape_ok(const struct cache_fixed *f) {
    const int64_t *n = f->count;
    if (f->n_features < 0 || f->n_features >= INT32_MAX || n[SEC_KEYS] != f->n_rows ||
        n[SEC_Y] != f->n_rows || f->file_bytes < 0)
        return 0;
    if (f->dense)
        return n[SEC_INDPTR] == 0 && n[SEC_INDICES] == 0 && f->nnz == f->n_rows * f->n_features &&
               n[SEC_VALUES] == f->nnz;
    return n[SEC_INDPTR] == f->n_rows + 1 && n[SEC_INDICES] == f->nnz && n[SEC_VALUES] == f->nnz &&
           f->max_index >= 0 && f->max_index <= f->n_features;
}

/* The fixed part's checks, in the order that explains a foreign file best. */
static enum sl_status check_fixed(const char *path, const char *buf, size_t len,
                                  struct sl_err *err) {
    struct cache_fixed f;
    if (len < 16 || memcmp(buf, CACHE_MAGIC, 8) != 0)
        return sl_err_set(err, SL_ERR_PARSE, "%s: not a shardlearn cache (bad magic number)", path);
    memcpy(&f, buf, 16);
    if (f.endian != CACHE_ENDIAN)
        return sl_err_set(err, SL_ERR_PARSE,
                          "%s: written on a machine of the other byte order; convert the source "
                          "again here",
                          path);
    if (f.version > SL_CACHE_VERSION)
        return sl_err_set(err, SL_ERR_PARSE,
                          "%s: cache format version %u is newer than this shardlearn's (%d); "
                          "convert the source again",
                          path, f.version, SL_CACHE_VERSION);
    if (f.version < 1)
        return sl_err_set(err, SL_ERR_PARSE, "%s: cache format version %u is not supported (%d)",
                          path, f.version, SL_CACHE_VERSION);
    const int64_t fixed = cache_fixed_bytes(f.version);
    if ((int64_t)len < fixed)
        return sl_err_set(err, SL_ERR_PARSE, "%s: truncated (%zu bytes)", path, len);
    memset(&f, 0, sizeof f); /* a version 1 header: no real labels, no spec */
    memcpy(&f, buf, (size_t)fixed);
    int ok = f.block_bytes > 0 && f.block_bytes % 8 == 0 && f.n_src >= 0 && f.n_src < 1000000 &&
             f.n_rows > 0 && f.nnz >= 0 && f.n_features >= 0 && f.spec_bytes >= 0 &&
             f.spec_bytes % 8 == 0 && f.spec_bytes < ((int64_t)1 << 30) &&
             (f.real_labels == 0 || f.real_labels == 1);
    for (int q = 0; q < SEC_N && ok; q++)
        ok = f.count[q] >= 0 && f.count[q] < ((int64_t)1 << 56);
    if (ok && f.head_bytes != cache_head_bytes(&f)) ok = 0;
    if (!ok || (int64_t)len != f.head_bytes) {
        if (ok && (int64_t)len < f.head_bytes)
            return sl_err_set(err, SL_ERR_PARSE, "%s: truncated (%zu of %lld bytes)", path, len,
                              (long long)f.head_bytes);
        return sl_err_set(err, SL_ERR_PARSE, "%s: corrupt header (checksum mismatch)", path);
    }
    uint32_t want = f.crc;
    uLong crc = crc32_z(0, (const Bytef *)buf, offsetof(struct cache_fixed, crc));
    const uint32_t zero = 0;
    crc = crc32_z(crc, (const Bytef *)&zero, 4);
    crc = crc32_z(crc, (const Bytef *)buf + offsetof(struct cache_fixed, crc) + 4,
                  len - offsetof(struct cache_fixed, crc) - 4);
    if ((uint32_t)crc != want)
        return sl_err_set(err, SL_ERR_PARSE, "%s: corrupt header (checksum mismatch)", path);
    const char *spec = buf + fixed + f.n_src * (int64_t)sizeof(struct cache_src);
    if (!shape_ok(&f) || (f.spec_bytes && spec[f.spec_bytes - 1] != '\0'))
        return sl_err_set(err, SL_ERR_PARSE, "%s: inconsistent header (not written by convert)",
                          path);
    return SL_OK;
}

enum sl_status cache_read_head(const char *dir, struct cache_head *h, struct sl_err *err) {
    memset(h, 0, sizeof *h);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, SL_CACHE_HEADER);
    size_t len = 0;
    char *buf = sl_read_file(path, &len);
    if (!buf) return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
    enum sl_status st = check_fixed(path, buf, len, err);
    if (st) {
        free(buf);
        return st;
    }
    memset(&h->f, 0, sizeof h->f);
    memcpy(&h->f, buf, (size_t)cache_fixed_bytes(((const struct cache_fixed *)buf)->version));
    h->buf = buf;
    const char *p = buf + cache_fixed_bytes(h->f.version);
    h->src = (const struct cache_src *)p;
    p += h->f.n_src * (int64_t)sizeof(struct cache_src);
    h->spec = h->f.spec_bytes ? p : NULL;
    p += h->f.spec_bytes;
    h->first_key = (const int64_t *)p;
    p += 8 * cache_blocks(h->f.count[SEC_KEYS] * 8, h->f.block_bytes);
    for (int q = 0; q < SEC_N; q++) {
        h->sums[q] = (const uint32_t *)p;
        p += 4 * cache_blocks(h->f.count[q] * CACHE_SEC_ELEM[q], h->f.block_bytes);
    }
    return SL_OK;
}

/* The open sections of one cache, for one rank's reads. */
struct cache_rd {
    const char *dir;
    struct cache_head h;
    int fd[SEC_N];
    char *tmp;     /* (block_bytes) a block read only in part */
    int64_t bytes; /* read so far */
};

static enum sl_status open_sections(struct cache_rd *k, struct sl_err *err) {
    for (int q = 0; q < SEC_N; q++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", k->dir, CACHE_SEC_FILE[q]);
        k->fd[q] = open(path, O_RDONLY);
        struct stat st;
        if (k->fd[q] < 0 || fstat(k->fd[q], &st) != 0)
            return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
        const int64_t want = k->h.f.count[q] * CACHE_SEC_ELEM[q];
        if ((int64_t)st.st_size != want)
            return sl_err_set(err, SL_ERR_PARSE, "%s: %s (%lld bytes, expected %lld)", path,
                              (int64_t)st.st_size < want ? "truncated" : "wrong size",
                              (long long)st.st_size, (long long)want);
    }
    return SL_OK;
}

/* dst <- bytes [a, b) of section q, every block they touch read whole and
 * checked against its CRC. */
static enum sl_status read_span(struct cache_rd *k, int q, int64_t a, int64_t b, void *dst,
                                struct sl_err *err) {
    const int64_t B = k->h.f.block_bytes, size = k->h.f.count[q] * CACHE_SEC_ELEM[q];
    char *out = dst;
    for (int64_t blk = a / B; a < b && blk * B < b; blk++) {
        const int64_t s0 = blk * B, s1 = s0 + B < size ? s0 + B : size;
        const int whole = s0 >= a && s1 <= b;
        char *p = whole ? out + (s0 - a) : k->tmp;
        if (cache_pread(k->fd[q], p, s1 - s0, s0) != 0)
            return sl_err_set(err, SL_ERR_IO, "%s/%s: %s", k->dir, CACHE_SEC_FILE[q],
                              strerror(errno));
        k->bytes += s1 - s0;
        if ((uint32_t)crc32_z(0, (const Bytef *)p, (size_t)(s1 - s0)) != k->h.sums[q][blk])
            return sl_err_set(err, SL_ERR_PARSE,
                              "%s/%s: corrupt (checksum mismatch in bytes %lld-%lld); convert the "
                              "source again",
                              k->dir, CACHE_SEC_FILE[q], (long long)s0, (long long)s1);
        if (!whole) {
            const int64_t lo = s0 > a ? s0 : a, hi = s1 < b ? s1 : b;
            memcpy(out + (lo - a), p + (lo - s0), (size_t)(hi - lo));
        }
    }
    return SL_OK;
}

/* The read-only mappings a shard's arrays point into (y and values). */
struct sl_cache_maps {
    int n;
    void *base[3];
    size_t len[3];
};

static int in_map(const struct sl_cache_maps *m, const void *p) {
    for (int i = 0; i < m->n; i++)
        if ((const char *)p >= (const char *)m->base[i] &&
            (const char *)p < (const char *)m->base[i] + m->len[i])
            return 1;
    return 0;
}

void sl_cache_unmap(struct sl_shard *s) {
    struct sl_cache_maps *m = s->maps;
    if (in_map(m, s->y)) s->y = NULL;
    if (in_map(m, s->indices)) s->indices = NULL;
    if (in_map(m, s->values)) s->values = NULL;
    for (int i = 0; i < m->n; i++)
        munmap(m->base[i], m->len[i]);
    free(m);
    s->maps = NULL;
}

void sl_cache_own_values(struct sl_shard *s) {
    if (!s->maps || !in_map(s->maps, s->values)) return; /* already its own */
    double *v = sl_malloc(sizeof(double) * (size_t)(s->nnz ? s->nnz : 1));
    memcpy(v, s->values, sizeof(double) * (size_t)s->nnz);
    s->values = v; /* sl_shard_free frees it: it is in no mapping */
}

/* *out <- bytes [a, b) of section q in place, mapped read-only with every
 * block they touch checked against its CRC: no copy, so a rank's load runs
 * at the checksum's speed. *out: (b - a) bytes, or NULL when a == b (the
 * caller allocates then). The mapping is added to m. */
static enum sl_status map_span(struct cache_rd *k, int q, int64_t a, int64_t b,
                               struct sl_cache_maps *m, void **out, struct sl_err *err) {
    *out = NULL;
    if (a == b) return SL_OK;
    const int64_t B = k->h.f.block_bytes, size = k->h.f.count[q] * CACHE_SEC_ELEM[q];
    const int64_t blk0 = a / B, blk1 = (b - 1) / B;
    const int64_t s0 = blk0 * B, s1 = (blk1 + 1) * B < size ? (blk1 + 1) * B : size;
    const int64_t page = (int64_t)sysconf(_SC_PAGESIZE), m0 = s0 / page * page;
    SL_ASSERT(m->n < 3); /* y, values, and room */
    void *base =
        mmap(NULL, (size_t)(s1 - m0), PROT_READ, MAP_PRIVATE | MAP_POPULATE, k->fd[q], (off_t)m0);
    if (base == MAP_FAILED)
        return sl_err_set(err, SL_ERR_IO, "%s/%s: %s", k->dir, CACHE_SEC_FILE[q], strerror(errno));
    m->base[m->n] = base;
    m->len[m->n++] = (size_t)(s1 - m0);
    for (int64_t blk = blk0; blk <= blk1; blk++) {
        const int64_t c0 = blk * B, c1 = c0 + B < size ? c0 + B : size;
        const Bytef *p = (const Bytef *)base + (c0 - m0);
        if ((uint32_t)crc32_z(0, p, (size_t)(c1 - c0)) != k->h.sums[q][blk])
            return sl_err_set(err, SL_ERR_PARSE,
                              "%s/%s: corrupt (checksum mismatch in bytes %lld-%lld); convert the "
                              "source again",
                              k->dir, CACHE_SEC_FILE[q], (long long)c0, (long long)c1);
    }
    k->bytes += s1 - s0;
    *out = (char *)base + (a - m0);
    return SL_OK;
}

/* s->y, s->values: mapped (map_span), or one allocated element
 * when this rank has none. */
static enum sl_status map_array(struct cache_rd *k, int q, int64_t a, int64_t b, struct sl_shard *s,
                                void **out, struct sl_err *err) {
    enum sl_status st = map_span(k, q, a, b, s->maps, out, err);
    if (!st && !*out) *out = sl_malloc((size_t)CACHE_SEC_ELEM[q]);
    return st;
}

/* Asks for transparent huge pages over the 2 MiB-aligned inside of a large
 * fresh allocation about to be filled: one fault per 2 MiB instead of per
 * 4 KiB page (the benchmark's 1-rank load: 0.29 s -> 0.11 s). A hint. */
static void huge_pages(void *p, size_t n) {
    const uintptr_t huge = (uintptr_t)2 << 20;
    const uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1),
                    b = ((uintptr_t)p + n) & ~(huge - 1);
    if (b > a) (void)madvise((void *)a, b - a, MADV_HUGEPAGE);
}

/* *row <- the first row whose key is >= t (n when none): the block table
 * finds the block, one checked block read finds the row. */
static enum sl_status first_row_at(struct cache_rd *k, int64_t t, int64_t *row,
                                   struct sl_err *err) {
    const int64_t n = k->h.f.n_rows, per = k->h.f.block_bytes / 8;
    const int64_t nb = cache_blocks(n * 8, k->h.f.block_bytes);
    int64_t lo = 0, hi = nb; /* blocks [0, lo) start below t, [hi, nb) at or above */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (k->h.first_key[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) {
        *row = 0;
        return SL_OK;
    }
    const int64_t r0 = (lo - 1) * per, r1 = r0 + per < n ? r0 + per : n;
    int64_t *keys = (int64_t *)k->tmp;
    enum sl_status st = read_span(k, SEC_KEYS, r0 * 8, r1 * 8, keys, err);
    if (st) return st;
    int64_t i = 0;
    while (i < r1 - r0 && keys[i] < t)
        i++;
    *row = r0 + i;
    return SL_OK;
}

/* The parse options' effect on d, as the text reader applies them. */
static enum sl_status apply_n_features(struct sl_shard *s, const struct cache_fixed *f,
                                       const struct sl_load_opts *o, const char *dir,
                                       struct sl_err *err) {
    s->n_features = f->n_features;
    if (o->n_features <= 0) return SL_OK;
    if (f->dense && o->n_features != f->n_features)
        return sl_err_set(err, SL_ERR_PARSE, "%s: %lld features, expected %lld", dir,
                          (long long)f->n_features, (long long)o->n_features);
    if (!f->dense && f->max_index > o->n_features)
        return sl_err_set(err, SL_ERR_PARSE, "%s: feature index %lld beyond --n-features %lld", dir,
                          (long long)f->max_index, (long long)o->n_features);
    s->n_features = o->n_features;
    return SL_OK;
}

/* What the kernels rely on and a CRC cannot promise of a cache made by
 * hand: labels -1/+1 as the readers make them, and (CSR) every column index
 * in [0, max_index), since the kernels index weights with them. One pass
 * over arrays just read. */
static enum sl_status check_labels(const struct cache_rd *k, const struct sl_shard *s,
                                   struct sl_err *err) {
    int bad = 0;
    if (k->h.f.real_labels) {
        for (int64_t i = 0; i < s->n_rows; i++)
            bad |= !(s->y[i] - s->y[i] == 0); /* NaN or infinite */
        return bad ? sl_err_set(err, SL_ERR_PARSE, "%s/y.bin: corrupt (a label not finite)", k->dir)
                   : SL_OK;
    }
    for (int64_t i = 0; i < s->n_rows; i++)
        bad |= s->y[i] != 1.0 && s->y[i] != -1.0;
    return bad ? sl_err_set(err, SL_ERR_PARSE, "%s/y.bin: corrupt (a label not -1 or +1)", k->dir)
               : SL_OK;
}

/* Multinomial (real_labels 2): the labels are class labels, integers as the
 * text readers demand, and training rewrites them to class indices - so
 * they are copied out of the read-only mapping. */
static enum sl_status own_class_labels(struct sl_shard *s, const char *dir, struct sl_err *err) {
    for (int64_t i = 0; i < s->n_rows; i++)
        if (s->y[i] != floor(s->y[i]) || fabs(s->y[i]) > 9.0e15)
            return sl_err_set(err, SL_ERR_PARSE,
                              "%s: label %.17g of row %lld is not an integer class label for "
                              "multinomial",
                              dir, s->y[i], (long long)(s->row_begin + i + 1));
    if (!s->maps || !in_map(s->maps, s->y)) return SL_OK;
    double *y = sl_malloc(sizeof(double) * (size_t)(s->n_rows ? s->n_rows : 1));
    memcpy(y, s->y, sizeof(double) * (size_t)s->n_rows);
    s->y = y; /* sl_shard_free frees it: it is in no mapping */
    return SL_OK;
}

int cache_spec_same(const char *text, const struct sl_hash_spec *sp) {
    if (!text || !sp) return !text && !sp;
    char *want = sl_hash_spec_text(sp);
    const int same = strcmp(want, text) == 0;
    free(want);
    return same;
}

/* The spec of a cache whose header holds one into *out (sl_calloc'd). */
static enum sl_status parse_spec(const struct cache_head *h, const char *dir,
                                 struct sl_hash_spec **out, struct sl_err *err) {
    cJSON *j = cJSON_Parse(h->spec);
    struct sl_hash_spec *sp = sl_calloc(1, sizeof *sp);
    const char *bad = j ? sl_hash_spec_from_json(sp, j) : "not JSON";
    cJSON_Delete(j);
    if (!bad && sl_hash_n_features(sp) != h->f.n_features) {
        sl_hash_spec_free(sp);
        bad = "its columns do not give the feature count";
    }
    if (bad) {
        free(sp);
        return sl_err_set(err, SL_ERR_PARSE, "%s/%s: inconsistent header (hashing spec: %s)", dir,
                          SL_CACHE_HEADER, bad);
    }
    *out = sp;
    return SL_OK;
}

/* What the cache holds against what the caller reads it for: labels as
 * values or as -1/+1, and the hashing spec (o->hash, when given, must be
 * the cache's; a cache without one holds rows already hashed, as LIBSVM
 * would). s->cache_hash <- the cache's spec. */
static enum sl_status check_kind(const struct cache_head *h, const struct sl_load_opts *o,
                                 const char *dir, struct sl_shard *s, struct sl_err *err) {
    const struct cache_fixed *f = &h->f;
    if (o->real_labels && !f->real_labels)
        return sl_err_set(err, SL_ERR_ARG,
                          "%s: the cache keeps labels as -1/+1; for --loss squared or multinomial "
                          "convert the source with --real-labels",
                          dir);
    if (!o->real_labels && f->real_labels)
        return sl_err_set(err, SL_ERR_ARG,
                          "%s: the cache keeps real labels (convert --real-labels), for --loss "
                          "squared only; convert the source without it for a classifier",
                          dir);
    if (!h->spec) return SL_OK;
    enum sl_status st = parse_spec(h, dir, &s->cache_hash, err);
    if (st || !o->hash) return st;
    if (cache_spec_same(h->spec, o->hash)) return SL_OK;
    if (o->hash->hash_bits != s->cache_hash->hash_bits)
        return sl_err_set(err, SL_ERR_ARG,
                          "%s: hashed with --hash-bits %d, not %d; convert the source again with "
                          "--hash-bits %d",
                          dir, s->cache_hash->hash_bits, o->hash->hash_bits, o->hash->hash_bits);
    return sl_err_set(err, SL_ERR_ARG,
                      "%s: hashed with other columns than asked for (its --format %s, %d "
                      "columns); convert the source again with the options wanted",
                      dir, s->cache_hash->format, s->cache_hash->n_cols);
}

static enum sl_status check_indices(const struct cache_rd *k, const struct sl_shard *s,
                                    int64_t max_index, struct sl_err *err) {
    int bad = 0;
    for (int64_t i = 0; i < s->nnz; i++)
        bad |= (uint32_t)s->indices[i] >= (uint64_t)max_index;
    return bad ? sl_err_set(err, SL_ERR_PARSE,
                            "%s/indices.bin: corrupt (a column index out of range)", k->dir)
               : SL_OK;
}

/* This rank's rows [lo, hi) into s. */
static enum sl_status read_rows(struct cache_rd *k, struct sl_shard *s, struct sl_comm *c,
                                struct sl_err *err) {
    const struct cache_fixed *f = &k->h.f;
    int64_t klo, khi, lo, hi;
    sl_rank_keys(f->file_bytes, c->rank, c->size, &klo, &khi);
    enum sl_status st = first_row_at(k, klo, &lo, err);
    if (!st) st = first_row_at(k, khi, &hi, err);
    if (st) return st;
    if (hi < lo)
        return sl_err_set(err, SL_ERR_PARSE, "%s/keys.bin: corrupt (row keys out of order)",
                          k->dir);
    s->n_rows = hi - lo;
    s->row_begin = lo;
    s->maps = sl_calloc(1, sizeof *s->maps);
    st = map_array(k, SEC_Y, lo * 8, hi * 8, s, (void **)&s->y, err);
    if (!st) st = check_labels(k, s, err);
    if (st) return st;
    if (f->dense) {
        s->dense = 1;
        s->nnz = (hi - lo) * f->n_features;
        return map_array(k, SEC_VALUES, lo * f->n_features * 8, hi * f->n_features * 8, s,
                         (void **)&s->values, err);
    }
    s->indptr = sl_malloc(sizeof(int64_t) * (size_t)(hi - lo + 1));
    st = read_span(k, SEC_INDPTR, lo * 8, (hi + 1) * 8, s->indptr, err);
    if (st) return st;
    const int64_t a = s->indptr[0], b = s->indptr[hi - lo];
    if (a < 0 || b < a || b > f->nnz)
        return sl_err_set(err, SL_ERR_PARSE, "%s/indptr.bin: corrupt (row starts out of range)",
                          k->dir);
    int monotone = 1;
    for (int64_t i = 0; i <= hi - lo; i++) {
        monotone &= i == 0 || s->indptr[i] >= s->indptr[i - 1];
        s->indptr[i] -= a;
    }
    if (!monotone)
        return sl_err_set(err, SL_ERR_PARSE, "%s/indptr.bin: corrupt (row starts decrease)",
                          k->dir);
    s->nnz = b - a;
    /* Indices are copied, not mapped: training renumbers them in place
     * (colmap.h). */
    s->indices = sl_malloc(sizeof(int32_t) * (size_t)(s->nnz ? s->nnz : 1));
    huge_pages(s->indices, sizeof(int32_t) * (size_t)s->nnz);
    st = read_span(k, SEC_INDICES, a * 4, b * 4, s->indices, err);
    if (!st) st = check_indices(k, s, f->max_index, err);
    if (!st) st = map_array(k, SEC_VALUES, a * 8, b * 8, s, (void **)&s->values, err);
    return st;
}

enum sl_status sl_cache_load(struct sl_shard *s, const char *dir, const struct sl_load_opts *o,
                             struct sl_comm *c, struct sl_err *err) {
    memset(s, 0, sizeof *s);
    sl_err_clear(err);
    double t0 = sl_wtime();
    struct cache_rd k = {.dir = dir, .fd = {-1, -1, -1, -1, -1}};
    enum sl_status st = cache_read_head(dir, &k.h, err);
    if (!st) {
        k.tmp = sl_malloc((size_t)k.h.f.block_bytes);
        st = open_sections(&k, err);
    }
    if (!st) st = check_kind(&k.h, o, dir, s, err);
    if (!st) st = apply_n_features(s, &k.h.f, o, dir, err);
    if (!st) st = read_rows(&k, s, c, err);
    if (!st && o->real_labels == 2) st = own_class_labels(s, dir, err);
    for (int q = 0; q < SEC_N; q++)
        if (k.fd[q] >= 0) close(k.fd[q]);
    free(k.tmp);
    /* Every rank read the same header; one message is enough. */
    st = cache_agree(c, st, err);
    if (st == SL_OK) {
        const struct cache_fixed *f = &k.h.f;
        s->n_rows_global = f->n_rows;
        s->nnz_global = f->dense ? f->n_rows * s->n_features : f->nnz;
        s->labels01 = f->labels01;
        s->file_bytes = f->file_bytes;
        s->file_crc32 = f->file_crc32;
        s->bytes = k.bytes;
    }
    free(k.h.buf);
    if (st != SL_OK) {
        sl_shard_free(s);
        return st;
    }
    s->load_seconds = sl_wtime() - t0;
    return SL_OK;
}
