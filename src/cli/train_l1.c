/* train_l1.c - `shardlearn train --l1 A`: which optimizer a run with an L1
 * penalty gets. Kept apart from the option table so that --l1's value
 * (one number here) can grow into a path without touching this choice. */
#include "cli/train.h"
#include "shardlearn/clock.h"
#include "shardlearn/log.h"

enum sl_status train_l1_settle(struct train_args *a, int rank, struct sl_err *err) {
    if (a->optimizer < 0) {
        /* The default is Newton, which takes no L1 term: a user who asks
         * for --l1 alone gets the optimizer that does, and is told. */
        a->optimizer = a->l1 > 0 ? SL_OPT_LBFGS : SL_OPT_NEWTON;
        if (a->l1 > 0 && rank == 0)
            sl_info("--l1 %g: optimizer lbfgs (OWL-QN; newton and sgd take no L1 penalty)", a->l1);
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
