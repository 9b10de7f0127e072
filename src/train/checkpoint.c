/* checkpoint.c - checkpoints of a run: the job's identity, finding the
 * latest complete checkpoint, the manifest, writing and pruning
 * (checkpoint.h). Rank 0 handles the directory and the manifest; every rank
 * writes and reads its own slice; outcomes are agreed so that every rank
 * returns the same status. */
#include "train/checkpoint.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shardlearn/clock.h"
#include "shardlearn/fileio.h"
#include "shardlearn/log.h"

#define MANIFEST "manifest.json"
#define FORMAT_NAME "shardlearn-checkpoint"
#define FORMAT_VERSION 1

static void job_add(struct sl_ckpt_job *j, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void job_add(struct sl_ckpt_job *j, const char *key, const char *fmt, ...) {
    SL_ASSERT(j->n < SL_CKPT_JOB_MAX && strlen(key) < sizeof j->key[0]);
    strcpy(j->key[j->n], key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->val[j->n], sizeof j->val[0], fmt, ap);
    va_end(ap);
    j->n++;
}

/* The shortest of %.15g..%.17g that reads back to x's bits: "1e-05", not
 * "1.0000000000000001e-05", in the message naming what differs. */
static const char *short_double(char *buf, size_t cap, double x) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    return buf;
}

void sl_ckpt_job_make(struct sl_ckpt_job *j, const struct sl_train_params *p,
                      const struct sl_shard *s, int64_t dim) {
    const struct sl_optim_opts *o = &p->optim;
    const struct sl_ckpt_params *cp = &p->checkpoint;
    memset(j, 0, sizeof *j);
    char num[40];
    job_add(j, "data", "%s", cp->data_name ? cp->data_name : "");
    job_add(j, "data_bytes", "%" PRId64, cp->data_bytes);
    job_add(j, "data_crc32", "%08x", (unsigned)s->file_crc32);
    job_add(j, "rows", "%" PRId64, s->n_rows_global);
    job_add(j, "features", "%" PRId64, s->n_features);
    job_add(j, "nonzeros", "%" PRId64, s->nnz_global);
    job_add(j, "format", "%s", s->dense ? "dense" : "sparse");
    job_add(j, "working_columns", "%" PRId64, dim);
    job_add(j, "validation", "%s", cp->validation_name ? cp->validation_name : "none");
    job_add(j, "optimizer", "%s", sl_optimizer_name(o->kind));
    job_add(j, "l2", "%s", short_double(num, sizeof num, p->l2));
    job_add(j, "fit_intercept", "%d", p->fit_intercept ? 1 : 0);
    job_add(j, "tol", "%s", short_double(num, sizeof num, o->tol));
    job_add(j, "max_iter", "%d", o->max_iter);
    job_add(j, "lbfgs_memory", "%d", o->lbfgs_m);
    job_add(j, "batch_size", "%" PRId64, o->batch_size);
    job_add(j, "epochs", "%d", o->epochs);
    job_add(j, "lr", "%s", short_double(num, sizeof num, o->lr));
    job_add(j, "lr_decay", "%s", short_double(num, sizeof num, o->lr_decay));
    job_add(j, "sync_every", "%" PRId64, o->sync_every);
    job_add(j, "seed", "%" PRIu64, o->seed);
    job_add(j, "average", "%d", o->average ? 1 : 0);
    /* Only when not the default, so a logistic job's digest is what it was
     * before there were other losses, and its checkpoints still resume. */
    if (p->loss != SL_LOSS_LOGISTIC) job_add(j, "loss", "%s", sl_loss_name(p->loss));
    if (cp->weights_name) job_add(j, "weights", "%s", cp->weights_name);
    if (p->standardize) job_add(j, "standardize", "1");
    if (p->l1 > 0) job_add(j, "l1", "%s", short_double(num, sizeof num, p->l1));
    char line[600];
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < j->n; i++) {
        int k = snprintf(line, sizeof line, "%s=%s\n", j->key[i], j->val[i]);
        /* chain: hash of the previous lines' hash and this line */
        h ^= sl_ckpt_hash(line, (size_t)k);
        h *= 0x100000001b3ull;
    }
    snprintf(j->digest, sizeof j->digest, "%016" PRIx64, h);
}

/* ---- the directory ---- */

/* seq of a "ckpt-NNNNNN" name, or -1. */
static int ckpt_seq(const char *name) {
    int seq = -1, end = 0;
    if (sscanf(name, "ckpt-%6d%n", &seq, &end) != 1 || end != 11 || name[end] != '\0') return -1;
    return seq;
}

static void ckpt_path(char *out, size_t cap, const char *dir, int seq, const char *file) {
    if (file)
        snprintf(out, cap, "%s/ckpt-%06d/%s", dir, seq, file);
    else
        snprintf(out, cap, "%s/ckpt-%06d", dir, seq);
}

/* Rank 0. *latest <- the highest seq with a manifest (-1: none); *max <-
 * the highest seq of any checkpoint directory, complete or not. */
static enum sl_status scan_dir(const char *dir, int *latest, int *max, struct sl_err *err) {
    *latest = *max = -1;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return sl_err_set(err, SL_ERR_IO, "--checkpoint-dir %s: %s", dir, strerror(errno));
    DIR *d = opendir(dir);
    if (!d) return sl_err_set(err, SL_ERR_IO, "--checkpoint-dir %s: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int seq = ckpt_seq(e->d_name);
        if (seq < 0) continue;
        if (seq > *max) *max = seq;
        char path[4200];
        ckpt_path(path, sizeof path, dir, seq, MANIFEST);
        struct stat stt;
        if (seq > *latest && stat(path, &stt) == 0) *latest = seq;
    }
    closedir(d);
    return SL_OK;
}

int sl_checkpoint_note(const char *dir, char *out, size_t cap) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int latest = -1;
    char path[4200];
    struct dirent *e;
    struct stat stt;
    while ((e = readdir(d)) != NULL) {
        int seq = ckpt_seq(e->d_name);
        ckpt_path(path, sizeof path, dir, seq, MANIFEST);
        if (seq > latest && stat(path, &stt) == 0) latest = seq;
    }
    closedir(d);
    if (latest < 0) return -1;
    ckpt_path(path, sizeof path, dir, latest, MANIFEST);
    char *text = sl_read_file(path, NULL);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *note = cJSON_GetObjectItemCaseSensitive(root, "note");
    int rc = cJSON_IsString(note) && strlen(note->valuestring) < cap ? 0 : -1;
    if (rc == 0) strcpy(out, note->valuestring);
    cJSON_Delete(root);
    return rc;
}

/* Removes a checkpoint directory and what is in it (best effort). */
static void remove_ckpt(const char *dir, int seq) {
    char path[4200], file[4500];
    ckpt_path(path, sizeof path, dir, seq, NULL);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(file, sizeof file, "%s/%s", path, e->d_name);
            unlink(file);
        }
        closedir(d);
    }
    if (rmdir(path) != 0 && errno != ENOENT)
        sl_warn("could not remove %s: %s", path, strerror(errno));
}

/* Rank 0: every checkpoint older than seq, complete or not. */
static void prune(const char *dir, int seq) {
    DIR *d = opendir(dir);
    if (!d) return;
    int *old = NULL, n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int s = ckpt_seq(e->d_name);
        if (s < 0 || s >= seq) continue;
        if (n == cap) old = sl_realloc(old, sizeof *old * (size_t)(cap = cap ? 2 * cap : 8));
        old[n++] = s;
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        remove_ckpt(dir, old[i]);
    free(old);
}

void sl_checkpoint_clear(const char *dir) {
    prune(dir, INT_MAX);
}

/* So that a rename survives a crash: fsync the directory holding it. */
static void sync_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

/* ---- the manifest ---- */

struct manifest {
    int seq, ranks;
    int64_t iteration;
    struct sl_ckpt_slice *slices; /* (ranks) */
};

static char *manifest_text(const struct sl_ckpt *k, int seq, int64_t iteration,
                           const struct sl_ckpt_slice *sl) {
    cJSON *m = cJSON_CreateObject(), *job = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddStringToObject(m, "format", FORMAT_NAME);
    cJSON_AddNumberToObject(m, "version", FORMAT_VERSION);
    cJSON_AddNumberToObject(m, "seq", seq);
    cJSON_AddNumberToObject(m, "ranks", k->c->size);
    cJSON_AddNumberToObject(m, "iteration", (double)iteration);
    cJSON_AddStringToObject(m, "job_digest", k->job.digest);
    if (k->note) cJSON_AddStringToObject(m, "note", k->note);
    for (int i = 0; i < k->job.n; i++)
        cJSON_AddStringToObject(job, k->job.key[i], k->job.val[i]);
    cJSON_AddItemToObject(m, "job", job);
    for (int r = 0; r < k->c->size; r++) {
        cJSON *x = cJSON_CreateObject();
        char v[32];
        /* 64-bit integers as text: a JSON number is a double. */
        snprintf(v, sizeof v, "%" PRId64, sl[r].lo);
        cJSON_AddStringToObject(x, "lo", v);
        snprintf(v, sizeof v, "%" PRId64, sl[r].n_loc);
        cJSON_AddStringToObject(x, "n_loc", v);
        snprintf(v, sizeof v, "%" PRId64, sl[r].bytes);
        cJSON_AddStringToObject(x, "bytes", v);
        snprintf(v, sizeof v, "%016" PRIx64, sl[r].hash);
        cJSON_AddStringToObject(x, "fnv1a64", v);
        cJSON_AddItemToArray(arr, x);
    }
    cJSON_AddItemToObject(m, "slices", arr);
    char *text = cJSON_Print(m);
    cJSON_Delete(m);
    SL_ASSERT(text != NULL);
    return text;
}

static int get_i64(const cJSON *o, const char *key, int64_t *out, int hex) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(x)) return -1;
    char *end = NULL;
    errno = 0;
    if (hex)
        *out = (int64_t)strtoull(x->valuestring, &end, 16);
    else
        *out = strtoll(x->valuestring, &end, 10);
    return errno || !*x->valuestring || *end ? -1 : 0;
}

/* The job's fields against the manifest's: the first that differs. */
static enum sl_status compare_job(const cJSON *job, const struct sl_ckpt_job *j, const char *path,
                                  struct sl_err *err) {
    for (int i = 0; i < j->n; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(job, j->key[i]);
        const char *there = cJSON_IsString(x) ? x->valuestring : "(missing)";
        if (strcmp(there, j->val[i]) != 0)
            return sl_err_set(err, SL_ERR_ARG,
                              "%s: a checkpoint of another job: %s is %s here, %s there (use "
                              "another --checkpoint-dir, or remove the old checkpoint)",
                              path, j->key[i], j->val[i], there);
    }
    return SL_OK;
}

/* Rank 0: reads and checks the manifest of checkpoint seq. */
static enum sl_status read_manifest(const char *dir, int seq, const struct sl_ckpt_job *j,
                                    struct manifest *m, struct sl_err *err) {
    char path[4200];
    ckpt_path(path, sizeof path, dir, seq, MANIFEST);
    char *text = sl_read_file(path, NULL);
    if (!text) return sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *ranks = cJSON_GetObjectItemCaseSensitive(root, "ranks");
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, "iteration");
    const cJSON *job = cJSON_GetObjectItemCaseSensitive(root, "job");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "slices");
    enum sl_status st = SL_OK;
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, FORMAT_NAME) != 0 ||
        !cJSON_IsNumber(ver) || !cJSON_IsNumber(ranks) || !cJSON_IsNumber(it) ||
        !cJSON_IsObject(job) || !cJSON_IsArray(arr) || ranks->valuedouble < 1 ||
        ranks->valuedouble > 1e6 || cJSON_GetArraySize(arr) != (int)ranks->valuedouble) {
        st = sl_err_set(err, SL_ERR_IO, "%s: not a shardlearn checkpoint manifest", path);
    } else if (ver->valueint != FORMAT_VERSION) {
        st = sl_err_set(err, SL_ERR_IO, "%s: checkpoint format version %d, this build reads %d",
                        path, ver->valueint, FORMAT_VERSION);
    } else {
        st = compare_job(job, j, path, err);
    }
    if (!st) {
        *m = (struct manifest){
            .seq = seq,
            .ranks = (int)ranks->valuedouble,
            .iteration = (int64_t)it->valuedouble,
            .slices = sl_calloc((size_t)ranks->valuedouble, sizeof(struct sl_ckpt_slice))};
        int r = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, arr) {
            struct sl_ckpt_slice *s = &m->slices[r++];
            if (get_i64(x, "lo", &s->lo, 0) || get_i64(x, "n_loc", &s->n_loc, 0) ||
                get_i64(x, "bytes", &s->bytes, 0) || get_i64(x, "fnv1a64", (int64_t *)&s->hash, 1))
                st = sl_err_set(err, SL_ERR_IO, "%s: slice %d is not described fully", path, r - 1);
        }
        if (st) free(m->slices);
    }
    cJSON_Delete(root);
    return st;
}

/* ---- agreement ---- */

/* Every rank's st and, from the lowest failing rank, its message. */
static enum sl_status agree(struct sl_comm *c, enum sl_status st, struct sl_err *err) {
    int who = sl_comm_first_error(c, st != SL_OK, c->rank);
    if (who < 0) return SL_OK;
    int64_t code = st;
    sl_comm_bcast(c, &code, sizeof code, who);
    sl_comm_bcast(c, err->msg, sizeof err->msg, who);
    return (enum sl_status)code;
}

/* ---- opening: find and load ---- */

enum sl_status sl_ckpt_open(struct sl_ckpt *k, struct sl_comm *c, const struct sl_ckpt_params *cp,
                            const struct sl_ckpt_job *job, const struct sl_obj_shape *sh,
                            struct sl_ckpt_loaded *out, int *found, struct sl_err *err) {
    memset(out, 0, sizeof *out);
    *found = 0;
    *k = (struct sl_ckpt){.c = c,
                          .every = cp->every_seconds,
                          .last = sl_wtime(),
                          .job = *job,
                          .lo = sh->lo,
                          .n_loc = sh->n_loc,
                          .note = cp->note};
    if (strlen(cp->dir) >= sizeof k->dir)
        return agree(c, sl_err_set(err, SL_ERR_ARG, "--checkpoint-dir: path too long"), err);
    strcpy(k->dir, cp->dir);
    struct manifest m = {.seq = -1};
    enum sl_status st = SL_OK;
    int64_t head[3] = {-1, 0, 0}; /* seq found, next seq, ranks */
    if (c->rank == 0) {
        int latest, max;
        st = scan_dir(k->dir, &latest, &max, err);
        if (!st && latest >= 0) st = read_manifest(k->dir, latest, job, &m, err);
        head[0] = st ? -1 : m.seq;
        head[1] = max + 1;
        head[2] = m.ranks;
    }
    if ((st = agree(c, st, err))) return st;
    sl_comm_bcast(c, head, sizeof head, 0);
    k->next_seq = (int)head[1];
    if (head[0] < 0) return SL_OK;
    const int ranks = (int)head[2];
    if (c->rank != 0) m.slices = sl_calloc((size_t)ranks, sizeof *m.slices);
    sl_comm_bcast(c, m.slices, sizeof *m.slices * (size_t)ranks, 0);
    sl_comm_bcast(c, &m.iteration, sizeof m.iteration, 0);
    char path[4200];
    ckpt_path(path, sizeof path, k->dir, (int)head[0], NULL);
    st = sl_ckpt_assemble(path, m.slices, ranks, c->rank, c->size, sh->lo, sh->n_loc, out, err);
    free(m.slices);
    if ((st = agree(c, st, err))) {
        sl_ckpt_loaded_free(out);
        return st;
    }
    out->iteration = m.iteration;
    *found = 1;
    if (c->rank == 0)
        sl_info("resuming from %s: iteration %lld, written on %d rank(s)", path,
                (long long)m.iteration, ranks);
    return SL_OK;
}

int sl_ckpt_due(struct sl_ckpt *k) {
    int64_t due = k->c->rank == 0 && sl_wtime() - k->last >= k->every;
    sl_comm_bcast(k->c, &due, sizeof due, 0);
    return due != 0;
}

/* ---- writing ---- */

/* This rank's file in checkpoint directory path; *sl its description. */
static enum sl_status write_slice(const struct sl_ckpt *k, const char *path,
                                  const struct sl_optim_state *s, struct sl_ckpt_slice *sl,
                                  struct sl_err *err) {
    size_t len = 0;
    void *buf = sl_ckpt_encode(s, k->c->rank, k->lo, k->n_loc, &len);
    *sl = (struct sl_ckpt_slice){
        .lo = k->lo, .n_loc = k->n_loc, .bytes = (int64_t)len, .hash = sl_ckpt_hash(buf, len)};
    char file[4300];
    snprintf(file, sizeof file, "%s/rank-%05d.bin", path, k->c->rank);
    struct sl_atomic_file f;
    enum sl_status st = sl_atomic_open(&f, file, err);
    if (!st) {
        /* A short write sets the stream's error flag: commit reports it. */
        size_t wrote = fwrite(buf, 1, len, f.f);
        (void)wrote;
        st = sl_atomic_commit(&f, err);
    }
    free(buf);
    return st;
}

static enum sl_status write_manifest(const struct sl_ckpt *k, const char *path, int seq,
                                     int64_t iteration, const struct sl_ckpt_slice *sl,
                                     struct sl_err *err) {
    char file[4300];
    snprintf(file, sizeof file, "%s/%s", path, MANIFEST);
    char *text = manifest_text(k, seq, iteration, sl);
    struct sl_atomic_file f;
    enum sl_status st = sl_atomic_open(&f, file, err);
    if (!st) {
        fputs(text, f.f);
        fputc('\n', f.f);
        st = sl_atomic_commit(&f, err);
    }
    free(text);
    if (!st) sync_dir(path);
    return st;
}

enum sl_status sl_ckpt_write(struct sl_ckpt *k, const struct sl_optim_state *s, int64_t iteration,
                             struct sl_err *err) {
    struct sl_comm *c = k->c;
    const int seq = k->next_seq++;
    char path[4200];
    ckpt_path(path, sizeof path, k->dir, seq, NULL);
    enum sl_status st = SL_OK;
    if (c->rank == 0 && mkdir(path, 0777) != 0 && errno != EEXIST)
        st = sl_err_set(err, SL_ERR_IO, "%s: %s", path, strerror(errno));
    if ((st = agree(c, st, err))) return st;
    struct sl_ckpt_slice mine, *all = sl_calloc((size_t)c->size, sizeof *all);
    st = write_slice(k, path, s, &mine, err);
    sl_comm_allgather_bytes(c, &mine, sizeof mine, all);
    if (!(st = agree(c, st, err)) && c->rank == 0) {
        st = write_manifest(k, path, seq, iteration, all, err);
        if (!st) prune(k->dir, seq);
    }
    free(all);
    if (c->rank == 0 && st) remove_ckpt(k->dir, seq);
    st = agree(c, st, err);
    k->last = sl_wtime();
    return st;
}
