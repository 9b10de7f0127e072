/* test_shards.c - the shards of all ranks together hold exactly the file's
 * rows, each once, in order: for files with fewer lines than ranks, long
 * lines that straddle the byte-range boundaries, comment and blank lines,
 * and no newline at the end. Run on 1, 2, 3 and 4 ranks. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shardlearn/data.h"
#include "test_util.h"

/* Row i of every file: its label, nonzero count and entries. */
static double row_label(int64_t i) {
    return i % 3 == 0 ? 1.0 : -1.0;
}
static int row_nnz(int64_t i) {
    return i % 97 == 5 ? 300 : (int)((i * 7) % 5);
}
static int row_index(int64_t i, int k) {
    return k * 10 + (int)(i % 10);
} /* 0-based */
static double row_value(int64_t i, int k) {
    return (double)i + 0.125 * k;
} /* exact */

static void write_file(const char *path, int64_t n, int trailing_newline) {
    FILE *f = fopen(path, "w");
    for (int64_t i = 0; i < n; i++) {
        if (i % 11 == 4) fputs("# a comment between rows\n\n", f);
        fprintf(f, "%s", row_label(i) > 0 ? "+1" : "-1");
        for (int k = 0; k < row_nnz(i); k++)
            fprintf(f, " %d:%.3f", row_index(i, k) + 1, row_value(i, k));
        if (i + 1 < n || trailing_newline) fputc('\n', f);
    }
    fclose(f);
}

static void check_file(struct sl_comm *c, const char *path, int64_t n) {
    struct sl_shard s;
    struct sl_err err;
    struct sl_load_opts o = {.format = SL_FORMAT_LIBSVM};
    if (sl_shard_load(&s, path, &o, c, &err) != SL_OK) {
        CHECK(0, "%s: %s", path, err.msg);
        return;
    }
    /* Row counts add up, and each rank's block starts where the last ended. */
    int64_t sum = s.n_rows;
    MPI_Allreduce(MPI_IN_PLACE, &sum, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    CHECK(sum == n && s.n_rows_global == n, "%s: %lld rows over ranks, want %lld", path,
          (long long)sum, (long long)n);
    int64_t next = 0;
    MPI_Exscan(&s.n_rows, &next, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (c->rank == 0) next = 0;
    CHECK(s.row_begin == next, "%s: row_begin %lld, want %lld", path, (long long)s.row_begin,
          (long long)next);
    for (int64_t r = 0; r < s.n_rows; r++) {
        int64_t i = s.row_begin + r;
        CHECK(s.y[r] == row_label(i), "%s: row %lld label", path, (long long)i);
        int64_t nz = s.indptr[r + 1] - s.indptr[r];
        CHECK(nz == row_nnz(i), "%s: row %lld has %lld values, want %d", path, (long long)i,
              (long long)nz, row_nnz(i));
        for (int k = 0; k < nz && k < row_nnz(i); k++) {
            int64_t at = s.indptr[r] + k;
            if (s.indices[at] != row_index(i, k) || s.values[at] != row_value(i, k)) {
                CHECK(0, "%s: row %lld entry %d", path, (long long)i, k);
                break;
            }
        }
    }
    sl_shard_free(&s);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    struct sl_comm c;
    sl_comm_init(&c, MPI_COMM_WORLD);
    char dir[64] = "/tmp/sl-test-shards-XXXXXX";
    if (c.rank == 0 && !mkdtemp(dir)) return 2;
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    const int64_t sizes[] = {1, 2, 3, 5, 17, 200, 3001};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        for (int nl = 0; nl <= 1; nl++) {
            char path[128];
            snprintf(path, sizeof path, "%s/rows%lld-%d.svm", dir, (long long)sizes[t], nl);
            if (c.rank == 0) write_file(path, sizes[t], nl);
            MPI_Barrier(MPI_COMM_WORLD);
            check_file(&c, path, sizes[t]);
        }
    }
    /* Every split point of a small file: byte ranges for 1..4 ranks land
     * anywhere inside its lines, so shift the rows by a growing prefix. */
    for (int pad = 0; pad < 40; pad++) {
        char path[128];
        snprintf(path, sizeof path, "%s/pad%d.svm", dir, pad);
        if (c.rank == 0) {
            FILE *f = fopen(path, "w");
            fprintf(f, "#%*s\n", pad, "");
            fclose(f);
            char body[128];
            snprintf(body, sizeof body, "%s/body.svm", dir);
            write_file(body, 9, 1);
            FILE *in = fopen(body, "r");
            f = fopen(path, "a");
            int ch;
            while ((ch = fgetc(in)) != EOF)
                fputc(ch, f);
            fclose(in);
            fclose(f);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        check_file(&c, path, 9);
    }
    if (c.rank == 0) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    sl_comm_free(&c); /* its reduction buffers (comm.h) */
    return test_finish(c.rank);
}
