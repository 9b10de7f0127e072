/* main.c - the shardlearn executable: starts MPI, dispatches the subcommand,
 * and is the only place that decides the exit status. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shardlearn/log.h"
#include "shardlearn/track.h"

static const char *const USAGE =
    "shardlearn " SL_VERSION " - L2-regularised logistic regression across MPI ranks\n"
    "\n"
    "usage:\n"
    "  mpirun -np N shardlearn train --data FILE [options]     fit a model\n"
    "  mpirun -np N shardlearn predict --model M --data D [--out F] [--proba]\n"
    "  mpirun -np N shardlearn eval --model M --data D [--metrics-out F]\n"
    "  shardlearn mlflow-sync DIR [--tracking-uri URI]        deliver a run journal to MLflow\n"
    "  shardlearn --version\n"
    "\n"
    "`shardlearn COMMAND --help` lists every option of a command.";

static int cmd_sync(int argc, char **argv, struct sl_comm *c) {
    const char *uri = NULL, *dir = NULL;
    double timeout = 60.0;
    const struct sl_opt opts[] = {
        {"tracking-uri", SL_OPT_STR, &uri, "URI", "MLflow server (default $MLFLOW_TRACKING_URI)", 0, 0, NULL},
        {"timeout", SL_OPT_F64, &timeout, "S", "give up after S seconds (default 60)", 0, 1e9, NULL},
        {NULL, SL_OPT_FLAG, NULL, NULL, NULL, 0, 0, NULL}};
    struct sl_err err;
    sl_err_clear(&err);
    int help = 0, npos = 0;
    enum sl_status st = sl_opts_parse(opts, argc, argv, 2, &dir, 1, &npos, &help, &err);
    if (help) {
        if (c->rank == 0) sl_opts_usage(stdout, "usage: shardlearn mlflow-sync DIR [options]", opts);
        return SL_EXIT_OK;
    }
    if (!st && !dir) st = sl_err_set(&err, SL_ERR_ARG, "mlflow-sync needs a run directory");
    if (st) {
        if (c->rank == 0) sl_error("%s", err.msg);
        return SL_EXIT_USAGE;
    }
    if (c->rank != 0) return SL_EXIT_OK; /* one sender is enough */
    st = sl_mlflow_sync(dir, uri, timeout, &err);
    if (st) {
        sl_error("%s", err.msg);
        return SL_EXIT_FAIL;
    }
    return SL_EXIT_OK;
}

int main(int argc, char **argv) {
    /* FUNNELED: the tracking sender thread never calls MPI. */
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    struct sl_comm comm;
    sl_comm_init(&comm);
    sl_log_init(comm.rank);
    sl_install_signal_handlers();

    int code;
    const char *cmd = argc > 1 ? argv[1] : NULL;
    if (!cmd || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (comm.rank == 0) puts(USAGE);
        code = cmd ? SL_EXIT_OK : SL_EXIT_USAGE;
    } else if (strcmp(cmd, "--version") == 0) {
        if (comm.rank == 0) puts("shardlearn " SL_VERSION);
        code = SL_EXIT_OK;
    } else if (strcmp(cmd, "train") == 0) {
        code = sl_cmd_train(argc, argv, &comm);
    } else if (strcmp(cmd, "predict") == 0) {
        code = sl_cmd_predict(argc, argv, &comm, 0);
    } else if (strcmp(cmd, "eval") == 0) {
        code = sl_cmd_predict(argc, argv, &comm, 1);
    } else if (strcmp(cmd, "mlflow-sync") == 0) {
        code = cmd_sync(argc, argv, &comm);
    } else {
        if (comm.rank == 0) sl_error("unknown command '%s' (see shardlearn --help)", cmd);
        code = SL_EXIT_USAGE;
    }
    MPI_Finalize();
    return code;
}
