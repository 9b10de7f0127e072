"""Reference optima and objectives for the losses (README: Losses), shared
by test_losses.py, test_weights.py and test_warm_start.py.

    F(w, b) = (1/n) sum_i s_i l(y_i, w.x_i + b) + (lambda/2) |w|^2

logistic comes from scikit-learn's LogisticRegression(C = 1/(lambda n)),
squared from Ridge(alpha = lambda n), squared-hinge without intercept from
LinearSVC(loss="squared_hinge", dual=False, C = 1/(lambda n)) (LIBLINEAR -s 2).
LinearSVC penalises its intercept, so squared-hinge with an unpenalised
intercept is minimised here directly (scipy's trust-region Newton on the
generalised Hessian, as LIBLINEAR does) and checked against LinearSVC where
both apply."""
import os

import numpy as np
from scipy.optimize import minimize
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.svm import LinearSVC

from common import breast_cancer, heart


def loss_terms(loss, y, m):
    if loss == "logistic":
        return np.logaddexp(0.0, -y * m)
    if loss == "squared-hinge":
        return np.maximum(0.0, 1.0 - y * m) ** 2
    return 0.5 * (y - m) ** 2


def objective(loss, X, y, w, b, lam, sw=None):
    s = np.ones(len(y)) if sw is None else sw
    return float(np.mean(s * loss_terms(loss, y, X @ w + b)) + 0.5 * lam * w @ w)


def _sqhinge_direct(X, y, lam, intercept, sw):
    n, d = X.shape
    s = np.ones(n) if sw is None else sw
    A = np.hstack([X, np.ones((n, 1))]) if intercept else X
    pen = np.r_[np.full(d, lam), [0.0] * intercept]

    def fg(v):
        t = 1.0 - y * (A @ v)
        act = t > 0
        f = np.mean(s * np.where(act, t * t, 0.0)) + 0.5 * pen @ (v * v)
        g = A.T @ (s * np.where(act, -2.0 * y * t, 0.0)) / n + pen * v
        return f, g

    def hessp(v, p):
        act = (1.0 - y * (A @ v)) > 0
        return A.T @ (s * act * 2.0 * (A @ p)) / n + pen * p

    r = minimize(fg, np.zeros(A.shape[1]), jac=True, hessp=hessp, method="trust-ncg",
                 options={"gtol": 1e-13, "maxiter": 10000})
    v = r.x
    return v[:d], (float(v[d]) if intercept else 0.0)


def optimum(loss, X, y, lam, intercept=True, sw=None, class_weight=None):
    """(w, b, F) at the reference optimum."""
    n = X.shape[0]
    if loss == "logistic":
        clf = LogisticRegression(C=1.0 / (lam * n), fit_intercept=intercept, tol=1e-12,
                                 max_iter=100000, class_weight=class_weight)
        clf.fit(X, y, sample_weight=sw)
        w, b = clf.coef_.ravel(), (float(clf.intercept_[0]) if intercept else 0.0)
    elif loss == "squared":
        r = Ridge(alpha=lam * n, fit_intercept=intercept, tol=1e-12, solver="cholesky")
        r.fit(X, y, sample_weight=sw)
        w, b = r.coef_.ravel(), (float(r.intercept_) if intercept else 0.0)
    else:
        if class_weight is not None:
            raise ValueError("pass class weights as sample weights")
        if not intercept:
            svc = LinearSVC(loss="squared_hinge", dual=False, C=1.0 / (lam * n),
                            fit_intercept=False, tol=1e-12, max_iter=100000)
            svc.fit(X, y, sample_weight=sw)
            w, b = svc.coef_.ravel(), 0.0
            w2, _ = _sqhinge_direct(X, y, lam, False, sw)
            # The direct minimiser is the same problem as LIBLINEAR's -s 2.
            f1, f2 = objective(loss, X, y, w, b, lam, sw), objective(loss, X, y, w2, b, lam, sw)
            assert abs(f1 - f2) <= 1e-9 * f1, (f1, f2)
            if f2 < f1:
                w = w2
        else:
            w, b = _sqhinge_direct(X, y, lam, True, sw)
    return w, b, objective(loss, X, y, w, b, lam, sw)


def iris_binary():
    """Versicolor against the rest: not linearly separable."""
    X, y = load_iris(return_X_y=True)
    return X, np.where(y == 1, 1.0, -1.0)


def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X, y.astype(float)


def write_svm_real(path, X, y):
    """LIBSVM text with real labels, 17 significant digits."""
    with open(path, "w") as f:
        for row, label in zip(np.asarray(X), y):
            nz = np.nonzero(row)[0]
            f.write(f"{label:.17g}" + "".join(f" {j + 1}:{row[j]:.17g}" for j in nz) + "\n")


def write_csv_real(path, X, y):
    with open(path, "w") as f:
        f.write("target," + ",".join(f"f{j}" for j in range(X.shape[1])) + "\n")
        for row, label in zip(np.asarray(X), y):
            f.write(f"{label:.17g}," + ",".join(f"{v:.17g}" for v in row) + "\n")


def data_sets(d):
    """name -> (X, y, path, loss kinds it serves)."""
    from common import write_svm
    sets = {}
    X, y = breast_cancer()
    write_svm(os.path.join(d, "bc.svm"), X, y)
    sets["breast_cancer"] = (X, y, os.path.join(d, "bc.svm"))
    X, y = iris_binary()
    write_svm(os.path.join(d, "iris.svm"), X, y)
    sets["iris_binary"] = (X, y, os.path.join(d, "iris.svm"))
    X, y = heart()
    sets["heart_scale"] = (X, y, "/usr/share/doc/liblinear-tools/examples/heart_scale")
    X, y = diabetes()
    write_csv_real(os.path.join(d, "diabetes.csv"), X, y)
    sets["diabetes.csv"] = (X, y, os.path.join(d, "diabetes.csv"))
    write_svm_real(os.path.join(d, "diabetes.svm"), X, y)
    sets["diabetes.svm"] = (X, y, os.path.join(d, "diabetes.svm"))
    return sets
