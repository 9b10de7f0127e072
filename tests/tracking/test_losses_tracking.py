"""What a real `mlflow server` stores for the model options (README: Losses,
weights and warm starts): the `loss`, `sample_weights`, `class_weight`,
`init_model` and `standardize` params; for squared the mean loss as
`train_loss`/`final_train_loss`, no accuracy, and `final_val_rmse`,
`final_val_mae`, `final_val_r2` equal to what `eval` computes on the
validation file; for multinomial `n_classes` and `classes` (a long list
cut, its last class kept) and the validation AUC as `val_auc_ovr` /
`final_val_auc_ovr`, eval's `auc_ovr` on the same file; for logistic the
metric names it always had."""
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

    # Multinomial: n_classes and the classes (labels as in the file) as params;
    # the validation AUC under eval's name (auc_ovr), every step and final.
    from sklearn.datasets import load_wine
    Xw, yw = load_wine(return_X_y=True)
    Xw = Xw / Xw.std(axis=0)
    yw = 2 * yw - 1  # classes -1, 1, 3
    for name, rows in (("wtr.csv", slice(0, None, 2)), ("wva.csv", slice(1, None, 2))):
        with open(os.path.join(d, name), "w") as f:
            f.writelines(f"{yv}," + ",".join(f"{v:.17g}" for v in xr) + "\n"
                         for xr, yv in zip(Xw[rows], yw[rows]))
    wmodel, wmet = os.path.join(d, "wine.json"), os.path.join(d, "wine.metrics.json")
    run, params, metrics = one_run("multinomial", [
        "--data", os.path.join(d, "wtr.csv"), "--validation", os.path.join(d, "wva.csv"),
        "--loss", "multinomial", "--l2", "1e-2", "--class-weight", "balanced",
        "--model-out", wmodel, "--metrics-out", wmet])
    check(params.get("loss") == "multinomial" and params.get("n_classes") == "3"
          and params.get("classes") == "-1,1,3" and params.get("class_weight") == "balanced",
          f"multinomial params {params}")
    ev_path = os.path.join(d, "wev.json")
    subprocess.run([MPIRUN, "--oversubscribe", "-np", "2", BIN, "eval", "--model", wmodel, "--data",
                    os.path.join(d, "wva.csv"), "--metrics-out", ev_path], env=mpi_env(),
                   check=True, capture_output=True)
    ev = json.load(open(ev_path))
    tm = json.load(open(wmet))
    hist = srv.history(run["info"]["run_id"], "val_auc_ovr")
    print("multinomial metrics", sorted(metrics), "eval", ev, flush=True)
    check("val_auc" not in metrics and "final_val_auc" not in metrics
          and len(hist) == len(tm["history"]) >= 2,
          f"multinomial: val_auc_ovr history {len(hist)} steps, metrics {sorted(metrics)}")
    for key, got in (("final_val_auc_ovr", metrics.get("final_val_auc_ovr")),
                     ("val_auc_ovr (last step)", hist[-1]["value"] if hist else None),
                     ("metrics.json validation.auc_ovr", tm["validation"].get("auc_ovr"))):
        check(got is not None and abs(got - ev["auc_ovr"]) <= 1e-12,
              f"multinomial {key} {got} != eval's auc_ovr {ev['auc_ovr']}")
    check(abs(metrics.get("final_val_logloss", -1) - ev["logloss"]) <= 1e-9 * ev["logloss"],
          f"multinomial final_val_logloss {metrics.get('final_val_logloss')} vs {ev['logloss']}")
    # A long list of classes: the count, and the list cut with its last class kept.
    many = os.path.join(d, "many.csv")
    with open(many, "w") as f:
        f.writelines(f"{1000 * (i % 300)},{(i % 300) / 300:.6f},{((i * 7) % 13) / 13:.6f}\n"
                     for i in range(900))
    run, params, metrics = one_run("many classes", ["--data", many, "--loss", "multinomial",
                                                    "--max-iter", "2"])
    cl = params.get("classes", "")
    check(params.get("n_classes") == "300" and cl.startswith("0,1000,2000,")
          and cl.endswith(",...,299000") and len(cl) < 600, f"300 classes: params {params}")

    run, params, metrics = one_run("logistic", ["--data", heart])
    check(params.get("loss") == "logistic" and "standardize" not in params and "sample_weights" not in params,
          f"logistic params {params}")
    check("final_train_logloss" in metrics and "final_accuracy" in metrics, f"logistic metrics {sorted(metrics)}")
finish()
