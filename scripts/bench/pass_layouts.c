/* pass_layouts.c - the Hessian-vector pass of src/kernels.c and the layouts
 * tried against it, on synthetic data shaped like the benchmark's (40
 * nonzeros a row, column ranks drawn with probability ~ 1/(r + 10), numbered
 * most frequent first as the column map numbers them). Not part of the
 * build or of bench.sh; docs/benchmark.md quotes it to explain why the pass
 * stays far from the bandwidth bound. Run one copy per core to see the
 * 2-rank case (the ranks share the memory system):
 *
 *   cc -O2 -o /tmp/pass_layouts scripts/bench/pass_layouts.c -lm
 *   /tmp/pass_layouts 500000                 # one rank's shard on 2 ranks
 *   /tmp/pass_layouts 500000 4096            # every column's record in L1
 *   taskset -c 0 /tmp/pass_layouts 500000 & taskset -c 1 /tmp/pass_layouts 500000; wait
 *
 * usage: pass_layouts ROWS [COLUMNS [HOT]]  (COLUMNS default 2^20, HOT the
 * columns the split layout keeps by rows, default 16384) */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NNZ_ROW 40
#define AHEAD 128 /* prefetch distance in nonzeros, as kernels.c */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static double uniform(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}

/* The shard: CSR with column indices (ix) and the same doubled (ix2, the
 * offset of w_j in the records without a shift); rec: (2 * cols) [w_j, g_j];
 * D: (rows) the Hessian's per-row weights. */
static int64_t n, nnz;
static int64_t *ip;
static int32_t *ix;
static uint32_t *ix2;
static double *x, *D, *rec;

/* 1. src/kernels.c: one running sum, prefetch from the dot product's loop. */
static void pass_current(void) {
    for (int64_t i = 0; i < n; i++) {
        const int64_t k0 = ip[i], k1 = ip[i + 1];
        double m = 0.0;
        for (int64_t k = k0; k < k1; k++) {
            __builtin_prefetch(rec + 2 * (int64_t)ix[k + AHEAD], 1, 3);
            m += rec[2 * (int64_t)ix[k]] * x[k];
        }
        const double t = m * D[i];
        for (int64_t k = k0; k < k1; k++) rec[2 * (int64_t)ix[k] + 1] += t * x[k];
    }
}

/* 2. Four partial sums, doubled indices, both loops four nonzeros a step. */
static void pass_unrolled(void) {
    double *g = rec + 1;
    for (int64_t i = 0; i < n; i++) {
        const int64_t k0 = ip[i], k1 = ip[i + 1];
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        int64_t k = k0;
        for (; k + 4 <= k1; k += 4) {
            for (int u = 0; u < 4; u++) __builtin_prefetch(rec + ix2[k + AHEAD + u], 1, 3);
            s0 += rec[ix2[k]] * x[k];
            s1 += rec[ix2[k + 1]] * x[k + 1];
            s2 += rec[ix2[k + 2]] * x[k + 2];
            s3 += rec[ix2[k + 3]] * x[k + 3];
        }
        for (; k < k1; k++) s0 += rec[ix2[k]] * x[k];
        const double t = ((s0 + s1) + (s2 + s3)) * D[i];
        for (k = k0; k + 4 <= k1; k += 4) {
            g[ix2[k]] += t * x[k];
            g[ix2[k + 1]] += t * x[k + 1];
            g[ix2[k + 2]] += t * x[k + 2];
            g[ix2[k + 3]] += t * x[k + 3];
        }
        for (; k < k1; k++) g[ix2[k]] += t * x[k];
    }
}

/* 3. The dot product with AVX2 gathers, four lanes. */
__attribute__((target("avx2"))) static void pass_gather(void) {
    double *g = rec + 1;
    for (int64_t i = 0; i < n; i++) {
        const int64_t k0 = ip[i], k1 = ip[i + 1];
        __m256d acc = _mm256_setzero_pd();
        int64_t k = k0;
        for (; k + 4 <= k1; k += 4) {
            for (int u = 0; u < 4; u++) __builtin_prefetch(rec + ix2[k + AHEAD + u], 1, 3);
            __m128i j = _mm_loadu_si128((const __m128i *)(ix2 + k));
            acc = _mm256_add_pd(acc, _mm256_mul_pd(_mm256_i32gather_pd(rec, j, 8),
                                                   _mm256_loadu_pd(x + k)));
        }
        double a[4];
        _mm256_storeu_pd(a, acc);
        for (; k < k1; k++) a[0] += rec[ix2[k]] * x[k];
        const double t = ((a[0] + a[1]) + (a[2] + a[3])) * D[i];
        for (k = k0; k < k1; k++) g[ix2[k]] += t * x[k];
    }
}

/* 4. Split by column: the hot columns' nonzeros by rows (their records fit
 * L2), the rest by columns (CSC), so the rare columns' records are read in
 * order and the random accesses fall on the per-row array m instead. The
 * rows' data is read twice a pass: margins first, gradient after. */
static int64_t hot, n_cold;
static int64_t *hp, *cp;
static uint32_t *hix, *crow;
static double *hx, *cx, *m;

static void split_build(int64_t cols) {
    hp = malloc(sizeof(int64_t) * (size_t)(n + 1));
    hix = malloc(sizeof(uint32_t) * (size_t)nnz);
    hx = malloc(sizeof(double) * (size_t)nnz);
    n_cold = cols > hot ? cols - hot : 0;
    cp = calloc((size_t)n_cold + 1, sizeof(int64_t));
    int64_t h = 0;
    for (int64_t i = 0; i < n; i++) {
        hp[i] = h;
        for (int64_t k = ip[i]; k < ip[i + 1]; k++) {
            if (ix[k] < hot) {
                hix[h] = ix2[k];
                hx[h++] = x[k];
            } else {
                cp[ix[k] - hot + 1]++;
            }
        }
    }
    hp[n] = h;
    for (int64_t c = 0; c < n_cold; c++) cp[c + 1] += cp[c];
    crow = malloc(sizeof(uint32_t) * (size_t)(cp[n_cold] + 1));
    cx = malloc(sizeof(double) * (size_t)(cp[n_cold] + 1));
    int64_t *at = malloc(sizeof(int64_t) * (size_t)(n_cold + 1));
    memcpy(at, cp, sizeof(int64_t) * (size_t)(n_cold + 1));
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = ip[i]; k < ip[i + 1]; k++)
            if (ix[k] >= hot) {
                int64_t c = ix[k] - hot;
                crow[at[c]] = (uint32_t)i;
                cx[at[c]++] = x[k];
            }
    free(at);
    m = malloc(sizeof(double) * (size_t)n);
    printf("split layout: the %lld hottest columns hold %.1f%% of the nonzeros\n", (long long)hot,
           100.0 * (double)h / (double)nnz);
}

static void pass_split(void) {
    double *g = rec + 1;
    for (int64_t i = 0; i < n; i++) {
        double s0 = 0.0, s1 = 0.0;
        int64_t k = hp[i];
        for (; k + 2 <= hp[i + 1]; k += 2) {
            s0 += rec[hix[k]] * hx[k];
            s1 += rec[hix[k + 1]] * hx[k + 1];
        }
        if (k < hp[i + 1]) s0 += rec[hix[k]] * hx[k];
        m[i] = s0 + s1;
    }
    for (int64_t c = 0; c < n_cold; c++) {
        const double w = rec[2 * (hot + c)];
        for (int64_t k = cp[c]; k < cp[c + 1]; k++) m[crow[k]] += w * cx[k];
    }
    for (int64_t i = 0; i < n; i++) m[i] *= D[i];
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = hp[i]; k < hp[i + 1]; k++) g[hix[k]] += m[i] * hx[k];
    for (int64_t c = 0; c < n_cold; c++) {
        double s = 0.0;
        for (int64_t k = cp[c]; k < cp[c + 1]; k++) s += m[crow[k]] * cx[k];
        g[2 * (hot + c)] += s;
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s ROWS [COLUMNS [HOT]]\n", argv[0]);
        return 2;
    }
    n = atol(argv[1]);
    const int64_t cols = argc > 2 ? atol(argv[2]) : 1 << 20;
    hot = argc > 3 ? atol(argv[3]) : 16384;
    nnz = n * NNZ_ROW;
    ip = malloc(sizeof(int64_t) * (size_t)(n + 1));
    ix = malloc(sizeof(int32_t) * (size_t)(nnz + AHEAD + 4));
    ix2 = malloc(sizeof(uint32_t) * (size_t)(nnz + AHEAD + 4));
    x = malloc(sizeof(double) * (size_t)nnz);
    const double span = log((double)(cols + 10) / 10.0);
    for (int64_t i = 0; i < n; i++) {
        ip[i] = i * NNZ_ROW;
        for (int k = 0; k < NNZ_ROW; k++) {
            int32_t c;
            int again;
            do { /* distinct columns in a row, as the parser demands */
                int64_t r = (int64_t)(10.0 * exp(uniform() * span) - 10.0);
                c = (int32_t)(r < 0 ? 0 : r >= cols ? cols - 1 : r);
                again = 0;
                for (int q = 0; q < k; q++) again |= ix[i * NNZ_ROW + q] == c;
            } while (again);
            ix[i * NNZ_ROW + k] = c;
            x[i * NNZ_ROW + k] = uniform();
        }
    }
    ip[n] = nnz;
    for (int64_t k = nnz; k < nnz + AHEAD + 4; k++) ix[k] = 0;
    for (int64_t k = 0; k < nnz + AHEAD + 4; k++) ix2[k] = 2u * (uint32_t)ix[k];
    rec = calloc((size_t)(2 * cols), sizeof(double));
    D = malloc(sizeof(double) * (size_t)n);
    for (int64_t j = 0; j < cols; j++) rec[2 * j] = 1e-3 * (uniform() - 0.5);
    for (int64_t i = 0; i < n; i++) D[i] = 0.25 * uniform();
    split_build(cols);

    struct {
        const char *name;
        void (*pass)(void);
        double best;
    } v[] = {{"current (kernels.c)", pass_current, 1e30},
             {"4 sums, unrolled", pass_unrolled, 1e30},
             {"AVX2 gathers", pass_gather, 1e30},
             {"hot rows + cold columns", pass_split, 1e30}};
    const int nv = (int)(sizeof v / sizeof v[0]);
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2");
    for (int rep = 0; rep < 5; rep++)
        for (int q = 0; q < nv; q++) {
            if (v[q].pass == pass_gather && !avx2) continue;
            double t0 = now();
            v[q].pass();
            double t = now() - t0;
            if (t < v[q].best) v[q].best = t;
        }
    printf("%lld rows x %d nonzeros over %lld columns, best of 5:\n", (long long)n, NNZ_ROW,
           (long long)cols);
    for (int q = 0; q < nv; q++)
        if (v[q].best < 1e30)
            printf("  %-24s %6.3f ns / nonzero  %6.1f ms / pass\n", v[q].name,
                   1e9 * v[q].best / (double)nnz, 1e3 * v[q].best);
    return 0;
}
