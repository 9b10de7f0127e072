"""--cv K (README: Cross-validation): the fold scores at each lambda equal
scikit-learn's cross_val_score with KFold(K) (no shuffle: contiguous folds)
and LogisticRegression(C = 1/(lambda n_train)), on 1 and 3 ranks; the
selection is by the mean, as LogisticRegressionCV; the model written is the
refit on every row at the chosen lambda. Rows not divisible by K check the
fold boundaries (the first n % K folds one row longer)."""
import json
import os
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import KFold, cross_val_score

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from common import (breast_cancer, check, finish, load_model, objective, run, sklearn_optimum,  # noqa: E402
                    workdir, write_csv, write_svm)

d = workdir()
X, y = breast_cancer()
runs = os.path.join(d, "runs")
LAMS = [1e-1, 1e-2, 1e-3]


def clf(lam, n_train):
    return LogisticRegression(C=1.0 / (lam * n_train), tol=1e-12, max_iter=100000)


def shardlearn_cv(path, K, select, np_):
    model, metrics = os.path.join(d, "m.json"), os.path.join(d, "m.metrics.json")
    run(["train", "--data", path, "--l2", ",".join(map(repr, LAMS)), "--cv", K, "--select", select,
         "--tol", "1e-10", "--quiet", "--model-out", model, "--metrics-out", metrics,
         "--tracking-dir", runs], np_=np_)
    return model, json.load(open(metrics))["path"]


# 400 rows, 5 folds of 80: cross_val_score with one C per lambda.
X4, y4 = X[:400], y[:400]
p400 = os.path.join(d, "d400.svm")
write_svm(p400, X4, y4)
for select, scoring, sign in [("val_logloss", "neg_log_loss", -1.0), ("val_auc", "roc_auc", 1.0),
                              ("val_accuracy", "accuracy", 1.0)]:
    for np_ in ((1, 3) if select == "val_logloss" else (2,)):
        model, path = shardlearn_cv(p400, 5, select, np_)
        ref_means = []
        for pt, lam in zip(path["points"], LAMS):
            ref = sign * cross_val_score(clf(lam, 320), X4, y4, cv=KFold(5), scoring=scoring)
            got = np.array(pt["fold_scores"])
            err = float(np.max(np.abs(got - ref)))
            print(f"{select} np={np_} l2 {lam:g}: folds {np.round(got, 6)}, sklearn {np.round(ref, 6)}, "
                  f"max diff {err:.1e}", flush=True)
            check(err <= 1e-6, f"{select} np={np_} l2 {lam}: fold scores {got} vs cross_val_score {ref}")
            check(abs(pt["mean"] - ref.mean()) <= 1e-6 and abs(pt["std"] - ref.std()) <= 1e-6,
                  f"{select} np={np_} l2 {lam}: mean/std {pt['mean']}/{pt['std']} vs {ref.mean()}/{ref.std()}")
            ref_means.append(ref.mean())
        best = int(np.argmin(ref_means) if select == "val_logloss" else np.argmax(ref_means))
        check(path["selected"] == best and path["points"][best]["selected"],
              f"{select} np={np_}: selected {path['selected']}, by the mean {best}")
        # The refit: the optimum on all 400 rows at the chosen lambda.
        lam = LAMS[path["selected"]]
        w, b, _ = load_model(model)
        _, _, f_ref, _ = sklearn_optimum(X4, y4, lam, True)
        f = objective(X4, y4, w, b, lam)
        check((f - f_ref) / f_ref <= 1e-6, f"{select} np={np_}: the refit F {f} vs {f_ref}")

# Dense rows (CSV) take the same folds.
pcsv = os.path.join(d, "d400.csv")
write_csv(pcsv, X4, y4)
_, path = shardlearn_cv(pcsv, 5, "val_logloss", 2)
for pt, lam in zip(path["points"], LAMS):
    ref = -cross_val_score(clf(lam, 320), X4, y4, cv=KFold(5), scoring="neg_log_loss")
    check(np.max(np.abs(np.array(pt["fold_scores"]) - ref)) <= 1e-6, f"csv l2 {lam}: {pt['fold_scores']} vs {ref}")

# 403 rows, 4 folds (101, 101, 101, 100): each fold's own n_train.
X3, y3 = X[:403], y[:403]
p403 = os.path.join(d, "d403.svm")
write_svm(p403, X3, y3)
_, path = shardlearn_cv(p403, 4, "val_logloss", 2)
for pt, lam in zip(path["points"], LAMS):
    ref = []
    for tr, te in KFold(4).split(X3):
        c = clf(lam, len(tr)).fit(X3[tr], y3[tr])
        ref.append(log_loss(y3[te], c.predict_proba(X3[te])[:, 1], labels=[-1, 1]))
    got = np.array(pt["fold_scores"])
    check(np.max(np.abs(got - ref)) <= 1e-6, f"403 rows l2 {lam}: folds {got} vs {ref}")
    print(f"403 rows l2 {lam:g}: max diff {np.max(np.abs(got - ref)):.1e}", flush=True)


finish()
