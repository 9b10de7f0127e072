/* test_gradcheck.c - the objective's gradient and Hessian-vector product
 * against central finite differences, on sparse (CSR) and dense shards, with
 * and without intercept, on however many ranks mpirun starts. Each rank
 * builds its own rows of one fixed global data set, and the summed objective
 * is checked against a naive sum over all rows on each rank. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/comm.h"
#include "shardlearn/log.h"
#include "shardlearn/objective.h"

#define N_GLOBAL 53
#define D 17

static int failures = 0;

static void check(int ok, const char *what, double got, double want) {
    if (!ok) {
        fprintf(stderr, "[rank %d] FAIL %s: got %.17g want %.17g\n", sl_log_rank(), what, got, want);
        failures++;
    }
}

/* Deterministic pseudo-random value for (row, col), the same on any rank. */
static double cell(int i, int j) {
    unsigned h = (unsigned)(i * 7919 + j * 104729 + 13);
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return ((double)(h % 2001) - 1000.0) / 250.0;
}

/* Rows i with i % size == rank; a sparse row keeps columns where cell > 0.5
 * (and column 3 never occurs, to exercise the column map). */
static void build_shard(struct sl_shard *s, int dense, struct sl_comm *c) {
    memset(s, 0, sizeof *s);
    s->dense = dense;
    s->n_features = D;
    s->n_rows_global = N_GLOBAL;
    int64_t n = 0;
    for (int i = c->rank; i < N_GLOBAL; i += c->size) n++;
    s->n_rows = n;
    s->y = calloc((size_t)n + 1, sizeof(double));
    s->values = calloc((size_t)(n * D) + 1, sizeof(double));
    if (!dense) {
        s->indptr = calloc((size_t)n + 1, sizeof(int64_t));
        s->indices = calloc((size_t)(n * D) + 1, sizeof(int32_t));
    }
    int64_t r = 0, k = 0;
    for (int i = c->rank; i < N_GLOBAL; i += c->size, r++) {
        s->y[r] = cell(i, 99) > 0 ? 1.0 : -1.0;
        for (int j = 0; j < D; j++) {
            double v = cell(i, j);
            if (dense) {
                s->values[r * D + j] = j == 3 ? 0.0 : v;
            } else if (j != 3 && v > 0.5) {
                s->indices[k] = j;
                s->values[k++] = v;
            }
        }
        if (!dense) s->indptr[r + 1] = k;
    }
    s->nnz = dense ? n * D : k;
}

static void free_shard(struct sl_shard *s) {
    free(s->y);
    free(s->values);
    free(s->indptr);
    free(s->indices);
}

/* F at w computed naively over all N_GLOBAL rows, without the engine:
 * w is in the compacted numbering (column 3 dropped for sparse). */
static double naive_objective(const double *w, int dense, int intercept, double l2) {
    double loss = 0.0, wsq = 0.0;
    int nc = dense ? D : D - 1;
    for (int j = 0; j < nc; j++) wsq += w[j] * w[j];
    for (int i = 0; i < N_GLOBAL; i++) {
        double m = intercept ? w[nc] : 0.0;
        for (int j = 0; j < D; j++) {
            double v = cell(i, j);
            int cj = dense ? j : (j < 3 ? j : j - 1);
            if (j == 3) continue;
            if (dense || v > 0.5) m += w[cj] * v;
        }
        double y = cell(i, 99) > 0 ? 1.0 : -1.0;
        loss += log(1.0 + exp(-y * m));
    }
    return loss / N_GLOBAL + 0.5 * l2 * wsq;
}

static double run_case(struct sl_comm *c, int dense, int intercept, double l2) {
    struct sl_shard s;
    build_shard(&s, dense, c);
    struct sl_colmap map;
    sl_colmap_build(&map, &s, c);
    check(map.n_used == (dense ? D : D - 1), "columns kept", (double)map.n_used, D - 1);
    struct sl_objective o;
    if (sl_obj_init(&o, &s, map.n_used, l2, intercept, c) != SL_OK) failures++;
    const int64_t n = o.dim;
    double *w = calloc((size_t)n, sizeof(double)), *g = calloc((size_t)n, sizeof(double));
    double *gt = calloc((size_t)n, sizeof(double)), *v = calloc((size_t)n, sizeof(double));
    double *hv = calloc((size_t)n, sizeof(double)), *diag = calloc((size_t)n, sizeof(double));
    double *wp = calloc((size_t)n, sizeof(double)), *gp = calloc((size_t)n, sizeof(double));
    double *gm = calloc((size_t)n, sizeof(double));
    for (int64_t j = 0; j < n; j++) {
        w[j] = 0.3 * cell(1000 + (int)j, 5);
        v[j] = cell(2000 + (int)j, 7);
    }
    struct sl_fg_info info, ti;
    if (sl_obj_fg(&o, w, g, diag, &info) != SL_OK) failures++;
    sl_obj_accept(&o);
    double ref = naive_objective(w, dense, intercept, l2);
    check(fabs(info.objective - ref) <= 1e-13 * ref, "objective vs naive sum over all rows",
          info.objective, ref);
    const double h = 1e-6;
    for (int64_t j = 0; j < n; j++) {
        memcpy(wp, w, sizeof(double) * (size_t)n);
        wp[j] = w[j] + h;
        if (sl_obj_fg(&o, wp, gt, NULL, &ti) != SL_OK) failures++;
        double fp = ti.objective;
        wp[j] = w[j] - h;
        if (sl_obj_fg(&o, wp, gt, NULL, &ti) != SL_OK) failures++;
        double fd = (fp - ti.objective) / (2 * h);
        check(fabs(fd - g[j]) <= 1e-7 * fmax(1.0, fabs(g[j])), "gradient vs finite difference",
              g[j], fd);
    }
    /* Hv against the difference of gradients along v. */
    sl_obj_hv(&o, v, hv);
    for (int64_t j = 0; j < n; j++) {
        wp[j] = w[j] + h * v[j];
        gm[j] = w[j] - h * v[j];
    }
    if (sl_obj_fg(&o, wp, gp, NULL, &ti) != SL_OK) failures++;
    if (sl_obj_fg(&o, gm, gt, NULL, &ti) != SL_OK) failures++;
    for (int64_t j = 0; j < n; j++) {
        double fd = (gp[j] - gt[j]) / (2 * h);
        check(fabs(fd - hv[j]) <= 1e-6 * fmax(1.0, fabs(hv[j])), "Hv vs finite difference", hv[j],
              fd);
    }
    /* diag(H) against e_j' H e_j. */
    for (int64_t j = 0; j < n; j++) {
        memset(v, 0, sizeof(double) * (size_t)n);
        v[j] = 1.0;
        sl_obj_hv(&o, v, hv);
        check(fabs(hv[j] - diag[j]) <= 1e-12 * fmax(1.0, fabs(diag[j])), "Hessian diagonal",
              diag[j], hv[j]);
    }
    /* The loss at w = 0 is log 2 exactly, whatever the data. */
    memset(wp, 0, sizeof(double) * (size_t)n);
    if (sl_obj_fg(&o, wp, gt, NULL, &ti) != SL_OK) failures++;
    check(fabs(ti.objective - log(2.0)) < 1e-15, "F(0) = log 2", ti.objective, log(2.0));
    double f = info.objective;
    free(w), free(g), free(gt), free(v), free(hv), free(diag), free(wp), free(gp), free(gm);
    sl_obj_free(&o);
    sl_colmap_free(&map);
    free_shard(&s);
    return f;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    struct sl_comm c;
    sl_comm_init(&c);
    sl_log_init(c.rank);
    double f[4];
    int k = 0;
    for (int dense = 0; dense <= 1; dense++)
        for (int icpt = 0; icpt <= 1; icpt++) f[k++] = run_case(&c, dense, icpt, icpt ? 0.01 : 0.1);
    /* After the allreduce every rank must hold the very same numbers. */
    double mx[4];
    MPI_Allreduce(f, mx, 4, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    for (int i = 0; i < 4; i++) check(mx[i] == f[i], "same objective on every rank", f[i], mx[i]);
    int total = 0;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (c.rank == 0) printf("%s (%d failures)\n", total ? "FAIL" : "PASS", total);
    MPI_Finalize();
    return total ? 1 : 0;
}
