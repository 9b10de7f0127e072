/* solvers.h - private to the optimisers: each solver, and what they share -
 * the stopping test and the per-iteration record. */
#ifndef SHARDLEARN_OPTIM_SOLVERS_H
#define SHARDLEARN_OPTIM_SOLVERS_H

#include "shardlearn/optim.h"

enum sl_status sl_newton(struct sl_objective *o, double *w, const struct sl_optim_opts *opt,
                         sl_iter_fn cb, void *ctx, const struct sl_optim_ckpt *ck,
                         struct sl_optim_result *res) SL_WARN_UNUSED;
enum sl_status sl_lbfgs(struct sl_objective *o, double *w, const struct sl_optim_opts *opt,
                        sl_iter_fn cb, void *ctx, const struct sl_optim_ckpt *ck,
                        struct sl_optim_result *res) SL_WARN_UNUSED;
enum sl_status sl_sgd(struct sl_objective *o, double *w, const struct sl_optim_opts *opt,
                      sl_iter_fn cb, void *ctx, const struct sl_optim_ckpt *ck,
                      struct sl_optim_result *res) SL_WARN_UNUSED;

/* The time and collective time of the step being taken. */
struct sl_step_clock {
    double t0;  /* sl_wtime() at the step's start */
    double ar0; /* the comm's allreduce_seconds then */
};

void sl_step_clock_start(struct sl_step_clock *k, const struct sl_objective *o);
/* Calls cb (if any) with the record of step `step` ending now at w (this
 * rank's slice), then starts the clock for the next step. */
void sl_step_report(struct sl_step_clock *k, struct sl_objective *o, sl_iter_fn cb, void *ctx,
                    int64_t step, const struct sl_fg_info *info, int64_t cg_steps, const double *w);
/* Newton's and L-BFGS's stopping test after an accepted step from f_prev to
 * cur: the gradient has shrunk by tol, or F fell by less than 1e-3 tol
 * relative. */
int sl_converged(const struct sl_fg_info *cur, double f_prev, double gnorm0, double tol);

/* The record of an evaluation as state: f64 (4) <-> info. */
void sl_info_pack(const struct sl_fg_info *in, double out[4]);
void sl_info_unpack(const double in[4], struct sl_fg_info *out);
/* Offers s to ck->save, if any. */
void sl_ckpt_offer(const struct sl_optim_ckpt *ck, struct sl_optim_state *s, int stopping);

#endif
