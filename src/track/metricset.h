/* metricset.h - building a struct sl_metric_set (runs.h), for the readers
 * of metrics.json (metricset.c) and of a run on the server (registry.c). */
#ifndef SHARDLEARN_TRACK_METRICSET_H
#define SHARDLEARN_TRACK_METRICSET_H

#include "shardlearn/runs.h"

/* Adds key = v (key is copied) unless s has key already: the first wins. */
void sl_metric_set_add(struct sl_metric_set *s, const char *key, double v);

#endif
