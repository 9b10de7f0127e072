/* lbfgs.c - full-batch L-BFGS (two-loop recursion, Nocedal & Wright Alg. 7.4)
 * with a line search meeting the strong Wolfe conditions (Alg. 3.5/3.6 with
 * safeguarded cubic interpolation). Each evaluation is one fused pass over
 * the shard, its gradient summed over the ranks (objective.h).
 *
 * With an L1 term (sl_obj_shape's l1 > 0) it is OWL-QN (Andrew and Gao
 * 2007): the two-loop runs on the pseudo-gradient with the history of the
 * smooth part's gradients, the direction's weights are zeroed where they
 * disagree in sign with the steepest descent (the unpenalised intercepts
 * have no orthant and keep theirs), and a backtracking search projects each
 * trial point onto the orthant of the current one, so that weights reach 0
 * exactly and stay there until the pseudo-gradient moves them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim/solvers.h"
#include "optim/vec.h"

#define WOLFE_C1 1e-4
#define WOLFE_C2 0.9
#define LS_MAX_EVALS 25
#define OWL_MAX_EVALS 50

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
    const int64_t n = sl_obj_shape(c->o)->n_loc;
    for (int64_t i = 0; i < n; i++)
        c->x[i] = c->w[i] + a * c->p[i];
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
    struct ls_point prev = {.a = 0.0, .f = f0, .d = d0}, cur, lo, hi;
    enum sl_status st;
    *found = 0;
    double a = a1;
    for (;;) {
        if (c->evals >= LS_MAX_EVALS) return SL_OK;
        if ((st = ls_eval(c, a, &cur))) return st;
        if (!isfinite(cur.f) || cur.f > f0 + WOLFE_C1 * a * d0 ||
            (c->evals > 1 && cur.f >= prev.f)) {
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

/* OWL-QN. Of this rank's slice, the elements [0, nw) that are weights (the
 * rest is the intercept, never penalised nor projected). */
static int64_t slice_weights(const struct sl_obj_shape *sh) {
    const int64_t nw = sh->n_cols - sh->lo;
    return nw < 0 ? 0 : nw < sh->n_loc ? nw : sh->n_loc;
}

/* p_i <- 0 where sign(p_i) != sign(-pg_i), for the n weights of the slice:
 * the direction keeps only the weights along which it descends. Not the
 * intercepts: F is smooth in them, and on uncentred columns the quasi-Newton
 * step often has to move them uphill of their own gradient (zeroing that
 * made OWL-QN 10x slower than L-BFGS at a vanishing L1 term). */
static void owl_constrain(double *p, const double *pg, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (p[i] * pg[i] >= 0) p[i] = 0.0;
}

/* x <- w + a p, each weight set to 0 where it left the orthant of w (at
 * w_i = 0 the orthant of -pg_i, the way the step goes); then F there. The
 * sufficient decrease is measured along the projected step: pg . (x - w). */
static enum sl_status owl_eval(struct ls_ctx *c, const double *pg, double a, double *f,
                               double *dec) {
    const struct sl_obj_shape *sh = sl_obj_shape(c->o);
    const int64_t n = sh->n_loc, nw = slice_weights(sh);
    double d = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double xi = c->w[i] + a * c->p[i];
        if (i < nw) {
            const double orth = c->w[i] != 0 ? c->w[i] : -pg[i];
            if (xi * orth <= 0) xi = 0.0;
        }
        c->x[i] = xi;
        d += pg[i] * (xi - c->w[i]);
    }
    enum sl_status st = sl_obj_fg(c->o, c->x, c->gx, NULL, &c->info);
    c->evals++;
    sl_obj_sum(c->o, &d, 1);
    *f = c->info.objective;
    *dec = d;
    return st;
}

/* Backtracking from a1 (each trial the minimiser of a quadratic fit, within
 * [0.1, 0.5] of the last) to the first projected point with
 * F <= f0 + c1 pg . (x - w); *found as wolfe_search's. */
static enum sl_status owl_search(struct ls_ctx *c, const double *pg, double f0, double a1,
                                 int *found) {
    *found = 0;
    double a = a1, f, dec;
    while (c->evals < OWL_MAX_EVALS) {
        enum sl_status st = owl_eval(c, pg, a, &f, &dec);
        if (st) return st;
        if (isfinite(f) && dec < 0 && f <= f0 + WOLFE_C1 * dec) {
            *found = 1;
            return SL_OK;
        }
        if (!(dec < 0)) return SL_OK; /* the projection left no descent */
        /* The minimiser of the quadratic through f0, the slope dec / a and
         * f, kept in [0.1 a, 0.5 a]. */
        const double q = f - f0 - dec;
        const double at = isfinite(f) && q > 0 ? -dec * a / (2.0 * q) : 0.5 * a;
        a = fmin(fmax(at, 0.1 * a), 0.5 * a);
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
static double sweep(double a, const float *x, double scale, double *p, const float *z, int64_t n) {
    if (!z) {
        for (int64_t i = 0; i < n; i++)
            p[i] = (p[i] + a * (double)x[i]) * scale;
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

/* The history: S, Y: (m, n) ring buffers of steps and gradient changes, kept
 * in single precision. They only shape the search direction, which the line
 * search then checks against the exact objective and gradient, and rho
 * comes from the stored pairs themselves, so the implied inverse Hessian
 * stays positive definite; the optimum reached is the same. At a million
 * columns and m = 10 this saves 80 MB (divided by the rank count) per rank:
 * the history is most of L-BFGS's memory beside the shard. */
struct history {
    int m, k, head; /* k stored pairs, newest at head-1 */
    int64_t n;      /* n_loc */
    float *S, *Y;
    double *rho;   /* (m) 1 / s.y of each pair */
    double *yy;    /* (m) y.y of each pair */
    double *alpha; /* (m) the recursion's coefficients */
};

static void history_alloc(struct history *h, int m, int64_t n) {
    float *mem = sl_calloc((size_t)(2 * m) * (size_t)(n ? n : 1), sizeof(float));
    *h = (struct history){.m = m,
                          .n = n,
                          .S = mem,
                          .Y = mem + (size_t)m * n,
                          .rho = sl_calloc((size_t)m, sizeof(double)),
                          .yy = sl_calloc((size_t)m, sizeof(double)),
                          .alpha = sl_calloc((size_t)m, sizeof(double))};
}

static void history_free(struct history *h) {
    free(h->S);
    free(h->rho);
    free(h->yy);
    free(h->alpha);
}

/* Ring index of pair j, 0 the newest. */
static int pair(const struct history *h, int j) {
    return (h->head - 1 - j + h->m) % h->m;
}

/* p <- -H g by the two-loop recursion, scaled by gamma = s.y / y.y of the
 * newest pair in between. Every vector is this rank's slice, so each dot
 * product is summed over the ranks. */
static void two_loop(struct sl_objective *o, struct history *h, const double *g, double *p) {
    const int64_t n = h->n;
    const int k = h->k;
    for (int64_t i = 0; i < n; i++)
        p[i] = -g[i];
    if (k == 0) return;
    const int nw = pair(h, 0);
    const double gamma = 1.0 / (h->rho[nw] * h->yy[nw]);
    double dot = sl_dot_fd(h->S + (size_t)nw * n, p, n);
    sl_obj_sum(o, &dot, 1);
    for (int j = 0; j < k; j++) {
        const int idx = pair(h, j);
        h->alpha[idx] = h->rho[idx] * dot;
        const int last = j == k - 1;
        const float *next =
            last ? h->Y + (size_t)pair(h, k - 1) * n : h->S + (size_t)pair(h, j + 1) * n;
        dot = sweep(-h->alpha[idx], h->Y + (size_t)idx * n, last ? gamma : 1.0, p, next, n);
        sl_obj_sum(o, &dot, 1);
    }
    for (int j = k - 1; j >= 0; j--) {
        const int idx = pair(h, j);
        const double beta = h->rho[idx] * dot;
        const float *next = j > 0 ? h->Y + (size_t)pair(h, j - 1) * n : NULL;
        dot = sweep(h->alpha[idx] - beta, h->S + (size_t)idx * n, 1.0, p, next, n);
        if (next) sl_obj_sum(o, &dot, 1);
    }
}

/* s = x - w, y = gx - g, kept when the curvature is positive. */
static void history_push(struct sl_objective *o, struct history *h, const double *x,
                         const double *w, const double *gx, const double *g) {
    const int64_t n = h->n;
    float *sk = h->S + (size_t)h->head * n, *yk = h->Y + (size_t)h->head * n;
    for (int64_t i = 0; i < n; i++) {
        sk[i] = (float)(x[i] - w[i]);
        yk[i] = (float)(gx[i] - g[i]);
    }
    double q[3] = {sl_dot_ff(sk, yk, n), sl_dot_ff(yk, yk, n), sl_dot_ff(sk, sk, n)};
    sl_obj_sum(o, q, 3);
    double sy = q[0], yky = q[1];
    if (sy > 1e-16 * sqrt(q[2] * yky)) {
        h->rho[h->head] = 1.0 / sy;
        h->yy[h->head] = yky;
        h->head = (h->head + 1) % h->m;
        if (h->k < h->m) h->k++;
    }
}

/* d0 <- g.p, after replacing p by steepest descent (and forgetting the
 * history) when it is not a descent direction. */
static double descent_slope(struct sl_objective *o, struct history *h, const double *g, double *p) {
    const int64_t n = h->n;
    double d0 = sl_dot(g, p, n);
    sl_obj_sum(o, &d0, 1);
    if (!(d0 < 0)) {
        for (int64_t i = 0; i < n; i++)
            p[i] = -g[i];
        d0 = -sl_dot(g, g, n);
        sl_obj_sum(o, &d0, 1);
        h->k = 0;
    }
    return d0;
}

/* p <- the search direction at w and returns its slope: L-BFGS's from g,
 * or with owl OWL-QN's from the pseudo-gradient pg (computed here from w
 * and g), kept to the coordinates along which it descends. */
static double direction(struct sl_objective *o, struct history *h, const double *w, const double *g,
                        double *pg, double *p, int owl) {
    const double *dg = g;
    if (owl) {
        sl_obj_pseudo_grad(o, w, g, pg);
        dg = pg;
    }
    two_loop(o, h, dg, p);
    if (owl) owl_constrain(p, pg, slice_weights(sl_obj_shape(o)));
    return descent_slope(o, h, dg, p);
}

/* What L-BFGS carries from one pass of its loop to the next, besides w and
 * the history; the gradient is evaluated again at w, to the same bits. */
struct lbfgs_top {
    int64_t iter, k, head, passes;
    double gnorm0;
    struct sl_fg_info cur;
};

/* s <- the state at the top of the loop (k: the pairs in use there). */
static void lbfgs_state(struct sl_optim_state *s, const double *w, const struct history *h,
                        const struct lbfgs_top *t, int64_t *i64, double *f64) {
    i64[0] = t->iter;
    i64[1] = t->k;
    i64[2] = t->head;
    i64[3] = t->passes;
    i64[4] = h->m;
    f64[0] = t->gnorm0;
    sl_info_pack(&t->cur, f64 + 1);
    const int64_t n = h->n, m = h->m;
    *s = (struct sl_optim_state){.n = 0};
    sl_state_add(s, "lbfgs.w", SL_STATE_SLICE, 8, 1, n, w);
    sl_state_add(s, "lbfgs.S", SL_STATE_SLICE, 4, m, m * n, h->S);
    sl_state_add(s, "lbfgs.Y", SL_STATE_SLICE, 4, m, m * n, h->Y);
    sl_state_add(s, "lbfgs.rho", SL_STATE_SAME, 8, 1, m, h->rho);
    sl_state_add(s, "lbfgs.yy", SL_STATE_SAME, 8, 1, m, h->yy);
    sl_state_add(s, "lbfgs.i64", SL_STATE_SAME, 8, 1, 5, i64);
    sl_state_add(s, "lbfgs.f64", SL_STATE_SAME, 8, 1, 5, f64);
}

/* w, h and t <- a saved state; SL_ERR_ARG when it does not fit. */
static enum sl_status lbfgs_restore(const struct sl_optim_state *rs, double *w, struct history *h,
                                    struct lbfgs_top *t) {
    const int64_t n = h->n, m = h->m;
    int64_t i64[5];
    double f64[5];
    if (sl_state_get(rs, "lbfgs.i64", 8, 5, i64) || i64[4] != m ||
        sl_state_get(rs, "lbfgs.f64", 8, 5, f64) || sl_state_get(rs, "lbfgs.w", 8, n, w) ||
        sl_state_get(rs, "lbfgs.S", 4, m * n, h->S) ||
        sl_state_get(rs, "lbfgs.Y", 4, m * n, h->Y) ||
        sl_state_get(rs, "lbfgs.rho", 8, m, h->rho) || sl_state_get(rs, "lbfgs.yy", 8, m, h->yy))
        return SL_ERR_ARG;
    *t = (struct lbfgs_top){
        .iter = i64[0], .k = i64[1], .head = i64[2], .passes = i64[3], .gnorm0 = f64[0]};
    sl_info_unpack(f64 + 1, &t->cur);
    h->k = (int)t->k;
    h->head = (int)t->head;
    return SL_OK;
}

enum sl_status sl_lbfgs(struct sl_objective *o, double *w, const struct sl_optim_opts *opt,
                        sl_iter_fn cb, void *ctx, const struct sl_optim_ckpt *ck,
                        struct sl_optim_result *res) {
    const int64_t n = sl_obj_shape(o)->n_loc;
    struct history h;
    history_alloc(&h, opt->lbfgs_m > 0 ? opt->lbfgs_m : 10, n);
    /* Every vector here is this rank's slice, (n_loc) (objective.h). */
    double *mem = sl_calloc((size_t)(5 * (n ? n : 1)), sizeof(double));
    double *g = mem, *p = g + n, *x = p + n, *gx = x + n, *pg = gx + n;
    const int owl = sl_obj_shape(o)->l1 > 0; /* OWL-QN */
    memset(res, 0, sizeof *res);
    struct lbfgs_top top = {0};
    const struct sl_optim_state *rs = ck ? ck->resume : NULL;
    /* An empty state: stopped before the first pass of the loop. */
    const int resumed = sl_state_find(rs, "lbfgs.i64") != NULL;
    enum sl_status st = resumed ? lbfgs_restore(rs, w, &h, &top) : SL_OK;
    if (st) {
        history_free(&h);
        free(mem);
        return st;
    }
    struct sl_fg_info at_w = {0};
    st = sl_obj_fg(o, w, g, NULL, &at_w);
    if (resumed)
        sl_obj_set_passes(o, top.passes);
    else
        top = (struct lbfgs_top){.gnorm0 = opt->gnorm_ref > 0 ? opt->gnorm_ref : at_w.grad_norm,
                                 .cur = at_w};
    const int have_top = resumed || st == SL_OK;
    int64_t iter = top.iter;
    struct sl_fg_info cur = top.cur;
    const double gnorm0 = top.gnorm0;
    int converged = gnorm0 == 0.0;
    struct sl_step_clock clock;
    sl_step_clock_start(&clock, o);
    struct sl_optim_state ss;
    int64_t ss_i64[5];
    double ss_f64[5];
    while (!st && !converged && iter < opt->max_iter) {
        top = (struct lbfgs_top){.iter = iter,
                                 .k = h.k,
                                 .head = h.head,
                                 .passes = sl_obj_passes(o),
                                 .gnorm0 = gnorm0,
                                 .cur = cur};
        lbfgs_state(&ss, w, &h, &top, ss_i64, ss_f64);
        sl_ckpt_offer(ck, &ss, 0);
        const double d0 = direction(o, &h, w, g, pg, p, owl);
        const double a1 = h.k == 0 ? fmin(1.0, 1.0 / sqrt(-d0)) : 1.0;
        struct ls_ctx lc = {.o = o, .w = w, .p = p, .x = x, .gx = gx, .info = {0}, .evals = 0};
        int found = 0;
        st = owl ? owl_search(&lc, pg, cur.objective, a1, &found)
                 : wolfe_search(&lc, cur.objective, d0, a1, &found);
        if (st) break;
        if (!found) {
            if (h.k == 0) {
                /* Even steepest descent cannot lower F: F is flat at double
                 * precision. Converged if the gradient has shrunk a lot. */
                converged = cur.grad_norm <= 1e-6 * gnorm0;
                break;
            }
            h.k = 0; /* retry from steepest descent */
            continue;
        }
        history_push(o, &h, x, w, gx, g);
        const double f_prev = cur.objective;
        memcpy(w, x, sizeof(double) * (size_t)n);
        memcpy(g, gx, sizeof(double) * (size_t)n);
        cur = lc.info;
        iter++;
        sl_step_report(&clock, o, cb, ctx, iter, &cur, 0, w);
        converged = sl_converged(&cur, f_prev, gnorm0, opt->tol);
    }
    /* A stop leaves w, g and the stored pairs as they were at the top of
     * the loop (only k may have been cleared since: top keeps it). */
    if (st == SL_ERR_INTERRUPTED) {
        if (have_top)
            lbfgs_state(&ss, w, &h, &top, ss_i64, ss_f64);
        else
            ss.n = 0;
        sl_ckpt_offer(ck, &ss, 1);
    }
    *res = (struct sl_optim_result){.iterations = iter, .converged = converged, .final = cur};
    history_free(&h);
    free(mem);
    return st;
}
