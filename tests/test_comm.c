/* test_comm.c - the communicator's counters (every collective's calls and
 * payload bytes, the same call count on every rank), its hook, and the
 * system metrics monitor built on them (sysmetrics.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shardlearn/clock.h"
#include "shardlearn/comm.h"
#include "shardlearn/sysmetrics.h"
#include "test_util.h"

/* The payload of each kind of collective. */
static void counters(struct sl_comm *c) {
    const int p = c->size;
    const struct sl_comm_stats s0 = c->total;
    double buf[1000];
    for (int i = 0; i < 1000; i++)
        buf[i] = i;
    sl_comm_sum_f64(c, buf, 1000);
    CHECK_NUM(c->total.bytes - s0.bytes == 8000.0, "allreduce of 1000 doubles: bytes",
              c->total.bytes - s0.bytes, 8000);
    CHECK_NUM(c->total.calls - s0.calls == 1, "allreduce: calls", c->total.calls - s0.calls, 1);
    CHECK(buf[10] == 10.0 * p, "allreduce sums: %g", buf[10]);
    int64_t k[3] = {1, 2, 3};
    sl_comm_max_i64(c, k, 3);
    CHECK_NUM(c->total.bytes - s0.bytes == 8024.0, "then a max of 3 int64",
              c->total.bytes - s0.bytes, 8024);
    /* allgather: every rank receives the whole, here 2 doubles per rank. */
    int64_t *counts = calloc((size_t)p, sizeof *counts);
    double *out = calloc((size_t)(4 * p), sizeof *out); /* (4 p): the gather below */
    for (int r = 0; r < p; r++)
        counts[r] = 2;
    const double before = c->total.bytes;
    sl_comm_allgather_f64(c, buf, out, counts);
    const double want = p > 1 ? 16.0 * p : 0.0; /* one rank calls no MPI */
    CHECK_NUM(c->total.bytes - before == want, "allgather of 2 doubles a rank",
              c->total.bytes - before, want);
    char msg[100] = {0};
    const double b2 = c->total.bytes;
    sl_comm_bcast(c, msg, sizeof msg, 0);
    CHECK_NUM(c->total.bytes - b2 == 100.0, "bcast of 100 bytes", c->total.bytes - b2, 100);
    const double b3 = c->total.bytes;
    double v[4] = {1, 2, 3, 4};
    sl_comm_gather_fixed_f64(c, v, 4, out, 0);
    const double g = c->rank == 0 ? 32.0 * p : 32.0;
    CHECK_NUM(c->total.bytes - b3 == g, "gather of 4 doubles", c->total.bytes - b3, g);
    CHECK(c->total.seconds >= 0 && c->total.seconds < 60, "seconds %g", c->total.seconds);
    /* The call counts agree across ranks: the hook relies on it. */
    int64_t all[64];
    if (p <= 64) {
        sl_comm_allgather_i64(c, c->total.calls - 1, all);
        for (int r = 0; r < p; r++)
            CHECK(all[r] == all[0], "rank %d made %lld collectives, rank 0 %lld", r,
                  (long long)all[r], (long long)all[0]);
    }
    free(counts);
    free(out);
}

struct hooked {
    int fired;
    int64_t at;
};

/* Runs a collective of its own: it must not count or hook again. */
static void hook(struct sl_comm *c, void *ctx) {
    struct hooked *h = ctx;
    h->fired++;
    h->at = c->total.calls;
    double x = 1.0;
    sl_comm_sum_f64(c, &x, 1);
    CHECK(x == c->size, "a collective inside the hook: %g", x);
    c->hook_at = INT64_MAX;
}

static void hooks(struct sl_comm *c) {
    struct hooked h = {0, 0};
    c->hook = hook;
    c->hook_ctx = &h;
    c->hook_at = c->total.calls + 3;
    const int64_t calls0 = c->total.calls;
    const double bytes0 = c->total.bytes;
    for (int i = 0; i < 5; i++) {
        int64_t one = 1;
        sl_comm_sum_i64(c, &one, 1);
    }
    c->hook = NULL;
    CHECK(h.fired == 1 && h.at == calls0 + 3, "hook fired %d time(s), at call %lld (want %lld)",
          h.fired, (long long)h.at, (long long)(calls0 + 3));
    CHECK_NUM(c->total.calls - calls0 == 5, "calls around the hook", c->total.calls - calls0, 5);
    CHECK_NUM(c->total.bytes - bytes0 == 40.0, "bytes around the hook", c->total.bytes - bytes0,
              40);
}

struct seen {
    int n;
    int64_t last_step;
    double last_mb[64];
    int bad;
};

static void on_sample(const struct sl_sys_sample *all, int size, int64_t step, int64_t ts_ms,
                      void *ctx) {
    struct seen *s = ctx;
    if (step != s->last_step + 1 || ts_ms <= 0) s->bad++;
    for (int r = 0; r < size && r < 64; r++) {
        const struct sl_sys_sample *x = &all[r];
        if (!(x->rss_megabytes > 1 && x->rss_megabytes < 24000 &&
              x->peak_rss_megabytes >= x->rss_megabytes && x->cpu_percent >= 0 &&
              x->collective_seconds >= 0 && x->collective_megabytes >= s->last_mb[r]))
            s->bad++;
        s->last_mb[r] = x->collective_megabytes;
    }
    s->last_step = step;
    s->n++;
}

static void sleep_ms(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Samples every 50 ms (rank 0's clock) while the ranks meet in collectives
 * for 0.4 s; steps count up from 0; the monitor's own collectives are not
 * counted. */
static void monitor(struct sl_comm *c) {
    struct seen s = {.n = 0, .last_step = -1, .bad = 0};
    struct sl_sysmon *m = sl_sysmon_start(c, 1, 0.05, on_sample, &s);
    const double t0 = sl_wtime();
    int64_t go = 1;
    while (go) {
        double x[16] = {0};
        sl_comm_sum_f64(c, x, 16);
        sleep_ms(2);
        go = c->rank == 0 ? sl_wtime() - t0 < 0.4 : 0;
        sl_comm_bcast(c, &go, sizeof go, 0);
    }
    struct sl_sys_sample *last = calloc((size_t)c->size, sizeof *last);
    const double bytes = c->total.bytes;
    sl_sysmon_stop(m, last, NULL);
    CHECK(c->hook == NULL, "the hook is left set");
    CHECK_NUM(c->total.bytes == bytes, "bytes of the monitor's collectives", c->total.bytes - bytes,
              0);
    if (c->rank == 0) {
        CHECK(s.n >= 4 && s.n <= 12, "%d samples in 0.4 s at 50 ms", s.n);
        CHECK(s.bad == 0, "%d implausible sample values", s.bad);
        CHECK_NUM(last[0].collective_megabytes == bytes / 1e6, "last sample's megabytes",
                  last[0].collective_megabytes, bytes / 1e6);
    }
    /* Off on rank 0: nothing reported, not even at the end. */
    struct seen off = {.n = 0, .last_step = -1, .bad = 0};
    m = sl_sysmon_start(c, c->rank != 0, 0.05, on_sample, &off);
    CHECK(c->hook == NULL, "a monitor that is off sets the hook");
    sl_sysmon_stop(m, last, NULL);
    CHECK(off.n == 0, "a monitor that is off reported %d samples", off.n);
    if (c->rank == 0) CHECK(last[0].peak_rss_megabytes > 1, "the last sample when off");
    free(last);
}

/* Node-shared sums and gathers (comm.h): exact on integers, for sizes that
 * grow the window, many times over (the two halves in turn); on when the
 * ranks share a node unless SL_SHM_REDUCE=0. */
static void shared(struct sl_comm *c) {
    const char *e = getenv("SL_SHM_REDUCE");
    const int want = c->size > 1 && !(e && strcmp(e, "0") == 0);
    for (int64_t n = SL_COMM_SHM_MIN; n <= 100000; n *= 7) {
        double *v = malloc(sizeof(double) * (size_t)n), *all = malloc(sizeof(double) * (size_t)n);
        int64_t *counts = malloc(sizeof(int64_t) * (size_t)c->size), lo = 0;
        for (int r = 0; r < c->size; r++) {
            counts[r] = n / c->size + (r < n % c->size ? 1 : 0);
            if (r < c->rank) lo += counts[r];
        }
        for (int rep = 0; rep < 5; rep++) {
            for (int64_t i = 0; i < n; i++)
                v[i] = (double)((i + rep) % 1000) * (c->rank + 1);
            sl_comm_sum_f64(c, v, (size_t)n);
            const double f = (double)c->size * (c->size + 1) / 2;
            int bad = 0;
            for (int64_t i = 0; i < n; i++)
                bad += v[i] != (double)((i + rep) % 1000) * f;
            CHECK(bad == 0, "sum of %lld values (round %d): %d wrong", (long long)n, rep, bad);
            for (int64_t i = 0; i < counts[c->rank]; i++)
                v[i] = (double)(lo + i) + rep;
            sl_comm_allgather_f64(c, v, all, counts);
            bad = 0;
            for (int64_t i = 0; i < n; i++)
                bad += all[i] != (double)i + rep;
            CHECK(bad == 0, "allgather of %lld values (round %d): %d wrong", (long long)n, rep,
                  bad);
        }
        free(v), free(all), free(counts);
    }
    CHECK(sl_comm_shm_active(c) == want, "shared reductions %d, want %d", sl_comm_shm_active(c),
          want);
    sl_comm_free(c);
    CHECK(sl_comm_shm_active(c) == -1, "after sl_comm_free: %d", sl_comm_shm_active(c));
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    struct sl_comm c;
    sl_comm_init(&c, MPI_COMM_WORLD);
    counters(&c);
    hooks(&c);
    monitor(&c);
    shared(&c);
    return test_finish(c.rank);
}
