/* newton_direct.c - Newton's step from the explicit Hessian (newton_direct.h).
 * Every rank holds the whole Hessian, summed with one allreduce, and factors
 * it itself: the same bits in, the same step out, so the ranks need no more
 * collectives than the two gathers of g and M. */
#include "optim/newton_direct.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optim/vec.h"
#include "shardlearn/log.h"
#include "shardlearn/optim.h"

/* LAPACK, from the OpenBLAS package's bundled LAPACK (or liblapack3), with
 * gfortran's calling convention: the hidden length of each CHARACTER
 * argument comes last. */
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_len);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda,
             double *b, const int *ldb, int *info, size_t uplo_len);

/* Without a CG solve seen yet, AUTO takes H when it costs at most this many
 * Hessian-vector passes: a TRON iteration at a small lambda takes tens of CG
 * steps (issue 17: 1,900 for 16 iterations on 12000 x 784). */
#define DIRECT_PRIOR_CG 30.0

void sl_newton_direct_init(struct sl_newton_direct *dx, struct sl_objective *o, int solver) {
    memset(dx, 0, sizeof *dx);
    const int64_t dim = sl_obj_shape(o)->dim;
    dx->dim = dim;
    if (!sl_obj_has_hessian(o)) { /* multinomial: K x K blocks not formed here */
        if (solver == SL_NEWTON_DIRECT && sl_obj_comm(o)->rank == 0)
            sl_warn("--newton-solver direct: no explicit Hessian for this loss; solving with cg");
        return;
    }
    if (solver == SL_NEWTON_DIRECT && dim > SL_NEWTON_DIRECT_MAX_DIM && sl_obj_comm(o)->rank == 0)
        sl_warn("--newton-solver direct: %lld weights is above %d (the Hessian would take "
                "%.0f MB a rank); solving with cg",
                (long long)dim, SL_NEWTON_DIRECT_MAX_DIM, 8e-6 * (double)dim * (double)dim);
    if (solver == SL_NEWTON_CG || dim > SL_NEWTON_DIRECT_MAX_DIM) return;
    dx->forced = solver == SL_NEWTON_DIRECT;
    dx->cost = sl_obj_hessian_cost(o);
    dx->H = sl_malloc(sizeof(double) * (size_t)(dim * dim));
    double *m = sl_malloc(sizeof(double) * (size_t)(9 * dim));
    double **vecs[9] = {&dx->g, &dx->M, &dx->sn, &dx->p, &dx->hp, &dx->s, &dx->rn, &dx->z, &dx->q};
    for (int k = 0; k < 9; k++)
        *vecs[k] = m + k * dim;
    dx->n_loc = sl_obj_shape(o)->n_loc;
    dx->wf = sl_calloc((size_t)(dx->n_loc ? dx->n_loc : 1), sizeof(double));
    dx->on = dx->forced || dx->cost <= DIRECT_PRIOR_CG;
}

void sl_newton_direct_free(struct sl_newton_direct *dx) {
    free(dx->H);
    free(dx->g);
    free(dx->wf);
    memset(dx, 0, sizeof *dx);
}

void sl_newton_direct_moved(struct sl_newton_direct *dx) {
    dx->fresh = 0;
    dx->have_sn = 0;
}

void sl_newton_direct_observe(struct sl_newton_direct *dx, int64_t cg) {
    if (dx->H && !dx->singular && (double)cg > dx->cost) dx->on = 1;
}

/* y <- H x = L (L^T x), from the factor. */
static void factor_mv(const struct sl_newton_direct *dx, const double *x, double *y) {
    const int n = (int)dx->dim;
    memcpy(y, x, sizeof(double) * (size_t)n);
    cblas_dtrmv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, n, dx->H, n, y, 1);
    cblas_dtrmv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, n, dx->H, n, y, 1);
}

/* H <- its Cholesky factor at the accepted point; 0 when H is not positive
 * definite. H is the same on every rank, but the verdict is agreed all the
 * same: a step one rank refuses would leave the ranks in different solvers. */
static int factor(struct sl_newton_direct *dx, struct sl_objective *o) {
    sl_obj_hessian(o, dx->H);
    /* Row-major lower is column-major upper: H = U^T U with U = L^T. */
    const int n = (int)dx->dim;
    int info = 0;
    dpotrf_("U", &n, dx->H, &n, &info, 1);
    double bad = info != 0 ? 1.0 : 0.0;
    sl_obj_sum(o, &bad, 1);
    dx->factored = dx->fresh = bad == 0.0;
    dx->last_pcg = 0;
    /* AUTO falls back to CG for good; DIRECT tries again at the next point. */
    if (!dx->factored && !dx->forced) dx->singular = 1;
    return dx->factored;
}

/* x <- H_f^-1 x, H_f the factored (possibly earlier) Hessian. */
static void factor_solve(const struct sl_newton_direct *dx, double *x) {
    const int n = (int)dx->dim, one = 1;
    int info = 0;
    dpotrs_("U", &n, &one, dx->H, &n, x, &n, &info, 1);
    SL_ASSERT(info == 0);
}

/* sn <- Newton's step at this point by conjugate gradients on H sn = -g with
 * Hessian-vector passes at this point, preconditioned by the factor of an
 * earlier point's H; rn <- -g - H sn. Whole vectors, the same on every rank
 * (each pass's allreduce hands every rank the same sum): one collective a
 * step. The forcing term min(0.1, sqrt(|g| / |g_0|)) tightens as |g| falls,
 * so the steps stay superlinear; with a near factor a step cuts the residual
 * many times over, so a tight solve costs a step or two. Returns the steps,
 * or -1 when they reached what a new factor costs (sn is then of no use). */
static int64_t pcg(struct sl_newton_direct *dx, struct sl_objective *o) {
    const int64_t n = dx->dim;
    double *x = dx->sn, *r = dx->rn, *z = dx->z, *d = dx->q, *hd = dx->hp;
    for (int64_t i = 0; i < n; i++) {
        x[i] = 0.0;
        r[i] = -dx->g[i];
    }
    memcpy(z, r, sizeof(double) * (size_t)n);
    factor_solve(dx, z);
    memcpy(d, z, sizeof(double) * (size_t)n);
    double rz = sl_dot(r, z, n);
    const double gnorm = sqrt(sl_dot(dx->g, dx->g, n));
    const double eta = dx->gnorm0 > 0 ? fmin(0.1, sqrt(gnorm / dx->gnorm0)) : 0.1;
    const double tol = eta * sqrt(rz);
    int64_t steps = 0;
    while (steps < n && sqrt(rz) > tol) {
        /* A factor this far off costs more than a new one: give up. */
        if ((double)steps >= dx->cost) return -1;
        steps++;
        sl_obj_hv_full(o, d, hd);
        const double dhd = sl_dot(d, hd, n);
        if (!(dhd > 0)) break; /* lambda = 0 and d in H's null space */
        const double alpha = rz / dhd;
        sl_axpy(alpha, d, x, n);
        sl_axpy(-alpha, hd, r, n);
        memcpy(z, r, sizeof(double) * (size_t)n);
        factor_solve(dx, z);
        const double rz_new = sl_dot(r, z, n);
        const double beta = rz_new / rz;
        for (int64_t i = 0; i < n; i++)
            d[i] = z[i] + beta * d[i];
        rz = rz_new;
    }
    return steps;
}

/* s <- the dogleg step inside ||s||_M <= delta, sn the Newton step, and
 * hp <- H p for the Cauchy direction p = -M^-1 g: from the factor when it is
 * this point's, else by a pass. c[0], c[1] <- the coefficients of
 * s = c[0] p + c[1] sn. */
static void dogleg(struct sl_newton_direct *dx, struct sl_objective *o, double delta, double c[2]) {
    const int64_t n = dx->dim;
    double *p = dx->p, *s = dx->s;
    /* Cauchy point along p: tau p with tau = g.M^-1 g / p.H p. */
    double gmg = 0.0;
    for (int64_t i = 0; i < n; i++) {
        p[i] = -dx->g[i] / dx->M[i];
        gmg -= dx->g[i] * p[i];
    }
    if (dx->fresh)
        factor_mv(dx, p, dx->hp);
    else
        sl_obj_hv_full(o, p, dx->hp);
    const double php = sl_dot(p, dx->hp, n);
    const double tau = gmg / php, pnorm = sqrt(gmg); /* ||p||_M^2 = g.M^-1 g */
    if (!(php > 0) || tau * pnorm >= delta) {
        c[0] = delta / pnorm;
        c[1] = 0.0;
    } else {
        /* ||pc + t (sn - pc)||_M = delta for t in [0, 1]. */
        double qa = 0.0, qb = 0.0, qc = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const double pc = tau * p[i], d = dx->sn[i] - pc;
            qa += d * dx->M[i] * d;
            qb += 2.0 * pc * dx->M[i] * d;
            qc += pc * dx->M[i] * pc;
        }
        qc -= delta * delta;
        const double t =
            qa > 0 ? (-qb + sqrt(fmax(qb * qb - 4.0 * qa * qc, 0.0))) / (2.0 * qa) : 0.0;
        c[0] = tau * (1.0 - t);
        c[1] = t;
    }
    for (int64_t i = 0; i < n; i++)
        s[i] = c[0] * p[i] + c[1] * dx->sn[i];
}

/* Newton's step at this point: exact from this point's factor, or by PCG
 * with an earlier one's (sn and rn kept for a retry at the same point). A
 * new factor is formed when there is none, or when the last PCG solve took
 * more than a quarter of what forming one costs: the solves lengthen as the
 * point moves away, and the next few would together cost more. Returns 0
 * when H is not positive definite. */
static int newton_step(struct sl_newton_direct *dx, struct sl_objective *o, const double *w) {
    const int64_t n = dx->dim;
    const int retry = dx->have_sn || dx->resume_sn;
    dx->resume_sn = 0;
    if (!dx->fresh && !retry && (!dx->factored || (double)dx->last_pcg > 0.25 * dx->cost)) {
        memcpy(dx->wf, w, sizeof(double) * (size_t)dx->n_loc);
        if (!factor(dx, o)) return 0;
    }
    dx->steps = 0;
    if (!dx->fresh && !dx->have_sn) {
        const int64_t steps = pcg(dx, o);
        if (steps >= 0) {
            dx->steps = dx->last_pcg = steps;
            dx->have_sn = 1;
            return 1;
        }
        /* The factor is too far off: a new one here, and its exact step. */
        dx->steps = (int64_t)ceil(dx->cost);
        memcpy(dx->wf, w, sizeof(double) * (size_t)dx->n_loc);
        if (!factor(dx, o)) return 0;
    }
    if (dx->fresh) {
        for (int64_t i = 0; i < n; i++)
            dx->sn[i] = -dx->g[i];
        factor_solve(dx, dx->sn);
    }
    return 1;
}

int sl_newton_direct_step(struct sl_newton_direct *dx, struct sl_objective *o, const double *w,
                          double delta, const double *g, const double *M, double *s, double *r) {
    if (!dx->on) return 0;
    const struct sl_obj_shape *sh = sl_obj_shape(o);
    const int64_t n = dx->dim;
    memcpy(dx->g, sl_obj_gather(o, g), sizeof(double) * (size_t)n);
    memcpy(dx->M, sl_obj_gather(o, M), sizeof(double) * (size_t)n);
    if (dx->gnorm0 == 0.0) dx->gnorm0 = sqrt(sl_dot(dx->g, dx->g, n));
    if (!newton_step(dx, o, w)) {
        dx->on = dx->forced;
        return 0;
    }
    const double snorm = sqrt(sl_dot_m(dx->sn, dx->M, dx->sn, n));
    double c[2] = {0.0, 1.0};
    if (snorm <= delta)
        memcpy(dx->s, dx->sn, sizeof(double) * (size_t)n);
    else
        dogleg(dx, o, delta, c);
    /* hp <- H s: from the factor when it is this point's; else from the
     * passes already made, H sn = -g - rn and hp = H p. */
    if (dx->fresh) {
        factor_mv(dx, dx->s, dx->hp);
    } else {
        if (!(snorm <= delta)) dx->steps++; /* dogleg's pass */
        for (int64_t i = 0; i < n; i++)
            dx->hp[i] = (c[0] != 0.0 ? c[0] * dx->hp[i] : 0.0) + c[1] * (-dx->g[i] - dx->rn[i]);
    }
    /* r = -g - H s, then this rank's slices. */
    for (int64_t i = 0; i < sh->n_loc; i++) {
        s[i] = dx->s[sh->lo + i];
        r[i] = -dx->g[sh->lo + i] - dx->hp[sh->lo + i];
    }
    return 1;
}

void sl_newton_direct_save(struct sl_newton_direct *dx, struct sl_optim_state *s) {
    if (!dx->H) return;
    dx->keep[0] = dx->gnorm0;
    dx->keep[1] = (double)dx->last_pcg;
    dx->keep[2] = dx->factored;
    dx->keep[3] = dx->fresh;
    dx->keep[4] = dx->have_sn;
    sl_state_add(s, "newton.dx_f64", SL_STATE_SAME, 8, 1, 5, dx->keep);
    if (dx->factored) sl_state_add(s, "newton.dx_wf", SL_STATE_SLICE, 8, 1, dx->n_loc, dx->wf);
}

enum sl_status sl_newton_direct_resume(struct sl_newton_direct *dx, struct sl_objective *o,
                                       const struct sl_optim_state *rs, const double *w) {
    if (!dx->H || !rs || sl_state_get(rs, "newton.dx_f64", 8, 5, dx->keep)) return SL_OK;
    const int64_t nl = sl_obj_shape(o)->n_loc;
    dx->gnorm0 = dx->keep[0];
    dx->last_pcg = (int64_t)dx->keep[1];
    if (dx->keep[2] == 0.0) return SL_OK;
    if (sl_state_get(rs, "newton.dx_wf", 8, nl, dx->wf)) return SL_ERR_ARG;
    /* The loss's D at wf, H there, then D at w again: the same bits as
     * before the stop (the evaluations are deterministic). */
    const int64_t passes = sl_obj_passes(o);
    double *gd = sl_malloc(sizeof(double) * (size_t)(2 * (nl ? nl : 1)));
    struct sl_fg_info info;
    enum sl_status st = sl_obj_fg(o, dx->wf, gd, NULL, &info);
    if (!st) {
        sl_obj_accept(o);
        factor(dx, o);
        st = sl_obj_fg(o, w, gd, NULL, &info);
    }
    if (!st) sl_obj_accept(o);
    free(gd);
    sl_obj_set_passes(o, passes);
    dx->last_pcg = (int64_t)dx->keep[1]; /* factor() zeroed it */
    /* A retry at the same point: its PCG step is made again, with no new factor. */
    dx->fresh = dx->factored && dx->keep[3] != 0.0;
    dx->have_sn = 0;
    dx->resume_sn = dx->factored && dx->keep[4] != 0.0;
    return st;
}
