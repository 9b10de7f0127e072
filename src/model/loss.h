/* loss.h - private to the model: the losses of a margin m for a label y, in
 * the numerically stable forms every caller shares, so a loss is written
 * once. Inline: the fused passes call them once a row, and a pass is
 * compiled once per loss (kernels.c), so the switch in sl_loss_pieces folds
 * away.
 *
 * This is the seam a loss joins at: a binary or regression loss adds a
 * case to enum sl_loss (model.h) and to the two functions below; a K-class
 * loss (multinomial) needs a K-wide margin and joins with a pieces function
 * of its own and its own pass. */
#ifndef SHARDLEARN_MODEL_LOSS_H
#define SHARDLEARN_MODEL_LOSS_H

#include <math.h>

#include "shardlearn/model.h"

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

/* loss, r = d loss / d m and D = d^2 loss / d m^2 of one row, y in {-1, +1}
 * for the classifiers and real for squared:
 *   logistic       log(1 + exp(-y m))
 *   squared-hinge  max(0, 1 - y m)^2; D is the generalised second
 *                  derivative, 2 where 1 - y m > 0 and 0 elsewhere, as in
 *                  LIBLINEAR's L2-loss SVM (-s 2) trust-region Newton
 *   squared        (1/2) (y - m)^2 */
static inline void sl_loss_pieces(enum sl_loss kind, double m, double y, double *loss, double *r,
                                  double *D) {
    switch (kind) {
    case SL_LOSS_SQUARED_HINGE: {
        double t = 1.0 - y * m;
        int act = t > 0;
        *loss = act ? t * t : 0.0;
        *r = act ? -2.0 * y * t : 0.0;
        *D = act ? 2.0 : 0.0;
        return;
    }
    case SL_LOSS_SQUARED: {
        double t = m - y;
        *loss = 0.5 * t * t;
        *r = t;
        *D = 1.0;
        return;
    }
    case SL_LOSS_LOGISTIC:
    default:
        sl_logistic_pieces(m, y, loss, r, D);
        return;
    }
}

/* d loss / d m alone, for a mini-batch step. */
static inline double sl_loss_residual(enum sl_loss kind, double m, double y) {
    switch (kind) {
    case SL_LOSS_SQUARED_HINGE: {
        double t = 1.0 - y * m;
        return t > 0 ? -2.0 * y * t : 0.0;
    }
    case SL_LOSS_SQUARED:
        return m - y;
    case SL_LOSS_LOGISTIC:
    default:
        return sl_logistic_residual(m, y);
    }
}

/* The loss of one row alone (metrics). */
static inline double sl_loss_value(enum sl_loss kind, double m, double y) {
    double loss, r, D;
    sl_loss_pieces(kind, m, y, &loss, &r, &D);
    return loss;
}

#endif
