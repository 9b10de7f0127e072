/* sync_cmd.c - `shardlearn mlflow-sync DIR`: deliver a run journal to an
 * MLflow server later (after an outage, or a run made without a server). */
#include <stdio.h>

#include "cli/cli.h"
#include "shardlearn/log.h"
#include "shardlearn/track.h"

int sl_cmd_sync(int argc, char **argv, struct sl_comm *c) {
    const char *uri = NULL, *dir = NULL;
    double timeout = 60.0;
    const struct sl_opt opts[] = {{.name = "tracking-uri",
                                   .kind = SL_ARG_STR,
                                   .dst = &uri,
                                   .metavar = "URI",
                                   .help = "MLflow server (default $MLFLOW_TRACKING_URI)"},
                                  {.name = "timeout",
                                   .kind = SL_ARG_F64,
                                   .dst = &timeout,
                                   .metavar = "S",
                                   .help = "give up after S seconds (default 60)",
                                   .min = 0,
                                   .max = 1e9},
                                  {.name = NULL}};
    struct sl_err err;
    sl_err_clear(&err);
    int help = 0, npos = 0;
    enum sl_status st = sl_opts_parse(opts, argc, argv, 2, &dir, 1, &npos, &help, &err);
    if (help) {
        if (c->rank == 0)
            sl_opts_usage(stdout, "usage: shardlearn mlflow-sync DIR [options]", opts);
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
