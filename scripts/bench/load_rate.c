/* load_rate.c - how fast the readers load a data source: every rank runs
 * sl_shard_load on the same spec (a file, a directory, a glob, .gz/.zst
 * parts), then rank 0 prints one JSON line with the rows, the stored bytes
 * and each rank's load time. Built with the tests (tests/io.cmake) as
 * build/tests/sl_load_rate; scripts/bench/run_bench.py --only-sources runs it.
 *
 *   mpirun -np N sl_load_rate SPEC [REPEATS]     best of REPEATS loads (default 3) */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "shardlearn/comm.h"
#include "shardlearn/data.h"
#include "shardlearn/log.h"

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    struct sl_comm c;
    sl_comm_init(&c, MPI_COMM_WORLD);
    sl_log_init(c.rank);
    if (argc < 2) {
        if (c.rank == 0) fprintf(stderr, "usage: sl_load_rate SPEC [REPEATS]\n");
        MPI_Finalize();
        return 2;
    }
    int repeats = argc > 2 ? atoi(argv[2]) : 3;
    struct sl_load_opts o = {.format = SL_FORMAT_AUTO, .zero_based = 0, .n_features = 0};
    double best = -1.0;
    struct sl_shard s;
    int rc = 0;
    for (int i = 0; i < repeats && rc == 0; i++) {
        struct sl_err err;
        if (sl_shard_load(&s, argv[1], &o, &c, &err) != SL_OK) {
            if (err.msg[0]) fprintf(stderr, "%s\n", err.msg);
            rc = 1;
            break;
        }
        double t = s.load_seconds;
        MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (best < 0 || t < best) best = t;
        if (i + 1 < repeats) sl_shard_free(&s);
    }
    if (rc == 0) {
        if (c.rank == 0)
            printf("{\"ranks\": %d, \"rows\": %lld, \"stored_bytes\": %lld, "
                   "\"crc32\": \"%08x\", \"seconds\": %.6f}\n",
                   c.size, (long long)s.n_rows_global, (long long)s.file_bytes,
                   (unsigned)s.file_crc32, best);
        sl_shard_free(&s);
    }
    MPI_Finalize();
    return rc;
}
