/* test_util.h - what every C test shares: a CHECK that counts failures and
 * says where, and the summary that ends a multi-rank test (PASS/FAIL on rank
 * 0, the same exit status on every rank). */
#ifndef SHARDLEARN_TEST_UTIL_H
#define SHARDLEARN_TEST_UTIL_H

#include <mpi.h>
#include <stdio.h>

#include "shardlearn/log.h"

static int failures = 0;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "[rank %d] FAIL %s:%d: ", sl_log_rank(), __FILE__, __LINE__);          \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* A number and what it should be, for CHECK messages. */
#define CHECK_NUM(ok, what, got, want)                                                             \
    CHECK(ok, "%s: got %.17g want %.17g", what, (double)(got), (double)(want))

/* Collective: sums the failures over ranks, prints the verdict on rank 0,
 * finalises MPI and returns the exit status. */
static inline int test_finish(int rank) {
    int total = 0;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("%s (%d failures)\n", total ? "FAIL" : "PASS", total);
    MPI_Finalize();
    return total ? 1 : 0;
}

#endif
