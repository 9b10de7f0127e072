/* train_l1.c - `shardlearn train --l1 A`: its values (one, a list or a
 * range: a path, as --l2's) and which optimizer a run with an L1 penalty
 * gets. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/train.h"
#include "shardlearn/clock.h"
#include "shardlearn/log.h"

/* a->l1_path <- the values of --l1, a->l1 the largest (0 without it). */
static enum sl_status parse_l1(struct train_args *a, struct sl_err *err) {
    const char *spec = a->l1_spec;
    a->n_l1 = 1;
    a->l1_path[0] = a->l1 = 0.0;
    if (!spec) return SL_OK;
    if (!strpbrk(spec, ",:")) {
        char *end = NULL;
        const double x = strtod(spec, &end);
        if (!*spec || *end || !isfinite(x) || x < 0)
            return sl_err_set(err, SL_ERR_ARG, "--l1: '%s' is not a number >= 0", spec);
        a->l1 = a->l1_path[0] = x;
        return SL_OK;
    }
    enum sl_status st = sl_path_parse_nonneg(spec, a->l1_path, SL_PATH_MAX, &a->n_l1, err);
    if (st) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return sl_err_set(err, st, "--l1: %s", why);
    }
    for (int i = 0; i < a->n_l1; i++)
        a->l1 = a->l1_path[i] > a->l1 ? a->l1_path[i] : a->l1;
    return SL_OK;
}

enum sl_status train_l1_settle(struct train_args *a, int rank, struct sl_err *err) {
    enum sl_status st = parse_l1(a, err);
    if (st) return st;
    if (a->optimizer < 0) {
        /* The default is Newton, which takes no L1 term: a user who asks
         * for --l1 alone gets the optimizer that does, and is told. */
        a->optimizer = a->l1 > 0 ? SL_OPT_LBFGS : SL_OPT_NEWTON;
        if (a->l1 > 0 && rank == 0)
            sl_info("--l1 %s: optimizer lbfgs (OWL-QN; newton and sgd take no L1 penalty)",
                    a->l1_spec);
        return SL_OK;
    }
    if (a->l1 > 0 && a->optimizer != SL_OPT_LBFGS)
        return sl_err_set(err, SL_ERR_ARG,
                          "--l1 needs --optimizer lbfgs (OWL-QN); %s takes no L1 penalty",
                          a->optimizer == SL_OPT_NEWTON ? "newton" : "sgd");
    return SL_OK;
}

void train_log_l1(struct sl_tracker *tr, const struct train_args *a, const struct sl_model *m) {
    if (!(a->l1 > 0)) return;
    int64_t nnz = 0;
    for (int64_t j = 0; j < m->n_features; j++)
        nnz += m->weights[j] != 0.0;
    sl_tracker_metric(tr, "nnz_weights", (double)nnz, 0, sl_now_ms());
}
