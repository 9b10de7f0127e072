/* metrics.h - private to serve/: request counters, latency histograms and
 * the Prometheus text exposition of /metrics. Lock-free: the request threads
 * add with atomics. */
#ifndef SHARDLEARN_SERVE_METRICS_H
#define SHARDLEARN_SERVE_METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

/* Routes as /metrics labels them; anything else is "other" (no label per
 * unknown path: a scanner must not grow the exposition). */
enum sl_route {
    SL_ROUTE_PREDICT,
    SL_ROUTE_HEALTH,
    SL_ROUTE_INVOCATIONS,
    SL_ROUTE_PING,
    SL_ROUTE_MLFLOW_HEALTH,
    SL_ROUTE_VERSION,
    SL_ROUTE_METRICS,
    SL_ROUTE_OTHER,
    SL_N_ROUTES
};

#define SL_N_STATUS 11  /* 200 400 404 405 408 413 415 499 500 503, other */
#define SL_N_BUCKETS 16 /* the last one is +Inf */

struct sl_serve_metrics {
    atomic_ullong requests[SL_N_ROUTES][SL_N_STATUS];
    atomic_ullong latency[SL_N_ROUTES][SL_N_BUCKETS]; /* not cumulative */
    atomic_ullong latency_ns[SL_N_ROUTES];
    atomic_ullong instances;
    atomic_ullong loads, load_failures;
};

/* Zeroed storage is a valid, empty set. */
void sl_serve_metrics_add(struct sl_serve_metrics *mt, enum sl_route r, int status, double seconds,
                          int64_t instances);
/* The route's label: the path (predict and health routes as configured). */
struct sl_serve_model;
void sl_serve_metrics_write(const struct sl_serve_metrics *mt, FILE *f,
                            const char *const route_names[SL_N_ROUTES],
                            const struct sl_serve_model *model, long long in_flight);

#endif
