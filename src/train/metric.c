/* metric.c - the validation metrics that early stopping and paths select by. */
#include <math.h>
#include <string.h>

#include "shardlearn/train.h"

static const char *const NAMES[] = {"?",           "val_logloss", "val_auc",
                                    "val_accuracy", "val_rmse",    "val_auc_ovr"};

enum sl_metric sl_metric_default(enum sl_loss loss) {
    if (loss == SL_LOSS_LOGISTIC) return SL_METRIC_VAL_LOGLOSS;
    if (loss == SL_LOSS_SQUARED) return SL_METRIC_VAL_RMSE;
    return SL_METRIC_VAL_ACCURACY;
}

const char *sl_metric_name(enum sl_metric m) {
    return m > SL_METRIC_NONE && m <= SL_METRIC_VAL_AUC_OVR ? NAMES[m] : "?";
}

const char *sl_metric_auc_name(enum sl_loss loss) {
    return NAMES[loss == SL_LOSS_MULTINOMIAL ? SL_METRIC_VAL_AUC_OVR : SL_METRIC_VAL_AUC];
}

int sl_metric_from_name(const char *name, enum sl_metric *out) {
    for (int m = SL_METRIC_VAL_LOGLOSS; m <= SL_METRIC_VAL_AUC_OVR; m++)
        if (strcmp(name, NAMES[m]) == 0) {
            *out = (enum sl_metric)m;
            return 0;
        }
    return -1;
}

const char *sl_metric_check(enum sl_metric m, enum sl_loss loss) {
    if (m == SL_METRIC_NONE) return NULL;
    if (m == SL_METRIC_VAL_RMSE && loss != SL_LOSS_SQUARED)
        return "val_rmse is a metric of the squared loss only";
    if (m == SL_METRIC_VAL_LOGLOSS && loss != SL_LOSS_LOGISTIC && loss != SL_LOSS_MULTINOMIAL)
        return "val_logloss is a metric of the logistic and multinomial losses only";
    if ((m == SL_METRIC_VAL_AUC || m == SL_METRIC_VAL_ACCURACY) && loss == SL_LOSS_SQUARED)
        return "the squared loss has no val_auc or val_accuracy (use val_rmse)";
    if (m == SL_METRIC_VAL_AUC && loss == SL_LOSS_MULTINOMIAL)
        return "multinomial's AUC is val_auc_ovr, the mean one-vs-rest AUC";
    if (m == SL_METRIC_VAL_AUC_OVR && loss != SL_LOSS_MULTINOMIAL)
        return "val_auc_ovr is a metric of the multinomial loss only (use val_auc)";
    if (strcmp(sl_metric_name(m), "?") == 0) return "unknown metric";
    return NULL;
}

double sl_metric_value(enum sl_metric m, const struct sl_eval_result *ev) {
    switch (m) {
    case SL_METRIC_VAL_LOGLOSS:
        return ev->logloss;
    case SL_METRIC_VAL_AUC:
    case SL_METRIC_VAL_AUC_OVR:
        return ev->auc;
    case SL_METRIC_VAL_ACCURACY:
        return ev->accuracy;
    case SL_METRIC_VAL_RMSE:
        return ev->rmse;
    default:
        return NAN;
    }
}

int sl_metric_higher_better(enum sl_metric m) {
    return m == SL_METRIC_VAL_AUC || m == SL_METRIC_VAL_AUC_OVR || m == SL_METRIC_VAL_ACCURACY;
}
