/* embed.c - a C program that trains a model through the shardlearn library:
 * the ranks below RANKS (all when RANKS is 0 or absent) form a
 * sub-communicator, load their shards of DATA and call sl_train on it; the
 * other ranks are free for other work. Prints the final objective.
 *
 *   mpirun -np 3 ./embed train.svm 2 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include <shardlearn/shardlearn.h>

static int train_on(MPI_Comm sub, const char *path) {
    struct sl_comm comm;
    sl_comm_init(&comm, sub);
    struct sl_err err = {""};
    struct sl_load_opts lo = {.format = SL_FORMAT_AUTO};
    struct sl_shard shard;
    enum sl_status st = sl_shard_load(&shard, path, &lo, &comm, &err);
    if (st == SL_OK) {
        struct sl_train_params p;
        sl_train_params_init(&p);
        p.l2 = 1e-3;
        p.optim.tol = 1e-10;
        struct sl_model model;
        struct sl_train_report report;
        st = sl_train(&comm, &shard, &p, &model, &report, &err);
        if (st == SL_OK && comm.rank == 0)
            printf("objective %.17g after %lld iterations on %d ranks (shardlearn %s)\n",
                   model.objective, (long long)report.result.iterations, comm.size,
                   SL_VERSION_STRING);
        if (st == SL_OK) sl_model_free(&model);
        sl_train_report_free(&report);
        sl_shard_free(&shard);
    }
    if (st != SL_OK && err.msg[0]) fprintf(stderr, "embed: %s (%s)\n", err.msg, sl_status_str(st));
    return st == SL_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank = 0, code = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const int ranks = argc > 2 ? atoi(argv[2]) : 0;
    MPI_Comm sub;
    MPI_Comm_split(MPI_COMM_WORLD, ranks > 0 && rank >= ranks ? MPI_UNDEFINED : 0, rank, &sub);
    if (argc < 2) {
        if (rank == 0) fprintf(stderr, "usage: embed DATA [RANKS]\n");
        code = 2;
    } else if (sub != MPI_COMM_NULL) {
        code = train_on(sub, argv[1]);
    }
    if (sub != MPI_COMM_NULL) MPI_Comm_free(&sub);
    MPI_Finalize();
    return code;
}
