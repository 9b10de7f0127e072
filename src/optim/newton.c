/* newton.c - trust-region Newton with preconditioned conjugate gradients:
 * the method of LIBLINEAR's TRON (Lin, Weng & Keerthi 2008; Hsia, Chiang &
 * Lin 2018 for the diagonal preconditioner) and of distributed LIBLINEAR.
 * Each Hessian-vector product is one fused pass over the shard and one
 * allreduce; the gradient and the Hessian diagonal share one allreduce.
 * Every vector here is this rank's slice (objective.h), so each dot product
 * is summed over the ranks with sl_obj_sum. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim/newton_direct.h"
#include "optim/solvers.h"
#include "optim/vec.h"

/* The preconditioner mixes the identity (scaled by lambda, so the mix is
 * independent of how F is scaled) with the Hessian diagonal, as TRON does. */
#define PCG_ALPHA 0.01
#define CG_EPS 0.1
/* Near the end, CG stops once its residual (the linear model's gradient)
 * would be CG_LAND of the target tol ||g0||, up to CG_EPS_MAX of where it
 * started: the last solve ends where the fit is done rather than at a tenth
 * of the gradient, often up to 10x past the target. A tighter CG (a
 * superlinear forcing term such as min(0.1, sqrt(||g||/||g0||))) costs more
 * Hessian products than it saves Newton steps here: CG's own convergence
 * is no faster than TRON's Newton with CG_EPS (measured, cold and warm). */
#define CG_LAND 0.9
#define CG_EPS_MAX 0.5

struct pcg_work {
    double *r, *z, *d, *hd; /* (dim) each */
};

/* Solves H s = -g approximately inside ||s||_M <= delta, to a residual of
 * eta relative. r <- -g - H s. Returns the number of CG steps (Hessian-vector
 * products), or -1 when a stop was agreed between two steps (s is then of no
 * use). */
static int64_t trpcg(struct sl_objective *o, double delta, const double *g, const double *M,
                     double *s, struct pcg_work *wk, double eta) {
    const int64_t n = sl_obj_shape(o)->n_loc, dim = sl_obj_shape(o)->dim;
    double *r = wk->r, *z = wk->z, *d = wk->d, *hd = wk->hd;
    for (int64_t i = 0; i < n; i++) {
        s[i] = 0.0;
        r[i] = -g[i];
        z[i] = r[i] / M[i];
        d[i] = z[i];
    }
    double ztr = sl_dot(z, r, n);
    sl_obj_sum(o, &ztr, 1);
    const double cgtol = eta * sqrt(ztr);
    int64_t steps = 0;
    const int64_t max_steps = dim > 5 ? dim : 5;
    while (steps < max_steps) {
        if (sqrt(ztr) <= cgtol) break;
        steps++;
        sl_obj_hv(o, d, hd);
        double dhd = sl_dot(d, hd, n);
        /* A CG solve can take many Hessian products: look for a stop with
         * each one, at no extra collective. */
        if (sl_obj_sum_poll(o, &dhd, 1)) return -1;
        double alpha = ztr / dhd;
        sl_axpy(alpha, d, s, n);
        double s_m = sl_dot_m(s, M, s, n);
        sl_obj_sum(o, &s_m, 1);
        s_m = sqrt(s_m);
        if (s_m > delta) {
            /* Step back and go to the boundary along d: ||s + tau d||_M = delta. */
            sl_axpy(-alpha, d, s, n);
            double q[3] = {sl_dot_m(s, M, d, n), sl_dot_m(s, M, s, n), sl_dot_m(d, M, d, n)};
            sl_obj_sum(o, q, 3);
            double std = q[0], sts = q[1], dtd = q[2], dsq = delta * delta;
            double rad = sqrt(std * std + dtd * (dsq - sts));
            double tau = std >= 0 ? (dsq - sts) / (std + rad) : (rad - std) / dtd;
            sl_axpy(tau, d, s, n);
            sl_axpy(-tau, hd, r, n);
            break;
        }
        sl_axpy(-alpha, hd, r, n);
        for (int64_t i = 0; i < n; i++)
            z[i] = r[i] / M[i];
        double ztr_new = sl_dot(z, r, n);
        sl_obj_sum(o, &ztr_new, 1);
        double beta = ztr_new / ztr;
        for (int64_t i = 0; i < n; i++)
            d[i] = z[i] + beta * d[i];
        ztr = ztr_new;
    }
    return steps;
}

static void precond(const struct sl_objective *o, const double *diag, double *M) {
    const struct sl_obj_shape *sh = sl_obj_shape(o);
    for (int64_t i = 0; i < sh->n_loc; i++)
        M[i] = (1.0 - PCG_ALPHA) * sh->l2 + PCG_ALPHA * diag[i];
    /* Without regularisation (lambda = 0) or on the intercept the identity
     * part is 0: keep M positive. */
    for (int64_t i = 0; i < sh->n_loc; i++)
        if (!(M[i] > 1e-12)) M[i] = M[i] > 0 ? M[i] + 1e-12 : 1e-12;
}

/* CG's relative residual at gradient norm gnorm, target the norm that
 * ends the fit (0: none). */
static double cg_eta(double gnorm, double target) {
    const double land = gnorm > 0 ? CG_LAND * target / gnorm : 0.0;
    return fmax(CG_EPS, fmin(CG_EPS_MAX, land));
}

/* TRON's trust-region radius after a step of M-norm snorm whose predicted
 * reduction was prered and actual one actred, gs = g.s, df = F(w + s) - F(w). */
static double next_radius(double delta, double snorm, double gs, double df, double actred,
                          double prered) {
    const double eta0 = 1e-4, eta1 = 0.25, eta2 = 0.75;
    const double sigma1 = 0.25, sigma2 = 0.5, sigma3 = 4.0;
    double denom = df - gs;
    double alpha = denom <= 0 ? sigma3 : fmax(sigma1, -0.5 * (gs / denom));
    if (actred < eta0 * prered) return fmin(fmax(alpha, sigma1) * snorm, sigma2 * delta);
    if (actred < eta1 * prered) return fmax(sigma1 * delta, fmin(alpha * snorm, sigma2 * delta));
    if (actred < eta2 * prered) return fmax(sigma1 * delta, fmin(alpha * snorm, sigma3 * delta));
    return fmax(delta, fmin(alpha * snorm, sigma3 * delta));
}

/* Newton's working vectors, all (n_loc): this rank's slices (objective.h),
 * in one allocation. */
struct newton {
    double *mem;
    double *g, *g_new, *diag, *diag_new, *M, *s, *w_new;
    struct pcg_work wk;
};

static void newton_alloc(struct newton *nt, int64_t n) {
    double *m = sl_calloc((size_t)(11 * (n ? n : 1)), sizeof(double));
    *nt = (struct newton){.mem = m,
                          .g = m,
                          .g_new = m + n,
                          .diag = m + 2 * n,
                          .diag_new = m + 3 * n,
                          .M = m + 4 * n,
                          .s = m + 5 * n,
                          .w_new = m + 6 * n,
                          .wk = {.r = m + 7 * n, .z = m + 8 * n, .d = m + 9 * n, .hd = m + 10 * n}};
}

/* The first evaluation: gradient, diagonal, preconditioner and TRON's
 * initial radius ||g||_{M^-1}. */
static enum sl_status newton_start(struct sl_objective *o, const double *w, struct newton *nt,
                                   struct sl_fg_info *cur, double *delta) {
    const int64_t n = sl_obj_shape(o)->n_loc;
    enum sl_status st = sl_obj_fg(o, w, nt->g, nt->diag, cur);
    if (st) return st;
    sl_obj_accept(o);
    precond(o, nt->diag, nt->M);
    double d = 0.0;
    for (int64_t i = 0; i < n; i++)
        d += nt->g[i] * nt->g[i] / nt->M[i];
    sl_obj_sum(o, &d, 1);
    *delta = sqrt(d);
    return SL_OK;
}

/* w_new becomes the iterate, with its gradient and diagonal. */
static void newton_accept(struct sl_objective *o, double *w, struct newton *nt) {
    const size_t bytes = sizeof(double) * (size_t)sl_obj_shape(o)->n_loc;
    memcpy(w, nt->w_new, bytes);
    memcpy(nt->g, nt->g_new, bytes);
    memcpy(nt->diag, nt->diag_new, bytes);
    sl_obj_accept(o);
    precond(o, nt->diag, nt->M);
}

/* What Newton carries from one pass of its loop to the next; the rest
 * (gradient, diagonal, preconditioner) is evaluated again at w, to the same
 * bits. */
struct newton_top {
    int64_t iter, cg_in_iter, passes;
    int64_t direct; /* the explicit-Hessian solver is on (AUTO may switch it on mid-run) */
    double delta, gnorm0;
    struct sl_fg_info cur;
};

/* s <- the state at the top of the loop, pointing into top and w. */
static void newton_state(struct sl_optim_state *s, struct sl_objective *o, const double *w,
                         const struct newton_top *t, int64_t *i64, double *f64) {
    i64[0] = t->iter;
    i64[1] = t->cg_in_iter;
    i64[2] = t->passes;
    i64[3] = t->direct;
    f64[0] = t->delta;
    f64[1] = t->gnorm0;
    sl_info_pack(&t->cur, f64 + 2);
    const int64_t n = sl_obj_shape(o)->n_loc;
    *s = (struct sl_optim_state){.n = 0};
    sl_state_add(s, "newton.w", SL_STATE_SLICE, 8, 1, n, w);
    sl_state_add(s, "newton.i64", SL_STATE_SAME, 8, 1, 3, i64);
    sl_state_add(s, "newton.f64", SL_STATE_SAME, 8, 1, 6, f64);
    sl_state_add(s, "newton.direct", SL_STATE_SAME, 8, 1, 1, i64 + 3);
}

/* Starts afresh from w, or from a saved state (w <- its iterate). */
static enum sl_status newton_begin(struct sl_objective *o, double *w, struct newton *nt,
                                   const struct sl_optim_state *rs, double gnorm_ref,
                                   struct newton_top *t) {
    memset(t, 0, sizeof *t);
    /* An empty state: stopped before the first pass of the loop. */
    if (!rs || !sl_state_find(rs, "newton.i64")) {
        enum sl_status st = newton_start(o, w, nt, &t->cur, &t->delta);
        t->gnorm0 = gnorm_ref > 0 ? gnorm_ref : t->cur.grad_norm;
        return st;
    }
    int64_t i64[3];
    double f64[6];
    if (sl_state_get(rs, "newton.w", 8, sl_obj_shape(o)->n_loc, w) ||
        sl_state_get(rs, "newton.i64", 8, 3, i64) || sl_state_get(rs, "newton.f64", 8, 6, f64))
        return SL_ERR_ARG;
    t->iter = i64[0];
    t->cg_in_iter = i64[1];
    t->passes = i64[2];
    t->delta = f64[0];
    t->gnorm0 = f64[1];
    /* Saved since the explicit-Hessian solver came; absent in older states. */
    if (sl_state_get(rs, "newton.direct", 8, 1, &t->direct)) t->direct = 0;
    sl_info_unpack(f64 + 2, &t->cur);
    double delta_start;
    struct sl_fg_info at_w;
    enum sl_status st = newton_start(o, w, nt, &at_w, &delta_start);
    sl_obj_set_passes(o, i64[2]);
    return st;
}

enum sl_status sl_newton(struct sl_objective *o, double *w, const struct sl_optim_opts *opt,
                         sl_iter_fn cb, void *ctx, const struct sl_optim_ckpt *ck,
                         struct sl_optim_result *res) {
    const double eta0 = 1e-4;
    const int64_t n = sl_obj_shape(o)->n_loc;
    struct newton nt;
    newton_alloc(&nt, n);
    struct sl_fg_info trial;
    memset(res, 0, sizeof *res);
    struct newton_top top;
    const struct sl_optim_state *rs = ck ? ck->resume : NULL;
    enum sl_status st = newton_begin(o, w, &nt, rs, opt->gnorm_ref, &top);
    if (st == SL_ERR_ARG) {
        free(nt.mem);
        return st;
    }
    /* Small dim: the step from the explicit Hessian (newton_direct.h). */
    struct sl_newton_direct dx;
    sl_newton_direct_init(&dx, o, opt->newton_solver);
    if (top.direct && dx.H) dx.on = 1; /* as it was when the state was saved */
    if (!st && rs) st = sl_newton_direct_resume(&dx, o, rs, w);
    /* Whether top holds a state to save (not when stopped in the first evaluation). */
    const int have_top = st == SL_OK || sl_state_find(rs, "newton.i64");
    /* The loop's state lives in top (saved at every pass) under short names. */
    int64_t *const iter = &top.iter, *const cg_in_iter = &top.cg_in_iter;
    double *const delta = &top.delta;
    struct sl_fg_info *const cur = &top.cur;
    const double gnorm0 = top.gnorm0;
    int converged = !st && gnorm0 == 0.0;
    struct sl_step_clock clock;
    sl_step_clock_start(&clock, o);
    struct sl_optim_state ss;
    int64_t ss_i64[4];
    double ss_f64[6];
    while (!st && !converged && *iter < opt->max_iter) {
        top.passes = sl_obj_passes(o);
        top.direct = dx.on;
        newton_state(&ss, o, w, &top, ss_i64, ss_f64);
        sl_newton_direct_save(&dx, &ss);
        sl_ckpt_offer(ck, &ss, 0);
        int64_t cg = 0;
        if (sl_newton_direct_step(&dx, o, w, *delta, nt.g, nt.M, nt.s, nt.wk.r)) {
            cg = dx.steps; /* preconditioned by an earlier point's factor */
        } else {
            cg = trpcg(o, *delta, nt.g, nt.M, nt.s, &nt.wk,
                       cg_eta(cur->grad_norm, opt->tol * gnorm0));
            sl_newton_direct_observe(&dx, cg);
        }
        if (cg < 0)
            st = SL_ERR_INTERRUPTED;
        else
            *cg_in_iter += cg;
        if (st) break;
        for (int64_t i = 0; i < n; i++)
            nt.w_new[i] = w[i] + nt.s[i];
        double q[2] = {sl_dot(nt.g, nt.s, n), sl_dot(nt.s, nt.wk.r, n)};
        sl_obj_sum(o, q, 2);
        const double gs = q[0], prered = -0.5 * (gs - q[1]);
        if ((st = sl_obj_fg(o, nt.w_new, nt.g_new, nt.diag_new, &trial))) break;
        const double actred = cur->objective - trial.objective;
        double snorm = sl_dot_m(nt.s, nt.M, nt.s, n);
        sl_obj_sum(o, &snorm, 1);
        snorm = sqrt(snorm);
        if (*iter == 0) *delta = fmin(*delta, snorm);
        *delta = next_radius(*delta, snorm, gs, trial.objective - cur->objective, actred, prered);
        if (actred > eta0 * prered) {
            const double f_prev = cur->objective;
            (*iter)++;
            newton_accept(o, w, &nt);
            sl_newton_direct_moved(&dx);
            *cur = trial;
            sl_step_report(&clock, o, cb, ctx, *iter, cur, *cg_in_iter, w);
            *cg_in_iter = 0;
            if ((converged = sl_converged(cur, f_prev, gnorm0, opt->tol))) break;
        }
        /* Nothing left to gain at double precision: as TRON, stop here. */
        if (fabs(actred) <= 1e-12 * fabs(cur->objective) &&
            fabs(prered) <= 1e-12 * fabs(cur->objective)) {
            converged = 1;
            break;
        }
        if (actred <= 0 && prered <= 0) break;
    }
    /* A stop leaves w, the radius and the counts as they were at the top of
     * the loop: that state is saved, and a resumed run repeats the pass. */
    if (st == SL_ERR_INTERRUPTED) {
        if (have_top) {
            newton_state(&ss, o, w, &top, ss_i64, ss_f64);
            sl_newton_direct_save(&dx, &ss);
        } else {
            ss.n = 0;
        }
        sl_ckpt_offer(ck, &ss, 1);
    }
    *res = (struct sl_optim_result){.iterations = *iter, .converged = converged, .final = *cur};
    sl_newton_direct_free(&dx);
    free(nt.mem);
    return st;
}
