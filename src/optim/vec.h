/* vec.h - private: small dense vector helpers for the optimisers. */
#ifndef SHARDLEARN_VEC_H
#define SHARDLEARN_VEC_H

#include <math.h>
#include <stdint.h>

/* The dot products keep four partial sums: one sum is a chain of dependent
 * additions, bound by the adder's latency (about 1.3 ns an element here);
 * four chains run side by side. The order is fixed, so results do not depend
 * on anything but the inputs. Sets the double out to a . b. */
#define SL_DOT4(out, a, b, n)                                                                      \
    do {                                                                                           \
        double s0_ = 0.0, s1_ = 0.0, s2_ = 0.0, s3_ = 0.0;                                         \
        int64_t i_ = 0;                                                                            \
        for (; i_ + 4 <= (n); i_ += 4) {                                                           \
            s0_ += (double)(a)[i_] * (double)(b)[i_];                                              \
            s1_ += (double)(a)[i_ + 1] * (double)(b)[i_ + 1];                                      \
            s2_ += (double)(a)[i_ + 2] * (double)(b)[i_ + 2];                                      \
            s3_ += (double)(a)[i_ + 3] * (double)(b)[i_ + 3];                                      \
        }                                                                                          \
        for (; i_ < (n); i_++)                                                                     \
            s0_ += (double)(a)[i_] * (double)(b)[i_];                                              \
        (out) = (s0_ + s1_) + (s2_ + s3_);                                                         \
    } while (0)

static inline double sl_dot(const double *a, const double *b, int64_t n) {
    double s;
    SL_DOT4(s, a, b, n);
    return s;
}
/* The same for vectors stored in single precision (L-BFGS's history), each
 * element widened to double before it is used: sums stay in double. */
static inline double sl_dot_fd(const float *a, const double *b, int64_t n) {
    double s;
    SL_DOT4(s, a, b, n);
    return s;
}
static inline double sl_dot_ff(const float *a, const float *b, int64_t n) {
    double s;
    SL_DOT4(s, a, b, n);
    return s;
}
/* y += alpha x */
static inline void sl_axpy(double alpha, const double *x, double *y, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] += alpha * x[i];
}
/* sum_i a_i m_i b_i */
static inline double sl_dot_m(const double *a, const double *m, const double *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * m[i] * b[i];
    return s;
}

#endif
