/* lbfgs.c - full-batch L-BFGS (two-loop recursion, Nocedal & Wright Alg. 7.4)
 * with a line search meeting the strong Wolfe conditions (Alg. 3.5/3.6 with
 * safeguarded cubic interpolation). Each evaluation is one fused pass over
 * the shard, its gradient summed over the ranks (objective.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/optim.h"
#include "vec.h"

#define WOLFE_C1 1e-4
#define WOLFE_C2 0.9
#define LS_MAX_EVALS 25

/* A point along the search line: x = w + a p, its value and slope. */
struct ls_point {
    double a, f, d;
};

struct ls_ctx {
    struct sl_objective *o;
    const double *w, *p;
    double *x, *gx; /* (n_loc) the last evaluated point and its gradient */
    struct sl_fg_info info;
    int evals;
};

static enum sl_status ls_eval(struct ls_ctx *c, double a, struct ls_point *pt) {
    const int64_t n = c->o->n_loc;
    for (int64_t i = 0; i < n; i++) c->x[i] = c->w[i] + a * c->p[i];
    enum sl_status st = sl_obj_fg(c->o, c->x, c->gx, NULL, &c->info);
    c->evals++;
    pt->a = a;
    pt->f = c->info.objective;
    pt->d = sl_dot(c->gx, c->p, n);
    sl_obj_sum(c->o, &pt->d, 1);
    return st;
}

/* Minimiser of the cubic through two points with slopes, kept inside
 * [lo + 0.1 w, hi - 0.1 w] of the bracket; bisection when it is not defined. */
static double cubic_min(const struct ls_point *p1, const struct ls_point *p2) {
    double lo = fmin(p1->a, p2->a), hi = fmax(p1->a, p2->a), width = hi - lo;
    double d1 = p1->d + p2->d - 3.0 * (p1->f - p2->f) / (p1->a - p2->a);
    double disc = d1 * d1 - p1->d * p2->d;
    double a = 0.5 * (lo + hi);
    if (disc >= 0 && isfinite(disc)) {
        double d2 = copysign(sqrt(disc), p2->a - p1->a);
        double t = p2->a - (p2->a - p1->a) * (p2->d + d2 - d1) / (p2->d - p1->d + 2.0 * d2);
        if (isfinite(t)) a = t;
    }
    return fmin(fmax(a, lo + 0.1 * width), hi - 0.1 * width);
}

/* Returns SL_OK with *found set when a strong Wolfe point was evaluated last
 * (c->x, c->gx, c->info hold it). */
static enum sl_status wolfe_search(struct ls_ctx *c, double f0, double d0, double a1, int *found) {
    struct ls_point prev = {0.0, f0, d0}, cur, lo, hi;
    enum sl_status st;
    *found = 0;
    double a = a1;
    for (;;) {
        if (c->evals >= LS_MAX_EVALS) return SL_OK;
        if ((st = ls_eval(c, a, &cur))) return st;
        if (!isfinite(cur.f) || cur.f > f0 + WOLFE_C1 * a * d0 || (c->evals > 1 && cur.f >= prev.f)) {
            lo = prev;
            hi = cur;
            break;
        }
        if (fabs(cur.d) <= -WOLFE_C2 * d0) {
            *found = 1;
            return SL_OK;
        }
        if (cur.d >= 0) {
            lo = cur;
            hi = prev;
            break;
        }
        prev = cur;
        a *= 2.0;
    }
    /* zoom: lo has the lower value and satisfies sufficient decrease. */
    while (c->evals < LS_MAX_EVALS) {
        double at = isfinite(hi.f) ? cubic_min(&lo, &hi) : 0.5 * (lo.a + hi.a);
        if ((st = ls_eval(c, at, &cur))) return st;
        if (!isfinite(cur.f) || cur.f > f0 + WOLFE_C1 * at * d0 || cur.f >= lo.f) {
            hi = cur;
        } else {
            if (fabs(cur.d) <= -WOLFE_C2 * d0) {
                *found = 1;
                return SL_OK;
            }
            if (cur.d * (hi.a - lo.a) >= 0) hi = lo;
            lo = cur;
        }
        if (fabs(hi.a - lo.a) <= 1e-16 * fmax(fabs(lo.a), 1.0)) break;
    }
    /* No Wolfe point: accept lo if it decreased F (re-evaluated so that c->x
     * and c->gx hold it), which still makes progress. */
    if (lo.a > 0 && lo.f < f0) {
        if ((st = ls_eval(c, lo.a, &cur))) return st;
        *found = cur.f < f0;
    }
    return SL_OK;
}

/* One sweep of the two-loop recursion over this rank's slices of the vectors:
 * p <- (p + a x) * scale, then returns z . p over the slice with the new p
 * (0 without z).
 * Each step of the recursion is an update followed by the next step's dot
 * product; doing both in one pass over p halves the passes (the recursion
 * took a third of L-BFGS's time at a million columns). Four partial sums, as
 * in vec.h, so the results are those of the separate loops. */
static double sweep(double a, const float *x, double scale, double *p, const float *z,
                    int64_t n) {
    if (!z) {
        for (int64_t i = 0; i < n; i++) p[i] = (p[i] + a * (double)x[i]) * scale;
        return 0.0;
    }
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        for (int u = 0; u < 4; u++) {
            p[i + u] = (p[i + u] + a * (double)x[i + u]) * scale;
            s[u] += (double)z[i + u] * p[i + u];
        }
    }
    for (; i < n; i++) {
        p[i] = (p[i] + a * (double)x[i]) * scale;
        s[0] += (double)z[i] * p[i];
    }
    return (s[0] + s[1]) + (s[2] + s[3]);
}

enum sl_status sl_lbfgs(struct sl_objective *o, double *w, const struct sl_optim_opts *opt,
                        sl_iter_fn cb, void *ctx, struct sl_optim_result *res) {
    const int64_t n = o->n_loc;
    const int m = opt->lbfgs_m > 0 ? opt->lbfgs_m : 10;
    /* Every vector here is this rank's slice, (n_loc) (objective.h): each dot
     * product is summed over the ranks.
     * S, Y: (m, n_loc) ring buffers of steps and gradient changes, kept in
     * single precision. They only shape the search direction, which the line
     * search then checks against the exact objective and gradient, and rho
     * comes from the stored pairs themselves, so the implied inverse Hessian
     * stays positive definite; the optimum reached is the same. At a million
     * columns and m = 10 this saves 80 MB (divided by the rank count) per
     * rank: the history is most of L-BFGS's memory beside the shard. */
    const int64_t n1 = n ? n : 1;
    float *hist = sl_calloc((size_t)(2 * m) * (size_t)n1, sizeof(float));
    float *S = hist, *Y = hist + (size_t)m * n;
    double *mem = sl_calloc((size_t)(4 * n1), sizeof(double));
    double *g = mem, *p = g + n, *x = p + n, *gx = x + n;
    double *rho = sl_calloc((size_t)m, sizeof(double));
    double *yy = sl_calloc((size_t)m, sizeof(double)); /* y . y of each pair */
    double *alpha = sl_calloc((size_t)m, sizeof(double));
    struct sl_fg_info cur;
    memset(&cur, 0, sizeof cur);
    memset(res, 0, sizeof *res);
    int64_t iter = 0;
    int converged = 0, k = 0, head = 0; /* k stored pairs, newest at head-1 */

    enum sl_status st = sl_obj_fg(o, w, g, NULL, &cur);
    const double gnorm0 = cur.grad_norm;
    converged = gnorm0 == 0.0;
    double t_step = sl_wtime(), ar_step = o->comm->allreduce_seconds;
    while (!st && !converged && iter < opt->max_iter) {
        /* p = -H g by the two-loop recursion (pair j = 0 is the newest),
         * scaled by gamma = s.y / y.y of the newest pair in between. */
        for (int64_t i = 0; i < n; i++) p[i] = -g[i];
        if (k > 0) {
#define PAIR(j) ((head - 1 - (j) + m) % m)
            const int nw = PAIR(0);
            const double gamma = 1.0 / (rho[nw] * yy[nw]);
            double dot = sl_dot_fd(S + (size_t)nw * n, p, n);
            sl_obj_sum(o, &dot, 1);
            for (int j = 0; j < k; j++) {
                const int idx = PAIR(j);
                alpha[idx] = rho[idx] * dot;
                const int last = j == k - 1;
                const float *next = last ? Y + (size_t)PAIR(k - 1) * n : S + (size_t)PAIR(j + 1) * n;
                dot = sweep(-alpha[idx], Y + (size_t)idx * n, last ? gamma : 1.0, p, next, n);
                sl_obj_sum(o, &dot, 1);
            }
            for (int j = k - 1; j >= 0; j--) {
                const int idx = PAIR(j);
                const double beta = rho[idx] * dot;
                const float *next = j > 0 ? Y + (size_t)PAIR(j - 1) * n : NULL;
                dot = sweep(alpha[idx] - beta, S + (size_t)idx * n, 1.0, p, next, n);
                if (next) sl_obj_sum(o, &dot, 1);
            }
#undef PAIR
        }
        double d0 = sl_dot(g, p, n);
        sl_obj_sum(o, &d0, 1);
        if (!(d0 < 0)) { /* not a descent direction: forget the history */
            for (int64_t i = 0; i < n; i++) p[i] = -g[i];
            d0 = -sl_dot(g, g, n);
            sl_obj_sum(o, &d0, 1);
            k = 0;
        }
        double a1 = k == 0 ? fmin(1.0, 1.0 / sqrt(-d0)) : 1.0;
        struct ls_ctx lc = {o, w, p, x, gx, {0, 0, 0, 0}, 0};
        int found = 0;
        st = wolfe_search(&lc, cur.objective, d0, a1, &found);
        if (st) break;
        if (!found) {
            if (k == 0) {
                /* Even steepest descent cannot lower F: F is flat at double
                 * precision. Converged if the gradient has shrunk a lot. */
                converged = cur.grad_norm <= 1e-6 * gnorm0;
                break;
            }
            k = 0;             /* retry from steepest descent */
            continue;
        }
        /* s = x - w, y = gx - g, stored when the curvature is positive. */
        float *sk = S + (size_t)head * n, *yk = Y + (size_t)head * n;
        for (int64_t i = 0; i < n; i++) {
            sk[i] = (float)(x[i] - w[i]);
            yk[i] = (float)(gx[i] - g[i]);
        }
        double q[3] = {sl_dot_ff(sk, yk, n), sl_dot_ff(yk, yk, n), sl_dot_ff(sk, sk, n)};
        sl_obj_sum(o, q, 3);
        double sy = q[0], yky = q[1];
        if (sy > 1e-16 * sqrt(q[2] * yky)) {
            rho[head] = 1.0 / sy;
            yy[head] = yky;
            head = (head + 1) % m;
            if (k < m) k++;
        }
        double f_prev = cur.objective;
        memcpy(w, x, sizeof(double) * (size_t)n);
        memcpy(g, gx, sizeof(double) * (size_t)n);
        cur = lc.info;
        iter++;
        if (cb) {
            struct sl_iter_info it = {iter, cur.objective, cur.logloss, cur.accuracy, cur.grad_norm,
                                      sl_wtime() - t_step, o->comm->allreduce_seconds - ar_step,
                                      o->passes, 0};
            cb(&it, w, ctx);
        }
        t_step = sl_wtime();
        ar_step = o->comm->allreduce_seconds;
        if (cur.grad_norm <= opt->tol * gnorm0) converged = 1;
        else if (f_prev - cur.objective <= 1e-3 * opt->tol * fabs(cur.objective)) converged = 1;
    }
    res->iterations = iter;
    res->converged = converged;
    res->final = cur;
    free(rho);
    free(yy);
    free(alpha);
    free(mem);
    free(hist);
    return st;
}
