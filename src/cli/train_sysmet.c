/* train_sysmet.c - `shardlearn train`'s system metrics: their options'
 * defaults from MLflow's environment variables, and every rank's sample as
 * system/rank_<r>/<name> metrics in the journal, the way MLflow's own
 * client names a node's (system/<node_id>/<name>), with the sample number
 * as the step (a continued run's samples go on after its earlier ones). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "cli/train.h"
#include "shardlearn/clock.h"
#include "shardlearn/log.h"

/* 1 or 0 for MLflow's boolean spellings (true/false/1/0, any case), -1 else. */
static int mlflow_bool(const char *v) {
    if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0) return 1;
    if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0) return 0;
    return -1;
}

int train_sysmet_env(struct sl_comm *c, struct train_args *a) {
    struct sl_err err;
    sl_err_clear(&err);
    const char *on = getenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING");
    const char *iv = getenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL");
    if (on && *on) {
        int b = mlflow_bool(on);
        if (b < 0)
            sl_err_set(&err, SL_ERR_ARG,
                       "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING: '%.40s' is not true, false, 1 or 0",
                       on);
        else
            a->system_metrics = b;
    }
    if (iv && *iv && !err.msg[0]) {
        char *end = NULL;
        double x = strtod(iv, &end);
        if (*end || !(x >= 0.1 && x <= 1e9))
            sl_err_set(&err, SL_ERR_ARG,
                       "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL: '%.40s' is not a number of "
                       "seconds in [0.1, 1e9]",
                       iv);
        else
            a->system_metrics_interval = x;
    }
    /* The ranks of a job on several hosts need not see the same variables:
     * every rank exits alike, and the message says whose it was. */
    if (err.msg[0] && c->rank != 0) {
        char mine[sizeof err.msg];
        snprintf(mine, sizeof mine, "%s", err.msg);
        snprintf(err.msg, sizeof err.msg, "[rank %d] %s", c->rank, mine);
    }
    sl_share_error(c, &err);
    if (!err.msg[0]) return -1;
    if (c->rank == 0) sl_error("%s", err.msg);
    return SL_EXIT_USAGE;
}

static const char *const NAMES[SL_SYS_FIELDS] = {
    "process_memory_rss_megabytes", "process_memory_peak_megabytes",
    "process_cpu_utilization_percentage", "collective_time_seconds", "collective_megabytes"};

/* The monitor's callback on rank 0: SL_SYS_FIELDS metrics per rank. */
static void report(const struct sl_sys_sample *all, int size, int64_t step, int64_t ts_ms,
                   void *ctx) {
    struct train_progress *p = ctx;
    const double t0 = sl_wtime();
    for (int r = 0; r < size; r++) {
        const struct sl_sys_sample *s = &all[r];
        const double v[SL_SYS_FIELDS] = {s->rss_megabytes, s->peak_rss_megabytes, s->cpu_percent,
                                         s->collective_seconds, s->collective_megabytes};
        for (int k = 0; k < SL_SYS_FIELDS; k++) {
            char key[96];
            snprintf(key, sizeof key, "system/rank_%d/%s", r, NAMES[k]);
            sl_tracker_metric(p->tr, key, v[k], p->system_step0 + step, ts_ms);
        }
    }
    sl_tracker_commit(p->tr);
    p->track_seconds += sl_wtime() - t0;
}

struct sl_sysmon *train_sysmet_start(struct sl_comm *c, struct train_progress *p) {
    const int on = p->a->system_metrics && p->tr != NULL; /* rank 0's counts */
    return sl_sysmon_start(c, on, p->a->system_metrics_interval, report, p);
}

void train_sysmet_stop(struct sl_sysmon *m, const struct sl_comm *c, struct train_times *t) {
    if (c->rank == 0) {
        free(t->ranks);
        t->ranks = sl_calloc((size_t)c->size, sizeof *t->ranks);
    }
    sl_sysmon_stop(m, t->ranks, &t->sysmet);
}
