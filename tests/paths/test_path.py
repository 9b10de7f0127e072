"""--l2 paths (README: Regularisation paths): each point of a warm-started
path is within 1e-6 (relative objective) of a separate fit at its lambda, on
1 and 2 ranks; --models-dir holds every model, --model-out the one with the
best --select metric on --validation, and metrics.json the whole path."""
import glob
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from common import (breast_cancer_split, check, finish, load_model, objective, run,  # noqa: E402
                    workdir)

d = workdir()
tr, va, Xt, yt, Xv, yv = breast_cancer_split(d)
runs = os.path.join(d, "runs")
f_seps = {}
lams = [1e-1 * (1e-5 / 1e-1) ** (i / 8) for i in range(9)]


def train(extra, np_=2, tag="m"):
    model, metrics = os.path.join(d, tag + ".json"), os.path.join(d, tag + ".metrics.json")
    p = run(["train", "--data", tr, "--tol", "1e-10", "--quiet", "--model-out", model,
             "--metrics-out", metrics, "--tracking-dir", runs] + list(extra), np_=np_)
    return model, json.load(open(metrics)), p


for np_ in (1, 2):
    mdir = os.path.join(d, f"models{np_}")
    model, met, p = train(["--l2", "1e-1:1e-5:9", "--validation", va, "--models-dir", mdir],
                          np_=np_, tag=f"path{np_}")
    path = met["path"]
    pts = path["points"]
    check(len(pts) == 9 and [pt["index"] for pt in pts] == list(range(9)), f"np={np_}: 9 points")
    check(all(abs(pt["l2"] - lam) <= 1e-12 * lam for pt, lam in zip(pts, lams)),
          f"np={np_}: l2 from 1e-1 down to 1e-5, log-spaced: {[pt['l2'] for pt in pts]}")
    files = sorted(glob.glob(os.path.join(mdir, "model-*.json")))
    check(len(files) == 9, f"np={np_}: --models-dir holds {len(files)} models, not 9")
    for i, (pt, f) in enumerate(zip(pts, files)):
        lam = pt["l2"]
        check(os.path.basename(f).startswith(f"model-{i:03d}-l2-"), f"np={np_}: name {f}")
        w, b, _ = load_model(f)
        f_path = objective(Xt, yt, w, b, lam)
        check(abs(f_path - pt["train_objective"]) <= 1e-9 * f_path,
              f"np={np_} point {i}: the saved model's F {f_path} is not metrics.json's {pt['train_objective']}")
        if np_ == 1:  # the separate fits, on one rank (the ranks agree: tests/reference)
            sep, _, _ = train(["--l2", repr(lam)], np_=1, tag=f"sep{i}")
            ws, bs, _ = load_model(sep)
            f_seps[i] = objective(Xt, yt, ws, bs, lam)
        f_sep = f_seps[i]
        rel = abs(f_path - f_sep) / f_sep
        print(f"np={np_} l2 {lam:.3g}: path F {f_path:.12g} ({pt['iterations']} it), "
              f"separate {f_sep:.12g}, rel {rel:.1e}", flush=True)
        check(rel <= 1e-6, f"np={np_} point {i}: path F {f_path} vs separate {f_sep} (rel {rel:.2e})")
        m = Xv @ w + b
        ll = float(np.mean(np.logaddexp(0.0, -yv * m)))
        check(abs(ll - pt["val_logloss"]) <= 1e-9, f"np={np_} point {i}: val_logloss {pt['val_logloss']} vs {ll}")
    best = int(np.argmin([pt["val_logloss"] for pt in pts]))
    check(path["select"] == "val_logloss" and path["selected"] == best,
          f"np={np_}: selected {path['selected']}, the lowest val_logloss is {best}")
    check([pt["selected"] for pt in pts] == [i == best for i in range(9)], f"np={np_}: one selected flag")
    check(open(model).read() == open(files[best]).read() or
          np.allclose(load_model(model)[0], load_model(files[best])[0], rtol=0, atol=0),
          f"np={np_}: --model-out is not the selected model")
    check(f"selected l2 {pts[best]['l2']:.6g} by val_logloss" in p.stderr + p.stdout,
          f"np={np_}: the selection line")

# --select val_auc picks the highest AUC; a list in any order is sorted strongest first.
_, met, _ = train(["--l2", "1e-4,1e-1,1e-2", "--validation", va, "--select", "val_auc"], tag="auc")
pts = met["path"]["points"]
check([pt["l2"] for pt in pts] == [1e-1, 1e-2, 1e-4], f"list sorted strongest first: {[pt['l2'] for pt in pts]}")
check(met["path"]["selected"] == int(np.argmax([pt["val_auc"] for pt in pts])), "val_auc: the highest")

finish()
