/* newton_direct.h - private to the optimisers: Newton's step from the
 * explicit Hessian for small dim (Cholesky), and the cost model that picks
 * it or CG (optim.h: enum sl_newton_solver). */
#ifndef SHARDLEARN_OPTIM_NEWTON_DIRECT_H
#define SHARDLEARN_OPTIM_NEWTON_DIRECT_H

#include <stdint.h>

#include "shardlearn/objective.h"
#include "shardlearn/optim.h"

struct sl_newton_direct {
    int on;       /* this iteration's step comes from the factor */
    int forced;   /* --newton-solver direct */
    int factored; /* H holds a factor, of this point or an earlier one */
    int fresh;    /* ... of the accepted point: its step is exact */
    int singular; /* AUTO met an H that is not positive definite: CG from then on */
    int have_sn;  /* sn and rn hold the PCG step at this point (a retry reuses them) */
    int resume_sn; /* resumed at a retry: make that PCG step again with the same factor */
    double cost;  /* forming + factoring H, in Hessian-vector passes */
    int64_t last_pcg; /* PCG steps of the last solve with an earlier point's factor */
    int64_t steps;    /* Hessian-vector passes of the last step (0 from this point's factor) */
    double gnorm0;    /* |g| at the first step, for PCG's forcing term */
    int64_t dim, n_loc; /* of the whole vectors, of this rank's slices */
    double *H;    /* (dim, dim) row-major; its lower triangle L, H = L L^T; NULL: off */
    double *g, *M, *sn, *p, *hp, *s, *rn, *z, *q; /* (dim) each: whole vectors, one allocation */
    double *wf;     /* (n_loc) this rank's slice of the point H was formed at */
    double keep[5]; /* what a checkpoint keeps: gnorm0, last_pcg, factored, fresh, have_sn */
};

/* Collective (AUTO sums the shards' sizes). solver: enum sl_newton_solver.
 * Caller frees with sl_newton_direct_free. */
void sl_newton_direct_init(struct sl_newton_direct *dx, struct sl_objective *o, int solver);
void sl_newton_direct_free(struct sl_newton_direct *dx);
/* The point was accepted: the factor is stale. */
void sl_newton_direct_moved(struct sl_newton_direct *dx);
/* AUTO: a CG solve took cg steps; when that was more than forming and
 * factoring H costs, the next iterations use H. */
void sl_newton_direct_observe(struct sl_newton_direct *dx, int64_t cg);
/* Collective when on. The trust-region step inside ||s||_M <= delta from H:
 * Newton's step when it fits, else the dogleg between the Cauchy point along
 * -M^-1 g and it (M-norm). Newton's step is exact from a factor of this
 * point's H; from an earlier point's factor (kept while the solves it
 * preconditions stay short against forming a new one) it is that of
 * conjugate gradients preconditioned by it, with Hessian-vector passes at
 * this point. g, M: (n_loc) slices; s <- the step's slice and r <- that of
 * -g - H s, as trpcg leaves them. Returns 0 when off, or when H is not
 * positive definite (lambda = 0 on a singular X^T D X): then CG solves this
 * iteration. */
int sl_newton_direct_step(struct sl_newton_direct *dx, struct sl_objective *o, const double *w,
                          double delta, const double *g, const double *M, double *s, double *r);
/* A checkpoint's state s (newton.c's) gets what makes a resumed run take
 * the same steps: the factor's point and the counts (not the factor). */
void sl_newton_direct_save(struct sl_newton_direct *dx, struct sl_optim_state *s);
/* Collective. From a resumed state: forms the factor again at its point
 * (two evaluations there and back at w, the accepted point, which stays
 * accepted; the pass count is left as it was). */
enum sl_status sl_newton_direct_resume(struct sl_newton_direct *dx, struct sl_objective *o,
                                       const struct sl_optim_state *rs, const double *w);

#endif
