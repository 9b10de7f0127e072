"""predict and eval agree with scikit-learn on the same model: probabilities,
labels in input order (1 and 3 ranks), log-loss, accuracy and ROC AUC."""
import json
import os

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from common import (HEART, breast_cancer, check, finish, heart, load_model, run, workdir,
                    write_csv)

d = workdir()
runs = os.path.join(d, "runs")
Xb, yb = breast_cancer()
write_csv(os.path.join(d, "bc.csv"), Xb, yb)
Xh, yh = heart()
cases = [("heart_scale", HEART, Xh, yh, "-1"), ("breast_cancer.csv", os.path.join(d, "bc.csv"), Xb, yb, "0")]

for name, path, X, y, neg in cases:
    model = os.path.join(d, "model.json")
    run(["train", "--data", path, "--l2", "1e-2", "--quiet", "--model-out", model, "--tracking-dir", runs], np_=2)
    w, b, _ = load_model(model)
    clf = LogisticRegression()
    clf.classes_ = np.array([-1.0, 1.0])
    clf.coef_ = w.reshape(1, -1)
    clf.intercept_ = np.array([b])
    p_ref = clf.predict_proba(X)[:, 1]
    lab_ref = clf.predict(X)
    for np_ in (1, 3):
        out = os.path.join(d, f"p{np_}.txt")
        run(["predict", "--model", model, "--data", path, "--proba", "--out", out], np_=np_)
        p = np.loadtxt(out)
        check(p.shape == p_ref.shape and np.abs(p - p_ref).max() <= 1e-12,
              f"{name}: probabilities on {np_} ranks differ by {np.abs(p - p_ref).max():.3e}")
        out = os.path.join(d, f"l{np_}.txt")
        run(["predict", "--model", model, "--data", path, "--out", out], np_=np_)
        with open(out) as f:
            labels = [line.strip() for line in f]
        want = ["1" if v > 0 else neg for v in lab_ref]
        check(labels == want, f"{name}: labels on {np_} ranks differ from scikit-learn's")
        ev = os.path.join(d, f"e{np_}.json")
        run(["eval", "--model", model, "--data", path, "--metrics-out", ev], np_=np_)
        with open(ev) as f:
            m = json.load(f)
        ref = {"logloss": log_loss(y, p_ref), "accuracy": accuracy_score(y, lab_ref),
               "auc": roc_auc_score(y, p_ref)}
        for k, v in ref.items():
            check(abs(m[k] - v) <= 1e-9 * max(1.0, abs(v)), f"{name} {k} on {np_} ranks: {m[k]} vs {v}")
        check(m["n_rows"] == len(y), f"{name}: eval counted {m['n_rows']} rows")
        print(f"{name} on {np_} ranks: {m}", flush=True)
    # Ties: AUC counts tied scores half, like scikit-learn (a model of zeros ties everything).
    zero = os.path.join(d, "zero.json")
    with open(model) as f:
        mz = json.load(f)
    mz.pop("weights_sparse", None)  # either form: the zero model is written dense
    mz["weights"] = [0.0] * int(mz["n_features"])
    mz["intercept"] = 0.0
    with open(zero, "w") as f:
        json.dump(mz, f)
    ev = os.path.join(d, "ez.json")
    run(["eval", "--model", zero, "--data", path, "--metrics-out", ev], np_=2)
    with open(ev) as f:
        check(abs(json.load(f)["auc"] - 0.5) < 1e-15, f"{name}: AUC of tied scores is not 0.5")
finish()
