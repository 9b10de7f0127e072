/* fuzz_libsvm.c - the LIBSVM line parser (sl_parse_libsvm) on one rank, over
 * the whole file, and the number parser against strtod.
 *
 * Input: one option byte, then the file.
 *   bit 0     --zero-based
 *   bit 1     --n-features 16
 *   bits 2-3  read buffer: as sl_range_open leaves it, or 1, 7 or 64 bytes
 * Checks beyond "no crash": every line is counted; on success the CSR arrays
 * are consistent (row pointers, strictly increasing indices below the
 * largest seen and below --n-features, finite values, labels -1/+1) and hold
 * one row per line that is neither blank nor a comment; on failure the bad
 * line is one of the file's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/reader.h"
#include "fuzz_util.h"

static const size_t CAPS[4] = {0, 1, 7, 64};

FUZZ_QUIET_INITIALIZE

static void check_csr(const struct sl_shard *s, const struct sl_load_opts *o,
                      const struct sl_load_state *ls) {
    FUZZ_CHECK(s->indptr && s->indptr[0] == 0, "indptr[0]");
    FUZZ_CHECK(s->indptr[s->n_rows] == s->nnz, "indptr[n] %lld, nnz %lld",
               (long long)s->indptr[s->n_rows], (long long)s->nnz);
    for (int64_t i = 0; i < s->n_rows; i++) {
        FUZZ_CHECK(s->y[i] == 1.0 || s->y[i] == -1.0, "row %lld label %g", (long long)i, s->y[i]);
        FUZZ_CHECK(s->indptr[i] <= s->indptr[i + 1], "row %lld indptr", (long long)i);
        for (int64_t k = s->indptr[i]; k < s->indptr[i + 1]; k++) {
            int32_t j = s->indices[k];
            FUZZ_CHECK(j >= 0 && j < ls->max_index, "row %lld index %d, max %lld", (long long)i, j,
                       (long long)ls->max_index);
            FUZZ_CHECK(k == s->indptr[i] || s->indices[k - 1] < j,
                       "row %lld indices not increasing", (long long)i);
            FUZZ_CHECK(o->n_features == 0 || j < o->n_features, "index %d beyond n_features", j);
            FUZZ_CHECK(isfinite(s->values[k]), "row %lld value %g", (long long)i, s->values[k]);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const unsigned cfg = data[0];
    data++, size--;
    fuzz_check_number(data, size);

    const struct sl_load_opts o = {
        .format = SL_FORMAT_LIBSVM, .zero_based = cfg & 1, .n_features = cfg & 2 ? 16 : 0};
    struct sl_shard s;
    struct sl_load_state ls;
    fuzz_parse_file(data, size, "data.svm", CAPS[(cfg >> 2) & 3], sl_parse_libsvm, &o, &s, &ls);
    if (ls.status == SL_OK) {
        check_csr(&s, &o, &ls);
        const int64_t rows = fuzz_row_lines(data, size, 1);
        FUZZ_CHECK(s.n_rows == rows, "%lld rows, the file has %lld", (long long)s.n_rows,
                   (long long)rows);
    }
    fuzz_shard_free(&s);
    return 0;
}
