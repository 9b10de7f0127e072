"""--early-stop N (README: Early stopping): training stops N iterations
(epochs for sgd) after the best --select metric on --validation, and the
model written is the best iterate: its validation metric, computed here from
the saved weights, is the history's best, and no later iteration beat it.
With a path, every point keeps its own best iterate."""
import json
import os
import sys

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from common import check, finish, load_model, run, workdir, write_svm  # noqa: E402

d = workdir()
rng = np.random.default_rng(7)
# Few rows, many noisy features: the validation loss turns up as L-BFGS fits the noise.
n, p = 150, 100
w_true = np.zeros(p)
w_true[:5] = 1.0
X = rng.normal(size=(n + 400, p))
y = np.where(X @ w_true + rng.normal(scale=1.0, size=n + 400) > 0, 1.0, -1.0)
tr, va = os.path.join(d, "tr.svm"), os.path.join(d, "va.svm")
write_svm(tr, X[:n], y[:n])
write_svm(va, X[n:], y[n:])
Xv, yv = X[n:], y[n:]
runs = os.path.join(d, "runs")


def val_metrics(model):
    w, b, _ = load_model(model)
    m = Xv @ w + b
    return float(np.mean(np.logaddexp(0.0, -yv * m))), float(roc_auc_score(yv, m))


def train(extra, np_=2, tag="m"):
    model, metrics = os.path.join(d, tag + ".json"), os.path.join(d, tag + ".metrics.json")
    run(["train", "--data", tr, "--validation", va, "--l2", "1e-6", "--quiet", "--model-out", model,
         "--metrics-out", metrics, "--tracking-dir", runs] + list(extra), np_=np_)
    return model, json.load(open(metrics))


for opt, extra, key, lower in [
        ("lbfgs", ["--optimizer", "lbfgs", "--max-iter", "200"], "val_logloss", True),
        ("lbfgs", ["--optimizer", "lbfgs", "--max-iter", "200", "--select", "val_auc"], "val_auc", False),
        ("sgd", ["--optimizer", "sgd", "--epochs", "60", "--lr", "0.5", "--lr-decay", "0"], "val_logloss", True)]:
    for np_ in (1, 2):
        N = 4
        model, met = train(extra + ["--early-stop", str(N)], np_=np_, tag=f"{opt}{np_}")
        hist = [h[key] for h in met["history"]]
        best = int(np.argmin(hist) if lower else np.argmax(hist))  # the first best
        tag = f"{opt} {key} np={np_}"
        print(f"{tag}: {len(hist)} iterations, best {best + 1} ({hist[best]:.6f}), "
              f"early_stopped {met['early_stopped']}", flush=True)
        check(met["early_stopped"] and met["best_iteration"] == best + 1,
              f"{tag}: best_iteration {met['best_iteration']}, the history's best is {best + 1}")
        check(len(hist) == best + 1 + N, f"{tag}: stopped after {len(hist)} iterations, best {best + 1}, N {N}")
        ll, auc = val_metrics(model)
        got = ll if key == "val_logloss" else auc
        check(abs(got - hist[best]) <= 1e-9, f"{tag}: the saved model's {key} {got}, the best {hist[best]}")
        check(abs(met["validation"]["logloss"] - ll) <= 1e-9, f"{tag}: metrics.json's validation is not the saved model's")
        # Without early stopping the run goes on past the best.
        if np_ == 1 and key == "val_logloss":
            _, full = train(extra, np_=1, tag=f"{opt}full")
            check(len(full["history"]) > len(hist), f"{tag}: the unstopped run is not longer")
            fh = [h[key] for h in full["history"]]
            check(abs(fh[best] - hist[best]) <= 1e-12, f"{tag}: the same iterates with and without --early-stop")

# With a path: each point's best iterate.
mdir = os.path.join(d, "models")
_, met = train(["--optimizer", "lbfgs", "--max-iter", "200", "--early-stop", "3",
                "--l2", "1e-4,1e-6", "--models-dir", mdir], tag="path")
for pt in met["path"]["points"]:
    f = os.path.join(mdir, f"model-{pt['index']:03d}-l2-{pt['l2']:.6g}.json")
    ll, _ = val_metrics(f)
    check(abs(ll - pt["val_logloss"]) <= 1e-9 and pt["best_iteration"] >= 1,
          f"path l2 {pt['l2']}: model {ll} vs {pt['val_logloss']}, best_iteration {pt.get('best_iteration')}")

finish()
