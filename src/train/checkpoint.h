/* checkpoint.h - private to train/: checkpoints of a run in a directory.
 *
 *   DIR/ckpt-000007/rank-00000.bin ... rank-0000R.bin   each rank's slice
 *   DIR/ckpt-000007/manifest.json                      written last, by rank 0
 *
 * A rank file holds a solver state (optim.h) as sections: SLICE sections
 * carry this rank's part [lo, lo + n_loc) of global vectors, so a run can
 * continue on another rank count; SAME sections, the same on every rank, are
 * kept once, in rank 0's file; RANK sections hold a rank's own state. Each rank writes its file atomically
 * (temporary file, fsync, rename); rank 0 then writes the manifest the same
 * way, naming the job, the layout and every file's size and FNV-1a hash. A
 * checkpoint without a manifest is incomplete and ignored; older
 * checkpoints are removed only after a newer manifest is in place. */
#ifndef SHARDLEARN_TRAIN_CHECKPOINT_H
#define SHARDLEARN_TRAIN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "shardlearn/objective.h"
#include "shardlearn/optim.h"
#include "shardlearn/train.h"

/* The job's identity: every field that changes the numbers a run produces
 * (not the rank count), as text, and a digest of them all. */
#define SL_CKPT_JOB_MAX 32
struct sl_ckpt_job {
    int n;
    char key[SL_CKPT_JOB_MAX][24];
    char val[SL_CKPT_JOB_MAX][512];
    char digest[17]; /* FNV-1a 64 of "key=value\n"..., hex */
};
void sl_ckpt_job_make(struct sl_ckpt_job *j, const struct sl_train_params *p,
                      const struct sl_shard *s, int64_t dim);

/* One rank file of a checkpoint, as the manifest lists it. */
struct sl_ckpt_slice {
    int64_t lo, n_loc, bytes;
    uint64_t hash;
};

/* What is resumed from: this rank's sections (owned, in mem). */
struct sl_ckpt_loaded {
    struct sl_optim_state state;
    void *mem[SL_STATE_MAX];
    int64_t iteration;
};
void sl_ckpt_loaded_free(struct sl_ckpt_loaded *l);

/* The writer, on every rank. */
struct sl_ckpt {
    struct sl_comm *c;
    char dir[3800];
    double every, last; /* seconds between checkpoints; sl_wtime() of the last (rank 0) */
    int next_seq;
    struct sl_ckpt_job job;
    int64_t lo, n_loc;
    const char *note; /* rank 0: kept in the manifest; may be NULL */
};

/* Collective. Finds the latest complete checkpoint in cp->dir (creating the
 * directory if needed) and loads this rank's part of it into *out (*found
 * 1), or finds none (*found 0). A checkpoint of another job, or a damaged
 * one, is an error that names what differs or what is wrong. The same
 * status on every rank; err is set on rank 0 (others may have it too). */
enum sl_status sl_ckpt_open(struct sl_ckpt *k, struct sl_comm *c, const struct sl_ckpt_params *cp,
                            const struct sl_ckpt_job *job, const struct sl_obj_shape *sh,
                            struct sl_ckpt_loaded *out, int *found,
                            struct sl_err *err) SL_WARN_UNUSED;
/* Collective: whether a periodic checkpoint is due (rank 0's clock decides). */
int sl_ckpt_due(struct sl_ckpt *k);
/* Collective. Writes s as the next checkpoint, then removes the older ones.
 * The same status on every rank. */
enum sl_status sl_ckpt_write(struct sl_ckpt *k, const struct sl_optim_state *s, int64_t iteration,
                             struct sl_err *err) SL_WARN_UNUSED;

/* ckpt_file.c: rank files. */
uint64_t sl_ckpt_hash(const void *p, size_t n);
/* The rank file of s (caller frees), *len bytes; SAME sections only in
 * rank 0's. */
void *sl_ckpt_encode(const struct sl_optim_state *s, int rank, int64_t lo, int64_t n_loc,
                     size_t *len);
/* out <- this rank's part [lo, lo + n_loc) of the checkpoint in dir, made
 * of the files of `ranks` ranks listed in sl (rank 0's file and, on the same
 * rank count, this rank's own; else those that overlap its range).
 * Files are checked against the manifest's sizes and hashes. */
enum sl_status sl_ckpt_assemble(const char *dir, const struct sl_ckpt_slice *sl, int ranks,
                                int rank, int size, int64_t lo, int64_t n_loc,
                                struct sl_ckpt_loaded *out, struct sl_err *err) SL_WARN_UNUSED;

#endif
