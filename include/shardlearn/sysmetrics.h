/* sysmetrics.h - system metrics of every rank, sampled at a fixed minimum
 * interval and delivered on rank 0: resident memory, CPU use, and the time
 * and bytes of the collectives (the numbers MLflow's System metrics tab
 * shows, per rank).
 *
 * No thread samples in the background: only the thread that calls MPI may
 * (MPI_THREAD_FUNNELED), and only rank 0 reports. So the monitor samples
 * where every rank already is at the same point - right after a collective
 * (comm.h's hook) - once rank 0's clock says the interval has passed. Rank 0
 * tells the others in a broadcast of two numbers, and to keep even that off
 * most collectives it also says after how many more collectives to ask
 * again (from the rate so far, at most doubling each time); when due, each
 * rank's sample is gathered to rank 0 (five doubles). So the interval is a
 * minimum: a sample waits for the next collective, and a stretch without
 * one (reading the data) shows up in the sample after it.
 *
 *   struct sl_sysmon *m = sl_sysmon_start(&comm, enabled, 10.0, on_sample, ctx);
 *   ... training: on_sample runs on rank 0 with every rank's numbers ...
 *   sl_sysmon_stop(m, &last);   // the final sample, also when not enabled
 */
#ifndef SHARDLEARN_SYSMETRICS_H
#define SHARDLEARN_SYSMETRICS_H

#include <stdint.h>

#include "shardlearn/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One rank's numbers at one sample. Megabytes are 10^6 bytes, as MLflow's. */
struct sl_sys_sample {
    double rss_megabytes;        /* resident memory now (VmRSS) */
    double peak_rss_megabytes;   /* the largest so far (VmHWM) */
    double cpu_percent;          /* process CPU time / wall time since the previous sample,
                                    all threads: up to 100 per busy core */
    double collective_seconds;   /* total.seconds of the comm (comm.h), cumulative */
    double collective_megabytes; /* total.bytes / 1e6, cumulative */
};
#define SL_SYS_FIELDS 5 /* doubles in a sample, in the order above */

/* Rank 0 only. all: (size) every rank's sample, in rank order. step: 0 at
 * the start, then 1, 2, ...; ts_ms: rank 0's wall clock (clock.h). */
typedef void (*sl_sysmon_fn)(const struct sl_sys_sample *all, int size, int64_t step, int64_t ts_ms,
                             void *ctx);

struct sl_sysmon; /* opaque */

/* Collective over c. Rank 0's enabled and interval_s count (they are
 * broadcast). Enabled: takes the first sample (step 0), passes it to fn and
 * samples from then on after collectives on c. Disabled: takes none until
 * sl_sysmon_stop. fn and ctx matter on rank 0 only. c must outlive the
 * monitor; only one monitor per comm. Free with sl_sysmon_stop. */
struct sl_sysmon *sl_sysmon_start(struct sl_comm *c, int enabled, double interval_s,
                                  sl_sysmon_fn fn, void *ctx);

/* Collective. Takes the last sample, passes it to fn when enabled, copies
 * it into last (rank 0, when not NULL: (size) samples), sets *overhead_s
 * (when not NULL) to this rank's seconds inside the monitor, and frees m.
 * NULL is a no-op. */
void sl_sysmon_stop(struct sl_sysmon *m, struct sl_sys_sample *last, double *overhead_s);

/* This process's numbers now; cpu over [since, now] of the process CPU
 * clock (*cpu_s, *wall_s are updated). Not collective. */
void sl_sys_sample_local(const struct sl_comm *c, double *cpu_s, double *wall_s,
                         struct sl_sys_sample *out);

#ifdef __cplusplus
}
#endif

#endif
