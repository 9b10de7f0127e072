"""--standardize: the optimum is scikit-learn's on the columns scaled by
StandardScaler(with_mean=False) (population standard deviation, no
centring), mapped back to the data's units (w_j / sd_j, b unchanged); for
every loss, Newton and L-BFGS within 1e-6 relative, on 1 and 3 ranks,
LIBSVM (sparse) and CSV (dense); a constant column gets weight 0; SGD and
warm starts work in the scaled space too."""
import os

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from common import check, finish, load_model, run, workdir, write_csv, write_svm
from losses_ref import diabetes, iris_binary, objective, optimum, write_csv_real, write_svm_real

d = workdir()
runs = os.path.join(d, "runs")
lam = 1e-3


def scaled_objective(loss, X, y, w, b, sd):
    """F in the scaled space at the model (w, b) in the data's units."""
    return objective(loss, X / np.where(sd > 0, sd, 1.0), y, w * sd, b, lam)


sets = []
X, y = load_breast_cancer(return_X_y=True)  # raw: columns from 1e-3 to 1e3
y = np.where(y > 0, 1.0, -1.0)
X = np.hstack([X, np.full((len(y), 1), 3.0)])  # a constant column
write_svm(os.path.join(d, "bc.svm"), X, y)
write_csv(os.path.join(d, "bc.csv"), X, y)
sets += [("breast_cancer.svm", "logistic", X, y, os.path.join(d, "bc.svm")),
         ("breast_cancer.csv", "squared-hinge", X, y, os.path.join(d, "bc.csv"))]
X, y = diabetes()
X = X * np.array([1, 10, 100, 1000, 1e4, 1, 1, 1, 1, 0.01])  # columns of very different scales
write_svm_real(os.path.join(d, "diabetes.svm"), X, y)
sets.append(("diabetes.svm", "squared", X, y, os.path.join(d, "diabetes.svm")))

for name, loss, X, y, path in sets:
    sd = StandardScaler(with_mean=False).fit(X).scale_.copy()
    sd[X.std(axis=0) == 0] = 0.0  # StandardScaler leaves constant columns at scale 1
    Xs = X / np.where(sd > 0, sd, 1.0)
    Xs[:, sd == 0] = 0.0
    _, _, f_ref = optimum(loss, Xs, y, lam)
    for opt, np_ in (("newton", 1), ("newton", 3), ("lbfgs", 2)):
        model = os.path.join(d, "m.json")
        run(["train", "--data", path, "--loss", loss, "--l2", lam, "--optimizer", opt,
             "--standardize", "--tol", "1e-10", "--max-iter", "2000", "--quiet", "--model-out",
             model, "--tracking-dir", runs], np_=np_)
        w, b, _ = load_model(model)
        f = scaled_objective(loss, X, y, w, b, sd)
        rel = (f - f_ref) / f_ref
        tag = f"{name} {loss} --standardize {opt} np={np_}"
        print(f"{tag}: F={f:.15g} ref={f_ref:.15g} rel={rel:.2e}", flush=True)
        check(rel <= 1e-6, f"{tag}: {rel:.3e} above scikit-learn on the scaled columns")
        check(np.all(w[sd == 0] == 0), f"{tag}: a constant column has a weight")
        # The model is in the data's units: predictions need no scaling.
        pred = os.path.join(d, "pred.txt")
        run(["predict", "--model", model, "--data", path, "--out", pred])
        if loss == "squared":
            check(np.allclose(np.loadtxt(pred), X @ w + b, rtol=1e-10), f"{tag}: predict")

# SGD takes the same steps in the scaled space as on an explicitly scaled file; the two
# differ only by the rounding of the scaled values, which 50 epochs of single-row steps
# amplify to ~1e-3 (hence 1e-2 of F*). Warm starts are mapped into the scaled space too.
X, y, path = sets[0][2], sets[0][3], sets[0][4]
sd = StandardScaler(with_mean=False).fit(X).scale_.copy()
sd[X.std(axis=0) == 0] = 0.0
Xs = X / np.where(sd > 0, sd, 1.0)
Xs[:, sd == 0] = 0.0
write_svm(os.path.join(d, "bc-scaled.svm"), Xs, y)
_, _, f_ref = optimum("logistic", Xs, y, lam)
sgd = ["--l2", lam, "--optimizer", "sgd", "--epochs", "50", "--batch-size", "1", "--lr", "0.02",
       "--lr-decay", "0.02", "--average", "--seed", "3", "--quiet", "--tracking-dir", runs]
fs = []
for data, extra in ((path, ["--standardize"]), (os.path.join(d, "bc-scaled.svm"), [])):
    extra_n = [] if extra else ["--n-features", X.shape[1]]  # its constant column is all zeros
    model = os.path.join(d, "sgd.json")
    run(["train", "--data", data, "--model-out", model] + sgd + extra + extra_n, np_=2)
    w, b, _ = load_model(model)
    fs.append(scaled_objective("logistic", X, y, w, b, sd) if extra else
              objective("logistic", Xs, y, w, b, lam))
print(f"sgd: --standardize F={fs[0]:.12g}, on the scaled file F={fs[1]:.12g}", flush=True)
check(abs(fs[0] - fs[1]) <= 1e-2 * f_ref, f"sgd --standardize differs from sgd on scaled data: {fs}")

base, warm = os.path.join(d, "base.json"), os.path.join(d, "warm.json")
common = ["--data", path, "--standardize", "--tol", "1e-8", "--quiet", "--tracking-dir", runs]
run(["train", "--l2", lam] + common + ["--model-out", base], np_=2)
_, _, f_ref2 = optimum("logistic", Xs, y, 0.8 * lam)
run(["train", "--l2", 0.8 * lam, "--init-model", base, "--model-out", warm] + common, np_=3)
w, b, _ = load_model(warm)
f = objective("logistic", Xs, y, w * sd, b, 0.8 * lam)
check((f - f_ref2) / f_ref2 <= 1e-6, f"warm start with --standardize: {(f - f_ref2) / f_ref2:.3e}")
finish()
