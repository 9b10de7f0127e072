/* sysmetrics.c - the system metrics monitor of sysmetrics.h: samples of
 * /proc/self and of the comm's counters, taken after a collective once rank
 * 0 says the interval has passed, gathered to rank 0. */
#include "shardlearn/sysmetrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "shardlearn/clock.h"
#include "shardlearn/status.h"

struct sl_sysmon {
    struct sl_comm *c;
    int enabled;
    double interval; /* seconds; rank 0's */
    sl_sysmon_fn fn; /* rank 0 */
    void *ctx;
    int64_t step;              /* of the next sample */
    double last_sample;        /* rank 0: sl_wtime() of the last sample */
    double time_at_check;      /* rank 0: sl_wtime() of the last check */
    int64_t calls_at_check;    /* c->total.calls then (the same on every rank) */
    double cpu_s, wall_s;      /* this process's CPU and wall clocks at its last sample */
    double overhead;           /* this rank's seconds in the monitor */
    struct sl_sys_sample *all; /* rank 0: (size) the last gather */
};

static double cpu_seconds(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Seconds since this process started (/proc/self/stat field 22 against
 * /proc/uptime), 0 when unknown: the first sample's CPU is over the
 * process's life so far. */
static double process_age(void) {
    double up = 0.0;
    unsigned long long start = 0;
    FILE *f = fopen("/proc/uptime", "r");
    if (!f) return 0.0;
    int ok = fscanf(f, "%lf", &up) == 1;
    fclose(f);
    char buf[1024];
    f = fopen("/proc/self/stat", "r");
    if (!f) return 0.0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    /* After ") ": fields 3 (state) to 22 (starttime), 20 of them. */
    for (int field = 3; ok && p && field <= 22; field++) {
        p = strchr(p + 1, ' ');
        if (p && field == 22) ok = sscanf(p + 1, "%llu", &start) == 1;
    }
    const long hz = sysconf(_SC_CLK_TCK);
    if (!ok || !p || hz <= 0) return 0.0;
    const double age = up - (double)start / (double)hz;
    return age > 0 ? age : 0.0;
}

/* VmRSS and VmHWM of /proc/self/status in megabytes; getrusage's peak for
 * both when there is no /proc. */
static void memory(double *rss, double *peak) {
    *rss = *peak = -1.0;
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        long long kb = 0;
        if (sscanf(line, "VmRSS: %lld kB", &kb) == 1) *rss = (double)kb * 1024.0 / 1e6;
        if (sscanf(line, "VmHWM: %lld kB", &kb) == 1) *peak = (double)kb * 1024.0 / 1e6;
    }
    if (f) fclose(f);
    if (*rss < 0 || *peak < 0) {
        struct rusage ru;
        double mx = getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss * 1024.0 / 1e6 : 0.0;
        if (*rss < 0) *rss = mx;
        if (*peak < 0) *peak = mx;
    }
}

void sl_sys_sample_local(const struct sl_comm *c, double *cpu_s, double *wall_s,
                         struct sl_sys_sample *out) {
    const double cpu = cpu_seconds(), wall = sl_wtime();
    const double dt = wall - *wall_s;
    memory(&out->rss_megabytes, &out->peak_rss_megabytes);
    out->cpu_percent = dt > 1e-3 ? 100.0 * (cpu - *cpu_s) / dt : 0.0;
    out->collective_seconds = c->total.seconds;
    out->collective_megabytes = c->total.bytes / 1e6;
    *cpu_s = cpu;
    *wall_s = wall;
}

/* Collective, quiet: every rank's sample to rank 0, which passes it on. */
static void sample(struct sl_sysmon *m, int report) {
    struct sl_sys_sample mine;
    sl_sys_sample_local(m->c, &m->cpu_s, &m->wall_s, &mine);
    double v[SL_SYS_FIELDS] = {mine.rss_megabytes, mine.peak_rss_megabytes, mine.cpu_percent,
                               mine.collective_seconds, mine.collective_megabytes};
    double *all = m->c->rank == 0 ? sl_malloc(sizeof v * (size_t)m->c->size) : NULL;
    sl_comm_gather_fixed_f64(m->c, v, SL_SYS_FIELDS, all, 0);
    if (m->c->rank == 0) {
        for (int r = 0; r < m->c->size; r++) {
            const double *x = all + (size_t)r * SL_SYS_FIELDS;
            m->all[r] = (struct sl_sys_sample){.rss_megabytes = x[0],
                                               .peak_rss_megabytes = x[1],
                                               .cpu_percent = x[2],
                                               .collective_seconds = x[3],
                                               .collective_megabytes = x[4]};
        }
        m->last_sample = sl_wtime();
        if (report && m->fn) m->fn(m->all, m->c->size, m->step, sl_now_ms(), m->ctx);
        free(all);
    }
    m->step++;
}

/* The hook (comm.h): rank 0 says whether a sample is due and after how
 * many more collectives to ask again, aiming halfway to the next due time
 * at the rate since the last check, at most twice as many as then. */
static void check(struct sl_comm *c, void *ctx) {
    struct sl_sysmon *m = ctx;
    const double t0 = sl_wtime();
    int64_t msg[2] = {0, 1}; /* due, collectives until the next check */
    if (c->rank == 0) {
        const double since = t0 - m->last_sample, dt = t0 - m->time_at_check;
        const int64_t calls = c->total.calls - m->calls_at_check;
        msg[0] = since >= m->interval;
        const double left = msg[0] ? m->interval : m->interval - since;
        const double est = dt > 0 ? 0.5 * left * (double)calls / dt : 1.0;
        const double cap = 2.0 * (double)(calls > 0 ? calls : 1);
        msg[1] = est < 1.0 ? 1 : est > cap ? (int64_t)cap : (int64_t)est;
        m->time_at_check = t0;
    }
    sl_comm_bcast(c, msg, sizeof msg, 0);
    m->calls_at_check = c->total.calls;
    c->hook_at = c->total.calls + msg[1];
    if (msg[0]) sample(m, 1);
    m->overhead += sl_wtime() - t0;
}

struct sl_sysmon *sl_sysmon_start(struct sl_comm *c, int enabled, double interval_s,
                                  sl_sysmon_fn fn, void *ctx) {
    SL_ASSERT(c->hook == NULL);
    const double t0 = sl_wtime();
    struct sl_sysmon *m = sl_calloc(1, sizeof *m);
    m->c = c;
    m->fn = fn;
    m->ctx = ctx;
    if (c->rank == 0) m->all = sl_calloc((size_t)c->size, sizeof *m->all);
    double cfg[2] = {enabled ? 1.0 : 0.0, interval_s};
    const int was_quiet = c->quiet;
    c->quiet = 1;
    sl_comm_bcast(c, cfg, sizeof cfg, 0);
    m->enabled = cfg[0] > 0;
    m->interval = cfg[1];
    /* The first sample's CPU is over the process's life so far. */
    const double age = process_age();
    m->cpu_s = age > 0 ? 0.0 : cpu_seconds();
    m->wall_s = t0 - age;
    if (m->enabled) sample(m, 1);
    c->quiet = was_quiet;
    m->time_at_check = m->last_sample = sl_wtime();
    m->calls_at_check = c->total.calls;
    if (m->enabled) {
        c->hook_at = c->total.calls + 1;
        c->hook_ctx = m;
        c->hook = check;
    }
    m->overhead = sl_wtime() - t0;
    return m;
}

void sl_sysmon_stop(struct sl_sysmon *m, struct sl_sys_sample *last, double *overhead_s) {
    if (!m) return;
    struct sl_comm *c = m->c;
    const double t0 = sl_wtime();
    c->hook = NULL;
    c->hook_ctx = NULL;
    const int was_quiet = c->quiet;
    c->quiet = 1;
    sample(m, m->enabled);
    c->quiet = was_quiet;
    if (last && c->rank == 0) memcpy(last, m->all, sizeof *last * (size_t)c->size);
    if (overhead_s) *overhead_s = m->overhead + (sl_wtime() - t0);
    free(m->all);
    free(m);
}
