"""What a real `mlflow server` stores for an L1 run (README: L1 and elastic
net): the `l1` param, the optimizer the run actually used (lbfgs, picked
because --optimizer was not given), the final metric `nnz_weights` equal to
the nonzero weights of the model file, and that model file (sparse) as the
run's artifact, byte for byte; a run without --l1 has neither the param nor
the metric."""
import json
import os
import sys

from mlflow_server import MlflowServer
from track_common import check, finish, run_dir, train, uuid_of, workdir

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from common import breast_cancer, model_weights, write_svm  # noqa: E402

d = workdir()
X, y = breast_cancer()
data = os.path.join(d, "bc.svm")
write_svm(data, X, y)

with MlflowServer() as srv:  # __enter__ starts it
    def one_run(tag, args):
        td = os.path.join(d, tag)
        p = train(2, args + ["--tracking-uri", srv.url, "--experiment", "l1", "--tracking-dir", td,
                             "--quiet"])
        check(p.returncode == 0, f"{tag}: exit {p.returncode}: {p.stderr[-2000:]}")
        runs = srv.runs_with_uuid(uuid_of(run_dir(td)))
        check(len(runs) == 1, f"{tag}: {len(runs)} runs on the server")
        run = runs[0]
        params = {q["key"]: q["value"] for q in run["data"].get("params", [])}
        metrics = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
        return run, params, metrics

    model = os.path.join(d, "l1.json")
    run, params, metrics = one_run("l1", ["--data", data, "--l1", "0.02", "--model-out", model])
    with open(model, "rb") as f:
        text = f.read()
    m = json.loads(text)
    nnz = int((model_weights(m) != 0).sum())
    print(f"l1 run: params l1={params.get('l1')} optimizer={params.get('optimizer')}, "
          f"nnz_weights={metrics.get('nnz_weights')} (model: {nnz})", flush=True)
    check(params.get("l1") == "0.02" and params.get("optimizer") == "lbfgs", f"l1 params {params}")
    check(metrics.get("nnz_weights") == nnz and 0 < nnz < 30, f"nnz_weights {metrics.get('nnz_weights')} vs {nnz}")
    check("weights_sparse" in m, "the L1 model is sparse")
    check(srv.artifact(run, "model/model.json") == text, "the run's model artifact is the model file")

    run, params, metrics = one_run("l2", ["--data", data])
    check("l1" not in params and "nnz_weights" not in metrics and params.get("optimizer") == "newton",
          f"l2 run: params {sorted(params)}, metrics {sorted(metrics)}")
finish()
