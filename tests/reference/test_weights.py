"""--sample-weights and --class-weight: F = (1/n) sum_i s_i l_i + (lambda/2)|w|^2,
which is scikit-learn's sample_weight / class_weight with C = 1/(lambda n)
(Ridge: alpha = lambda n). Newton and L-BFGS reach the weighted reference
optimum within 1e-6 relative for every loss, on 1 and 3 ranks (each rank
takes its rows' lines of the weights file); balanced class weights are
n / (K n_c) from counts over all ranks. Bad weights files name their line."""
import os

import numpy as np

from common import check, error_lines, finish, load_model, run, workdir
from losses_ref import data_sets, objective, optimum

d = workdir()
S = data_sets(d)
runs = os.path.join(d, "runs")
lam = 1e-3
rng = np.random.default_rng(7)


def write_weights(path, s):
    with open(path, "w") as f:
        f.writelines(f"{v:.17g}\n" for v in s)


def train(path, loss, opt, np_, extra):
    model = os.path.join(d, "m.json")
    run(["train", "--data", path, "--loss", loss, "--l2", lam, "--optimizer", opt, "--tol",
         "1e-10", "--max-iter", "1000", "--quiet", "--model-out", model, "--tracking-dir", runs]
        + extra, np_=np_)
    w, b, _ = load_model(model)
    return w, b


def compare(tag, loss, X, y, sw, w_b, f_ref):
    w, b = w_b
    f = objective(loss, X, y, w, b, lam, sw)
    rel = (f - f_ref) / f_ref
    print(f"{tag}: F={f:.15g} ref={f_ref:.15g} rel={rel:.2e}", flush=True)
    check(rel <= 1e-6, f"{tag}: weighted objective {rel:.3e} above the reference's")


# Sample weights per loss, with some zero weights; 1 and 3 ranks.
for name, loss in [("breast_cancer", "logistic"), ("heart_scale", "squared-hinge"),
                   ("diabetes.svm", "squared")]:
    X, y, path = S[name]
    sw = rng.uniform(0.0, 3.0, len(y))
    sw[::17] = 0.0
    wfile = os.path.join(d, f"{name}.weights")
    write_weights(wfile, sw)
    _, _, f_ref = optimum(loss, X, y, lam, True, sw=sw)
    _, _, f_unw = optimum(loss, X, y, lam, True)
    for opt, np_ in (("newton", 1), ("newton", 3), ("lbfgs", 2)):
        wb = train(path, loss, opt, np_, ["--sample-weights", wfile])
        compare(f"{name} {loss} sample weights {opt} np={np_}", loss, X, y, sw, wb, f_ref)
    # The weights change the model: the unweighted optimum is not the weighted one.
    check(objective(loss, X, y, *optimum(loss, X, y, lam, True)[:2], lam, sw) > f_ref * (1 + 1e-4),
          f"{name}: these weights do not change the optimum (test too weak)")

# Class weights: balanced, and explicit LABEL:W (labels as in the file), times sample weights.
X, y, path = S["heart_scale"]
n = len(y)
counts = {c: np.sum(y == c) for c in (-1.0, 1.0)}
bal = {c: n / (2 * counts[c]) for c in counts}
sw_bal = np.array([bal[v] for v in y])
w_r, b_r, _ = optimum("logistic", X, y, lam, True, class_weight="balanced")
f_ref = objective("logistic", X, y, w_r, b_r, lam, sw_bal)
for np_ in (1, 3):
    wb = train(path, "logistic", "newton", np_, ["--class-weight", "balanced"])
    compare(f"heart_scale balanced np={np_}", "logistic", X, y, sw_bal, wb, f_ref)
cw = {1.0: 3.0, -1.0: 0.5}
w_r, b_r, _ = optimum("logistic", X, y, lam, True, class_weight=cw)
f_ref = objective("logistic", X, y, w_r, b_r, lam, np.array([cw[v] for v in y]))
wb = train(path, "logistic", "lbfgs", 2, ["--class-weight", "1:3,-1:0.5"])
compare("heart_scale class 1:3,-1:0.5", "logistic", X, y, np.array([cw[v] for v in y]), wb, f_ref)
sw = rng.uniform(0.5, 2.0, n)
write_weights(os.path.join(d, "h.weights"), sw)
both = sw * np.array([cw[v] for v in y])
_, _, f_ref = optimum("squared-hinge", X, y, lam, True, sw=both)
wb = train(path, "squared-hinge", "newton", 3,
           ["--class-weight", "1:3,-1:0.5", "--sample-weights", os.path.join(d, "h.weights")])
compare("heart_scale squared-hinge class x sample weights np=3", "squared-hinge", X, y, both, wb,
        f_ref)

# Bad weights: one error line naming the file (and line), on every rank count, no model.
good = [f"{v:.6g}\n" for v in rng.uniform(0.5, 2.0, n)]
bad = {}
for label, line, text in [("negative", 123, "-0.5\n"), ("inf", 200, "inf\n"),
                          ("text", 5, "heavy\n")]:
    lines = list(good)
    lines[line - 1] = text
    bad[label] = (lines, f":{line}: ")
bad["short"] = (good[:-1], f": {n - 1} weights for {n} data rows")
bad["long"] = (good + ["1\n"], f": {n + 1} weights for {n} data rows")
for label, (lines, want) in bad.items():
    wfile = os.path.join(d, f"bad-{label}.weights")
    open(wfile, "w").writelines(lines)
    for np_ in (1, 3):
        model = os.path.join(d, "bad.json")
        p = run(["train", "--data", path, "--sample-weights", wfile, "--model-out", model,
                 "--quiet", "--tracking-dir", runs], np_=np_, check_rc=False)
        errs = error_lines(p.stderr)
        check(p.returncode != 0 and len(errs) == 1 and (wfile + want) in errs[0],
              f"bad weights {label} np={np_}: rc {p.returncode}, {errs}")
        check(not os.path.exists(model), f"bad weights {label}: a model was written")
for args, want in [(["--sample-weights", os.path.join(d, "missing.w")], "missing.w: No such file"),
                   (["--class-weight", "2:1"], "--class-weight: '2:1'"),
                   (["--class-weight", "1:-3"], "--class-weight: the weight of class 1"),
                   (["--class-weight", "balanced", "--loss", "squared"], "needs a classifier")]:
    p = run(["train", "--data", path, "--quiet", "--tracking-dir", runs] + args, np_=2,
            check_rc=False)
    errs = error_lines(p.stderr)
    check(p.returncode != 0 and len(errs) == 1 and want in errs[0], f"{args}: {errs}")
# --weight-column: the weights as a CSV column (by header name or index), left out of the
# features; predict takes the same option.
X, y, _ = S["breast_cancer"]
sw = rng.uniform(0.2, 2.0, len(y))
wcsv = os.path.join(d, "bcw.csv")
k = 7  # the weight column sits between features 6 and 7 (column 7 of the line, label 0)


def write_weighted_csv(path, sw, header=True):
    with open(path, "w") as f:
        if header:
            f.write("label," + ",".join([f"f{j}" for j in range(k - 1)] + ["w"]
                                        + [f"f{j}" for j in range(k - 1, X.shape[1])]) + "\n")
        for row, label, s_ in zip(X, y, sw):
            vals = [f"{v:.17g}" for v in row]
            vals.insert(k - 1, f"{s_:.17g}")
            f.write(("1" if label > 0 else "0") + "," + ",".join(vals) + "\n")


write_weighted_csv(wcsv, sw)
_, _, f_ref = optimum("logistic", X, y, lam, True, sw=sw)
for spec, np_ in (("w", 3), (str(k), 1)):
    wb = train(wcsv, "logistic", "newton", np_, ["--weight-column", spec])
    compare(f"breast_cancer --weight-column {spec} np={np_}", "logistic", X, y, sw, wb, f_ref)
    check(len(wb[0]) == X.shape[1], f"--weight-column {spec}: the model has {len(wb[0])} weights")
model = os.path.join(d, "m.json")
out = os.path.join(d, "pred.txt")
run(["predict", "--model", model, "--data", wcsv, "--weight-column", "w", "--proba", "--out", out],
    np_=2)
w, b, _ = load_model(model)
check(np.allclose(np.loadtxt(out), 1 / (1 + np.exp(-(X @ w + b))), rtol=1e-12),
      "predict --weight-column: not the model's probabilities")
sw_bad = sw.copy()
sw_bad[400] = -1.0
bad_csv = os.path.join(d, "bcw-bad.csv")
write_weighted_csv(bad_csv, sw_bad)
for args, want in [(["--data", bad_csv, "--weight-column", "w"], f"{bad_csv}:402: negative weight -1"),
                   (["--data", wcsv, "--weight-column", "nope"], "--weight-column nope: no such column"),
                   (["--data", wcsv, "--weight-column", "0"], "column 0 is the label"),
                   (["--data", wcsv, "--weight-column", "99"], "column 99 is not in the file"),
                   (["--data", path, "--weight-column", "1"], "--weight-column needs CSV data")]:
    for np_ in (3,):
        p = run(["train", "--quiet", "--tracking-dir", runs, "--model-out", os.path.join(d, "x.json")]
                + args, np_=np_, check_rc=False)
        errs = error_lines(p.stderr)
        check(p.returncode != 0 and len(errs) == 1 and want in errs[0],
              f"{args} np={np_}: rc {p.returncode}, {errs}")
        check(not os.path.exists(os.path.join(d, "x.json")), f"{args}: a model was written")
finish()
