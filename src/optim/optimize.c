/* optimize.c - the dispatcher, the options' defaults and names, and what
 * the solvers share: the stopping test and the per-iteration record. */
#include <math.h>
#include <string.h>

#include "optim/solvers.h"
#include "shardlearn/clock.h"

void sl_optim_opts_init(struct sl_optim_opts *o) {
    *o = (struct sl_optim_opts){.kind = SL_OPT_NEWTON,
                                .tol = 1e-6,
                                .max_iter = 100,
                                .lbfgs_m = 10,
                                .batch_size = 256,
                                .epochs = 10,
                                .lr = 0.1,
                                .lr_decay = 1.0,
                                .sync_every = 1,
                                .seed = 1,
                                .average = 0,
                                .gnorm_ref = 0.0};
}

enum sl_status sl_optimize(struct sl_objective *o, double *w, const struct sl_optim_opts *opt,
                           sl_iter_fn cb, void *ctx, struct sl_optim_result *res) {
    return sl_optimize_ckpt(o, w, opt, cb, ctx, NULL, res);
}

enum sl_status sl_optimize_ckpt(struct sl_objective *o, double *w, const struct sl_optim_opts *opt,
                                sl_iter_fn cb, void *ctx, const struct sl_optim_ckpt *ck,
                                struct sl_optim_result *res) {
    switch (opt->kind) {
    case SL_OPT_NEWTON:
        return sl_newton(o, w, opt, cb, ctx, ck, res);
    case SL_OPT_LBFGS:
        return sl_lbfgs(o, w, opt, cb, ctx, ck, res);
    case SL_OPT_SGD:
        return sl_sgd(o, w, opt, cb, ctx, ck, res);
    }
    return SL_ERR_ARG;
}

static const struct {
    const char *name;
    enum sl_optimizer kind;
} NAMES[] = {{"newton", SL_OPT_NEWTON}, {"lbfgs", SL_OPT_LBFGS}, {"sgd", SL_OPT_SGD}};

const char *sl_optimizer_name(enum sl_optimizer k) {
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (NAMES[i].kind == k) return NAMES[i].name;
    return "?";
}

int sl_optimizer_from_name(const char *name, enum sl_optimizer *out) {
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (strcmp(NAMES[i].name, name) == 0) {
            *out = NAMES[i].kind;
            return 0;
        }
    return -1;
}

void sl_step_clock_start(struct sl_step_clock *k, const struct sl_objective *o) {
    k->t0 = sl_wtime();
    k->ar0 = sl_obj_comm(o)->allreduce_seconds;
}

void sl_step_report(struct sl_step_clock *k, struct sl_objective *o, sl_iter_fn cb, void *ctx,
                    int64_t step, const struct sl_fg_info *info, int64_t cg_steps,
                    const double *w) {
    if (cb) {
        const struct sl_iter_info it = {.step = step,
                                        .objective = info->objective,
                                        .logloss = info->logloss,
                                        .accuracy = info->accuracy,
                                        .grad_norm = info->grad_norm,
                                        .seconds = sl_wtime() - k->t0,
                                        .allreduce_seconds =
                                            sl_obj_comm(o)->allreduce_seconds - k->ar0,
                                        .passes = sl_obj_passes(o),
                                        .cg_steps = cg_steps};
        cb(&it, w, ctx);
    }
    sl_step_clock_start(k, o);
}

int sl_converged(const struct sl_fg_info *cur, double f_prev, double gnorm0, double tol) {
    if (cur->grad_norm <= tol * gnorm0) return 1;
    return f_prev - cur->objective <= 1e-3 * tol * fabs(cur->objective);
}
