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

#include "data/colmap.h"
#include "shardlearn/optim.h"
#include "synth.h"
#include "test_util.h"

#define N_GLOBAL 600
#define D 40

/* w: (dim) <- the whole solution; the optimiser works on this rank's slice. */
static double solve(struct sl_objective *o, enum sl_optimizer k, double *w, int epochs,
                    struct sl_optim_result *res) {
    /* SGD: a global batch of 16 rows a step whatever the rank count. */
    const int size = sl_obj_comm(o)->size;
    const struct sl_obj_shape *sh = sl_obj_shape(o);
    struct sl_optim_opts opt;
    sl_optim_opts_init(&opt);
    opt.kind = k;
    opt.tol = 1e-12;
    opt.max_iter = 500;
    opt.batch_size = 16 / size > 0 ? 16 / size : 1;
    opt.epochs = epochs;
    opt.lr = 0.5;
    opt.seed = 7;
    double *slice = calloc((size_t)sh->n_loc + 1, sizeof(double));
    if (sl_optimize(o, slice, &opt, NULL, NULL, res) != SL_OK) failures++;
    memcpy(w, sl_obj_gather(o, slice), sizeof(double) * (size_t)sh->dim);
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
    struct sl_objective *o;
    if (sl_obj_create(&o, &s, map.n_used, 1e-3, intercept, c) != SL_OK) failures++;
    const int64_t n = sl_obj_shape(o)->dim;
    double *wn = calloc((size_t)n, sizeof(double)), *wl = calloc((size_t)n, sizeof(double));
    double *ws = calloc((size_t)n, sizeof(double)), *ws2 = calloc((size_t)n, sizeof(double));
    struct sl_optim_result rn, rl, rs;
    double fn = solve(o, SL_OPT_NEWTON, wn, 0, &rn);
    double fl = solve(o, SL_OPT_LBFGS, wl, 0, &rl);
    CHECK_NUM(rn.converged && rl.converged, "newton and lbfgs converge", rn.converged,
              rl.converged);
    /* F cannot resolve a smaller gradient at double precision (F - F* ~ |g|^2 / lambda). */
    CHECK_NUM(rn.final.grad_norm < 1e-7, "newton gradient norm", rn.final.grad_norm, 0);
    CHECK_NUM(rl.final.grad_norm < 1e-7, "lbfgs gradient norm", rl.final.grad_norm, 0);
    CHECK_NUM(fabs(fn - fl) <= 1e-13 * fn, "newton and lbfgs objective", fl, fn);
    double dmax = 0.0;
    for (int64_t j = 0; j < n; j++)
        dmax = fmax(dmax, fabs(wn[j] - wl[j]));
    /* Stopped where F stops resolving progress, |w - w*| ~ sqrt(eps F / lambda) ~ 3e-7:
     * the same 1e-6 that the weights across rank counts are held to. */
    CHECK_NUM(dmax < 1e-6, "newton and lbfgs weights", dmax, 0);
    CHECK_NUM(rn.iterations < 20, "newton iterations (quadratic convergence)",
              (double)rn.iterations, 20);
    /* SGD: near the optimum, and the same model twice for one seed. */
    double fs = solve(o, SL_OPT_SGD, ws, 400, &rs);
    CHECK_NUM((fs - fn) / fn < 1e-3, "sgd within 1e-3 of the optimum", fs, fn);
    solve(o, SL_OPT_SGD, ws2, 400, &rs);
    CHECK_NUM(memcmp(ws, ws2, sizeof(double) * (size_t)n) == 0, "sgd deterministic for a seed", 0,
              0);
    /* A stop requested on rank 0 after iteration 3 stops every rank. */
    struct sl_optim_opts opt;
    sl_optim_opts_init(&opt);
    opt.kind = SL_OPT_LBFGS;
    opt.tol = 1e-14;
    opt.max_iter = 500;
    stop_now = 0;
    sl_obj_set_stop_flag(o, &stop_now);
    memset(wl, 0, sizeof(double) * (size_t)n);
    enum sl_status st = sl_optimize(o, wl, &opt, stop_at_3, NULL, &rl);
    CHECK_NUM(st == SL_ERR_INTERRUPTED, "stop request interrupts", st, SL_ERR_INTERRUPTED);
    CHECK_NUM(rl.iterations == 3, "stopped after iteration 3", (double)rl.iterations, 3);
    sl_obj_set_stop_flag(o, NULL);
    free(wn), free(wl), free(ws), free(ws2);
    sl_obj_destroy(o);
    sl_colmap_free(&map);
    synth_free(&s);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    struct sl_comm c;
    sl_comm_init(&c, MPI_COMM_WORLD);
    /* D columns, and 2: fewer vector elements than ranks on 4 ranks, where
     * some ranks' slices of the optimisers' vectors are empty (objective.h). */
    for (int dense = 0; dense <= 1; dense++)
        for (int icpt = 0; icpt <= 1; icpt++) {
            run(&c, dense, icpt, D);
            run(&c, dense, icpt, 2);
        }
    sl_comm_free(&c); /* its reduction buffers (comm.h) */
    return test_finish(c.rank);
}
