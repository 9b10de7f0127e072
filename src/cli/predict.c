/* predict.c - `shardlearn predict` and `shardlearn eval`, sharded like
 * training; predictions are gathered to rank 0 and written in input order. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "shardlearn/data.h"
#include "shardlearn/fileio.h"
#include "shardlearn/log.h"
#include "shardlearn/model.h"

static enum sl_status write_predictions(const char *path, const struct sl_model *model,
                                        const double *m, int64_t n, int proba, int labels01,
                                        struct sl_err *err) {
    struct cli_out out;
    FILE *f = stdout;
    if (path) {
        enum sl_status st = cli_out_open(&out, path, err);
        if (st) return st;
        f = out.f;
    }
    for (int64_t i = 0; i < n; i++) {
        if (proba)
            fprintf(f, "%.17g\n", sl_model_probability(model, m[i]));
        else if (model->loss == SL_LOSS_SQUARED)
            fprintf(f, "%.17g\n", m[i]); /* regression: the predicted value */
        else
            fputs(m[i] > 0 ? "1\n" : (labels01 ? "0\n" : "-1\n"), f);
    }
    if (path) return cli_out_commit(&out, err);
    /* A closed pipe or a full disk behind stdout is an error too. */
    if (fflush(stdout) != 0 || ferror(stdout))
        return sl_err_set(err, SL_ERR_IO, "standard output: %s", strerror(errno));
    return SL_OK;
}

static enum sl_status write_eval(const char *path, const struct sl_eval_result *ev,
                                 enum sl_loss loss, struct sl_err *err) {
    struct cli_out out;
    enum sl_status st = cli_out_open(&out, path, err);
    if (st) return st;
    fputs("{", out.f);
    if (loss == SL_LOSS_SQUARED) {
        sl_json_put_field(out.f, "rmse", ev->rmse);
        fputs(", ", out.f);
        sl_json_put_field(out.f, "mae", ev->mae);
        fputs(", ", out.f);
        sl_json_put_field(out.f, "r2", ev->r2);
    } else {
        if (loss == SL_LOSS_LOGISTIC) {
            sl_json_put_field(out.f, "logloss", ev->logloss);
            fputs(", ", out.f);
        }
        sl_json_put_field(out.f, "accuracy", ev->accuracy);
        fputs(", ", out.f);
        sl_json_put_field(out.f, "auc", ev->auc);
    }
    if (loss != SL_LOSS_LOGISTIC) { /* a logistic model's file stays what it always was */
        fprintf(out.f, ", \"loss\": \"%s\", ", sl_loss_name(loss));
        sl_json_put_field(out.f, "mean_loss", ev->loss);
    }
    fprintf(out.f, ", \"n_rows\": %lld}\n", (long long)ev->n_rows);
    return cli_out_commit(&out, err);
}

struct predict_args {
    const char *model, *data, *out, *weight_column;
    int proba, format, zero_based;
};

/* Multinomial predictions from all rows' margins m: (n, K): the K class
 * probabilities of a row on its line, space-separated, or its class. */
static enum sl_status write_predictions_multi(const char *path, const struct sl_model *model,
                                              const double *m, int64_t n, int proba,
                                              struct sl_err *err) {
    const int64_t K = model->n_classes;
    struct sl_atomic_file af;
    FILE *f = stdout;
    if (path) {
        enum sl_status st = sl_atomic_open(&af, path, err);
        if (st) return st;
        f = af.f;
    }
    double *p = sl_malloc(sizeof(double) * (size_t)K);
    for (int64_t i = 0; i < n; i++) {
        const double *mi = m + i * K;
        if (proba) {
            sl_softmax(mi, K, p);
            for (int64_t k = 0; k < K; k++)
                fprintf(f, k + 1 < K ? "%.17g " : "%.17g\n", p[k]);
        } else {
            int64_t best = 0; /* ties: the first class, as numpy's argmax */
            for (int64_t k = 1; k < K; k++)
                if (mi[k] > mi[best]) best = k;
            fprintf(f, "%.0f\n", model->classes[best]);
        }
    }
    free(p);
    if (path) return sl_atomic_commit(&af, err);
    if (fflush(stdout) != 0 || ferror(stdout))
        return sl_err_set(err, SL_ERR_IO, "standard output: %s", strerror(errno));
    return SL_OK;
}

static enum sl_status write_eval_multi(const char *path, const struct sl_eval_result *ev,
                                       struct sl_err *err) {
    struct sl_atomic_file af;
    enum sl_status st = sl_atomic_open(&af, path, err);
    if (st) return st;
    fputs("{", af.f);
    sl_json_put_field(af.f, "logloss", ev->logloss);
    fputs(", ", af.f);
    sl_json_put_field(af.f, "accuracy", ev->accuracy);
    fputs(", ", af.f);
    sl_json_put_field(af.f, "auc_ovr", ev->auc);
    fprintf(af.f, ", \"loss\": \"multinomial\", \"n_rows\": %lld}\n", (long long)ev->n_rows);
    return sl_atomic_commit(&af, err);
}

/* score() for a multinomial model: margins (n_rows, K). */
static enum sl_status score_multi(struct sl_comm *c, const char *out, int proba,
                                  const struct sl_model *model, struct sl_shard *s, int eval,
                                  struct sl_err *err) {
    const int64_t K = model->n_classes;
    enum sl_status st = SL_OK;
    if (eval && (st = sl_classes_map(c, s, model->classes, K, 1, "the data", err)))
        return st;
    double *m = sl_calloc((size_t)((s->n_rows ? s->n_rows : 1) * K), sizeof(double));
    sl_model_margins(model, s, m);
    if (eval) {
        struct sl_eval_result ev;
        sl_evaluate_multi(c, s, m, K, &ev);
        if (c->rank == 0) {
            sl_info("rows %lld  logloss %.12g  accuracy %.6f  auc_ovr %.6f", (long long)ev.n_rows,
                    ev.logloss, ev.accuracy, ev.auc);
            if (out) st = write_eval_multi(out, &ev, err);
        }
    } else {
        double *all = c->rank == 0
                          ? sl_malloc(sizeof(double) * (size_t)((s->n_rows_global + 1) * K))
                          : NULL;
        sl_comm_gather_f64(c, m, s->n_rows * K, all, 0);
        if (c->rank == 0) st = write_predictions_multi(out, model, all, s->n_rows_global, proba, err);
        free(all);
    }
    free(m);
    int64_t ok = c->rank != 0 || st == SL_OK;
    sl_comm_bcast(c, &ok, sizeof ok, 0);
    return ok ? SL_OK : SL_ERR_IO;
}

/* Collective. Scores the shard and writes (rank 0) what the command asks for;
 * returns the status of rank 0's write. */
static enum sl_status score(struct sl_comm *c, const struct predict_args *a,
                            const struct sl_model *model, const struct sl_shard *s, int eval,
                            struct sl_err *err) {
    enum sl_status st = SL_OK;
    double *m = sl_calloc((size_t)(s->n_rows ? s->n_rows : 1), sizeof(double));
    sl_model_margins(model, s, m);
    if (eval) {
        struct sl_eval_result ev;
        sl_evaluate_loss(c, s, m, model->loss, &ev);
        if (c->rank == 0) {
            if (model->loss == SL_LOSS_SQUARED)
                sl_info("rows %lld  rmse %.12g  mae %.12g  r2 %.6f", (long long)ev.n_rows, ev.rmse,
                        ev.mae, ev.r2);
            else if (model->loss == SL_LOSS_SQUARED_HINGE)
                sl_info("rows %lld  squared-hinge %.12g  accuracy %.6f  auc %.6f",
                        (long long)ev.n_rows, ev.loss, ev.accuracy, ev.auc);
            else
                sl_info("rows %lld  logloss %.12g  accuracy %.6f  auc %.6f", (long long)ev.n_rows,
                        ev.logloss, ev.accuracy, ev.auc);
            if (a->out) st = write_eval(a->out, &ev, model->loss, err);
        }
    } else {
        double *all =
            c->rank == 0 ? sl_malloc(sizeof(double) * (size_t)(s->n_rows_global + 1)) : NULL;
        sl_comm_gather_f64(c, m, s->n_rows, all, 0);
        if (c->rank == 0)
            st =
                write_predictions(a->out, model, all, s->n_rows_global, a->proba,
                                  s->labels01 || model->negative_label == 0, err);
        free(all);
    }
    free(m);
    int64_t ok = c->rank != 0 || st == SL_OK;
    sl_comm_bcast(c, &ok, sizeof ok, 0);
    return ok ? SL_OK : SL_ERR_IO;
}

/* Collective. Every rank reads the (small) model itself; when one cannot,
 * every rank fails with the message of the lowest such rank. */
static enum sl_status load_model(struct sl_comm *c, const char *path, struct sl_model *m,
                                 struct sl_err *err) {
    enum sl_status st = sl_model_load(m, path, err);
    int who = sl_comm_first_error(c, st != SL_OK, c->rank);
    if (who < 0) return SL_OK;
    if (st == SL_OK) sl_model_free(m);
    int64_t code = st;
    sl_comm_bcast(c, &code, sizeof code, who);
    sl_comm_bcast(c, err->msg, sizeof err->msg, who);
    return (enum sl_status)code;
}

int sl_cmd_predict(int argc, char **argv, struct sl_comm *c, int eval) {
    struct predict_args a = {.format = SL_FORMAT_AUTO};
    const struct sl_opt opts[] = {{.name = "model",
                                   .kind = SL_ARG_STR,
                                   .dst = &a.model,
                                   .metavar = "FILE",
                                   .help = "model file written by train --model-out"},
                                  {.name = "data",
                                   .kind = SL_ARG_STR,
                                   .dst = &a.data,
                                   .metavar = "FILE",
                                   .help = "data to score (LIBSVM/svmlight text, CSV, or a cache)"},
                                  {.name = "format",
                                   .kind = SL_ARG_CHOICE,
                                   .dst = &a.format,
                                   .metavar = "FMT",
                                   .help = "libsvm|csv (default: from the extension)",
                                   .choices = SL_FORMAT_CHOICES},
                                  {.name = "zero-based",
                                   .kind = SL_ARG_FLAG,
                                   .dst = &a.zero_based,
                                   .help = "LIBSVM feature indices start at 0"},
                                  {.name = "weight-column",
                                   .kind = SL_ARG_STR,
                                   .dst = &a.weight_column,
                                   .metavar = "COL",
                                   .help = "CSV: a weight column to leave out (as train's)"},
                                  {.name = eval ? "metrics-out" : "out",
                                   .kind = SL_ARG_STR,
                                   .dst = &a.out,
                                   .metavar = "FILE",
                                   .help = eval ? "write the metrics as JSON"
                                                : "write predictions here (default stdout)"},
                                  {.name = eval ? NULL : "proba",
                                   .kind = SL_ARG_FLAG,
                                   .dst = &a.proba,
                                   .help = "print P(y = +1) instead of the label (multinomial: the K class probabilities)"},
                                  {.name = NULL}};
    const char *usage =
        eval ? "usage: mpirun -np N shardlearn eval --model FILE --data FILE [--metrics-out FILE]"
             : "usage: mpirun -np N shardlearn predict --model FILE --data FILE [--out FILE] "
               "[--proba]";
    struct sl_err err;
    sl_err_clear(&err);
    int help = 0, npos = 0;
    enum sl_status st = sl_opts_parse(opts, argc, argv, 2, NULL, 0, &npos, &help, &err);
    if (help) {
        if (c->rank == 0) sl_opts_usage(stdout, usage, opts);
        return SL_EXIT_OK;
    }
    if (!st && (!a.model || !a.data))
        st = sl_err_set(&err, SL_ERR_ARG, "%s needs --model FILE and --data FILE", argv[1]);
    if (st) {
        if (c->rank == 0) sl_error("%s (see shardlearn %s --help)", err.msg, argv[1]);
        return SL_EXIT_USAGE;
    }
    struct sl_model model;
    if (load_model(c, a.model, &model, &err) != SL_OK) {
        if (c->rank == 0) sl_error("%s", err.msg);
        return SL_EXIT_FAIL;
    }
    if (a.proba && model.loss != SL_LOSS_LOGISTIC && model.loss != SL_LOSS_MULTINOMIAL) {
        if (c->rank == 0)
            sl_error("--proba needs a logistic model; %s is %s, which gives no probabilities",
                     a.model, sl_loss_name(model.loss));
        sl_model_free(&model);
        return SL_EXIT_USAGE;
    }
    const char *outs[] = {a.out};
    if (cli_out_check(c, outs, 1, &err)) {
        sl_model_free(&model);
        return SL_EXIT_FAIL;
    }
    struct sl_load_opts lo = {.format = (enum sl_format)a.format,
                              .zero_based = a.zero_based,
                              .real_labels = model.loss == SL_LOSS_SQUARED ? 1 : 0};
    /* Multinomial: eval needs the class labels; predict takes any number there. */
    if (model.loss == SL_LOSS_MULTINOMIAL) lo.real_labels = eval ? 2 : 1;
    /* A CSV row must have the model's width (and the weight column). */
    lo.csv_features = model.n_features + (a.weight_column ? 1 : 0);
    /* A model trained on hashed columns reads raw rows with its own spec:
     * the same columns, names and hash (README: Categorical columns), unless
     * told the rows are LIBSVM, already hashed. */
    if (a.format != SL_FORMAT_LIBSVM) lo.hash = model.hash;
    struct sl_shard s;
    st = sl_data_load(&s, a.data, &lo, c, &err);
    if (st == SL_OK && a.weight_column &&
        (st = sl_shard_weight_column(&s, a.data, a.weight_column, c, &err)))
        sl_shard_free(&s);
    /* A dense cache is known only once loaded; its rows need the model's
     * width as a CSV's do (every rank holds the same n_features). */
    if (st == SL_OK && s.dense && s.n_features != model.n_features) {
        st = SL_ERR_PARSE;
        if (c->rank == 0)
            sl_err_set(&err, st, "%s: %lld features, expected %lld", a.data,
                       (long long)s.n_features, (long long)model.n_features);
        sl_shard_free(&s);
    }
    if (st == SL_OK) {
        st = model.loss == SL_LOSS_MULTINOMIAL
                 ? score_multi(c, a.out, a.proba, &model, &s, eval, &err)
                 : score(c, &a, &model, &s, eval, &err);
        sl_shard_free(&s);
    }
    if (err.msg[0]) sl_error("%s", err.msg);
    sl_model_free(&model);
    return st == SL_OK ? SL_EXIT_OK : SL_EXIT_FAIL;
}
