/* vec.h - private: small dense vector helpers for the optimisers. */
#ifndef SHARDLEARN_VEC_H
#define SHARDLEARN_VEC_H

#include <math.h>
#include <stdint.h>

static inline double sl_dot(const double *a, const double *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
static inline double sl_nrm2(const double *a, int64_t n) { return sqrt(sl_dot(a, a, n)); }
/* y += alpha x */
static inline void sl_axpy(double alpha, const double *x, double *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}
/* sum_i a_i m_i b_i */
static inline double sl_dot_m(const double *a, const double *m, const double *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += a[i] * m[i] * b[i];
    return s;
}

#endif
