/* synth.h - test helper: a fixed synthetic data set whose rows are dealt to
 * ranks round-robin (row i on rank i % size), built in memory so engine
 * tests do not depend on the parsers. Column 3 never occurs in sparse rows. */
#ifndef SHARDLEARN_TEST_SYNTH_H
#define SHARDLEARN_TEST_SYNTH_H

#include <stdlib.h>
#include <string.h>

#include "shardlearn/comm.h"
#include "shardlearn/data.h"

/* Deterministic pseudo-random value in [-4, 4] for (row, col), the same on any rank. */
static inline double synth_cell(int i, int j) {
    unsigned h = (unsigned)(i * 7919 + j * 104729 + 13);
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return ((double)(h % 2001) - 1000.0) / 250.0;
}

/* Label: a noisy linear rule, so the optimum is finite and not trivial. */
static inline double synth_label(int i, int d) {
    double m = 0.0;
    for (int j = 0; j < d; j++)
        if (synth_cell(i, j) > 0.5 && j != 3) m += (j % 3 == 0 ? 0.4 : -0.2) * synth_cell(i, j);
    return m + synth_cell(i, 99) > 0 ? 1.0 : -1.0;
}

static inline void synth_shard(struct sl_shard *s, int n_global, int d, int dense,
                               struct sl_comm *c) {
    memset(s, 0, sizeof *s);
    s->dense = dense;
    s->n_features = d;
    s->n_rows_global = n_global;
    int64_t n = 0;
    for (int i = c->rank; i < n_global; i += c->size)
        n++;
    s->n_rows = n;
    s->y = calloc((size_t)n + 1, sizeof(double));
    s->values = calloc((size_t)(n * d) + 1, sizeof(double));
    if (!dense) {
        s->indptr = calloc((size_t)n + 1, sizeof(int64_t));
        s->indices = calloc((size_t)(n * d) + 1, sizeof(int32_t));
    }
    int64_t r = 0, k = 0;
    for (int i = c->rank; i < n_global; i += c->size, r++) {
        s->y[r] = synth_label(i, d);
        for (int j = 0; j < d; j++) {
            double v = synth_cell(i, j);
            if (dense) {
                s->values[r * d + j] = j == 3 ? 0.0 : v;
            } else if (j != 3 && v > 0.5) {
                s->indices[k] = j;
                s->values[k++] = v;
            }
        }
        if (!dense) s->indptr[r + 1] = k;
    }
    s->nnz = dense ? n * d : k;
    s->nnz_global = s->nnz;
    sl_comm_sum_i64(c, &s->nnz_global, 1);
}

static inline void synth_free(struct sl_shard *s) {
    free(s->y);
    free(s->values);
    free(s->indptr);
    free(s->indices);
    memset(s, 0, sizeof *s);
}

#endif
