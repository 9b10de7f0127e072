/* fuzz_csv.c - the CSV line parser (sl_parse_csv) on one rank, over the
 * whole file.
 *
 * Input: one option byte, then the file.
 *   bits 2-3  read buffer: as sl_range_open leaves it, or 1, 7 or 64 bytes
 * Checks beyond "no crash": every line is counted; on success the matrix is
 * dense, n_rows x (ncols - 1) finite values with labels -1/+1, one row per
 * non-blank line but an optional header on line 1; on failure the bad line
 * is one of the file's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/reader.h"
#include "fuzz_util.h"

static const size_t CAPS[4] = {0, 1, 7, 64};

FUZZ_QUIET_INITIALIZE

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const unsigned cfg = data[0];
    data++, size--;

    const struct sl_load_opts o = {.format = SL_FORMAT_CSV};
    struct sl_shard s;
    struct sl_load_state ls;
    fuzz_parse_file(data, size, "data.csv", CAPS[(cfg >> 2) & 3], sl_parse_csv, &o, &s, &ls);
    FUZZ_CHECK(s.dense == 1, "not dense");
    if (ls.status == SL_OK) {
        const int64_t rows = fuzz_row_lines(data, size, 0);
        FUZZ_CHECK(s.n_rows == rows || s.n_rows == rows - 1, "%lld rows, %lld non-blank lines",
                   (long long)s.n_rows, (long long)rows);
        FUZZ_CHECK((s.n_rows == 0) == (ls.ncols == 0), "%lld rows, %lld columns",
                   (long long)s.n_rows, (long long)ls.ncols);
        const int64_t width = ls.ncols > 0 ? ls.ncols - 1 : 0;
        FUZZ_CHECK(s.nnz == s.n_rows * width, "nnz %lld", (long long)s.nnz);
        for (int64_t i = 0; i < s.n_rows; i++)
            FUZZ_CHECK(s.y[i] == 1.0 || s.y[i] == -1.0, "row %lld label %g", (long long)i, s.y[i]);
        for (int64_t k = 0; k < s.nnz; k++)
            FUZZ_CHECK(isfinite(s.values[k]), "value %lld: %g", (long long)k, s.values[k]);
    }
    fuzz_shard_free(&s);
    return 0;
}
