/* hessian.h - private to the model: the explicit Hessian X^T D X of a shard,
 * for the small-d Newton solver (optim/newton_direct.c). */
#ifndef SHARDLEARN_MODEL_HESSIAN_H
#define SHARDLEARN_MODEL_HESSIAN_H

#include <stdint.h>

#include "shardlearn/data.h"

/* H: (dim, dim) row-major, dim = nc + icpt, added to: its lower triangle
 * (row >= column) += sum_i D_i z_i z_i^T over this shard's rows, z_i = (x_i
 * restricted to the nc working columns, 1 if icpt). The upper triangle is
 * left as it was. D: (n_rows) the loss's second derivatives, >= 0 (the row
 * weights already in them). Dense shards go through BLAS dsyrk in blocks of
 * rows scaled by sqrt(D_i); sparse rows add their nonzero pairs. */
void sl_kernel_hessian(const struct sl_shard *s, const double *D, int64_t nc, int icpt, double *H);

/* The work on this shard, in one unit of time each: cost[0] += that of
 * sl_kernel_hessian (dense: flops over BLAS-3's speed-up on a memory-bound
 * pass; sparse: pair updates), cost[1] += that of one Hessian-vector pass
 * (dense: 4 flops a value, two dgemv; sparse: 2 a nonzero). */
void sl_kernel_hessian_cost(const struct sl_shard *s, int64_t nc, double cost[2]);

/* dsyrk's and dpotrf's rate over a memory-bound dgemv pass (about 10x on one
 * core of the benchmark machine with OpenBLAS 0.3.21; taken lower). */
#define SL_BLAS3_SPEEDUP 8.0

#endif
