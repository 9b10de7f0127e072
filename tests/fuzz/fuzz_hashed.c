/* fuzz_hashed.c - the hashed-categorical line parser (sl_parse_hashed,
 * src/data/hashed.c) on one rank, over the whole file.
 *
 * Input: one option byte, then the file.
 *   bits 0-1  the spec: criteo preset with B = 3; criteo with B = 20; csv
 *             with a header "y,a,b,c" (a, c categorical, b numeric), B = 2;
 *             tsv without a header, 3 columns, C2 categorical, B = 5
 *   bits 2-3  read buffer: as sl_range_open leaves it, or 1, 7 or 64 bytes
 * Checks beyond "no crash": every line is counted; on success the shard is
 * CSR with one row per non-blank line (but the header), labels -1/+1,
 * indices strictly increasing within a row and below d = 2^B + numeric
 * columns, values finite and non-zero, hashed values whole counts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/reader.h"
#include "fuzz_util.h"

static const size_t CAPS[4] = {0, 1, 7, 64};

FUZZ_QUIET_INITIALIZE

static void spec_of(struct sl_hash_spec *sp, unsigned which) {
    if (which < 2) {
        sl_hash_spec_criteo(sp, which == 0 ? 3 : 20);
        return;
    }
    static const char *const csv[] = {"y", "a", "b", "c"}, *const tsv[] = {"C1", "C2", "C3"};
    const int n = which == 2 ? 4 : 3;
    memset(sp, 0, sizeof *sp);
    strcpy(sp->format, which == 2 ? "csv" : "tsv");
    sp->delim = which == 2 ? ',' : '\t';
    sp->header = which == 2;
    sp->hash_bits = which == 2 ? 2 : 5;
    sp->n_cols = n;
    sp->names = calloc((size_t)n, sizeof *sp->names);
    sp->kind = calloc((size_t)n, 1);
    FUZZ_CHECK(sp->names && sp->kind, "out of memory");
    for (int j = 0; j < n; j++) {
        sp->names[j] = strdup(which == 2 ? csv[j] : tsv[j]);
        FUZZ_CHECK(sp->names[j] != NULL, "out of memory");
        sp->kind[j] = j == 0                           ? SL_COL_LABEL
                      : (which == 2 ? j != 2 : j == 1) ? SL_COL_CATEGORICAL
                                                       : SL_COL_NUMERIC;
    }
    FUZZ_CHECK(sl_hash_spec_check(sp) == NULL, "spec: %s", sl_hash_spec_check(sp));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const unsigned cfg = data[0];
    data++, size--;
    struct sl_hash_spec sp;
    spec_of(&sp, cfg & 3);
    const struct sl_load_opts o = {.format = SL_FORMAT_CSV, .hash = &sp};
    const int64_t d = sl_hash_n_features(&sp), range = sl_hash_range(&sp);
    struct sl_shard s;
    struct sl_load_state ls;
    fuzz_parse_file(data, size, "data.txt", CAPS[(cfg >> 2) & 3], sl_parse_hashed, &o, &s, &ls);
    FUZZ_CHECK(s.dense == 0, "dense");
    if (ls.status == SL_OK) {
        const int64_t rows = fuzz_row_lines(data, size, 0);
        FUZZ_CHECK(s.n_rows == rows || (sp.header && s.n_rows == rows - 1),
                   "%lld rows, %lld non-blank lines", (long long)s.n_rows, (long long)rows);
        FUZZ_CHECK(s.indptr[0] == 0 && s.indptr[s.n_rows] == s.nnz, "indptr ends");
        for (int64_t i = 0; i < s.n_rows; i++) {
            FUZZ_CHECK(s.y[i] == 1.0 || s.y[i] == -1.0, "row %lld label %g", (long long)i, s.y[i]);
            for (int64_t k = s.indptr[i]; k < s.indptr[i + 1]; k++) {
                const int32_t j = s.indices[k];
                const double v = s.values[k];
                FUZZ_CHECK(j >= 0 && j < d, "row %lld index %d of %lld", (long long)i, j,
                           (long long)d);
                FUZZ_CHECK(k == s.indptr[i] || s.indices[k - 1] < j, "row %lld: %d not increasing",
                           (long long)i, j);
                FUZZ_CHECK(isfinite(v) && v != 0, "row %lld value %g", (long long)i, v);
                FUZZ_CHECK(j >= range || (v >= 1 && v == floor(v)), "hashed value %g", v);
            }
        }
    }
    fuzz_shard_free(&s);
    sl_hash_spec_free(&sp);
    return 0;
}
