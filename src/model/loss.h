/* loss.h - private to the model: the logistic loss of a margin m for a label
 * y in {-1, +1}, in the numerically stable forms every caller shares, so a
 * loss is written once. Inline: the fused passes call it once a row. */
#ifndef SHARDLEARN_MODEL_LOSS_H
#define SHARDLEARN_MODEL_LOSS_H

#include <math.h>

/* log(1 + exp(-z)), stable for any z. */
static inline double sl_log1pexp_neg(double z) {
    return log1p(exp(-fabs(z))) + (z < 0 ? -z : 0.0);
}

/* 1 / (1 + exp(-z)), stable for any z. */
static inline double sl_sigmoid(double z) {
    double e = exp(-fabs(z));
    return z >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/* For a margin m and label y: loss = log(1 + exp(-y m)),
 * r = d loss / d m = -y sigma(-y m), D = d^2 loss / d m^2 = sigma(ym) sigma(-ym).
 * One exp, one log1p, stable for any |m|. */
static inline void sl_logistic_pieces(double m, double y, double *loss, double *r, double *D) {
    double z = y * m;
    double e = exp(-fabs(z)); /* in (0, 1] */
    double inv = 1.0 / (1.0 + e);
    *loss = log1p(e) + (z < 0 ? -z : 0.0);
    double s_neg = z >= 0 ? e * inv : inv; /* sigma(-z) */
    *r = -y * s_neg;
    *D = e * inv * inv;
}

/* d loss / d m alone, for a mini-batch step: -y sigma(-y m). */
static inline double sl_logistic_residual(double m, double y) {
    double z = y * m;
    return -y * sl_sigmoid(-z);
}

#endif
