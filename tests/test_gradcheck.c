/* test_gradcheck.c - the objective's gradient and Hessian-vector product
 * against central finite differences, on sparse (CSR) and dense shards, with
 * and without intercept, on however many ranks mpirun starts. Each rank
 * builds its own rows of one fixed global data set, and the summed objective
 * is checked against a naive sum over all rows on each rank. Every rank holds
 * the whole of each vector here and hands the objective its slice
 * [lo, lo + n_loc) (objective.h); it checks the elements of its slice.
 * Each loss (model.h) is checked, with and without sample weights. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/colmap.h"
#include "model/loss.h"
#include "shardlearn/comm.h"
#include "shardlearn/objective.h"
#include "synth.h"
#include "test_util.h"

#define N_GLOBAL 53
#define D 17

/* F at w computed naively over all N_GLOBAL rows, without the engine:
 * w is in the compacted numbering, mapped back to the file's columns through
 * map (column 3 is zero in the dense set; it never occurs in the sparse set,
 * so there it is dropped, and the rest are numbered most frequent first). */
/* The sample weight of global row i in the weighted cases. */
static double row_weight(int i) {
    double u = synth_cell(i, 98);
    return 0.25 + u * u;
}

/* w: the optimiser's vector; with standardisation o maps it to the model
 * (the penalty stays on w itself, the scaled weights). */
static double naive_objective(const double *w, const struct sl_colmap *map, int dense,
                              int intercept, double l2, enum sl_loss kind, int weighted,
                              const struct sl_objective *o) {
    double wf[D], wm[D + 1];
    const int64_t nc = map->n_used;
    double loss = 0.0, wsq = 0.0;
    for (int64_t j = 0; j < nc; j++)
        wsq += w[j] * w[j];
    sl_obj_to_model(o, w, wm);
    sl_colmap_expand(map, wm, wf);
    for (int i = 0; i < N_GLOBAL; i++) {
        double m = intercept ? w[nc] : 0.0;
        for (int j = 0; j < D; j++) {
            double v = synth_cell(i, j);
            if (j == 3) continue; /* zero in dense rows, absent from sparse ones */
            if (dense || v > 0.5) m += wf[j] * v;
        }
        double y = synth_label(i, D), si = weighted ? row_weight(i) : 1.0;
        if (kind == SL_LOSS_LOGISTIC)
            loss += si * log(1.0 + exp(-y * m));
        else if (kind == SL_LOSS_SQUARED_HINGE)
            loss += si * (1 - y * m > 0 ? (1 - y * m) * (1 - y * m) : 0.0);
        else
            loss += si * 0.5 * (y - m) * (y - m);
    }
    return loss / N_GLOBAL + 0.5 * l2 * wsq;
}

/* Multinomial: K classes, global row i's class. */
#define K_MN 3
static int mn_label(int i) {
    int k = (int)((synth_cell(i, 97) + 4.0) / 8.0 * K_MN); /* synth_cell: [-4, 4] */
    return k < K_MN ? k : K_MN - 1;
}

/* The multinomial F naively: w class-major (K, nc) then K intercepts. */
static double naive_objective_mn(const double *w, const struct sl_colmap *map, int dense,
                                 int intercept, double l2, int weighted,
                                 const struct sl_objective *o) {
    const int64_t nc = map->n_used;
    double wm[K_MN * (D + 1)], wf[K_MN][D];
    double loss = 0.0, wsq = 0.0;
    for (int64_t j = 0; j < K_MN * nc; j++)
        wsq += w[j] * w[j];
    sl_obj_to_model(o, w, wm);
    for (int k = 0; k < K_MN; k++)
        sl_colmap_expand(map, wm + k * nc, wf[k]);
    for (int i = 0; i < N_GLOBAL; i++) {
        double m[K_MN], mx = -INFINITY, z = 0.0;
        for (int k = 0; k < K_MN; k++) {
            m[k] = intercept ? w[K_MN * nc + k] : 0.0;
            for (int j = 0; j < D; j++) {
                double v = synth_cell(i, j);
                if (j == 3) continue;
                if (dense || v > 0.5) m[k] += wf[k][j] * v;
            }
            mx = fmax(mx, m[k]);
        }
        for (int k = 0; k < K_MN; k++)
            z += exp(m[k] - mx);
        loss += (weighted ? row_weight(i) : 1.0) * (log(z) + mx - m[mn_label(i)]);
    }
    return loss / N_GLOBAL + 0.5 * l2 * wsq;
}

static double run_case(struct sl_comm *c, int dense, int intercept, double l2, enum sl_loss kind,
                       int weighted, int standardize) {
    struct sl_shard s;
    synth_shard(&s, N_GLOBAL, D, dense, c);
    if (weighted) { /* synth_shard's rows are round-robin: global row rank + r * size */
        double *sw = calloc((size_t)s.n_rows + 1, sizeof(double));
        for (int64_t r = 0; r < s.n_rows; r++)
            sw[r] = row_weight(c->rank + (int)r * c->size);
        sl_shard_scale_weights(&s, sw);
        free(sw);
    }
    struct sl_colmap map;
    if (kind == SL_LOSS_MULTINOMIAL)
        for (int64_t r = 0; r < s.n_rows; r++)
            s.y[r] = mn_label(c->rank + (int)r * c->size);
    sl_colmap_build(&map, &s, c);
    CHECK_NUM(map.n_used == (dense ? D : D - 1), "columns kept", (double)map.n_used, D - 1);
    struct sl_objective *o;
    if ((kind == SL_LOSS_MULTINOMIAL
             ? sl_obj_create_multi(&o, &s, map.n_used, K_MN, l2, intercept, c)
             : sl_obj_create(&o, &s, map.n_used, l2, intercept, c)) != SL_OK)
        failures++;
    sl_obj_set_loss(o, kind);
    if (standardize && sl_obj_standardize(o) != SL_OK) failures++;
    const struct sl_obj_shape *sh = sl_obj_shape(o);
    const int64_t n = sh->dim, lo = sh->lo, hi = sh->lo + sh->n_loc;
    double *w = calloc((size_t)n, sizeof(double)), *g = calloc((size_t)n, sizeof(double));
    double *gt = calloc((size_t)n, sizeof(double)), *v = calloc((size_t)n, sizeof(double));
    double *hv = calloc((size_t)n, sizeof(double)), *diag = calloc((size_t)n, sizeof(double));
    double *wp = calloc((size_t)n, sizeof(double)), *gp = calloc((size_t)n, sizeof(double));
    double *gm = calloc((size_t)n, sizeof(double));
    for (int64_t j = 0; j < n; j++) {
        w[j] = 0.3 * synth_cell(1000 + (int)j, 5);
        v[j] = synth_cell(2000 + (int)j, 7);
    }
    struct sl_fg_info info, ti;
    if (sl_obj_fg(o, w + lo, g + lo, diag + lo, &info) != SL_OK) failures++;
    sl_obj_accept(o);
    /* |grad F| is that of the whole gradient: every rank's slice together. */
    double gsq = 0.0, gsum;
    for (int64_t j = lo; j < hi; j++)
        gsq += g[j] * g[j];
    MPI_Allreduce(&gsq, &gsum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    CHECK_NUM(fabs(info.grad_norm - sqrt(gsum)) <= 1e-13 * sqrt(gsum),
              "gradient norm of the slices", info.grad_norm, sqrt(gsum));
    double ref = kind == SL_LOSS_MULTINOMIAL
                     ? naive_objective_mn(w, &map, dense, intercept, l2, weighted, o)
                     : naive_objective(w, &map, dense, intercept, l2, kind, weighted, o);
    CHECK_NUM(fabs(info.objective - ref) <= 1e-13 * ref, "objective vs naive sum over all rows",
              info.objective, ref);
    const double h = 1e-6;
    for (int64_t j = 0; j < n; j++) {
        memcpy(wp, w, sizeof(double) * (size_t)n);
        wp[j] = w[j] + h;
        if (sl_obj_fg(o, wp + lo, gt + lo, NULL, &ti) != SL_OK) failures++;
        double fp = ti.objective;
        wp[j] = w[j] - h;
        if (sl_obj_fg(o, wp + lo, gt + lo, NULL, &ti) != SL_OK) failures++;
        double fd = (fp - ti.objective) / (2 * h);
        if (j >= lo && j < hi)
            CHECK_NUM(fabs(fd - g[j]) <= 1e-7 * fmax(1.0, fabs(g[j])),
                      "gradient vs finite difference", g[j], fd);
    }
    /* Hv against the difference of gradients along v. */
    sl_obj_hv(o, v + lo, hv + lo);
    for (int64_t j = 0; j < n; j++) {
        wp[j] = w[j] + h * v[j];
        gm[j] = w[j] - h * v[j];
    }
    if (sl_obj_fg(o, wp + lo, gp + lo, NULL, &ti) != SL_OK) failures++;
    if (sl_obj_fg(o, gm + lo, gt + lo, NULL, &ti) != SL_OK) failures++;
    for (int64_t j = lo; j < hi; j++) {
        double fd = (gp[j] - gt[j]) / (2 * h);
        CHECK_NUM(fabs(fd - hv[j]) <= 1e-6 * fmax(1.0, fabs(hv[j])), "Hv vs finite difference",
                  hv[j], fd);
    }
    /* diag(H) against e_j' H e_j, and the explicit Hessian (Newton's
     * direct solver: its lower triangle) against H e_j. */
    double *hm = calloc((size_t)(n * n), sizeof(double));
    const int explicit_h = sl_obj_has_hessian(o); /* not multinomial */
    if (explicit_h) sl_obj_hessian(o, hm);
    for (int64_t j = 0; j < n; j++) {
        memset(v, 0, sizeof(double) * (size_t)n);
        v[j] = 1.0;
        sl_obj_hv(o, v + lo, hv + lo);
        if (j >= lo && j < hi)
            CHECK_NUM(fabs(hv[j] - diag[j]) <= 1e-12 * fmax(1.0, fabs(diag[j])), "Hessian diagonal",
                      diag[j], hv[j]);
        for (int64_t a = lo; a < hi && explicit_h; a++) {
            const double want = a >= j ? hm[a * n + j] : hm[j * n + a];
            CHECK_NUM(fabs(hv[a] - want) <= 1e-12 * fmax(1.0, fabs(want)), "explicit Hessian vs Hv",
                      want, hv[a]);
        }
    }
    free(hm);
    /* The loss at w = 0 is log 2 exactly, whatever the data. */
    memset(wp, 0, sizeof(double) * (size_t)n);
    if (sl_obj_fg(o, wp + lo, gt + lo, NULL, &ti) != SL_OK) failures++;
    if (kind == SL_LOSS_LOGISTIC && !weighted && !standardize)
        CHECK_NUM(fabs(ti.objective - log(2.0)) < 1e-15, "F(0) = log 2", ti.objective, log(2.0));
    /* Mini-batch residuals (SGD) are the gradient's per-row pieces: at
     * w = 0, row q's is s_q l'(y_q, 0). */
    if (s.n_rows > 0 && !standardize && kind != SL_LOSS_MULTINOMIAL) {
        int64_t row0 = 0;
        double r0, v0[D + 1] = {0}, b0 = 0.0;
        sl_obj_batch_residuals(o, &row0, 1, v0, 1.0, &b0, &r0);
        const double want = sl_loss_residual(kind, 0.0, s.y[0]) * (weighted ? s.weights[0] : 1.0);
        CHECK_NUM(fabs(r0 - want) <= 1e-15, "mini-batch residual", r0, want);
    }
    if (s.n_rows > 0 && !standardize && kind == SL_LOSS_MULTINOMIAL) {
        /* At w = 0 every class has p = 1/K: row 0's residuals s_0 (1/K - e_y). */
        int64_t row0 = 0;
        double r0[K_MN], v0[K_MN * (D + 1)] = {0}, b0[K_MN] = {0};
        sl_obj_batch_residuals(o, &row0, 1, v0, 1.0, b0, r0);
        for (int k = 0; k < K_MN; k++) {
            const double want =
                (weighted ? s.weights[0] : 1.0) * (1.0 / K_MN - (k == (int)s.y[0] ? 1.0 : 0.0));
            CHECK_NUM(fabs(r0[k] - want) <= 1e-15, "multinomial mini-batch residual", r0[k], want);
        }
    }
    double f = info.objective;
    free(w), free(g), free(gt), free(v), free(hv), free(diag), free(wp), free(gp), free(gm);
    sl_obj_destroy(o);
    sl_colmap_free(&map);
    free(s.weights);
    s.weights = NULL;
    synth_free(&s);
    return f;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    struct sl_comm c;
    sl_comm_init(&c, MPI_COMM_WORLD);
    enum { NC = 2 * 2 * 3 * 2 + 2 * 3 + 2 * 2 * 2 + 2 };
    double f[NC];
    int k = 0;
    for (int dense = 0; dense <= 1; dense++)
        for (int icpt = 0; icpt <= 1; icpt++)
            for (int kind = 0; kind < 3; kind++)
                for (int weighted = 0; weighted <= 1; weighted++)
                    f[k++] = run_case(&c, dense, icpt, icpt ? 0.01 : 0.1, (enum sl_loss)kind,
                                      weighted, 0);
    /* Standardised: the derivatives are by the scaled weights. */
    for (int dense = 0; dense <= 1; dense++)
        for (int kind = 0; kind < 3; kind++)
            f[k++] = run_case(&c, dense, 1, 0.01, (enum sl_loss)kind, 1, 1);
    /* Multinomial (K = 3): every case, and standardised. */
    for (int dense = 0; dense <= 1; dense++) {
        for (int icpt = 0; icpt <= 1; icpt++)
            for (int weighted = 0; weighted <= 1; weighted++)
                f[k++] =
                    run_case(&c, dense, icpt, icpt ? 0.01 : 0.1, SL_LOSS_MULTINOMIAL, weighted, 0);
        f[k++] = run_case(&c, dense, 1, 0.01, SL_LOSS_MULTINOMIAL, 1, 1);
    }
    /* After the allreduce every rank must hold the very same numbers. */
    double mx[NC];
    MPI_Allreduce(f, mx, NC, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    for (int i = 0; i < NC; i++)
        CHECK_NUM(mx[i] == f[i], "same objective on every rank", f[i], mx[i]);
    sl_comm_free(&c); /* its reduction buffers (comm.h) */
    return test_finish(c.rank);
}
