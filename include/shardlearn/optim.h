/* optim.h - data-parallel optimisers over an sl_objective.
 *
 * Every rank runs the same optimiser on the same numbers: all values that
 * steer control flow come out of an allreduce, so the ranks take the same
 * branches and meet in the same collectives. The optimisers never see the
 * data format. */
#ifndef SHARDLEARN_OPTIM_H
#define SHARDLEARN_OPTIM_H

#include <stdint.h>

#include "shardlearn/objective.h"

#ifdef __cplusplus
extern "C" {
#endif

enum sl_optimizer { SL_OPT_NEWTON = 0, SL_OPT_LBFGS, SL_OPT_SGD };

/* Fill with sl_optim_opts_init (the defaults below), then set fields by
 * name. */
struct sl_optim_opts {
    enum sl_optimizer kind; /* SL_OPT_NEWTON */
    double tol;         /* 1e-6: stop when ||g|| <= tol ||g0||, or F falls by < 1e-3 tol relative */
    int max_iter;       /* 100: newton / lbfgs iterations */
    int lbfgs_m;        /* 10: L-BFGS correction pairs */
    int64_t batch_size; /* 256: sgd rows per local step */
    int epochs;         /* 10: sgd passes over the data */
    double lr;          /* 0.1: sgd initial step size */
    double lr_decay;    /* 1: sgd lr_t = lr / (1 + lr_decay * t / steps_per_epoch) */
    int64_t sync_every; /* 1: sgd averages the model over ranks every this many local steps */
    uint64_t seed;      /* 1: sgd row order; each rank derives its own stream */
    int average;        /* 0: sgd returns the mean of the averaged models over the second
                           half of the epochs */
};

void sl_optim_opts_init(struct sl_optim_opts *o);

/* One record per iteration (newton, lbfgs) or epoch (sgd), step from 1. */
struct sl_iter_info {
    int64_t step;
    double objective;
    double logloss;
    double accuracy;
    double grad_norm;
    double seconds;           /* wall time of this step */
    double allreduce_seconds; /* of which inside allreduce */
    int64_t passes;           /* passes over the shard so far */
    int64_t cg_steps;         /* newton: CG steps in this iteration */
};

/* Called on every rank after each step, with this rank's slice of the
 * current weights (n_loc of sl_obj_shape; sl_obj_gather gives the whole);
 * it may call collectives (all ranks call it at the same point). */
typedef void (*sl_iter_fn)(const struct sl_iter_info *it, const double *w, void *ctx);

struct sl_optim_result {
    int64_t iterations;
    int converged;
    struct sl_fg_info final; /* at the returned w */
};

/* Collective. w: (n_loc, objective.h) this rank's slice of the start point on entry,
 * of the solution on return.
 * Returns SL_ERR_INTERRUPTED when a stop was requested (w is the last good
 * point), SL_OK otherwise (also when max_iter was reached unconverged). */
enum sl_status sl_optimize(struct sl_objective *o, double *w, const struct sl_optim_opts *opt,
                           sl_iter_fn cb, void *ctx, struct sl_optim_result *res) SL_WARN_UNUSED;

/* "newton", "lbfgs", "sgd"; "?" for anything else. */
const char *sl_optimizer_name(enum sl_optimizer k);
/* The optimizer of that name: 0, or -1 when there is none. */
int sl_optimizer_from_name(const char *name, enum sl_optimizer *out);

#ifdef __cplusplus
}
#endif

#endif
