/* main.c - the shardlearn executable: starts MPI, dispatches the subcommand,
 * and is the only place that decides the exit status. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "shardlearn/comm.h"
#include "shardlearn/log.h"
#include "shardlearn/version.h"

static const char *const USAGE =
    "shardlearn " SL_VERSION_STRING " - L2-regularised logistic regression across MPI ranks\n"
    "\n"
    "usage:\n"
    "  mpirun -np N shardlearn train --data FILE [options]     fit a model\n"
    "  mpirun -np N shardlearn predict --model M --data D [--out F] [--proba]\n"
    "  mpirun -np N shardlearn eval --model M --data D [--metrics-out F]\n"
    "  mpirun -np N shardlearn convert --data FILE --out DIR  binary cache of the parsed data\n"
    "  shardlearn mlflow-sync DIR [--tracking-uri URI]        deliver a run journal to MLflow\n"
    "  shardlearn gate --baseline SRC --candidate SRC --rule R...   regression check for CI\n"
    "  shardlearn serve --model SOURCE [--port N]    predictions over HTTP (Vertex AI, MLflow)\n"
    "  shardlearn --version\n"
    "\n"
    "`shardlearn COMMAND --help` lists every option of a command.";

int main(int argc, char **argv) {
    /* serve is one process: started without mpirun, Open MPI's singleton
     * would fork a support daemon (orted) for spawning it never does, and
     * a container image would need it installed. */
    if (argc > 1 && strcmp(argv[1], "serve") == 0)
        setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
    /* FUNNELED: the tracking sender thread never calls MPI. */
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    struct sl_comm comm;
    sl_comm_init(&comm, MPI_COMM_WORLD);
    sl_install_signal_handlers();

    int code;
    const char *cmd = argc > 1 ? argv[1] : NULL;
    if (!cmd || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (comm.rank == 0) puts(USAGE);
        code = cmd ? SL_EXIT_OK : SL_EXIT_USAGE;
    } else if (strcmp(cmd, "--version") == 0) {
        if (comm.rank == 0) puts("shardlearn " SL_VERSION_STRING);
        code = SL_EXIT_OK;
    } else if (strcmp(cmd, "train") == 0) {
        code = sl_cmd_train(argc, argv, &comm);
    } else if (strcmp(cmd, "predict") == 0) {
        code = sl_cmd_predict(argc, argv, &comm, 0);
    } else if (strcmp(cmd, "eval") == 0) {
        code = sl_cmd_predict(argc, argv, &comm, 1);
    } else if (strcmp(cmd, "convert") == 0) {
        code = sl_cmd_convert(argc, argv, &comm);
    } else if (strcmp(cmd, "mlflow-sync") == 0) {
        code = sl_cmd_sync(argc, argv, &comm);
    } else if (strcmp(cmd, "gate") == 0) {
        code = sl_cmd_gate(argc, argv, &comm);
    } else if (strcmp(cmd, "serve") == 0) {
        code = sl_cmd_serve(argc, argv, &comm);
    } else {
        if (comm.rank == 0) sl_error("unknown command '%s' (see shardlearn --help)", cmd);
        code = SL_EXIT_USAGE;
    }
    sl_comm_free(&comm);
    MPI_Finalize();
    return code;
}
