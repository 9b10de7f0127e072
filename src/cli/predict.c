/* predict.c - `shardlearn predict` and `shardlearn eval`, sharded like
 * training; predictions are gathered to rank 0 and written in input order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../fileio.h"
#include "cli.h"
#include "shardlearn/data.h"
#include "shardlearn/log.h"
#include "shardlearn/model.h"
#include "shardlearn/objective.h"

static enum sl_status write_predictions(const char *path, const double *m, int64_t n, int proba,
                                        int labels01, struct sl_err *err) {
    struct sl_atomic_file af;
    FILE *f = stdout;
    if (path) {
        enum sl_status st = sl_atomic_open(&af, path, err);
        if (st) return st;
        f = af.f;
    }
    for (int64_t i = 0; i < n; i++) {
        if (proba)
            fprintf(f, "%.17g\n", sl_sigmoid(m[i]));
        else
            fputs(m[i] > 0 ? "1\n" : (labels01 ? "0\n" : "-1\n"), f);
    }
    if (path) return sl_atomic_commit(&af, err);
    fflush(stdout);
    return SL_OK;
}

static void json_field(FILE *f, const char *k, double x, const char *sep) {
    if (isfinite(x))
        fprintf(f, "\"%s\": %.17g%s", k, x, sep);
    else
        fprintf(f, "\"%s\": null%s", k, sep);
}

static enum sl_status write_eval(const char *path, const struct sl_eval_result *ev,
                                 struct sl_err *err) {
    struct sl_atomic_file af;
    enum sl_status st = sl_atomic_open(&af, path, err);
    if (st) return st;
    fputs("{", af.f);
    json_field(af.f, "logloss", ev->logloss, ", ");
    json_field(af.f, "accuracy", ev->accuracy, ", ");
    json_field(af.f, "auc", ev->auc, ", ");
    fprintf(af.f, "\"n_rows\": %lld}\n", (long long)ev->n_rows);
    return sl_atomic_commit(&af, err);
}

int sl_cmd_predict(int argc, char **argv, struct sl_comm *c, int eval) {
    const char *model_path = NULL, *data = NULL, *out = NULL;
    int proba = 0, format = 0, zero_based = 0;
    const struct sl_opt popts[] = {
        {"model", SL_OPT_STR, &model_path, "FILE", "model file written by train --model-out", 0, 0, NULL},
        {"data", SL_OPT_STR, &data, "FILE", "data to score (LIBSVM/svmlight text or CSV)", 0, 0, NULL},
        {"format", SL_OPT_CHOICE, &format, "FMT", "libsvm|csv (default: from the extension)", 0, 0, "auto|libsvm|csv"},
        {"zero-based", SL_OPT_FLAG, &zero_based, NULL, "LIBSVM feature indices start at 0", 0, 0, NULL},
        {eval ? "metrics-out" : "out", SL_OPT_STR, &out, "FILE",
         eval ? "write {logloss, accuracy, auc, n_rows} as JSON" : "write predictions here (default stdout)", 0, 0, NULL},
        {eval ? NULL : "proba", SL_OPT_FLAG, &proba, NULL, "print P(y = +1) instead of the label", 0, 0, NULL},
        {NULL, SL_OPT_FLAG, NULL, NULL, NULL, 0, 0, NULL}};
    const char *usage = eval ? "usage: mpirun -np N shardlearn eval --model FILE --data FILE [--metrics-out FILE]"
                             : "usage: mpirun -np N shardlearn predict --model FILE --data FILE [--out FILE] [--proba]";
    struct sl_err err;
    sl_err_clear(&err);
    int help = 0, npos = 0;
    enum sl_status st = sl_opts_parse(popts, argc, argv, 2, NULL, 0, &npos, &help, &err);
    if (help) {
        if (c->rank == 0) sl_opts_usage(stdout, usage, popts);
        return SL_EXIT_OK;
    }
    if (!st && (!model_path || !data))
        st = sl_err_set(&err, SL_ERR_ARG, "%s needs --model FILE and --data FILE", argv[1]);
    if (st) {
        if (c->rank == 0) sl_error("%s (see shardlearn %s --help)", err.msg, argv[1]);
        return SL_EXIT_USAGE;
    }
    /* Every rank reads the (small) model itself; failures are the same everywhere. */
    struct sl_model model;
    st = sl_model_load(&model, model_path, &err);
    if (st) {
        if (c->rank == 0) sl_error("%s", err.msg);
        return SL_EXIT_FAIL;
    }
    struct sl_load_opts lo = {(enum sl_format)format, zero_based, 0};
    if (sl_format_from_path(data) == SL_FORMAT_CSV || format == SL_FORMAT_CSV)
        lo.n_features = model.n_features; /* a CSV row must have the model's width */
    struct sl_shard s;
    st = sl_shard_load(&s, data, &lo, c, &err);
    if (st) {
        if (err.msg[0]) sl_error("%s", err.msg);
        sl_model_free(&model);
        return SL_EXIT_FAIL;
    }
    double *m = sl_calloc((size_t)(s.n_rows ? s.n_rows : 1), sizeof(double));
    sl_model_margins(&model, &s, m);
    int64_t ok = 1;
    if (eval) {
        struct sl_eval_result ev;
        sl_evaluate(c, &s, m, &ev);
        if (c->rank == 0) {
            printf("rows %lld  logloss %.12g  accuracy %.6f  auc %.6f\n", (long long)ev.n_rows,
                   ev.logloss, ev.accuracy, ev.auc);
            fflush(stdout);
            if (out && (st = write_eval(out, &ev, &err))) sl_error("%s", err.msg);
        }
    } else {
        double *all = c->rank == 0 ? sl_malloc(sizeof(double) * (size_t)(s.n_rows_global + 1)) : NULL;
        sl_comm_gather_f64(c, m, s.n_rows, all, 0);
        if (c->rank == 0 && (st = write_predictions(out, all, s.n_rows_global, proba, s.labels01, &err)))
            sl_error("%s", err.msg);
        free(all);
    }
    if (c->rank == 0) ok = st == SL_OK;
    sl_comm_bcast(c, &ok, sizeof ok, 0);
    free(m);
    sl_shard_free(&s);
    sl_model_free(&model);
    return ok ? SL_EXIT_OK : SL_EXIT_FAIL;
}
