/* metrics.c - Prometheus text format (version 0.0.4) for /metrics. */
#include "serve/metrics.h"

#include <stdio.h>
#include <string.h>

#include "serve/serve.h"

static const int STATUS[SL_N_STATUS - 1] = {200, 400, 404, 405, 408, 413, 415, 499, 500, 503};
/* Upper bounds in seconds: a linear model answers in tens of microseconds,
 * a large batch or a slow client in milliseconds to seconds. */
static const double BOUNDS[SL_N_BUCKETS - 1] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                0.0025,  0.005,  0.01,    0.025,  0.05,
                                                0.1,     0.25,   0.5,     1,      2.5};

void sl_serve_metrics_add(struct sl_serve_metrics *mt, enum sl_route r, int status, double seconds,
                          int64_t instances) {
    int s = 0;
    while (s < SL_N_STATUS - 1 && STATUS[s] != status)
        s++;
    int b = 0;
    while (b < SL_N_BUCKETS - 1 && seconds > BOUNDS[b])
        b++;
    atomic_fetch_add(&mt->requests[r][s], 1);
    atomic_fetch_add(&mt->latency[r][b], 1);
    atomic_fetch_add(&mt->latency_ns[r], (unsigned long long)(seconds * 1e9));
    if (instances > 0) atomic_fetch_add(&mt->instances, (unsigned long long)instances);
}

/* A label value: backslash, quote and newline escaped. */
static void label(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(f, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static void requests(const struct sl_serve_metrics *mt, FILE *f, const char *const names[]) {
    fputs("# HELP shardlearn_requests_total HTTP requests answered, by route and status.\n"
          "# TYPE shardlearn_requests_total counter\n",
          f);
    for (int r = 0; r < SL_N_ROUTES; r++)
        for (int s = 0; s < SL_N_STATUS; s++) {
            unsigned long long n = atomic_load(&mt->requests[r][s]);
            if (!n) continue;
            fputs("shardlearn_requests_total{route=\"", f);
            label(f, names[r]);
            if (s < SL_N_STATUS - 1)
                fprintf(f, "\",code=\"%d\"} %llu\n", STATUS[s], n);
            else
                fprintf(f, "\",code=\"other\"} %llu\n", n);
        }
}

static void latency(const struct sl_serve_metrics *mt, FILE *f, const char *const names[]) {
    fputs("# HELP shardlearn_request_duration_seconds Time from a request's headers to its "
          "answer, ready to send.\n"
          "# TYPE shardlearn_request_duration_seconds histogram\n",
          f);
    for (int r = 0; r < SL_N_ROUTES; r++) {
        unsigned long long cum = 0;
        for (int b = 0; b < SL_N_BUCKETS; b++)
            cum += atomic_load(&mt->latency[r][b]);
        if (!cum) continue;
        cum = 0;
        for (int b = 0; b < SL_N_BUCKETS; b++) {
            cum += atomic_load(&mt->latency[r][b]);
            fputs("shardlearn_request_duration_seconds_bucket{route=\"", f);
            label(f, names[r]);
            if (b < SL_N_BUCKETS - 1)
                fprintf(f, "\",le=\"%g\"} %llu\n", BOUNDS[b], cum);
            else
                fprintf(f, "\",le=\"+Inf\"} %llu\n", cum);
        }
        fputs("shardlearn_request_duration_seconds_sum{route=\"", f);
        label(f, names[r]);
        fprintf(f, "\"} %.9f\n", (double)atomic_load(&mt->latency_ns[r]) / 1e9);
        fputs("shardlearn_request_duration_seconds_count{route=\"", f);
        label(f, names[r]);
        fprintf(f, "\"} %llu\n", cum);
    }
}

void sl_serve_metrics_write(const struct sl_serve_metrics *mt, FILE *f,
                            const char *const route_names[SL_N_ROUTES],
                            const struct sl_serve_model *model, long long in_flight) {
    requests(mt, f, route_names);
    latency(mt, f, route_names);
    fprintf(f,
            "# HELP shardlearn_instances_scored_total Instances answered with a prediction.\n"
            "# TYPE shardlearn_instances_scored_total counter\n"
            "shardlearn_instances_scored_total %llu\n"
            "# HELP shardlearn_requests_in_flight Requests received and not yet answered.\n"
            "# TYPE shardlearn_requests_in_flight gauge\n"
            "shardlearn_requests_in_flight %lld\n"
            "# HELP shardlearn_model_loads_total Models loaded and put in service.\n"
            "# TYPE shardlearn_model_loads_total counter\n"
            "shardlearn_model_loads_total %llu\n"
            "# HELP shardlearn_model_load_failures_total Reloads or refreshes that failed; the "
            "model before them kept serving.\n"
            "# TYPE shardlearn_model_load_failures_total counter\n"
            "shardlearn_model_load_failures_total %llu\n",
            atomic_load(&mt->instances), in_flight, atomic_load(&mt->loads),
            atomic_load(&mt->load_failures));
    if (!model) return;
    fputs("# HELP shardlearn_model_info The model being served (value 1).\n"
          "# TYPE shardlearn_model_info gauge\n"
          "shardlearn_model_info{source=\"",
          f);
    label(f, model->source);
    fputs("\",name=\"", f);
    label(f, model->name);
    fputs("\",version=\"", f);
    label(f, model->version);
    fputs("\",run_id=\"", f);
    label(f, model->run_id);
    fprintf(f, "\",n_features=\"%lld\"} 1\n", (long long)model->m.n_features);
}
