#!/usr/bin/env python3
"""One fit of a multi-core peer for the benchmark, in its own process:
LIBLINEAR 2.50's multi-core build (PyPI liblinear-multicore, -s 0 -m THREADS)
or IBM Snap ML (PyPI snapml, LogisticRegression n_jobs=THREADS), with the
benchmark's objective: L2 logistic regression, C = 1 / (lambda n), no
intercept (Snap ML's regularizer is 1/C: checked against scikit-learn's
optimum when this was written).

Loading is timed apart and reported: the LIBSVM file through scikit-learn's
load_svmlight_file (a compiled parser, faster than the peers' own), plus, for
LIBLINEAR, building its problem from the CSR arrays.

usage: peers_fit.py SVM D OUT liblinear-mc|snapml C TOL THREADS
writes OUT.json ({load_seconds, fit_seconds}) and OUT.npy (the weights)."""
import json
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_svmlight_file


def main():
    svm, d, out, peer = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    C, tol, threads = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    X, y = load_svmlight_file(svm, n_features=d)
    y = np.where(y > 0, 1.0, -1.0)
    if peer == "liblinear-mc":
        from liblinear.liblinearutil import parameter, problem, train
        prob = problem(y, X)
        load = time.perf_counter() - t0
        t0 = time.perf_counter()
        m = train(prob, parameter(f"-s 0 -c {C!r} -e {tol!r} -B -1 -m {threads} -q"))
        fit = time.perf_counter() - t0
        w = np.array(m.get_decfun()[0], dtype=np.float64)
        if m.get_labels()[0] != 1:  # LIBLINEAR's w scores its first label
            w = -w
    elif peer == "snapml":
        from snapml import LogisticRegression
        load = time.perf_counter() - t0
        clf = LogisticRegression(regularizer=1.0 / C, fit_intercept=False, tol=tol, max_iter=100000,
                                 n_jobs=threads, dual=True)
        t0 = time.perf_counter()
        clf.fit(X, y)
        fit = time.perf_counter() - t0
        w = np.asarray(clf.coef_, dtype=np.float64).ravel()
        if list(clf.classes_)[-1] != 1.0:
            raise SystemExit(f"peers_fit.py: unexpected classes {clf.classes_}")
    else:
        raise SystemExit(f"peers_fit.py: unknown peer {peer}")
    np.save(out + ".npy", w)
    with open(out + ".json", "w") as f:
        json.dump({"load_seconds": load, "fit_seconds": fit}, f)


if __name__ == "__main__":
    main()
