/* ckpt_file.c - a checkpoint's rank files: encoding a solver state, and
 * assembling this rank's part of a checkpoint from the files of the ranks
 * that wrote it, on the same or another rank count (checkpoint.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/fileio.h"
#include "train/checkpoint.h"

/* The file starts with this head, then nsec section records, then the
 * sections' data (each at an offset that is a multiple of 8). Numbers are in
 * the host's byte order: a checkpoint continues a run on the same kind of
 * machines. */
static const char MAGIC[8] = {'S', 'L', 'C', 'K', 'P', 'T', '\0', '\1'};
struct file_head {
    char magic[8];
    uint32_t nsec, pad;
    int64_t lo, n_loc;
};
struct file_sec {
    char name[SL_STATE_NAME];
    int32_t kind, elem;
    int64_t rows, n, offset;
};

uint64_t sl_ckpt_hash(const void *p, size_t n) {
    /* FNV-1a, 64 bits: catches truncated and damaged files; not a defence
     * against someone forging one. */
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static size_t round8(size_t x) {
    return (x + 7) & ~(size_t)7;
}

void *sl_ckpt_encode(const struct sl_optim_state *s, int rank, int64_t lo, int64_t n_loc,
                     size_t *len) {
    /* SAME sections only in rank 0's file: one copy of SGD's whole model, not one a rank. */
    const struct sl_state_sec *in[SL_STATE_MAX];
    int n = 0;
    for (int i = 0; i < s->n; i++)
        if (s->sec[i].kind != SL_STATE_SAME || rank == 0) in[n++] = &s->sec[i];
    size_t off = sizeof(struct file_head) + (size_t)n * sizeof(struct file_sec);
    struct file_sec secs[SL_STATE_MAX];
    memset(secs, 0, sizeof secs);
    for (int i = 0; i < n; i++) {
        const struct sl_state_sec *x = in[i];
        memcpy(secs[i].name, x->name, sizeof secs[i].name);
        secs[i].kind = x->kind;
        secs[i].elem = x->elem;
        secs[i].rows = x->rows;
        secs[i].n = x->n;
        off = round8(off);
        secs[i].offset = (int64_t)off;
        off += (size_t)x->n * (size_t)x->elem;
    }
    char *buf = sl_calloc(off, 1);
    struct file_head h = {.nsec = (uint32_t)n, .pad = 0, .lo = lo, .n_loc = n_loc};
    memcpy(h.magic, MAGIC, sizeof MAGIC);
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, secs, (size_t)n * sizeof(struct file_sec));
    for (int i = 0; i < n; i++)
        if (in[i]->n > 0)
            memcpy(buf + secs[i].offset, in[i]->data, (size_t)in[i]->n * (size_t)in[i]->elem);
    *len = off;
    return buf;
}

/* A rank file read whole, checked, with its index. */
struct rank_file {
    char *buf;
    size_t len;
    struct file_head head;
    const struct file_sec *secs;
};

static enum sl_status read_rank_file(const char *dir, int q, const struct sl_ckpt_slice *want,
                                     struct rank_file *f, struct sl_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/rank-%05d.bin", dir, q);
    memset(f, 0, sizeof *f);
    f->buf = sl_read_file(path, &f->len);
    if (!f->buf)
        return sl_err_set(err, SL_ERR_IO,
                          "%s: %s (a damaged checkpoint: remove %s to start afresh)", path,
                          strerror(errno), dir);
    const char *bad = NULL;
    if ((int64_t)f->len != want->bytes)
        bad = "its size differs from the manifest's";
    else if (sl_ckpt_hash(f->buf, f->len) != want->hash)
        bad = "its hash differs from the manifest's";
    else if (f->len < sizeof f->head)
        bad = "too short";
    if (!bad) {
        memcpy(&f->head, f->buf, sizeof f->head);
        if (memcmp(f->head.magic, MAGIC, sizeof MAGIC) != 0)
            bad = "not a shardlearn checkpoint slice";
        else if (f->head.nsec > SL_STATE_MAX ||
                 f->len < sizeof f->head + f->head.nsec * sizeof(struct file_sec))
            bad = "bad section count";
        else if (f->head.lo != want->lo || f->head.n_loc != want->n_loc)
            bad = "its layout differs from the manifest's";
    }
    if (!bad) {
        f->secs = (const struct file_sec *)(f->buf + sizeof f->head);
        for (uint32_t i = 0; i < f->head.nsec && !bad; i++) {
            const struct file_sec *x = &f->secs[i];
            const int64_t need = x->kind == SL_STATE_SLICE ? x->rows * f->head.n_loc : x->n;
            if ((x->elem != 1 && x->elem != 4 && x->elem != 8) || x->n < 0 || x->n != need ||
                x->offset < 0 ||
                (uint64_t)x->offset + (uint64_t)x->n * (uint64_t)x->elem > f->len ||
                memchr(x->name, '\0', sizeof x->name) == NULL)
                bad = "a section lies outside the file";
        }
    }
    if (!bad) return SL_OK;
    free(f->buf);
    f->buf = NULL;
    return sl_err_set(err, SL_ERR_IO, "%s: %s (a damaged checkpoint: remove %s to start afresh)",
                      path, bad, dir);
}

static const struct file_sec *find_sec(const struct rank_file *f, const char *name) {
    for (uint32_t i = 0; i < f->head.nsec; i++)
        if (strcmp(f->secs[i].name, name) == 0) return &f->secs[i];
    return NULL;
}

/* dst: (rows, n_loc) <- the rows of section x of this rank's new slice
 * [lo, lo + n_loc), gathered from every old file that overlaps it. */
static enum sl_status fill_slice(const struct file_sec *x, struct rank_file *files, int ranks,
                                 int64_t lo, int64_t n_loc, char *dst, const char *dir,
                                 struct sl_err *err) {
    const size_t e = (size_t)x->elem;
    for (int q = 0; q < ranks; q++) {
        const struct rank_file *f = &files[q];
        if (!f->buf) continue;
        const int64_t a = lo > f->head.lo ? lo : f->head.lo;
        const int64_t b0 = lo + n_loc, b1 = f->head.lo + f->head.n_loc, b = b0 < b1 ? b0 : b1;
        if (a >= b) continue;
        const struct file_sec *y = find_sec(f, x->name);
        if (!y || y->elem != x->elem || y->rows != x->rows || y->kind != x->kind)
            return sl_err_set(err, SL_ERR_IO,
                              "%s/rank-%05d.bin: section %s differs from rank 0's (a damaged "
                              "checkpoint: remove %s to start afresh)",
                              dir, q, x->name, dir);
        for (int64_t r = 0; r < x->rows; r++)
            memcpy(dst + ((size_t)(r * n_loc + (a - lo))) * e,
                   f->buf + y->offset + (size_t)(r * f->head.n_loc + (a - f->head.lo)) * e,
                   (size_t)(b - a) * e);
    }
    return SL_OK;
}

/* out <- every section of this rank's part, from the files read: rank 0's
 * lists them all and holds the SAME ones; slices come from the files that
 * overlap this rank's range (its own on the same rank count), RANK
 * sections from its own file. */
static enum sl_status assemble(struct rank_file *files, int ranks, int rank, int same, int64_t lo,
                               int64_t n_loc, const char *dir, struct sl_ckpt_loaded *out,
                               struct sl_err *err) {
    const struct rank_file *f0 = &files[0];
    for (uint32_t i = 0; i < f0->head.nsec; i++) {
        const struct file_sec *x = &f0->secs[i];
        if (x->kind == SL_STATE_RANK && !same) continue; /* the solver starts that part afresh */
        const struct file_sec *from = x;
        const char *base = f0->buf;
        if (x->kind == SL_STATE_RANK) {
            from = find_sec(&files[rank], x->name);
            base = files[rank].buf;
            if (!from || from->kind != x->kind || from->elem != x->elem)
                return sl_err_set(err, SL_ERR_IO,
                                  "%s/rank-%05d.bin: section %s differs from rank 0's (a damaged "
                                  "checkpoint: remove %s to start afresh)",
                                  dir, rank, x->name, dir);
        }
        const int64_t n = x->kind == SL_STATE_SLICE ? x->rows * n_loc : from->n;
        char *mem = sl_calloc((size_t)(n ? n : 1), (size_t)x->elem);
        out->mem[out->state.n] = mem;
        sl_state_add(&out->state, x->name, (enum sl_state_kind)x->kind, x->elem, x->rows, n, mem);
        if (x->kind != SL_STATE_SLICE) {
            if (n > 0) memcpy(mem, base + from->offset, (size_t)n * (size_t)x->elem);
            continue;
        }
        enum sl_status st = fill_slice(x, files, ranks, lo, n_loc, mem, dir, err);
        if (st) return st;
    }
    return SL_OK;
}

enum sl_status sl_ckpt_assemble(const char *dir, const struct sl_ckpt_slice *sl, int ranks,
                                int rank, int size, int64_t lo, int64_t n_loc,
                                struct sl_ckpt_loaded *out, struct sl_err *err) {
    memset(out, 0, sizeof *out);
    const int same = ranks == size;
    struct rank_file *files = sl_calloc((size_t)ranks, sizeof *files);
    enum sl_status st = SL_OK;
    for (int q = 0; q < ranks && !st; q++) {
        const int overlaps = sl[q].lo < lo + n_loc && lo < sl[q].lo + sl[q].n_loc;
        const int need = q == 0 || (same ? q == rank : overlaps);
        if (need) st = read_rank_file(dir, q, &sl[q], &files[q], err);
    }
    if (!st) st = assemble(files, ranks, rank, same, lo, n_loc, dir, out, err);
    for (int q = 0; q < ranks; q++)
        free(files[q].buf);
    free(files);
    if (st) sl_ckpt_loaded_free(out);
    return st;
}

void sl_ckpt_loaded_free(struct sl_ckpt_loaded *l) {
    for (int i = 0; i < SL_STATE_MAX; i++)
        free(l->mem[i]);
    memset(l, 0, sizeof *l);
}
