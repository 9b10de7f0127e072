"""What a real `mlflow server` stores for the model options (README: Losses,
weights and warm starts): the `loss`, `sample_weights`, `class_weight`,
`init_model` and `standardize` params; for squared the mean loss as
`train_loss`/`final_train_loss`, no accuracy, and `final_val_rmse`,
`final_val_mae`, `final_val_r2` equal to what `eval` computes on the
validation file; for logistic the metric names it always had."""
import json
import os
import subprocess
import sys

from mlflow_server import MlflowServer
from track_common import BIN, MPIRUN, check, finish, mpi_env, run_dir, train, uuid_of, workdir

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from losses_ref import diabetes, write_csv_real  # noqa: E402

d = workdir()
X, y = diabetes()
train_csv, val_csv = os.path.join(d, "train.csv"), os.path.join(d, "val.csv")
write_csv_real(train_csv, X[:350], y[:350])
write_csv_real(val_csv, X[350:], y[350:])
heart = "/usr/share/doc/liblinear-tools/examples/heart_scale"
weights = os.path.join(d, "w.txt")
open(weights, "w").writelines(f"{1 + (i % 3)}\n" for i in range(270))

with MlflowServer() as srv:  # __enter__ starts it (a second start() leaked the first server)

    def one_run(tag, args):
        td = os.path.join(d, tag)
        p = train(2, args + ["--tracking-uri", srv.url, "--experiment", "losses", "--tracking-dir",
                             td, "--quiet"])
        check(p.returncode == 0, f"{tag}: exit {p.returncode}: {p.stderr[-2000:]}")
        runs = srv.runs_with_uuid(uuid_of(run_dir(td)))
        check(len(runs) == 1, f"{tag}: {len(runs)} runs on the server")
        run = runs[0]
        params = {p["key"]: p["value"] for p in run["data"].get("params", [])}
        metrics = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
        return run, params, metrics

    model = os.path.join(d, "ridge.json")
    run, params, metrics = one_run("ridge", ["--data", train_csv, "--validation", val_csv, "--loss",
                                             "squared", "--standardize", "--model-out", model])
    check(params.get("loss") == "squared" and params.get("standardize") == "true", f"ridge params {params}")
    ev_path = os.path.join(d, "ev.json")
    subprocess.run([MPIRUN, "--oversubscribe", "-np", "2", BIN, "eval", "--model", model, "--data",
                    val_csv, "--metrics-out", ev_path], env=mpi_env(), check=True, capture_output=True)
    ev = json.load(open(ev_path))
    for k in ("rmse", "mae", "r2"):
        check(abs(metrics.get(f"final_val_{k}", float("nan")) - ev[k]) <= 1e-9 * max(1.0, abs(ev[k])),
              f"final_val_{k} {metrics.get(f'final_val_{k}')} != eval's {ev[k]}")
    check("final_train_loss" in metrics and "final_train_logloss" not in metrics
          and "final_accuracy" not in metrics and "accuracy" not in metrics
          and not any(k.startswith("val_") for k in metrics),
          f"ridge metric names {sorted(metrics)}")
    hist = srv.history(run["info"]["run_id"], "train_loss")
    check(len(hist) >= 1 and abs(hist[-1]["value"] - metrics["final_train_loss"]) <= 1e-9 * metrics["final_train_loss"],
          f"train_loss history {hist}")

    run, params, metrics = one_run("svm", ["--data", heart, "--loss", "squared-hinge",
                                           "--sample-weights", weights, "--class-weight", "balanced",
                                           "--model-out", os.path.join(d, "svm.json")])
    check(params.get("loss") == "squared-hinge" and params.get("sample_weights") == weights
          and params.get("class_weight") == "balanced", f"svm params {params}")
    check("final_train_loss" in metrics and "final_accuracy" in metrics, f"svm metrics {sorted(metrics)}")

    run, params, metrics = one_run("warm", ["--data", heart, "--loss", "squared-hinge", "--init-model",
                                            os.path.join(d, "svm.json"), "--l2", "5e-5"])
    check(params.get("init_model") == os.path.join(d, "svm.json"), f"warm params {params}")

    run, params, metrics = one_run("logistic", ["--data", heart])
    check(params.get("loss") == "logistic" and "standardize" not in params and "sample_weights" not in params,
          f"logistic params {params}")
    check("final_train_logloss" in metrics and "final_accuracy" in metrics, f"logistic metrics {sorted(metrics)}")
finish()
