"""Shared helpers for the reference tests: run shardlearn under mpirun, and
compute the objective and scikit-learn's optimum for the same problem."""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from sklearn.datasets import load_breast_cancer, load_svmlight_file
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/shardlearn"
MPIRUN = sys.argv[2] if len(sys.argv) > 2 else "mpirun"
HEART = "/usr/share/doc/liblinear-tools/examples/heart_scale"

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_mpi_yield_when_idle="1", OMPI_MCA_rmaps_base_oversubscribe="1")

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL", what, flush=True)


def finish():
    if failures:
        print(f"FAIL ({len(failures)} failures)")
        sys.exit(1)
    print("PASS")


_SESSIONS = tempfile.mkdtemp(prefix="sl-ompi-")
atexit.register(shutil.rmtree, _SESSIONS, True)


def mpi_env(extra=None):
    """ENV with an Open MPI session directory of this job's own (and extra).
    Open MPI 4.1 races on the shared /tmp/ompi.<host>.<uid> when two jobs of
    one user start at the same moment (a twin-run test, ctest -j): one of them
    dies before starting any rank. Removed when the test ends."""
    env = dict(ENV, OMPI_MCA_orte_tmpdir_base=tempfile.mkdtemp(dir=_SESSIONS))
    env.update(extra or {})
    return env


def children(pid):
    """The pids whose parent is pid (mpirun's ranks), sorted. A process may
    end between listing /proc and reading its stat: it is not a child then."""
    found = []
    for x in os.listdir("/proc"):
        if not x.isdigit():
            continue
        try:
            with open(f"/proc/{x}/stat") as f:
                ppid = f.read().rsplit(") ", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if ppid == str(pid):
            found.append(int(x))
    return sorted(found)


# $SL_TEST_NEWTON_SOLVER (auto, cg, direct) goes to every `train` as
# --newton-solver: a test registered twice (tests/reference.cmake) checks
# both of Newton's solvers against the same references.
NEWTON_SOLVER = os.environ.get("SL_TEST_NEWTON_SOLVER")


def run(args, np_=1, check_rc=True, timeout=120, env=None):
    args = list(args)
    if NEWTON_SOLVER and args[:1] == ["train"]:
        args += ["--newton-solver", NEWTON_SOLVER]
    cmd = [MPIRUN, "--oversubscribe", "-np", str(np_), BIN] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(env), timeout=timeout)
    if check_rc and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return p


def error_lines(stderr):
    """The lines shardlearn itself reports errors on (any rank)."""
    return [l for l in stderr.splitlines() if "shardlearn: error:" in l]


def workdir():
    return tempfile.mkdtemp(prefix="sl-ref-")


def _label(label, classes, pos, neg):
    return f"{int(label)}" if classes else pos if label > 0 else neg


def write_svm(path, X, y, zero_based=False, classes=False):
    """LIBSVM text with 17 significant digits, so the data is the same bits;
    labels +1/-1 by sign, or with classes the integer class labels."""
    base = 0 if zero_based else 1
    X = np.asarray(X)
    with open(path, "w") as f:
        for row, label in zip(X, y):
            nz = np.nonzero(row)[0]
            f.write(_label(label, classes, "+1", "-1") +
                    "".join(f" {j + base}:{row[j]:.17g}" for j in nz) + "\n")


def write_csv(path, X, y, header=True, classes=False):
    """CSV, labels 1/0 by sign, or with classes the integer class labels."""
    X = np.asarray(X)
    with open(path, "w") as f:
        if header:
            f.write("label," + ",".join(f"f{j}" for j in range(X.shape[1])) + "\n")
        for row, label in zip(X, y):
            f.write(_label(label, classes, "1", "0") + "," + ",".join(f"{v:.17g}" for v in row) + "\n")


def heart():
    X, y = load_svmlight_file(HEART)
    return X.toarray(), np.where(y > 0, 1.0, -1.0)


def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return X, np.where(y > 0, 1.0, -1.0)


def breast_cancer_split(d):
    """The paths tests' data: breast_cancer's first 400 rows to train (d/tr.svm),
    the rest to validate (d/va.svm). Returns tr, va, Xt, yt, Xv, yv."""
    X, y = breast_cancer()
    tr, va = os.path.join(d, "tr.svm"), os.path.join(d, "va.svm")
    write_svm(tr, X[:400], y[:400])
    write_svm(va, X[400:], y[400:])
    return tr, va, X[:400], y[:400], X[400:], y[400:]


def objective(X, y, w, b, lam):
    m = X @ w + b
    return float(np.mean(np.logaddexp(0.0, -y * m)) + 0.5 * lam * w @ w)


def sklearn_optimum(X, y, lam, intercept):
    n = X.shape[0]
    clf = LogisticRegression(C=1.0 / (lam * n), fit_intercept=intercept, tol=1e-12,
                             max_iter=100000)
    clf.fit(X, y)
    w = clf.coef_.ravel()
    b = float(clf.intercept_[0]) if intercept else 0.0
    return w, b, objective(X, y, w, b, lam), clf


def load_model(path):
    with open(path) as f:
        m = json.load(f)
    assert m["format"] == "shardlearn-model" and m["version"] == 1, m
    return model_weights(m), float(m["intercept"]), m


def model_weights(m):
    """The dense weights of a model file's JSON, either form (README: Model files)."""
    if "weights_sparse" in m:
        w = np.zeros(int(m["n_features"]))
        w[np.asarray(m["weights_sparse"]["indices"], dtype=int)] = m["weights_sparse"]["values"]
        return w
    return np.array(m["weights"], dtype=float)
