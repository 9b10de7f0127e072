#!/usr/bin/env python3
"""One scikit-learn fit for the benchmark, in its own process (so a run over
its time budget can be stopped, and the driver's memory does not count).

Loads the data set's CSR arrays (not timed: scikit-learn's own svmlight
parser is timed separately by the driver), fits, and writes OUT.json with the
fit's wall time and OUT.npy with the weights. The objective is computed by
the driver from the weights, the same way for every solver.

usage: sk_fit.py NPZ OUT lbfgs|liblinear C TOL MAX_ITER
       sk_fit.py NPZ OUT sgd ALPHA EPOCHS SEED
  sgd runs one epoch per partial_fit call and writes OUT.E.npy after epoch E
  with the cumulative fit time, so the driver gets objective against time."""
import json
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import load_npz  # noqa: E402


def main():
    npz, out, solver = sys.argv[1], sys.argv[2], sys.argv[3]
    X, y = load_npz(npz)
    warnings.simplefilter("ignore")  # ConvergenceWarning is what a max_iter run is for
    info = {"solver": solver}
    if solver in ("lbfgs", "liblinear"):
        from sklearn.linear_model import LogisticRegression
        C, tol, max_iter = float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
        clf = LogisticRegression(C=C, fit_intercept=False, solver=solver, tol=tol,
                                 max_iter=max_iter)
        t0 = time.perf_counter()
        clf.fit(X, y)
        info["fit_seconds"] = time.perf_counter() - t0
        info["n_iter"] = int(np.max(clf.n_iter_))
        w = clf.coef_.ravel()
        if list(clf.classes_) != [-1.0, 1.0]:
            raise SystemExit(f"sk_fit.py: unexpected classes {clf.classes_}")
        np.save(out + ".npy", w)
    elif solver == "sgd":
        from sklearn.linear_model import SGDClassifier
        alpha, epochs, seed = float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
        clf = SGDClassifier(loss="log_loss", penalty="l2", alpha=alpha, fit_intercept=False,
                            max_iter=1, tol=None, random_state=seed)
        classes = np.array([-1.0, 1.0])
        elapsed, per_epoch = 0.0, []
        for e in range(1, epochs + 1):
            t0 = time.perf_counter()
            clf.partial_fit(X, y, classes=classes)
            elapsed += time.perf_counter() - t0
            per_epoch.append(elapsed)
            np.save(f"{out}.{e}.npy", clf.coef_.ravel())
        info["fit_seconds"] = elapsed
        info["epoch_seconds"] = per_epoch
        info["n_iter"] = epochs
    else:
        raise SystemExit(f"sk_fit.py: unknown solver {solver}")
    with open(out + ".json", "w") as f:
        json.dump(info, f)


if __name__ == "__main__":
    main()
