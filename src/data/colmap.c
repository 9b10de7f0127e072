/* colmap.c - the columns that occur in some row of some shard, numbered most
 * frequent first, and the map back to the file's numbering. */
#include <stdlib.h>
#include <string.h>

#include "data/colmap.h"

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void sl_colmap_build(struct sl_colmap *m, struct sl_shard *s, struct sl_comm *c) {
    memset(m, 0, sizeof *m);
    m->n_features = s->n_features;
    if (s->dense) {
        m->n_used = s->n_features;
        return;
    }
    const int64_t d = s->n_features;
    /* cnt: (d) nonzeros of each column summed over ranks - 8 MB at d = 2^20, once. */
    int64_t *cnt = sl_calloc((size_t)(d ? d : 1), sizeof(int64_t));
    for (int64_t k = 0; k < s->nnz; k++)
        cnt[s->indices[k]]++;
    sl_comm_sum_i64(c, cnt, (size_t)d);
    /* Most frequent first. Each nonzero reads and updates its column's
     * record at a random place in a d-long vector; with power-law column
     * frequencies a few columns take most nonzeros, and numbered first they
     * share a few cache lines instead of one line each spread over the whole
     * vector (measured: a pass 1.4x faster on the benchmark's data). The
     * order is the same on every rank and for every rank count: it comes
     * from the summed counts, ties by column. Sort keys, built in place over
     * cnt (slot n_used <= j is read before it is written): the count's
     * complement (clamped to 32 bits: past 4e9 a column is hot either way)
     * above the column. */
    uint64_t *key = (uint64_t *)cnt;
    int64_t n_used = 0;
    for (int64_t j = 0; j < d; j++) {
        if (cnt[j] == 0) continue;
        uint64_t n = cnt[j] > (int64_t)UINT32_MAX ? UINT32_MAX : (uint64_t)cnt[j];
        key[n_used++] = ((uint64_t)UINT32_MAX - n) << 32 | (uint64_t)j;
    }
    qsort(key, (size_t)n_used, sizeof *key, cmp_u64);
    m->n_used = n_used;
    m->cols = sl_malloc(sizeof(int32_t) * (size_t)(n_used ? n_used : 1));
    int32_t *newidx = sl_malloc(sizeof(int32_t) * (size_t)(d ? d : 1));
    for (int64_t j = 0; j < d; j++)
        newidx[j] = -1;
    for (int64_t r = 0; r < n_used; r++) {
        m->cols[r] = (int32_t)(key[r] & 0xffffffffu);
        newidx[m->cols[r]] = (int32_t)r;
    }
    free(cnt);
    for (int64_t k = 0; k < s->nnz; k++)
        s->indices[k] = newidx[s->indices[k]];
    free(newidx);
}

void sl_colmap_restore(const struct sl_colmap *m, struct sl_shard *s) {
    if (!m->cols || s->dense) return;
    for (int64_t k = 0; k < s->nnz; k++)
        s->indices[k] = m->cols[s->indices[k]];
}

void sl_colmap_free(struct sl_colmap *m) {
    free(m->cols);
    memset(m, 0, sizeof *m);
}

void sl_colmap_expand(const struct sl_colmap *m, const double *w, double *w_full) {
    if (!m->cols) {
        memcpy(w_full, w, sizeof(double) * (size_t)m->n_features);
        return;
    }
    memset(w_full, 0, sizeof(double) * (size_t)m->n_features);
    for (int64_t j = 0; j < m->n_used; j++)
        w_full[m->cols[j]] = w[j];
}
