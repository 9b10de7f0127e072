/* runs.h - reading finished runs back, for comparing them: the metrics of a
 * run from its metrics.json or from an MLflow server (a run, or a registered
 * model version by number or alias), and promoting a run's model in the
 * MLflow model registry.
 *
 * Nothing here is collective: one process calls it (`shardlearn gate`). The
 * server calls go through the tracker's HTTP client (MLflow's environment
 * variables for auth, TLS and retries). */
#ifndef SHARDLEARN_RUNS_H
#define SHARDLEARN_RUNS_H

#include <stddef.h>

#include "shardlearn/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A run's metrics by MLflow key. Caller-allocated; sl_metric_set_free. */
struct sl_metric_set {
    size_t n;
    char **keys;
    double *values;  /* (n); NaN/Inf as the server stores them, null in a file is NaN */
    char run_id[64]; /* the MLflow run, "" for a file */
    char model[256]; /* a models:/ source: the registered model and its version */
    char version[32];
};

void sl_metric_set_free(struct sl_metric_set *s);
/* The value of key, or NULL when the set has none. Owned by s. */
const double *sl_metric_set_find(const struct sl_metric_set *s, const char *key);

/* A `train --metrics-out` file under the keys train logs to MLflow (the
 * per-iteration metrics from the last history entry, final_*, iterations,
 * time_*_seconds), and every other number outside "history" under its path
 * joined with '.' (n_rows, timings.tracking). Any other JSON object of
 * numbers is read by the second rule alone. */
enum sl_status sl_metrics_read_file(const char *path, struct sl_metric_set *out,
                                    struct sl_err *err) SL_WARN_UNUSED;

/* "runs:/..." or "models:/...": a source for sl_mlflow_metrics. */
int sl_is_mlflow_source(const char *source);

struct sl_mlflow; /* opaque: a client of one tracking server */

/* tracking_uri NULL: MLFLOW_TRACKING_URI (none: SL_ERR_ARG). Every call
 * gives up timeout_s seconds after create. Caller frees with
 * sl_mlflow_destroy. */
enum sl_status sl_mlflow_create(struct sl_mlflow **out, const char *tracking_uri, double timeout_s,
                                struct sl_err *err) SL_WARN_UNUSED;
void sl_mlflow_destroy(struct sl_mlflow *m);
/* Makes the call under way on m, and every later one, give up at once
 * (SL_ERR_NET). Safe from another thread while m is in use. */
void sl_mlflow_cancel(struct sl_mlflow *m);

/* The latest value of each metric of the run behind source: runs:/RUN_ID,
 * models:/NAME/VERSION or models:/NAME@ALIAS (resolved to the version's
 * source run). A source that does not exist is SL_ERR_IO, a server that
 * cannot be reached SL_ERR_NET. */
enum sl_status sl_mlflow_metrics(struct sl_mlflow *m, const char *source, struct sl_metric_set *out,
                                 struct sl_err *err) SL_WARN_UNUSED;

/* Where a model file from MLflow came from. */
struct sl_model_ref {
    char run_id[64];
    char name[256];   /* models:/ sources: the registered model and its version */
    char version[32];
};

/* *text <- the model file behind source (caller frees): runs:/RUN_ID (the
 * run's artifact model/model.json; runs:/RUN_ID/PATH: PATH/model.json, or
 * PATH when it ends in .json), models:/NAME/VERSION or models:/NAME@ALIAS
 * (the version's source run, model/model.json), downloaded through the
 * server's artifact proxy. When the version resolved equals have_version
 * (may be NULL), nothing is downloaded and *text stays NULL: a refresh that
 * found no change. */
enum sl_status sl_mlflow_model_file(struct sl_mlflow *m, const char *source,
                                    const char *have_version, struct sl_model_ref *ref,
                                    char **text, struct sl_err *err) SL_WARN_UNUSED;

/* *exists <- the registered model name has the alias (0 also when there is
 * no registered model of that name). */
enum sl_status sl_mlflow_alias_exists(struct sl_mlflow *m, const char *name, const char *alias,
                                      int *exists, struct sl_err *err) SL_WARN_UNUSED;

/* Makes the model of run_id (artifact "model") the version of name that
 * alias points at: the run's existing version of name, else a new one from
 * runs:/RUN_ID/model (the registered model is created when missing); then
 * tags the run tag_key=tag_value. version (cap bytes) <- the version;
 * *created <- 1 when it is a new one. */
enum sl_status sl_mlflow_promote(struct sl_mlflow *m, const char *run_id, const char *name,
                                 const char *alias, const char *tag_key, const char *tag_value,
                                 char *version, size_t cap, int *created,
                                 struct sl_err *err) SL_WARN_UNUSED;

#ifdef __cplusplus
}
#endif

#endif
