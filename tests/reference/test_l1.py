"""L1 and elastic net (README: L1 and elastic net) against scikit-learn.

    F(w, b) = (1/n) sum_i l(y_i, w.x_i + b) + (lambda/2) |w|^2 + a |w|_1

For each loss with an L1 form in scikit-learn, shardlearn's OWL-QN optimum
on 1, 2 and 4 ranks must be within 1e-6 relative of the best of
scikit-learn's solvers (each objective computed here from the weights, by
the mappings README states) and have the same set of nonzero weights:
  logistic:      LogisticRegression(penalty "l1" / "elasticnet",
                 C = 1/(n (lambda + a)), l1_ratio = a / (lambda + a)),
                 saga; liblinear without intercept and L2 (it penalises its own
                 intercept);
  squared:       ElasticNet / Lasso(alpha = lambda + a, l1_ratio = a / (lambda + a));
  squared-hinge: LinearSVC(penalty "l1", loss "squared_hinge", dual=False,
                 C = 1/(n a), fit_intercept=False), lambda = 0.
On uncentred columns OWL-QN reaches the centred data's optimum (the same F)
in a bounded number of iterations."""
import json
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression
from sklearn.svm import LinearSVC

from common import (BIN, HEART, MPIRUN, breast_cancer, check, error_lines, finish, heart, load_model,
                    mpi_env, run, workdir, write_svm)
from losses_ref import diabetes, loss_terms, write_svm_real

warnings.simplefilter("ignore", ConvergenceWarning)
warnings.simplefilter("ignore", FutureWarning)  # penalty= is deprecated from 1.8 on
RANKS = (1, 2, 4)


def objective(loss, X, y, w, b, lam, a):
    return float(np.mean(loss_terms(loss, y, X @ w + b)) + 0.5 * lam * w @ w
                 + a * np.abs(w).sum())


def sklearn_fits(loss, X, y, lam, a, intercept):
    """[(solver name, w, b)] of every scikit-learn solver for this problem."""
    n = X.shape[0]
    out = []
    if loss == "logistic":
        C, r = 1.0 / (n * (lam + a)), a / (lam + a)
        # Without intercept and L2 the problem is LIBLINEAR's -s 6 exactly:
        # liblinear is then the reference (saga reaches the same F to 1e-16
        # there but takes 8 s at tol 1e-12).
        solvers = ["saga"] if intercept or lam > 0 else ["liblinear"]
        for s in solvers:
            # l1_ratio = 1 is the lasso (scikit-learn >= 1.8 reads it, not penalty).
            kw = dict(penalty="l1" if s == "liblinear" else "elasticnet", l1_ratio=r)
            clf = LogisticRegression(C=C, solver=s, fit_intercept=intercept, tol=1e-12,
                                     max_iter=200000, **kw)
            clf.fit(X, y)
            out.append((s, clf.coef_.ravel(), float(clf.intercept_[0]) if intercept else 0.0))
    elif loss == "squared":
        cls = Lasso if lam == 0 else ElasticNet
        kw = {} if lam == 0 else dict(l1_ratio=a / (lam + a))
        m = cls(alpha=lam + a, fit_intercept=intercept, tol=1e-14, max_iter=1000000, **kw)
        m.fit(X, y)
        out.append((cls.__name__, m.coef_.ravel(), float(m.intercept_) if intercept else 0.0))
    else:
        assert lam == 0 and not intercept
        svc = LinearSVC(penalty="l1", loss="squared_hinge", dual=False, C=1.0 / (n * a),
                        fit_intercept=False, tol=1e-10, max_iter=1000000)
        svc.fit(X, y)
        out.append(("LinearSVC", svc.coef_.ravel(), 0.0))
    return out


def support(w, scale):
    return set(np.nonzero(np.abs(w) > 1e-9 * scale)[0].tolist())


def case(name, loss, X, y, path, lam, a, intercept, d):
    fits = sklearn_fits(loss, X, y, lam, a, intercept)
    refs = [(s, objective(loss, X, y, w, b, lam, a), w) for s, w, b in fits]
    solver, f_ref, w_ref = min(refs, key=lambda t: t[1])
    sup_ref = support(w_ref, np.abs(w_ref).max())
    check(0 < len(sup_ref) < X.shape[1], f"{name}: the case selects some features ({len(sup_ref)})")
    for np_ in RANKS:
        model = os.path.join(d, f"{name}-{np_}.json")
        args = ["train", "--data", path, "--loss", loss, "--l2", lam, "--l1", a, "--tol", "1e-10",
                "--max-iter", "5000", "--model-out", model, "--quiet", "--tracking-dir",
                os.path.join(d, "runs")]
        if not intercept:
            args.append("--no-intercept")
        p = run(args, np_=np_)
        w, b, m = load_model(model)
        f = objective(loss, X, y, w, b, lam, a)
        rel = (f - f_ref) / f_ref
        print(f"{name} np={np_}: F {f:.15g} vs {solver} {f_ref:.15g} (rel {rel:+.2e}), "
              f"nnz {len(support(w, 0))} vs {len(sup_ref)}", flush=True)
        check(rel <= 1e-6, f"{name} np={np_}: F {f!r} above {solver}'s {f_ref!r} by {rel:.2e}")
        check(support(w, 0) == sup_ref,
              f"{name} np={np_}: nonzeros {sorted(support(w, 0) ^ sup_ref)} differ")
        check(abs(m["objective"] - f) <= 1e-9 * abs(f), f"{name} np={np_}: stored objective")
        if np_ == 1:
            check("optimizer lbfgs" in p.stderr + p.stdout,
                  f"{name}: --l1 without --optimizer says it uses lbfgs")


d = workdir()
Xb, yb = breast_cancer()
write_svm(os.path.join(d, "bc.svm"), Xb, yb)
Xh, yh = heart()
Xd, yd = diabetes()
write_svm_real(os.path.join(d, "diabetes.svm"), Xd, yd)
bc, dia = os.path.join(d, "bc.svm"), os.path.join(d, "diabetes.svm")

# Optimizers that take no L1 term: a one-line error naming lbfgs, every rank
# exits non-zero, no model file.
for opt in ("newton", "sgd"):
    model = os.path.join(d, f"refused-{opt}.json")
    p = run(["train", "--data", bc, "--l1", "0.01", "--optimizer", opt, "--model-out", model,
             "--tracking-dir", os.path.join(d, "runs")],
            np_=2, check_rc=False)
    errs = error_lines(p.stderr)
    check(p.returncode != 0 and len(errs) == 1 and "--optimizer lbfgs" in errs[0]
          and opt in errs[0], f"--optimizer {opt} --l1: {p.returncode} {p.stderr!r}")
    check(not os.path.exists(model), f"--optimizer {opt} --l1: no model file")
p = run(["train", "--data", bc, "--l1", "-1", "--tracking-dir", os.path.join(d, "runs")],
        check_rc=False)
check(p.returncode != 0 and "--l1" in p.stderr, f"--l1 -1: {p.returncode} {p.stderr!r}")
# Without --l1 the default optimizer stays newton.
p = run(["train", "--data", bc, "--quiet", "--tracking-dir", os.path.join(d, "runs")])
check("newton converged" in p.stderr + p.stdout, f"default without --l1: {p.stderr!r}")

case("logistic-l1-bc", "logistic", Xb, yb, bc, 0.0, 0.01, True, d)
case("logistic-l1-bc-noint", "logistic", Xb, yb, bc, 0.0, 0.01, False, d)
case("logistic-enet-heart", "logistic", Xh, yh, HEART, 0.01, 0.02, True, d)
case("squared-lasso-diabetes", "squared", Xd, yd, dia, 0.0, 0.5, True, d)
case("squared-enet-diabetes", "squared", Xd, yd, dia, 0.05, 0.3, True, d)
case("sqhinge-l1-heart", "squared-hinge", Xh, yh, HEART, 0.0, 0.01, False, d)

# --standardize: the L1 term applies to the scaled weights v_j = w_j sd_j
# (population sd, not centred), as the L2 term: Lasso on X / sd, mapped back.
sd = Xd.std(axis=0)
las = Lasso(alpha=0.5, tol=1e-14, max_iter=1000000).fit(Xd / sd, yd)
f_ref = float(np.mean(0.5 * (yd - (Xd / sd) @ las.coef_ - las.intercept_) ** 2)
              + 0.5 * np.abs(las.coef_).sum())
model = os.path.join(d, "std.json")
run(["train", "--data", dia, "--loss", "squared", "--l2", "0", "--l1", "0.5", "--standardize",
     "--tol", "1e-10", "--max-iter", "5000", "--model-out", model, "--quiet", "--tracking-dir",
     os.path.join(d, "runs")], np_=2)
w, b, _ = load_model(model)
f = float(np.mean(0.5 * (yd - Xd @ w - b) ** 2) + 0.5 * np.abs(w * sd).sum())
print(f"--standardize lasso: F {f:.15g} vs Lasso on X/sd {f_ref:.15g}", flush=True)
check((f - f_ref) / f_ref <= 1e-6 and support(w, 0) == support(las.coef_, np.abs(las.coef_).max()),
      f"--standardize --l1: F {f} vs {f_ref}, nonzeros {sorted(support(w, 0))} vs "
      f"{sorted(support(las.coef_, np.abs(las.coef_).max()))}")

# The sparse model file (README: Model files): an L1 model of 9 nonzeros in
# 30 weights is written sparsely, and predict, eval and serve read it to the
# same numbers as the weights themselves give.
model = os.path.join(d, "logistic-l1-bc-2.json")
w, b, m = load_model(model)
check("weights_sparse" in m and "weights" not in m and len(m["weights_sparse"]["indices"]) == 9,
      f"the L1 model is written sparsely: {sorted(m)}")
proba = 1.0 / (1.0 + np.exp(-(Xb @ w + b)))
out = os.path.join(d, "proba.txt")
run(["predict", "--model", model, "--data", bc, "--proba", "--out", out], np_=2)
check(np.abs(np.loadtxt(out) - proba).max() <= 1e-12, "predict --proba on the sparse model")
dense_model = os.path.join(d, "l2.json")
run(["train", "--data", bc, "--quiet", "--model-out", dense_model, "--tracking-dir",
     os.path.join(d, "runs")])
with open(dense_model) as f:
    check("weights" in json.load(f), "an L2 model stays dense")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "serve"))
from serve_common import Server  # noqa: E402

with Server(["--model", model]) as s:
    lines = [" ".join(l.split()[1:]) for l in open(bc)]
    got = np.array(s.predictions("/predict", {"instances": lines}), dtype=float)
    check(got.shape == proba.shape and np.abs(got - proba).max() <= 1e-12,
          "serve answers the sparse model's probabilities")

# Malformed sparse forms: a one-line error naming the file, no output.
head = dict(m)
bad = {"both": dict(head, weights=[0.0] * 30),
       "unsorted": dict(head, weights_sparse={"indices": [3, 2], "values": [1, 2]}),
       "repeated": dict(head, weights_sparse={"indices": [2, 2], "values": [1, 2]}),
       "outside": dict(head, weights_sparse={"indices": [30], "values": [1]}),
       "negative": dict(head, weights_sparse={"indices": [-1], "values": [1]}),
       "fraction": dict(head, weights_sparse={"indices": [1.5], "values": [1]}),
       "lengths": dict(head, weights_sparse={"indices": [1, 2], "values": [1]}),
       "value": dict(head, weights_sparse={"indices": [1], "values": ["x"]}),
       "not-object": dict(head, weights_sparse=[1, 2])}
for name, doc in bad.items():
    path = os.path.join(d, f"bad-{name}.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    out = os.path.join(d, f"bad-{name}.txt")
    p = run(["predict", "--model", path, "--data", bc, "--out", out], np_=1, check_rc=False)
    errs = error_lines(p.stderr)
    check(p.returncode != 0 and len(errs) == 1 and path in errs[0] and not os.path.exists(out),
          f"sparse model {name}: rc {p.returncode} {errs}")

# A checkpoint of an OWL-QN run (README: Checkpoints): stopped by SIGUSR1 at
# iteration 10, run again, it ends with the uninterrupted run's model, byte
# for byte (the state is L-BFGS's; the pseudo-gradient is recomputed from w).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tracking"))
from track_common import long_data  # noqa: E402

long_svm = os.path.join(d, "long.svm")
long_data(long_svm)
base = ["train", "--data", long_svm, "--l1", "1e-3", "--l2", "0", "--tol", "1e-12", "--max-iter",
        "1000", "--tracking-dir", os.path.join(d, "runs")]
ref_model, ck_model, cdir = (os.path.join(d, x) for x in ("long-ref.json", "long-ck.json", "ckpt"))
run(base + ["--model-out", ref_model, "--quiet"], np_=2)
cmd = [MPIRUN, "--oversubscribe", "-np", "2", BIN] + base + ["--model-out", ck_model,
                                                            "--checkpoint-dir", cdir]
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=mpi_env())
seen = False
for line in p.stdout:
    if line.startswith("iter     10 ") and not seen:
        seen = True
        p.send_signal(signal.SIGUSR1)
p.wait(timeout=120)
check(seen and p.returncode == 75 and not os.path.exists(ck_model),
      f"OWL-QN stopped by SIGUSR1: seen {seen}, exit {p.returncode}")
r = run(base + ["--model-out", ck_model, "--checkpoint-dir", cdir, "--quiet"], np_=2)
with open(ref_model, "rb") as f1, open(ck_model, "rb") as f2:
    check(f1.read() == f2.read(), "OWL-QN resumed from a checkpoint: the model differs from the "
                                  "uninterrupted run's")

# Uncentred columns: shifting a column moves only the (unpenalised)
# intercept, so the optimum F is the centred data's. OWL-QN must reach it
# there too without crawling: constraining the intercept to the orthant of
# its gradient took 4471 iterations here (554 without, 38 centred).
from sklearn.datasets import load_wine  # noqa: E402
Xw, yw = load_wine(return_X_y=True)
Xw = Xw / Xw.std(axis=0)
yb = np.where(yw == 1, 1.0, -1.0)
fs = {}
for tag, X in (("uncentred", Xw), ("centred", Xw - Xw.mean(axis=0))):
    path = os.path.join(d, f"wine-{tag}.svm")
    write_svm(path, X, yb)
    met = os.path.join(d, f"wine-{tag}.metrics.json")
    run(["train", "--data", path, "--l2", "1e-4", "--l1", "1e-2", "--tol", "1e-10", "--max-iter",
         "5000", "--quiet", "--model-out", os.path.join(d, "w.json"), "--metrics-out", met,
         "--tracking-dir", os.path.join(d, "runs")], np_=2)
    m = json.load(open(met))
    w, b, _ = load_model(os.path.join(d, "w.json"))
    fs[tag] = (objective("logistic", X, yb, w, b, 1e-4, 1e-2), m["iterations"])
rel = (fs["uncentred"][0] - fs["centred"][0]) / fs["centred"][0]
print(f"wine uncentred vs centred: F {fs['uncentred'][0]:.15g} vs {fs['centred'][0]:.15g} "
      f"(rel {rel:.2e}), {fs['uncentred'][1]} vs {fs['centred'][1]} iterations", flush=True)
check(abs(rel) <= 1e-7, f"OWL-QN on uncentred columns stops {rel:.3e} from the optimum")
check(fs["uncentred"][1] <= 1500, f"OWL-QN on uncentred columns: {fs['uncentred'][1]} iterations")
finish()
