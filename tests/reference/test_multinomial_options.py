"""--loss multinomial with the options binary models had first (issue #15
"Models I"), each against a reference:
  * --class-weight balanced (n / (K n_c), counts over all ranks) and
    LABEL:W by integer class label: scikit-learn's multinomial
    LogisticRegression(class_weight=...) with C = 1/(lambda n), objective
    within 1e-6 relative, the same F on 1 and 3 ranks; an unknown label is
    one error line;
  * --init-model: a warm start from the model at another lambda reaches the
    cold fit's optimum in fewer Newton iterations, on 1 and 3 ranks; a model
    of other classes, a binary model, and a multinomial model for a binary
    run are one error line naming what differs;
  * --checkpoint-dir: stopped by SIGUSR1 and run again, the model file is
    the uninterrupted run's, byte for byte;
  * a binary cache (convert --real-labels, or --cache): the same model bits
    as from the text, dense and sparse; a cache of non-integer labels is one
    error line;
  * --l1 (OWL-QN on the K x d block): scikit-learn's elastic-net saga
    (tol 1e-12) objective within 1e-6 relative and the same nonzero set;
  * --cv over an --l2 path: each fold's held-out log-loss is that of
    scikit-learn's fit on KFold's training rows.
Wine is centred and scaled for the L1 case: uncentred, the intercepts
couple to every column and first-order methods (saga and OWL-QN alike) crawl
(thousands of iterations to 1e-6); Newton does not care."""
import json
import os
import signal
import subprocess
import time
import warnings

import numpy as np
from scipy.special import logsumexp
from sklearn.datasets import load_digits, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

import common
from common import BIN, MPIRUN, check, error_lines, finish, mpi_env, run, workdir

d = workdir()
runs = os.path.join(d, "runs")


def write_csv(path, X, y):
    common.write_csv(path, X, y, classes=True)


def write_svm(path, X, y):
    common.write_svm(path, X, y, classes=True)


def objective(X, yi, W, b, lam, sw=None, l1=0.0):
    """F: (1/n) sum_i s_i l_i + (lam/2)|W|^2 + l1 |W|_1, yi class indices."""
    M = X @ W.T + b
    li = logsumexp(M, axis=1) - M[np.arange(len(yi)), yi]
    s = np.ones(len(yi)) if sw is None else sw
    return float(np.mean(s * li) + 0.5 * lam * np.sum(W * W) + l1 * np.abs(W).sum())


def optimum(X, y, lam, **kw):
    """scikit-learn's (the better of lbfgs and newton-cg at a tiny tolerance)."""
    best = None
    for solver in ("lbfgs", "newton-cg"):
        clf = LogisticRegression(C=1.0 / (lam * len(y)), solver=solver, tol=1e-12,
                                 max_iter=100000, **kw).fit(X, y)
        yi = np.searchsorted(clf.classes_, y)
        cw = kw.get("class_weight")
        sw = None
        if cw == "balanced":
            cnt = np.bincount(yi)
            sw = (len(y) / (len(cnt) * cnt))[yi]
        elif cw:
            sw = np.array([cw.get(int(v), 1.0) for v in y])
        f = objective(X, yi, clf.coef_, clf.intercept_, lam, sw)
        if best is None or f < best[1]:
            best = (clf, f, sw)
    return best


def train(path, lam, np_=2, extra=(), tag="m", tol="1e-10"):
    model, metrics = os.path.join(d, tag + ".json"), os.path.join(d, tag + ".metrics.json")
    run(["train", "--data", path, "--loss", "multinomial", "--l2", lam, "--tol", tol,
         "--max-iter", "5000", "--quiet", "--model-out", model, "--metrics-out", metrics,
         "--tracking-dir", runs] + list(extra), np_=np_, timeout=300)
    m = json.load(open(model))
    return np.array(m["weights"]), np.array(m["intercepts"]), m, json.load(open(metrics)), model


def errors_of(args, np_=3):
    out = os.path.join(d, "none.json")
    p = run(["train", "--quiet", "--model-out", out, "--tracking-dir", runs] + args, np_=np_,
            check_rc=False)
    return p.returncode, error_lines(p.stderr), os.path.exists(out)


def expect_error(args, want, np_=3, code=1):
    rc, errs, wrote = errors_of(args, np_)
    check(rc == code and len(errs) == 1 and want in errs[0], f"{args}: exit {rc}, errors {errs}")
    check(not wrote, f"{args}: a model file was written")


Xw, yw = load_wine(return_X_y=True)
Xw = Xw / Xw.std(axis=0)  # raw wine's columns differ by 10^4: scaled as a user would
yw = 2 * yw + 1  # classes 1, 3, 5: LABEL:W names labels, not indices
WINE = os.path.join(d, "wine.csv")
write_csv(WINE, Xw, yw)
lam = 1e-2

# 1. Class weights.
for spec, cw, runs_on in [("balanced", "balanced", ((1, "newton"), (3, "newton"))),
                          ("1:2,5:0.25", {1: 2.0, 5: 0.25}, ((2, "lbfgs"), (3, "newton")))]:
    clf, f_ref, sw = optimum(Xw, yw, lam, class_weight=cw)
    yi = np.searchsorted(clf.classes_, yw)
    # The weights move the optimum (else this would test nothing).
    plain, _, _ = optimum(Xw, yw, lam)
    f_plain = objective(Xw, yi, plain.coef_, plain.intercept_, lam, sw)
    check(f_plain > f_ref * (1 + 1e-4), f"{spec}: the weights do not move the optimum")
    fs = []
    for np_, opt in runs_on:
        W, b, m, _, _ = train(WINE, lam, np_, ["--class-weight", spec, "--optimizer", opt])
        f = objective(Xw, yi, W, b, lam, sw)
        rel = (f - f_ref) / f_ref
        fs.append(f)
        print(f"class weight {spec} {opt} np={np_}: F={f:.15g} ref={f_ref:.15g} rel={rel:.2e}",
              flush=True)
        check(rel <= 1e-6, f"class weight {spec} np={np_}: {rel:.3e} above scikit-learn's")
        check(abs(m["objective"] - f) <= 1e-9 * f, f"class weight {spec}: the file's objective")
    check(abs(fs[0] - fs[1]) <= 1e-9 * fs[0], f"class weight {spec}: ranks differ: {fs}")
expect_error(["--data", WINE, "--loss", "multinomial", "--class-weight", "1:2,7:3"],
             "--class-weight: class 7 is not among the data's classes (1, 3, 5)")
expect_error(["--data", WINE, "--loss", "multinomial", "--class-weight", "1.5:2"],
             "is not LABEL:W,... with integer class labels")
expect_error(["--data", WINE, "--loss", "multinomial", "--class-weight", "3:-1"],
             "the weight of class 3 is not a finite number >= 0")

# 2. Warm starts: from the model at lam, the optimum at 0.8 lam.
_, _, _, _, base = train(WINE, lam, tag="base")
lam2 = 0.8 * lam
clf, f_ref, _ = optimum(Xw, yw, lam2)
yi = np.searchsorted(clf.classes_, yw)
_, _, _, cold, _ = train(WINE, lam2, tag="cold", tol="1e-8")
for np_ in (1, 3):
    W, b, _, warm, _ = train(WINE, lam2, np_, ["--init-model", base], tag="warm", tol="1e-8")
    rel = (objective(Xw, yi, W, b, lam2) - f_ref) / f_ref
    print(f"warm start np={np_}: cold {cold['iterations']} iterations, warm "
          f"{warm['iterations']}; rel {rel:.2e}", flush=True)
    check(warm["converged"] and rel <= 1e-6, f"warm np={np_}: {rel:.3e} from the optimum")
    check(warm["iterations"] < cold["iterations"],
          f"warm np={np_}: {warm['iterations']} Newton iterations, cold {cold['iterations']}")
# Models that do not fit: other classes, a binary model, and the reverse.
other = os.path.join(d, "other.csv")
write_csv(other, Xw, np.where(yw == 5, 7, yw))
binary = os.path.join(d, "binary.csv")
write_csv(binary, Xw[yw < 5], (yw[yw < 5] == 3).astype(int))
run(["train", "--data", binary, "--quiet", "--model-out", os.path.join(d, "bin.json"),
     "--tracking-dir", runs], np_=2)
for np_ in (3,):
    expect_error(["--data", other, "--loss", "multinomial", "--init-model", base],
                 "does not fit: its classes are 1, 3, 5, the data's 1, 3, 7", np_)
    expect_error(["--data", WINE, "--loss", "multinomial", "--init-model",
                  os.path.join(d, "bin.json")], "its loss is logistic, this run's multinomial", np_)
    expect_error(["--data", binary, "--init-model", base],
                 "its loss is multinomial, this run's logistic", np_)

# 3. Checkpoints: SIGUSR1 after Newton's third iteration on digits, then the
# same command again: the uninterrupted model, byte for byte.
Xd, yd = load_digits(return_X_y=True)
DIGITS = os.path.join(d, "digits.csv")
write_csv(DIGITS, Xd, yd)
ck_args = ["train", "--data", DIGITS, "--loss", "multinomial", "--l2", "1e-4", "--tol", "1e-10",
           "--tracking-dir", runs]
full = os.path.join(d, "ck-full.json")
run(ck_args + ["--quiet", "--model-out", full], np_=2, timeout=300)
cdir, resumed = os.path.join(d, "ckpt"), os.path.join(d, "ck-resumed.json")
log = open(os.path.join(d, "ck.log"), "w+")
p = subprocess.Popen([MPIRUN, "--oversubscribe", "-np", "2", BIN] + ck_args +
                     ["--model-out", resumed, "--checkpoint-dir", cdir],
                     stdout=log, stderr=subprocess.STDOUT, env=mpi_env())
t0, seen = time.monotonic(), False
while time.monotonic() - t0 < 120 and p.poll() is None and not seen:
    log.seek(0)
    seen = "iter      3 " in log.read()
    time.sleep(0.005)
check(seen, "checkpoint: the run never reached iteration 3 before the end")
p.send_signal(signal.SIGUSR1)
p.wait(timeout=120)
log.seek(0)
out = log.read()
check(p.returncode == 75 and "checkpoint written" in out,
      f"checkpoint: SIGUSR1: exit {p.returncode}\n{out[-1500:]}")
check(not os.path.exists(resumed), "checkpoint: SIGUSR1: a model file was written")
r = run(ck_args + ["--model-out", resumed, "--checkpoint-dir", cdir], np_=2, timeout=300)
check("resuming from" in r.stdout, f"checkpoint: the rerun did not resume:\n{r.stdout[-1500:]}")
check(open(resumed, "rb").read() == open(full, "rb").read(),
      "checkpoint: the resumed model differs from the uninterrupted one")

# 4. A binary cache: the model of the text, bit for bit (dense CSV, sparse LIBSVM).
DSVM = os.path.join(d, "digits.svm")
write_svm(DSVM, Xd, yd)
for src in (WINE, DSVM):
    name = os.path.basename(src)
    cache = os.path.join(d, name + ".cache")
    run(["convert", "--data", src, "--out", cache, "--real-labels"], np_=2)
    outs = []
    for data, extra in [(src, []), (cache, []), (src, ["--cache", cache + "2"])]:
        _, _, _, _, model = train(data, 1e-3, 3, extra, tag="c", tol="1e-8")
        outs.append(open(model, "rb").read())
    check(all(o == outs[0] for o in outs), f"{name}: the cache's models differ from the text's")
    print(f"{name}: text, convert and --cache: the same model bytes", flush=True)

# A cache of real labels (a regression file's) is not one of class labels.
frac = os.path.join(d, "frac.csv")
write_csv(frac, Xw, yw)
lines = open(frac).read().splitlines()
lines[50] = "2.5" + lines[50][1:]
open(frac, "w").write("\n".join(lines) + "\n")
run(["convert", "--data", frac, "--out", frac + ".cache", "--real-labels"], np_=2)
expect_error(["--data", frac + ".cache", "--loss", "multinomial"],
             "frac.csv.cache: label 2.5 of row 50 is not an integer class label for multinomial")

# 5. L1 (OWL-QN) against scikit-learn's elastic-net saga.
Xc = (Xw - Xw.mean(axis=0)) / Xw.std(axis=0)
WINEC = os.path.join(d, "winec.csv")
write_csv(WINEC, Xc, yw)
l2, l1 = 1e-3, 5e-3
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    saga = LogisticRegression(penalty="elasticnet", l1_ratio=l1 / (l2 + l1),
                              C=1.0 / (len(yw) * (l2 + l1)), solver="saga", tol=1e-12,
                              max_iter=100000).fit(Xc, yw)
yi = np.searchsorted(saga.classes_, yw)
f_ref = objective(Xc, yi, saga.coef_, saga.intercept_, l2, l1=l1)
for np_ in (1, 3):
    W, b, m, met, _ = train(WINEC, l2, np_, ["--l1", l1], tag="l1")
    f = objective(Xc, yi, W, b, l2, l1=l1)
    rel = (f - f_ref) / f_ref
    print(f"l1 np={np_}: F={f:.15g} saga={f_ref:.15g} rel={rel:.2e}, {met['iterations']} "
          f"iterations, {int(np.sum(W != 0))} nonzeros (saga {int(np.sum(saga.coef_ != 0))})",
          flush=True)
    check(met["optimizer"] == "lbfgs" and met["converged"], f"l1 np={np_}: {met['optimizer']}")
    check(rel <= 1e-6, f"l1 np={np_}: {rel:.3e} above saga's objective")
    check(np.array_equal(W != 0, saga.coef_ != 0), f"l1 np={np_}: another nonzero set")
    check(0 < np.sum(W != 0) < W.size, f"l1 np={np_}: the penalty zeroed nothing (or all)")

expect_error(["--data", WINE, "--loss", "multinomial", "--l2", "1e-2,1e-3", "--validation", WINE,
              "--select", "val_auc"], "multinomial's AUC is val_auc_ovr", code=2)

# 6. --cv over an --l2 path (each fold warm-started from the previous
# setting's): every fold's held-out log-loss is scikit-learn's KFold fit's.
perm = np.random.default_rng(0).permutation(len(yw))  # KFold's folds are contiguous blocks
Xs, ys = Xw[perm], yw[perm]
WINES = os.path.join(d, "wines.csv")
write_csv(WINES, Xs, ys)
grid = (1e-1, 1e-2)
metrics = os.path.join(d, "cv.metrics.json")
run(["train", "--data", WINES, "--loss", "multinomial", "--l2", ",".join(map(str, grid)), "--cv",
     "3", "--select", "val_logloss", "--tol", "1e-10", "--quiet", "--metrics-out", metrics,
     "--tracking-dir", runs], np_=2, timeout=300)
path = json.load(open(metrics))["path"]
for pt, l2v in zip(path["points"], grid):
    want = []
    for k in range(3):
        ho = np.array_split(np.arange(len(ys)), 3)[k]
        tr = np.setdiff1d(np.arange(len(ys)), ho)
        clf = LogisticRegression(C=1.0 / (l2v * len(tr)), tol=1e-12, max_iter=100000,
                                 solver="newton-cg").fit(Xs[tr], ys[tr])
        want.append(log_loss(ys[ho], clf.predict_proba(Xs[ho]), labels=clf.classes_))
    got = pt["fold_scores"]
    print(f"cv l2={l2v}: folds {got} scikit-learn {want}", flush=True)
    check(np.allclose(got, want, rtol=1e-5, atol=0), f"cv l2={l2v}: {got} vs {want}")
finish()
