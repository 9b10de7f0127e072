#!/usr/bin/env python3
"""Writes examples/train.svm and examples/test.svm: a synthetic sparse binary
classification set shaped like text or click data (power-law column
frequencies, a few to a few dozen nonzeros a row, 1-based LIBSVM), labels
from a planted sparse linear model with label noise. Deterministic (seed 7);
needs only numpy. Usage: scripts/make-example-data.py [OUTDIR]"""
import os
import sys

import numpy as np

rng = np.random.default_rng(7)
n_train, n_test, d = 4000, 1000, 2000
n = n_train + n_test
w_true = np.zeros(d)
support = rng.choice(d, 200, replace=False)
w_true[support] = rng.normal(0, 1.5, 200)
# Column j is drawn with probability ~ 1/(j+10): a few columns are common, most rare.
p = 1.0 / (np.arange(d) + 10.0)
p /= p.sum()
rows = []
for i in range(n):
    k = int(np.clip(rng.lognormal(2.3, 0.6), 2, 60))
    cols = np.unique(rng.choice(d, size=k, p=p))
    vals = np.round(rng.exponential(1.0, size=cols.size), 4) + 0.0001
    margin = vals @ w_true[cols] - 0.3
    y = 1 if rng.random() < 1.0 / (1.0 + np.exp(-4.0 * margin)) else -1
    rows.append((y, cols, vals))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "examples")
for name, part in (("train.svm", rows[:n_train]), ("test.svm", rows[n_train:])):
    with open(os.path.join(out, name), "w") as f:
        for y, cols, vals in part:
            f.write(("+1" if y > 0 else "-1") + "".join(f" {c + 1}:{v:.4f}" for c, v in zip(cols, vals)) + "\n")
