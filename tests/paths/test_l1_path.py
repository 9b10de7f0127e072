"""--l1 paths (README: Regularisation paths): an --l1 list with one --l2 is
glmnet's lasso path, both as lists their grid (for each l2, strongest
first, the l1 values strongest first). Each point of the warm-started path
must be within 1e-6 relative in F of a separate `--l1 A --l2 LAMBDA` fit and
have the same nonzero weights, on 1 and 2 ranks; --models-dir names every
model by both penalties, metrics.json's points carry l1 and nnz_weights,
--select picks by --validation and says both values."""
import glob
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from common import breast_cancer_split, check, finish, load_model, run, workdir  # noqa: E402

d = workdir()
tr, va, Xt, yt, Xv, yv = breast_cancer_split(d)
runs = os.path.join(d, "runs")
TIGHT = ["--tol", "1e-10", "--max-iter", "5000"]


def F(w, b, lam, a):
    return float(np.mean(np.logaddexp(0.0, -yt * (Xt @ w + b))) + 0.5 * lam * w @ w
                 + a * np.abs(w).sum())


def nonzeros(w):
    return set(np.nonzero(w)[0].tolist())


def train(extra, np_, tag, quiet=True):
    model, metrics = os.path.join(d, tag + ".json"), os.path.join(d, tag + ".metrics.json")
    p = run(["train", "--data", tr, "--model-out", model, "--metrics-out", metrics,
             "--tracking-dir", runs] + TIGHT + list(extra) + (["--quiet"] if quiet else []), np_=np_)
    return model, json.load(open(metrics)), p


separate = {}  # (l2, l1) -> (F, nonzeros) of a separate fit, on one rank


def check_points(pts, files, what):
    for i, (pt, f) in enumerate(zip(pts, files)):
        lam, a = pt["l2"], pt["l1"]
        check(os.path.basename(f) == f"model-{i:03d}-l2-{lam:.6g}-l1-{a:.6g}.json",
              f"{what}: model file {i} is named {os.path.basename(f)}")
        w, b, _ = load_model(f)
        f_path = F(w, b, lam, a)
        check(abs(f_path - pt["train_objective"]) <= 1e-9 * f_path,
              f"{what} point {i}: the saved model's F {f_path} vs metrics.json's {pt['train_objective']}")
        check(pt["nnz_weights"] == len(nonzeros(w)),
              f"{what} point {i}: nnz_weights {pt['nnz_weights']} vs the model's {len(nonzeros(w))}")
        if (lam, a) not in separate:
            sep, _, _ = train(["--l2", repr(lam), "--l1", repr(a)], 1, f"sep-{lam}-{a}")
            ws, bs, _ = load_model(sep)
            separate[(lam, a)] = (F(ws, bs, lam, a), nonzeros(ws))
        f_sep, nz_sep = separate[(lam, a)]
        rel = abs(f_path - f_sep) / f_sep
        print(f"{what} l2 {lam:.3g} l1 {a:.3g}: path F {f_path:.12g} ({pt['iterations']} it, "
              f"{len(nonzeros(w))} nonzero), separate {f_sep:.12g} ({len(nz_sep)}), rel {rel:.1e}",
              flush=True)
        check(rel <= 1e-6, f"{what} point {i}: path F {f_path} vs separate {f_sep} (rel {rel:.2e})")
        check(nonzeros(w) == nz_sep,
              f"{what} point {i}: nonzeros differ from the separate fit's at {sorted(nonzeros(w) ^ nz_sep)}")
        m = Xv @ w + b
        ll = float(np.mean(np.logaddexp(0.0, -yv * m)))
        check(abs(ll - pt["val_logloss"]) <= 1e-9, f"{what} point {i}: val_logloss {pt['val_logloss']} vs {ll}")


# The lasso path at one l2: 4 log-spaced l1 values, strongest first, sparser first.
A = [5e-2 * (5e-4 / 5e-2) ** (i / 3) for i in range(4)]
for np_ in (1, 2):
    mdir = os.path.join(d, f"lasso{np_}")
    model, met, p = train(["--l2", "1e-3", "--l1", "5e-2:5e-4:4", "--validation", va,
                           "--models-dir", mdir], np_, f"lasso{np_}")
    pts = met["path"]["points"]
    check(len(pts) == 4 and all(pt["l2"] == 1e-3 for pt in pts)
          and all(abs(pt["l1"] - a) <= 1e-12 * a for pt, a in zip(pts, A)),
          f"np={np_}: l1 from 5e-2 down to 5e-4 at l2 1e-3: {[(pt['l2'], pt['l1']) for pt in pts]}")
    nnz = [pt["nnz_weights"] for pt in pts]
    check(nnz == sorted(nnz) and nnz[0] < nnz[-1], f"np={np_}: the path grows denser: {nnz}")
    files = sorted(glob.glob(os.path.join(mdir, "model-*.json")))
    check(len(files) == 4, f"np={np_}: --models-dir holds {len(files)} models")
    check_points(pts, files, f"lasso np={np_}")
    best = int(np.argmin([pt["val_logloss"] for pt in pts]))
    check(met["path"]["selected"] == best and pts[best]["selected"], f"np={np_}: selected {met['path']['selected']}, best {best}")
    check(open(model).read() == open(files[best]).read(), f"np={np_}: --model-out is not the selected model")
    line = f"selected l2 0.001 l1 {pts[best]['l1']:.6g} by val_logloss"
    check(line in p.stderr + p.stdout, f"np={np_}: the selection line '{line}'")

# The grid: two l2 values (given weakest first) by two l1 values; the order
# is l2 strongest first, and within each l2 the l1 values strongest first.
mdir = os.path.join(d, "grid")
model, met, p = train(["--l2", "1e-3,1e-2", "--l1", "1e-3,1e-2", "--validation", va,
                       "--models-dir", mdir], 2, "grid", quiet=False)
pts = met["path"]["points"]
order = [(pt["l2"], pt["l1"]) for pt in pts]
check(order == [(1e-2, 1e-2), (1e-2, 1e-3), (1e-3, 1e-2), (1e-3, 1e-3)], f"grid order {order}")
files = sorted(glob.glob(os.path.join(mdir, "model-*.json")))
check(len(files) == 4, f"grid: --models-dir holds {len(files)} models")
check_points(pts, files, "grid np=2")
for i, pt in enumerate(pts):
    check(f"path {i:3d}  l2 {pt['l2']:<10.4g} l1 {pt['l1']:<10.4g}  objective" in p.stderr + p.stdout,
          f"grid: progress line {i}")

finish()
