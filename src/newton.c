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

#include "shardlearn/optim.h"
#include "vec.h"

/* The preconditioner mixes the identity (scaled by lambda, so the mix is
 * independent of how F is scaled) with the Hessian diagonal, as TRON does. */
#define PCG_ALPHA 0.01
#define CG_EPS 0.1

struct pcg_work {
    double *r, *z, *d, *hd; /* (dim) each */
};

/* Solves H s = -g approximately inside ||s||_M <= delta. r <- -g - H s.
 * Returns the number of CG steps (Hessian-vector products). */
static int64_t trpcg(struct sl_objective *o, double delta, const double *g, const double *M,
                     double *s, struct pcg_work *wk) {
    const int64_t n = o->n_loc;
    double *r = wk->r, *z = wk->z, *d = wk->d, *hd = wk->hd;
    for (int64_t i = 0; i < n; i++) {
        s[i] = 0.0;
        r[i] = -g[i];
        z[i] = r[i] / M[i];
        d[i] = z[i];
    }
    double ztr = sl_dot(z, r, n);
    sl_obj_sum(o, &ztr, 1);
    const double cgtol = CG_EPS * sqrt(ztr);
    int64_t steps = 0;
    const int64_t max_steps = o->dim > 5 ? o->dim : 5;
    while (steps < max_steps) {
        if (sqrt(ztr) <= cgtol) break;
        steps++;
        sl_obj_hv(o, d, hd);
        double dhd = sl_dot(d, hd, n);
        sl_obj_sum(o, &dhd, 1);
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
        for (int64_t i = 0; i < n; i++) z[i] = r[i] / M[i];
        double ztr_new = sl_dot(z, r, n);
        sl_obj_sum(o, &ztr_new, 1);
        double beta = ztr_new / ztr;
        for (int64_t i = 0; i < n; i++) d[i] = z[i] + beta * d[i];
        ztr = ztr_new;
    }
    return steps;
}

static void precond(const struct sl_objective *o, const double *diag, double *M) {
    for (int64_t i = 0; i < o->n_loc; i++) M[i] = (1.0 - PCG_ALPHA) * o->l2 + PCG_ALPHA * diag[i];
    /* Without regularisation (lambda = 0) or on the intercept the identity
     * part is 0: keep M positive. */
    for (int64_t i = 0; i < o->n_loc; i++)
        if (!(M[i] > 1e-12)) M[i] = M[i] > 0 ? M[i] + 1e-12 : 1e-12;
}

enum sl_status sl_newton(struct sl_objective *o, double *w, const struct sl_optim_opts *opt,
                         sl_iter_fn cb, void *ctx, struct sl_optim_result *res) {
    const double eta0 = 1e-4, eta1 = 0.25, eta2 = 0.75;
    const double sigma1 = 0.25, sigma2 = 0.5, sigma3 = 4.0;
    const int64_t n = o->n_loc;
    /* One allocation for the working vectors, all (n_loc): this rank's
     * slices (objective.h). */
    double *mem = sl_calloc((size_t)(11 * (n ? n : 1)), sizeof(double));
    double *g = mem, *g_new = mem + n, *diag = mem + 2 * n, *diag_new = mem + 3 * n;
    double *M = mem + 4 * n, *s = mem + 5 * n, *w_new = mem + 6 * n;
    struct pcg_work wk = {mem + 7 * n, mem + 8 * n, mem + 9 * n, mem + 10 * n};
    struct sl_fg_info cur, trial;
    memset(res, 0, sizeof *res);

    int64_t iter = 0;
    int converged = 0;
    memset(&cur, 0, sizeof cur);
    enum sl_status st = sl_obj_fg(o, w, g, diag, &cur);
    if (st) goto out;
    sl_obj_accept(o);
    precond(o, diag, M);
    const double gnorm0 = cur.grad_norm;
    /* Initial radius: ||g||_{M^-1}, as TRON. */
    double delta = 0.0;
    for (int64_t i = 0; i < n; i++) delta += g[i] * g[i] / M[i];
    sl_obj_sum(o, &delta, 1);
    delta = sqrt(delta);
    converged = gnorm0 == 0.0;
    double t_step = sl_wtime(), ar_step = o->comm->allreduce_seconds;
    int64_t cg_in_iter = 0;
    while (!converged && iter < opt->max_iter) {
        cg_in_iter += trpcg(o, delta, g, M, s, &wk);
        for (int64_t i = 0; i < n; i++) w_new[i] = w[i] + s[i];
        double q[2] = {sl_dot(g, s, n), sl_dot(s, wk.r, n)};
        sl_obj_sum(o, q, 2);
        double gs = q[0];
        double prered = -0.5 * (gs - q[1]);
        st = sl_obj_fg(o, w_new, g_new, diag_new, &trial);
        if (st) goto out;
        double actred = cur.objective - trial.objective;
        double snorm = sl_dot_m(s, M, s, n);
        sl_obj_sum(o, &snorm, 1);
        snorm = sqrt(snorm);
        if (iter == 0) delta = fmin(delta, snorm);
        double denom = trial.objective - cur.objective - gs;
        double alpha = denom <= 0 ? sigma3 : fmax(sigma1, -0.5 * (gs / denom));
        if (actred < eta0 * prered)
            delta = fmin(fmax(alpha, sigma1) * snorm, sigma2 * delta);
        else if (actred < eta1 * prered)
            delta = fmax(sigma1 * delta, fmin(alpha * snorm, sigma2 * delta));
        else if (actred < eta2 * prered)
            delta = fmax(sigma1 * delta, fmin(alpha * snorm, sigma3 * delta));
        else
            delta = fmax(delta, fmin(alpha * snorm, sigma3 * delta));

        if (actred > eta0 * prered) {
            /* Accepted: w_new becomes the iterate, with its gradient and diagonal. */
            double f_prev = cur.objective;
            iter++;
            memcpy(w, w_new, sizeof(double) * (size_t)n);
            memcpy(g, g_new, sizeof(double) * (size_t)n);
            memcpy(diag, diag_new, sizeof(double) * (size_t)n);
            cur = trial;
            sl_obj_accept(o);
            precond(o, diag, M);
            if (cb) {
                struct sl_iter_info it = {iter, cur.objective, cur.logloss, cur.accuracy,
                                          cur.grad_norm, sl_wtime() - t_step,
                                          o->comm->allreduce_seconds - ar_step, o->passes,
                                          cg_in_iter};
                cb(&it, w, ctx);
            }
            t_step = sl_wtime();
            ar_step = o->comm->allreduce_seconds;
            cg_in_iter = 0;
            if (cur.grad_norm <= opt->tol * gnorm0) converged = 1;
            else if (f_prev - cur.objective <= 1e-3 * opt->tol * fabs(cur.objective)) converged = 1;
            if (converged) break;
        }
        /* Nothing left to gain at double precision: as TRON, stop here. */
        if (fabs(actred) <= 1e-12 * fabs(cur.objective) && fabs(prered) <= 1e-12 * fabs(cur.objective)) {
            converged = 1;
            break;
        }
        if (actred <= 0 && prered <= 0) break;
    }
out:
    res->iterations = iter;
    res->converged = converged;
    res->final = cur;
    free(mem);
    return st;
}
