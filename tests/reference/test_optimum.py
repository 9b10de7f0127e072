"""Newton and L-BFGS reach scikit-learn's optimum (objective within 1e-7
relative, weights within 1e-4) on heart_scale and the standardised breast
cancer table, read as LIBSVM and as CSV, with and without intercept; SGD
gets within 1e-3 relative of it."""
import os

import numpy as np

from common import (breast_cancer, check, finish, heart, load_model, objective, run,
                    sklearn_optimum, workdir, write_csv, write_svm)

d = workdir()
sets = {}
X, y = heart()
sets["heart_scale"] = (X, y, "/usr/share/doc/liblinear-tools/examples/heart_scale")
X, y = breast_cancer()
write_svm(os.path.join(d, "bc.svm"), X, y)
write_csv(os.path.join(d, "bc.csv"), X, y)
sets["breast_cancer.svm"] = (X, y, os.path.join(d, "bc.svm"))
sets["breast_cancer.csv"] = (X, y, os.path.join(d, "bc.csv"))

for name, (X, y, path) in sets.items():
    for lam in (1e-3, 1e-2):
        for intercept in (True, False):
            w_ref, b_ref, f_ref, _ = sklearn_optimum(X, y, lam, intercept)
            flags = [] if intercept else ["--no-intercept"]
            for opt in ("newton", "lbfgs"):
                model = os.path.join(d, "m.json")
                run(["train", "--data", path, "--l2", lam, "--optimizer", opt, "--tol", "1e-10",
                     "--max-iter", "1000", "--quiet", "--model-out", model,
                     "--tracking-dir", os.path.join(d, "runs")] + flags, np_=2)
                w, b, _ = load_model(model)
                f = objective(X, y, w, b, lam)
                tag = f"{name} lambda={lam} intercept={intercept} {opt}"
                rel = (f - f_ref) / f_ref
                print(f"{tag}: F={f:.15g} sklearn={f_ref:.15g} rel={rel:.2e} "
                      f"max|dw|={np.abs(w - w_ref).max():.2e}", flush=True)
                check(rel <= 1e-7, f"{tag}: objective {rel:.3e} above sklearn's")
                check(np.abs(w - w_ref).max() <= 1e-4, f"{tag}: weights differ")
                check(abs(b - b_ref) <= 1e-4, f"{tag}: intercept differs")
            # SGD with a slowly decaying step and averaging reaches 1e-3 of the optimum.
            model = os.path.join(d, "sgd.json")
            run(["train", "--data", path, "--l2", lam, "--optimizer", "sgd", "--epochs", "200",
                 "--batch-size", "1", "--lr", "0.2", "--lr-decay", "0.05", "--average",
                 "--seed", "3", "--quiet",
                 "--model-out", model, "--tracking-dir", os.path.join(d, "runs")] + flags, np_=2)
            w, b, _ = load_model(model)
            f = objective(X, y, w, b, lam)
            rel = (f - f_ref) / f_ref
            print(f"{name} lambda={lam} intercept={intercept} sgd: rel={rel:.2e}", flush=True)
            check(rel <= 1e-3, f"{name} lambda={lam} intercept={intercept} sgd: {rel:.3e} from the optimum")
finish()
