/* colmap.h - columns that occur on any rank, and the map back to the file's
 * numbering. Columns that occur in no row of any shard carry no data: their
 * weight is 0 at the optimum, so they are left out of every working vector
 * and every allreduce. */
#ifndef SHARDLEARN_DATA_COLMAP_H
#define SHARDLEARN_DATA_COLMAP_H

#include <stdint.h>

#include "shardlearn/comm.h"
#include "shardlearn/data.h"

struct sl_colmap {
    int64_t n_features; /* d of the file */
    int64_t n_used;     /* columns kept */
    int32_t *cols;      /* (n_used) original column of each kept column; NULL: identity */
};

/* Collective. Counts each column's nonzeros over all ranks, keeps the
 * columns that occur and renumbers the CSR indices of s in place to
 * 0..n_used-1, most frequent column first (ties by column; the same map on
 * any rank count). In place, because a copy of the indices would cost as
 * much memory as the shard's index array; sl_colmap_restore undoes it.
 * Dense shards keep every column (identity map). Free with sl_colmap_free. */
void sl_colmap_build(struct sl_colmap *m, struct sl_shard *s, struct sl_comm *c);
/* Not collective. Renumbers the indices of s back to the file's columns. */
void sl_colmap_restore(const struct sl_colmap *m, struct sl_shard *s);
void sl_colmap_free(struct sl_colmap *m);
/* w_full: (n_features) <- compact w: (n_used); columns left out get 0. */
void sl_colmap_expand(const struct sl_colmap *m, const double *w, double *w_full);

#endif
