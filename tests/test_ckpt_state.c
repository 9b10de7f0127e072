/* test_ckpt_state.c - each optimiser's saved state (optim.h) continues a run
 * exactly, on however many ranks mpirun starts: a state offered at an
 * iteration boundary, copied, and given back to a fresh sl_optimize_ckpt
 * ends at the uninterrupted run's weights bit for bit; so does the state
 * offered on a stop (requested on rank 0 only). */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "data/colmap.h"
#include "shardlearn/optim.h"
#include "synth.h"
#include "test_util.h"

/* A deep copy of the state offered at boundary `at` (or on a stop). */
struct keeper {
    int64_t boundaries, at;
    int stopping_seen;
    struct sl_optim_state copy;
    void *mem[SL_STATE_MAX];
};

static void keep(struct sl_optim_state *s, int stopping, void *ctx) {
    struct keeper *k = ctx;
    if (!stopping && ++k->boundaries != k->at) return;
    if (stopping) k->stopping_seen = 1;
    for (int i = 0; i < SL_STATE_MAX; i++)
        free(k->mem[i]);
    memset(k->mem, 0, sizeof k->mem);
    k->copy = *s;
    for (int i = 0; i < s->n; i++) {
        const size_t bytes = (size_t)s->sec[i].n * (size_t)s->sec[i].elem;
        k->mem[i] = malloc(bytes ? bytes : 1);
        if (bytes) memcpy(k->mem[i], s->sec[i].data, bytes);
        k->copy.sec[i].data = k->mem[i];
    }
}

static volatile sig_atomic_t stop_now = 0;

static void stop_at_4(const struct sl_iter_info *it, const double *w, void *ctx) {
    (void)w;
    (void)ctx;
    if (it->step == 4 && sl_log_rank() == 0) stop_now = 1;
}

static void run(struct sl_objective *o, enum sl_optimizer kind) {
    const struct sl_obj_shape *sh = sl_obj_shape(o);
    struct sl_optim_opts opt;
    sl_optim_opts_init(&opt);
    opt.kind = kind;
    opt.tol = 1e-12;
    opt.max_iter = 200;
    opt.epochs = 12;
    opt.batch_size = 8;
    opt.lr = 0.5;
    opt.average = 1;
    const size_t bytes = sizeof(double) * (size_t)(sh->n_loc + 1);
    double *full = calloc(1, bytes), *w = calloc(1, bytes);
    struct sl_optim_result rf, r;
    /* Uninterrupted, keeping the state of boundary 3. */
    struct keeper k = {.at = 3};
    struct sl_optim_ckpt ck = {.resume = NULL, .save = keep, .ctx = &k};
    CHECK(sl_optimize_ckpt(o, full, &opt, NULL, NULL, &ck, &rf) == SL_OK, "uninterrupted %s",
          sl_optimizer_name(kind));
    CHECK(k.copy.n > 0, "%s: no state offered at boundary 3", sl_optimizer_name(kind));
    /* Continued from boundary 3. */
    struct sl_optim_ckpt from = {.resume = &k.copy, .save = NULL, .ctx = NULL};
    CHECK(sl_optimize_ckpt(o, w, &opt, NULL, NULL, &from, &r) == SL_OK, "resumed %s",
          sl_optimizer_name(kind));
    CHECK(memcmp(w, full, bytes - sizeof(double)) == 0 && r.iterations == rf.iterations,
          "%s: resumed from boundary 3, not the uninterrupted weights", sl_optimizer_name(kind));
    /* Stopped after iteration 4, then continued from the stop's state. */
    struct keeper ks = {.at = -1};
    struct sl_optim_ckpt cks = {.resume = NULL, .save = keep, .ctx = &ks};
    stop_now = 0;
    sl_obj_set_stop_flag(o, &stop_now);
    memset(w, 0, bytes);
    CHECK(sl_optimize_ckpt(o, w, &opt, stop_at_4, NULL, &cks, &r) == SL_ERR_INTERRUPTED,
          "%s: the stop did not interrupt", sl_optimizer_name(kind));
    sl_obj_set_stop_flag(o, NULL);
    CHECK(ks.stopping_seen, "%s: no state offered on the stop", sl_optimizer_name(kind));
    memset(w, 0, bytes);
    struct sl_optim_ckpt from_stop = {.resume = &ks.copy, .save = NULL, .ctx = NULL};
    CHECK(sl_optimize_ckpt(o, w, &opt, NULL, NULL, &from_stop, &r) == SL_OK, "%s after the stop",
          sl_optimizer_name(kind));
    CHECK(memcmp(w, full, bytes - sizeof(double)) == 0 && r.iterations == rf.iterations,
          "%s: resumed after the stop, not the uninterrupted weights", sl_optimizer_name(kind));
    for (int i = 0; i < SL_STATE_MAX; i++)
        free(k.mem[i]), free(ks.mem[i]);
    free(full), free(w);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    struct sl_comm c;
    sl_comm_init(&c, MPI_COMM_WORLD);
    for (int dense = 0; dense <= 1; dense++) {
        struct sl_shard s;
        synth_shard(&s, 600, 40, dense, &c);
        struct sl_colmap map;
        sl_colmap_build(&map, &s, &c);
        struct sl_objective *o;
        CHECK(sl_obj_create(&o, &s, map.n_used, 1e-3, 1, &c) == SL_OK, "objective");
        run(o, SL_OPT_NEWTON);
        run(o, SL_OPT_LBFGS);
        run(o, SL_OPT_SGD);
        sl_obj_destroy(o);
        sl_colmap_free(&map);
        synth_free(&s);
    }
    sl_comm_free(&c); /* its reduction buffers (comm.h) */
    return test_finish(c.rank);
}
