/* test_optim.c - the optimisers on a synthetic problem, on however many
 * ranks mpirun starts: Newton and L-BFGS converged tightly reach the same
 * point with a vanishing gradient; SGD gets within 1e-3 relative of that
 * optimum and is deterministic for a seed; a stop request is honoured on
 * every rank at the same iteration. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shardlearn/log.h"
#include "shardlearn/optim.h"
#include "synth.h"

#define N_GLOBAL 600
#define D 40

static int failures = 0;

static void check(int ok, const char *what, double got, double want) {
    if (!ok) {
        fprintf(stderr, "[rank %d] FAIL %s: got %.17g want %.17g\n", sl_log_rank(), what, got, want);
        failures++;
    }
}

/* w: (dim) <- the whole solution; the optimiser works on this rank's slice. */
static double solve(struct sl_objective *o, enum sl_optimizer k, double *w, int epochs,
                    struct sl_optim_result *res) {
    /* SGD: a global batch of 16 rows a step whatever the rank count. */
    int64_t batch = 16 / o->comm->size > 0 ? 16 / o->comm->size : 1;
    struct sl_optim_opts opt = {k, 1e-12, 500, 10, batch, epochs, 0.5, 1.0, 1, 7, 0};
    double *slice = calloc((size_t)o->n_loc + 1, sizeof(double));
    if (sl_optimize(o, slice, &opt, NULL, NULL, res) != SL_OK) failures++;
    memcpy(w, sl_obj_gather(o, slice), sizeof(double) * (size_t)o->dim);
    free(slice);
    return res->final.objective;
}

static volatile sig_atomic_t stop_now = 0;

static void stop_at_3(const struct sl_iter_info *it, const double *w, void *ctx) {
    (void)w;
    (void)ctx;
    /* Only rank 0 "receives the signal": the stop must still reach every rank. */
    if (it->step == 3 && sl_log_rank() == 0) stop_now = 1;
}

static void run(struct sl_comm *c, int dense, int intercept, int d) {
    struct sl_shard s;
    synth_shard(&s, N_GLOBAL, d, dense, c);
    struct sl_colmap map;
    sl_colmap_build(&map, &s, c);
    struct sl_objective o;
    if (sl_obj_init(&o, &s, map.n_used, 1e-3, intercept, c) != SL_OK) failures++;
    const int64_t n = o.dim;
    double *wn = calloc((size_t)n, sizeof(double)), *wl = calloc((size_t)n, sizeof(double));
    double *ws = calloc((size_t)n, sizeof(double)), *ws2 = calloc((size_t)n, sizeof(double));
    struct sl_optim_result rn, rl, rs;
    double fn = solve(&o, SL_OPT_NEWTON, wn, 0, &rn);
    double fl = solve(&o, SL_OPT_LBFGS, wl, 0, &rl);
    check(rn.converged && rl.converged, "newton and lbfgs converge", rn.converged, rl.converged);
    /* F cannot resolve a smaller gradient at double precision (F - F* ~ |g|^2 / lambda). */
    check(rn.final.grad_norm < 1e-7, "newton gradient norm", rn.final.grad_norm, 0);
    check(rl.final.grad_norm < 1e-7, "lbfgs gradient norm", rl.final.grad_norm, 0);
    check(fabs(fn - fl) <= 1e-13 * fn, "newton and lbfgs objective", fl, fn);
    double dmax = 0.0;
    for (int64_t j = 0; j < n; j++) dmax = fmax(dmax, fabs(wn[j] - wl[j]));
    /* Stopped where F stops resolving progress, |w - w*| ~ sqrt(eps F / lambda) ~ 3e-7:
     * the same 1e-6 that the weights across rank counts are held to. */
    check(dmax < 1e-6, "newton and lbfgs weights", dmax, 0);
    check(rn.iterations < 20, "newton iterations (quadratic convergence)", (double)rn.iterations, 20);
    /* SGD: near the optimum, and the same model twice for one seed. */
    double fs = solve(&o, SL_OPT_SGD, ws, 400, &rs);
    check((fs - fn) / fn < 1e-3, "sgd within 1e-3 of the optimum", fs, fn);
    solve(&o, SL_OPT_SGD, ws2, 400, &rs);
    check(memcmp(ws, ws2, sizeof(double) * (size_t)n) == 0, "sgd deterministic for a seed", 0, 0);
    /* A stop requested on rank 0 after iteration 3 stops every rank. */
    struct sl_optim_opts opt = {SL_OPT_LBFGS, 1e-14, 500, 10, 16, 1, 0.5, 1.0, 1, 7, 0};
    stop_now = 0;
    o.stop_flag = &stop_now;
    memset(wl, 0, sizeof(double) * (size_t)n);
    enum sl_status st = sl_optimize(&o, wl, &opt, stop_at_3, NULL, &rl);
    check(st == SL_ERR_INTERRUPTED, "stop request interrupts", st, SL_ERR_INTERRUPTED);
    check(rl.iterations == 3, "stopped after iteration 3", (double)rl.iterations, 3);
    o.stop_flag = NULL;
    free(wn), free(wl), free(ws), free(ws2);
    sl_obj_free(&o);
    sl_colmap_free(&map);
    synth_free(&s);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    struct sl_comm c;
    sl_comm_init(&c);
    sl_log_init(c.rank);
    /* D columns, and 2: fewer vector elements than ranks on 4 ranks, where
     * some ranks' slices of the optimisers' vectors are empty (objective.h). */
    for (int dense = 0; dense <= 1; dense++)
        for (int icpt = 0; icpt <= 1; icpt++) {
            run(&c, dense, icpt, D);
            run(&c, dense, icpt, 2);
        }
    int total = 0;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (c.rank == 0) printf("%s (%d failures)\n", total ? "FAIL" : "PASS", total);
    MPI_Finalize();
    return total ? 1 : 0;
}
