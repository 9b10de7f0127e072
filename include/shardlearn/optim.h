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

/* How Newton solves for its step: AUTO picks by a cost model (the explicit
 * Hessian when forming and factoring it costs fewer passes than the CG steps
 * it replaces, and it fits: dim <= SL_NEWTON_DIRECT_MAX_DIM); CG: conjugate
 * gradients on Hessian-vector passes; DIRECT: the explicit Hessian, summed
 * over the ranks, and its Cholesky factor. */
enum sl_newton_solver { SL_NEWTON_AUTO = 0, SL_NEWTON_CG, SL_NEWTON_DIRECT };
#define SL_NEWTON_DIRECT_MAX_DIM 4096

/* Fill with sl_optim_opts_init (the defaults below), then set fields by
 * name. */
struct sl_optim_opts {
    enum sl_optimizer kind; /* SL_OPT_NEWTON */
    double tol;         /* 1e-6: stop when ||g|| <= tol ||g0||, or F falls by < 1e-3 tol relative */
    int max_iter;       /* 100: newton / lbfgs iterations */
    int lbfgs_m;        /* 10: L-BFGS correction pairs */
    int newton_solver;  /* SL_NEWTON_AUTO: enum sl_newton_solver */
    int64_t batch_size; /* 256: sgd rows per local step */
    int epochs;         /* 10: sgd passes over the data */
    double lr;          /* 0.1: sgd initial step size */
    double lr_decay;    /* 1: sgd lr_t = lr / (1 + lr_decay * t / steps_per_epoch) */
    int64_t sync_every; /* 1: sgd averages the model over ranks every this many local steps */
    uint64_t seed;      /* 1: sgd row order; each rank derives its own stream */
    int average;        /* 0: sgd returns the mean of the averaged models over the second
                           half of the epochs */
    double gnorm_ref;   /* 0: g0 is the gradient at the start point; > 0: ||g0|| itself.
                           A warm start passes ||grad F(0)||, as LIBLINEAR does, so that
                           tol means the same as from w = 0 */
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

/* A solver's state at an iteration boundary (epoch boundary for SGD), as
 * named sections, so that a run can be saved and continued exactly
 * (train.h: checkpoints). The solver fills the sections with pointers to its
 * own buffers (valid only during the save call); a restored state's sections
 * point at memory its loader owns. Kinds:
 *   SLICE: rows x (n_loc): each row this rank's slice of a global (dim)
 *          vector, so it can be redistributed to another rank count;
 *   SAME:  the same bytes on every rank (scalars, whole models);
 *   RANK:  this rank's own (SGD's row order and random stream): restored
 *          only on the same rank count. */
enum sl_state_kind { SL_STATE_SLICE = 0, SL_STATE_SAME = 1, SL_STATE_RANK = 2 };
#define SL_STATE_NAME 24
#define SL_STATE_MAX 16
struct sl_state_sec {
    char name[SL_STATE_NAME];
    int kind;     /* enum sl_state_kind */
    int elem;     /* bytes per element: 4 (float), 8 (double, int64) or 1 */
    int64_t rows; /* SLICE: vectors; else 1 */
    int64_t n;    /* elements in all (SLICE: rows * n_loc) */
    void *data;
};
struct sl_optim_state {
    int n;
    struct sl_state_sec sec[SL_STATE_MAX];
};

/* Appends a section (asserts there is room and the name fits). */
void sl_state_add(struct sl_optim_state *s, const char *name, enum sl_state_kind kind, int elem,
                  int64_t rows, int64_t n, const void *data);
/* The section of that name, or NULL. */
const struct sl_state_sec *sl_state_find(const struct sl_optim_state *s, const char *name);
/* dst: (n elements of elem bytes) <- the section; 0, or -1 (dst untouched)
 * when it is missing or of another shape. */
int sl_state_get(const struct sl_optim_state *s, const char *name, int elem, int64_t n, void *dst);

/* Called by the solver on every rank at each iteration boundary (stopping
 * 0) and, when a stop was agreed, with the state of the last boundary
 * (stopping 1) before it returns SL_ERR_INTERRUPTED. Collective: it may
 * write a checkpoint. It may append sections to s. */
typedef void (*sl_save_fn)(struct sl_optim_state *s, int stopping, void *ctx);

struct sl_optim_ckpt {
    const struct sl_optim_state *resume; /* NULL: start from w */
    sl_save_fn save;                     /* NULL: none */
    void *ctx;
};

/* sl_optimize, continuing from ck->resume when it is set (w's entry value is
 * then ignored) and offering the state to ck->save at each boundary.
 * ck may be NULL. SL_ERR_ARG when resume does not fit this solver and
 * problem (the caller checks the job's identity first). */
enum sl_status sl_optimize_ckpt(struct sl_objective *o, double *w, const struct sl_optim_opts *opt,
                                sl_iter_fn cb, void *ctx, const struct sl_optim_ckpt *ck,
                                struct sl_optim_result *res) SL_WARN_UNUSED;

/* "newton", "lbfgs", "sgd"; "?" for anything else. */
const char *sl_optimizer_name(enum sl_optimizer k);
/* The optimizer of that name: 0, or -1 when there is none. */
int sl_optimizer_from_name(const char *name, enum sl_optimizer *out);

#ifdef __cplusplus
}
#endif

#endif
