"""The same model on 1, 2, 3 and 4 ranks: Newton and L-BFGS converged tightly
agree within 1e-6 on the weights; SGD is deterministic for a seed and rank
count (two runs give byte-identical model files)."""
import filecmp
import os

import numpy as np

from common import (HEART, breast_cancer, check, finish, load_model, run, workdir, write_csv,
                    write_svm)

d = workdir()
X, y = breast_cancer()
write_svm(os.path.join(d, "bc.svm"), X, y)
write_csv(os.path.join(d, "bc.csv"), X, y)
runs = os.path.join(d, "runs")

for path in (HEART, os.path.join(d, "bc.svm"), os.path.join(d, "bc.csv")):
    for opt in ("newton", "lbfgs"):
        models = {}
        for np_ in (1, 2, 3, 4):
            out = os.path.join(d, f"m{np_}.json")
            run(["train", "--data", path, "--l2", "1e-3", "--optimizer", opt, "--tol", "1e-10",
                 "--max-iter", "1000", "--quiet", "--model-out", out, "--tracking-dir", runs], np_=np_)
            w, b, _ = load_model(out)
            models[np_] = np.append(w, b)
        for np_ in (2, 3, 4):
            diff = np.abs(models[np_] - models[1]).max()
            print(f"{os.path.basename(path)} {opt}: {np_} ranks vs 1: max |dw| = {diff:.2e}", flush=True)
            check(diff <= 1e-6, f"{path} {opt}: {np_} ranks differ from 1 rank by {diff:.3e}")

for np_ in (1, 3):
    outs = []
    for rep in range(2):
        out = os.path.join(d, f"sgd{np_}-{rep}.json")
        run(["train", "--data", HEART, "--optimizer", "sgd", "--epochs", "5", "--seed", "11",
             "--batch-size", "4", "--quiet", "--model-out", out, "--tracking-dir", runs], np_=np_)
        outs.append(out)
    check(filecmp.cmp(outs[0], outs[1], shallow=False), f"sgd on {np_} ranks not deterministic")
# A different seed must change the SGD model (else the seed is ignored).
other = os.path.join(d, "sgd-other.json")
run(["train", "--data", HEART, "--optimizer", "sgd", "--epochs", "5", "--seed", "12",
     "--batch-size", "4", "--quiet", "--model-out", other, "--tracking-dir", runs], np_=1)
check(not filecmp.cmp(other, os.path.join(d, "sgd1-0.json"), shallow=False), "sgd ignores --seed")
finish()
