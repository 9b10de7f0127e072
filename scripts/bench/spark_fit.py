#!/usr/bin/env python3
"""Spark MLlib's LogisticRegression for the benchmark, in one local Spark
session on every core of the machine (local[*], which is what a user gets
from `pyspark` on one machine).

Spark reads the same LIBSVM file with its own reader (timed, as loading) and
caches it; then fits with maxIter = ITERS[0], ITERS[1], ... from scratch each
time (the same deterministic L-BFGS path, cut short), until a fit reaches
TARGET or the next one, estimated at twice the last, would overrun BUDGET
seconds of fitting. The objective is shardlearn's with lambda = regParam:
elasticNetParam 0 makes Spark's penalty (regParam / 2) |w|^2, and
standardization off keeps it on the raw features; Spark's loss is the mean
log-loss. It writes OUT.K.npy (the weights of the maxIter K fit) and
OUT.json (load time, each fit's time, iterations and F from the benchmark's
formula).

usage: spark_fit.py SVM NPZ OUT LAMBDA N_FEATURES TARGET BUDGET ITERS..."""
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import load_npz, objective  # noqa: E402


def main():
    svm, npz, out = sys.argv[1], sys.argv[2], sys.argv[3]
    lam, d = float(sys.argv[4]), int(sys.argv[5])
    target, budget = float(sys.argv[6]), float(sys.argv[7])
    iters = [int(k) for k in sys.argv[8:]]
    from pyspark.ml.classification import LogisticRegression
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as fn

    spark = (SparkSession.builder.master("local[*]").appName("shardlearn-bench")
             .config("spark.driver.memory", os.environ.get("BENCH_SPARK_MEMORY", "12g"))
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    t0 = time.perf_counter()
    df = spark.read.format("libsvm").option("numFeatures", d).load(svm)
    # Spark's binomial model wants labels 0/1; the file has -1/+1.
    df = df.withColumn("label", (fn.col("label") > 0).cast("double")).cache()
    rows = df.count()
    load = time.perf_counter() - t0

    X, y = load_npz(npz)
    runs, spent = [], 0.0
    for k in iters:
        if runs and spent + 2.0 * runs[-1]["seconds"] > budget:
            break
        lr = LogisticRegression(maxIter=k, regParam=lam, elasticNetParam=0.0, tol=1e-12,
                                fitIntercept=False, standardization=False, family="binomial")
        t = time.perf_counter()
        model = lr.fit(df)
        sec = time.perf_counter() - t
        w = model.coefficients.toArray()
        np.save(f"{out}.{k}.npy", w)
        F = objective(X, y, w, lam)
        runs.append({"param": k, "seconds": sec, "F": F,
                     "n_iter": model.summary.totalIterations})
        spent += sec
        print(f"spark maxIter {k}: {sec:.1f} s, {model.summary.totalIterations} iterations, "
              f"F = {F:.12g}", flush=True)
        if F <= target:
            break
    spark.stop()
    with open(out + ".json", "w") as f:
        json.dump({"load_seconds": load, "rows": rows, "runs": runs,
                   "cores": os.cpu_count()}, f)


if __name__ == "__main__":
    main()
