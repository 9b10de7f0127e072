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
    dx->cost = dx->forced ? 0.0 : sl_obj_hessian_cost(o);
    dx->H = sl_malloc(sizeof(double) * (size_t)(dim * dim));
    double *m = sl_malloc(sizeof(double) * (size_t)(6 * dim));
    dx->g = m;
    dx->M = m + dim;
    dx->sn = m + 2 * dim;
    dx->p = m + 3 * dim;
    dx->hp = m + 4 * dim;
    dx->s = m + 5 * dim;
    dx->on = dx->forced || dx->cost <= DIRECT_PRIOR_CG;
}

void sl_newton_direct_free(struct sl_newton_direct *dx) {
    free(dx->H);
    free(dx->g);
    memset(dx, 0, sizeof *dx);
}

void sl_newton_direct_moved(struct sl_newton_direct *dx) {
    dx->factored = 0;
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
    if (dx->factored) return 1;
    sl_obj_hessian(o, dx->H);
    /* Row-major lower is column-major upper: H = U^T U with U = L^T. */
    const int n = (int)dx->dim;
    int info = 0;
    dpotrf_("U", &n, dx->H, &n, &info, 1);
    double bad = info != 0 ? 1.0 : 0.0;
    sl_obj_sum(o, &bad, 1);
    dx->factored = bad == 0.0;
    /* AUTO falls back to CG for good; DIRECT tries again at the next point. */
    if (!dx->factored && !dx->forced) dx->singular = 1;
    return dx->factored;
}

/* s <- the dogleg step inside ||s||_M <= delta, sn the Newton step. */
static void dogleg(struct sl_newton_direct *dx, double delta) {
    const int64_t n = dx->dim;
    double *p = dx->p, *s = dx->s;
    /* Cauchy point along p = -M^-1 g: tau p with tau = g.M^-1 g / p.H p. */
    double gmg = 0.0;
    for (int64_t i = 0; i < n; i++) {
        p[i] = -dx->g[i] / dx->M[i];
        gmg -= dx->g[i] * p[i];
    }
    factor_mv(dx, p, dx->hp);
    const double php = sl_dot(p, dx->hp, n);
    const double tau = gmg / php, pnorm = sqrt(gmg); /* ||p||_M^2 = g.M^-1 g */
    if (!(php > 0) || tau * pnorm >= delta) {
        for (int64_t i = 0; i < n; i++)
            s[i] = delta / pnorm * p[i];
        return;
    }
    /* ||pc + t (sn - pc)||_M = delta for t in [0, 1]. */
    double a = 0.0, b = 0.0, c = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double pc = tau * p[i], d = dx->sn[i] - pc;
        a += d * dx->M[i] * d;
        b += 2.0 * pc * dx->M[i] * d;
        c += pc * dx->M[i] * pc;
    }
    c -= delta * delta;
    const double t = a > 0 ? (-b + sqrt(fmax(b * b - 4.0 * a * c, 0.0))) / (2.0 * a) : 0.0;
    for (int64_t i = 0; i < n; i++)
        s[i] = tau * p[i] + t * (dx->sn[i] - tau * p[i]);
}

int sl_newton_direct_step(struct sl_newton_direct *dx, struct sl_objective *o, double delta,
                          const double *g, const double *M, double *s, double *r) {
    if (!dx->on) return 0;
    const struct sl_obj_shape *sh = sl_obj_shape(o);
    const int64_t n = dx->dim;
    memcpy(dx->g, sl_obj_gather(o, g), sizeof(double) * (size_t)n);
    memcpy(dx->M, sl_obj_gather(o, M), sizeof(double) * (size_t)n);
    if (!factor(dx, o)) {
        dx->on = dx->forced;
        return 0;
    }
    for (int64_t i = 0; i < n; i++)
        dx->sn[i] = -dx->g[i];
    const int ni = (int)n, one = 1;
    int info = 0;
    dpotrs_("U", &ni, &one, dx->H, &ni, dx->sn, &ni, &info, 1);
    SL_ASSERT(info == 0);
    const double snorm = sqrt(sl_dot_m(dx->sn, dx->M, dx->sn, n));
    if (snorm <= delta)
        memcpy(dx->s, dx->sn, sizeof(double) * (size_t)n);
    else
        dogleg(dx, delta);
    /* r = -g - H s, then this rank's slices. */
    factor_mv(dx, dx->s, dx->hp);
    for (int64_t i = 0; i < sh->n_loc; i++) {
        s[i] = dx->s[sh->lo + i];
        r[i] = -dx->g[sh->lo + i] - dx->hp[sh->lo + i];
    }
    return 1;
}
