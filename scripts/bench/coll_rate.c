/* coll_rate.c - the time of one sum of a vector over the ranks
 * (sl_comm_sum_f64) and one allgather of its slices, with the ranks
 * lined up by a barrier before each, so waiting for a slower rank is not
 * counted: the collective's own cost. Median and best of REPS calls.
 * SL_SHM_REDUCE=0 measures MPI_Allreduce / MPI_Allgatherv (comm.h).
 *
 * Two forms of each: the copying sl_comm_sum_f64 / sl_comm_allgather_f64,
 * and the ones the objective uses (sl_comm_sum_end on values already in
 * sl_comm_sum_begin's buffer, and sl_comm_gather_view), without copies when
 * the node's window is on.
 *
 * usage: mpirun -np P sl_coll_rate N [REPS]
 * prints medians then minima, microseconds: "sum gather sum_end gather_view | sum gather
 * sum_end gather_view | shm" */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "shardlearn/clock.h"
#include "shardlearn/comm.h"
#include "shardlearn/status.h"

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    struct sl_comm c;
    sl_comm_init(&c, MPI_COMM_WORLD);
    const int64_t n = argc > 1 ? atoll(argv[1]) : 1 << 20;
    const int reps = argc > 2 ? atoi(argv[2]) : 200;
    double *v = sl_malloc(sizeof(double) * (size_t)n),
           *full = sl_malloc(sizeof(double) * (size_t)n);
    double *tm[4];
    for (int q = 0; q < 4; q++)
        tm[q] = sl_malloc(sizeof(double) * (size_t)reps);
    int64_t *counts = sl_malloc(sizeof(int64_t) * (size_t)c.size);
    for (int r = 0; r < c.size; r++)
        counts[r] = n / c.size + (r < n % c.size ? 1 : 0);
    double sink = 0.0;
    for (int k = -5; k < reps; k++) { /* 5 warm-up rounds */
        double t[4];
        for (int64_t i = 0; i < n; i++)
            v[i] = (double)(i % 7) + c.rank;
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = sl_wtime();
        sl_comm_sum_f64(&c, v, (size_t)n);
        t[0] = sl_wtime() - t0;
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = sl_wtime();
        sl_comm_allgather_f64(&c, v, full, counts);
        t[1] = sl_wtime() - t0;
        double *in = sl_comm_sum_begin(&c, (size_t)n);
        for (int64_t i = 0; i < n; i++)
            in[i] = (double)(i % 7) + c.rank;
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = sl_wtime();
        const double *sum = sl_comm_sum_end(&c, (size_t)n);
        t[2] = sl_wtime() - t0;
        sink += sum[n / 2 + c.rank];
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = sl_wtime();
        const double *all = sl_comm_gather_view(&c, v, counts);
        t[3] = sl_wtime() - t0;
        sink += all[n - 1];
        for (int q = 0; q < 4 && k >= 0; q++)
            tm[q][k] = t[q];
    }
    for (int q = 0; q < 4; q++)
        qsort(tm[q], (size_t)reps, sizeof(double), cmp);
    if (c.rank == 0) {
        for (int q = 0; q < 4; q++)
            printf("%.1f ", 1e6 * tm[q][reps / 2]);
        printf("| ");
        for (int q = 0; q < 4; q++)
            printf("%.1f ", 1e6 * tm[q][0]);
        printf("| %d%s\n", sl_comm_shm_active(&c), sink == 0.123 ? " " : "");
    }
    for (int q = 0; q < 4; q++)
        free(tm[q]);
    free(v), free(full), free(counts);
    sl_comm_free(&c);
    MPI_Finalize();
    return 0;
}
