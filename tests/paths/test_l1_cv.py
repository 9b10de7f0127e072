"""--cv K with --l1 values (README: Cross-validation): the fold scores at
each (l2, l1) setting equal scikit-learn's cross_validate with KFold(K) (no
shuffle) and the elastic net LogisticRegression of README's L1 table,
C = 1/(n_train (l2 + l1)), l1_ratio = l1/(l2 + l1), saga at a tight tol; on
2 and 3 ranks, for an l1 list at one l2 and for the l2 x l1 grid. Selection
is by the mean, as LogisticRegressionCV; the model written is the refit on
every row at the chosen setting, the same model a separate fit there makes."""
import json
import os
import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_validate

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from common import breast_cancer, check, finish, load_model, run, workdir, write_svm  # noqa: E402

warnings.simplefilter("ignore", ConvergenceWarning)
warnings.simplefilter("ignore", FutureWarning)  # penalty= is deprecated from 1.8 on
d = workdir()
X, y = breast_cancer()
X4, y4 = X[:400], y[:400]
data = os.path.join(d, "d400.svm")
write_svm(data, X4, y4)
runs = os.path.join(d, "runs")
K, N_TRAIN = 5, 320
SCORING = {"val_logloss": ("neg_log_loss", -1.0), "val_auc": ("roc_auc", 1.0)}
ref = {}  # (l2, l1) -> {select: fold scores}


def reference(lam, a):
    if (lam, a) not in ref:
        clf = LogisticRegression(C=1.0 / (N_TRAIN * (lam + a)), l1_ratio=a / (lam + a),
                                 penalty="elasticnet", solver="saga", tol=1e-10, max_iter=200000)
        s = cross_validate(clf, X4, y4, cv=KFold(K), scoring=[v[0] for v in SCORING.values()])
        ref[(lam, a)] = {k: sign * s["test_" + name] for k, (name, sign) in SCORING.items()}
    return ref[(lam, a)]


def cv(l2, l1, select, np_, tag):
    model, metrics = os.path.join(d, tag + ".json"), os.path.join(d, tag + ".metrics.json")
    p = run(["train", "--data", data, "--l2", l2, "--l1", l1, "--cv", K, "--select", select,
             "--tol", "1e-10", "--max-iter", "5000", "--quiet", "--model-out", model,
             "--metrics-out", metrics, "--tracking-dir", runs], np_=np_)
    return model, json.load(open(metrics))["path"], p


for l2, l1, select, np_, want in [
        ("1e-3", "1e-2,1e-3", "val_logloss", 2, [(1e-3, 1e-2), (1e-3, 1e-3)]),
        ("1e-3,1e-2", "1e-3,1e-2", "val_auc", 3, [(1e-2, 1e-2), (1e-2, 1e-3), (1e-3, 1e-2), (1e-3, 1e-3)])]:
    what = f"--l2 {l2} --l1 {l1} --select {select} np={np_}"
    model, path, p = cv(l2, l1, select, np_, f"cv{np_}")
    pts = path["points"]
    check([(pt["l2"], pt["l1"]) for pt in pts] == want, f"{what}: settings {[(pt['l2'], pt['l1']) for pt in pts]}")
    means = []
    for pt in pts:
        r = reference(pt["l2"], pt["l1"])[select]
        got = np.array(pt["fold_scores"])
        err = float(np.max(np.abs(got - r)))
        print(f"{what} l2 {pt['l2']:g} l1 {pt['l1']:g}: folds {np.round(got, 6)}, sklearn "
              f"{np.round(r, 6)}, max diff {err:.1e}", flush=True)
        check(err <= 1e-6, f"{what} l2 {pt['l2']} l1 {pt['l1']}: fold scores {got} vs cross_validate {r}")
        check(abs(pt["mean"] - r.mean()) <= 1e-6 and abs(pt["std"] - r.std()) <= 1e-6,
              f"{what}: mean/std {pt['mean']}/{pt['std']} vs {r.mean()}/{r.std()}")
        means.append(r.mean())
    best = int(np.argmin(means) if select == "val_logloss" else np.argmax(means))
    check(path["selected"] == best and pts[best]["selected"], f"{what}: selected {path['selected']}, by the mean {best}")
    b = pts[path["selected"]]
    line = f"selected l2 {b['l2']:.6g} l1 {b['l1']:.6g} by mean cv {select}"
    check(line in p.stderr + p.stdout, f"{what}: the line '{line}'")
    # The refit: a separate fit at the chosen setting on every row, same ranks.
    sep = os.path.join(d, f"sep{np_}.json")
    run(["train", "--data", data, "--l2", repr(b["l2"]), "--l1", repr(b["l1"]), "--tol", "1e-10",
         "--max-iter", "5000", "--quiet", "--model-out", sep, "--tracking-dir", runs], np_=np_)
    w, c0, _ = load_model(model)
    ws, cs, _ = load_model(sep)
    check(np.array_equal(w, ws) and c0 == cs, f"{what}: the refit is not the separate fit at the chosen setting")

finish()
