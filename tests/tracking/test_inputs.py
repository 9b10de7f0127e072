"""What MLflow 3 shows beside a run's metrics, read back from a real `mlflow server`:

- Datasets: the run's training and validation sets (runs/get -> inputs.dataset_inputs)
  with name, source, schema (rows/features/nnz/format) and context tags; the digest is
  zlib's CRC-32 of the file and its size, computed here independently, the same on
  1 and 3 ranks, different when one byte changes, and in metrics.json too.
- Logged model: READY, source run, params, model.json byte-identical among its
  artifacts, the run's final metrics linked to it (model_id).
- Server down during training, then mlflow-sync (twice, and once more with state.json
  lost): the data sets and the logged model arrive once. A logged-model create whose
  answer is lost (held past the client's timeout, then applied): still one model.
- Two runs logging one new data set at once: MLflow's server answers one of them
  400 (a unique-constraint error), and the run sends it again and links the data set
  (the proxy gives that answer to the first log-inputs; track_live's twin runs meet
  the real race now and then).
- A server without logged models (a proxy answering 404 for /logged-models, as MLflow
  2.x does): the run finishes, the model is a run artifact, one info line says so."""
import json
import os
import shutil
import urllib.request
import zlib

from fault_proxy import FaultProxy
from mlflow_server import MlflowServer, free_port
from track_common import EXAMPLES, check, finish, run_dir, state, sync, train, workdir

d = workdir()
train_svm = os.path.join(EXAMPLES, "train.svm")
test_svm = os.path.join(EXAMPLES, "test.svm")


def digest_of(path):
    """The digest as the engine defines it, computed here from the whole file."""
    data = open(path, "rb").read()
    return f"{zlib.crc32(data):08x}-{len(data)}"


def run_args(tag, uri, extra=()):
    td = os.path.join(d, tag)
    return td, ["--data", train_svm, "--validation", test_svm, "--l2", "1e-3", "--optimizer", "lbfgs",
                "--max-iter", "20", "--tracking-uri", uri, "--experiment", "inputs-test",
                "--tracking-dir", td, "--tracking-flush-timeout", "60",
                "--model-out", os.path.join(d, tag + "-model.json"),
                "--metrics-out", os.path.join(d, tag + "-metrics.json"), "--quiet", *extra]


def logged_models(srv, exp_id):
    return srv.post("logged-models/search", {"experiment_ids": [exp_id]}).get("models", [])


def model_artifact(srv, info, path):
    root = info["artifact_uri"][len("mlflow-artifacts:"):].lstrip("/")
    with urllib.request.urlopen(f"{srv.url}/api/2.0/mlflow-artifacts/artifacts/{root}/{path}",
                                timeout=30) as r:
        return r.read()


def check_inputs(srv, run_id, metrics_path, what):
    m = json.load(open(metrics_path))
    inputs = srv.run(run_id).get("inputs", {}).get("dataset_inputs", [])
    check(len(inputs) == 2, f"{what}: {len(inputs)} dataset inputs, want 2: {inputs}")
    by_ctx = {}
    for i in inputs:
        ctx = [t["value"] for t in i.get("tags", []) if t["key"] == "mlflow.data.context"]
        by_ctx[ctx[0] if ctx else None] = i["dataset"]
    for ctx, path, field in (("training", train_svm, "data"), ("validation", test_svm, "validation_data")):
        ds = by_ctx.get(ctx)
        check(ds is not None, f"{what}: no dataset with context {ctx}: {list(by_ctx)}")
        if ds is None:
            continue
        check(ds["name"] == os.path.basename(path), f"{what}: {ctx} name {ds['name']}")
        check(ds["digest"] == digest_of(path), f"{what}: {ctx} digest {ds['digest']} vs {digest_of(path)}")
        check(m.get(field, {}).get("digest") == ds["digest"],
              f"{what}: metrics.json {field} {m.get(field)} vs {ds['digest']}")
        check(json.loads(ds["source"]).get("uri") == os.path.realpath(path), f"{what}: source {ds['source']}")
        check(ds.get("source_type") == "local", f"{what}: source_type {ds.get('source_type')}")
        schema = json.loads(ds.get("schema") or "{}")
        check(schema.get("format") == "libsvm" and schema.get("features", 0) > 0 and
              schema.get("rows", 0) > 0 and schema.get("nnz", 0) >= schema.get("rows", 0),
              f"{what}: {ctx} schema {schema}")
        if ctx == "training":
            check((schema.get("rows"), schema.get("features"), schema.get("nnz")) ==
                  (m["n_rows"], m["n_features"], m["nnz"]), f"{what}: schema {schema} vs metrics.json")
        check(json.loads(ds.get("profile") or "{}").get("bytes") == os.path.getsize(path),
              f"{what}: {ctx} profile {ds.get('profile')}")
    return m


def check_model(srv, run_id, exp_id, model_path, what):
    models = [x for x in logged_models(srv, exp_id) if x["info"].get("source_run_id") == run_id]
    check(len(models) == 1, f"{what}: {len(models)} logged models from run {run_id}, want 1")
    if not models:
        return
    info = srv.get(f"logged-models/{models[0]['info']['model_id']}")["model"]["info"]
    check(info.get("status") == "LOGGED_MODEL_READY", f"{what}: model status {info.get('status')}")
    params = {p["key"]: p["value"] for p in models[0].get("data", {}).get("params", [])}
    check(params.get("optimizer") == "lbfgs" and params.get("l2") is not None,
          f"{what}: model params {params}")
    check(model_artifact(srv, info, "model.json") == open(model_path, "rb").read(),
          f"{what}: the logged model's model.json differs from the model file")
    linked = {x["key"]: x.get("model_id") for x in models[0].get("data", {}).get("metrics", [])}
    check(linked.get("final_objective") == info["model_id"] and "final_val_auc" in linked,
          f"{what}: final metrics linked to the model: {linked}")
    check("objective" not in linked, f"{what}: per-iteration metrics linked to the model: {linked}")


with MlflowServer() as srv:
    # Live, 1 rank then 3 ranks: the same digests.
    runs = {}
    for np_ in (1, 3):
        td, args = run_args(f"np{np_}", srv.url)
        p = train(np_, args, env={"MLFLOW_TRACKING_URI": ""})
        check(p.returncode == 0, f"{np_} rank(s): train failed: {p.stderr}")
        st = state(run_dir(td))
        runs[np_] = st
        m = check_inputs(srv, st["run_id"], os.path.join(d, f"np{np_}-metrics.json"), f"{np_} rank(s)")
        check_model(srv, st["run_id"], st["experiment_id"], os.path.join(d, f"np{np_}-model.json"),
                    f"{np_} rank(s)")
        check(m["data"]["digest"] == digest_of(train_svm), f"{np_} rank(s): digest {m['data']}")

    # One byte changed: another digest (journal only, metrics.json is enough).
    changed = os.path.join(d, "changed.svm")
    data = bytearray(open(train_svm, "rb").read())
    at = data.index(b":", len(data) // 2) + 1
    data[at] = ord("9") if data[at] != ord("9") else ord("8")
    open(changed, "wb").write(bytes(data))
    mpath = os.path.join(d, "changed-metrics.json")
    p = train(3, ["--data", changed, "--l2", "1e-3", "--max-iter", "3", "--tracking-dir",
                  os.path.join(d, "changed"), "--metrics-out", mpath, "--quiet"], env={"MLFLOW_TRACKING_URI": ""})
    check(p.returncode == 0, f"changed file: train failed: {p.stderr}")
    if p.returncode == 0:
        got = json.load(open(mpath))["data"]["digest"]
        check(got == digest_of(changed) and got != digest_of(train_svm),
              f"one byte changed: digest {got}, original {digest_of(train_svm)}")

    # Server down during training; mlflow-sync later, twice, then with state.json lost.
    td, args = run_args("down", f"http://127.0.0.1:{free_port()}", ["--tracking-flush-timeout", "1"])
    p = train(2, args, env={"MLFLOW_TRACKING_URI": ""})
    check(p.returncode == 0, f"server down: train failed: {p.stderr}")
    rd = run_dir(td)
    for attempt in ("first sync", "second sync", "sync without state.json"):
        if attempt.endswith("state.json"):
            os.unlink(os.path.join(rd, "state.json"))
        s = sync(rd, srv.url)
        check(s.returncode == 0, f"{attempt}: mlflow-sync failed: {s.stderr}")
        st = state(rd)
        check_inputs(srv, st["run_id"], os.path.join(d, "down-metrics.json"), attempt)
        check_model(srv, st["run_id"], st["experiment_id"], os.path.join(d, "down-model.json"), attempt)
        hist = srv.history(st["run_id"], "final_objective")
        check(len(hist) == 1, f"{attempt}: final_objective has {len(hist)} points")

    # The create's answer lost: the model is found again by its run_uuid tag, not made twice.
    with FaultProxy(srv.url, delay=5, hold_once=("POST", "/api/2.0/mlflow/logged-models")) as proxy:
        td, args = run_args("lost", proxy.url)
        p = train(1, args, env={"MLFLOW_TRACKING_URI": "", "MLFLOW_HTTP_REQUEST_TIMEOUT": "2"})
        check(p.returncode == 0, f"lost answer: train failed: {p.stderr}")
        check(proxy.hold_once is None, "lost answer: the create was never held")
        st = state(run_dir(td))
        check(st.get("finished_sent") is True, f"lost answer: not delivered within the flush timeout: {st}")
        check_model(srv, st["run_id"], st["experiment_id"], os.path.join(d, "lost-model.json"), "lost answer")

    # The answer MLflow's server gives the loser of two concurrent inserts of one data set.
    race = (b'{"error_code": "BAD_REQUEST", "message": "(sqlite3.IntegrityError) UNIQUE constraint failed: '
            b'datasets.experiment_id, datasets.name, datasets.digest"}')
    with FaultProxy(srv.url, reject_once=("POST", "/api/2.0/mlflow/runs/log-inputs", 400, race)) as proxy:
        td, args = run_args("race", proxy.url)
        p = train(1, args, env={"MLFLOW_TRACKING_URI": ""})
        check(p.returncode == 0 and p.stderr == "", f"data set race: exit {p.returncode}: {p.stderr}")
        check(proxy.reject_once is None, "data set race: no log-inputs was answered 400")
        check_inputs(srv, state(run_dir(td))["run_id"], os.path.join(d, "race-metrics.json"), "data set race")

    # A server without logged models: the model stays a run artifact, one info line.
    with FaultProxy(srv.url, not_found=["/logged-models"]) as proxy:
        td, args = run_args("old", proxy.url)
        p = train(1, args, env={"MLFLOW_TRACKING_URI": ""})
        check(p.returncode == 0, f"no logged models: train failed: {p.stderr}")
        out = p.stdout + p.stderr
        lines = [l for l in out.splitlines() if "no logged models" in l]
        check(len(lines) == 1, f"no logged models: {len(lines)} lines say so:\n{out}")
        check(not any("warning" in l.lower() or "error" in l.lower() for l in out.splitlines()),
              f"no logged models: a warning or error:\n{out}")
        st = state(run_dir(td))
        run = srv.run(st["run_id"])
        check(run["info"]["status"] == "FINISHED", f"no logged models: status {run['info']['status']}")
        check(srv.artifact(run, "model/model.json") == open(os.path.join(d, "old-model.json"), "rb").read(),
              "no logged models: model/model.json differs")
        check(not [x for x in logged_models(srv, st["experiment_id"])
                   if x["info"].get("source_run_id") == st["run_id"]], "no logged models: one was made")
        finals = {x["key"] for x in run["data"].get("metrics", [])}
        check("final_objective" in finals, f"no logged models: final metrics {finals}")
        check_inputs(srv, st["run_id"], os.path.join(d, "old-metrics.json"), "no logged models")

shutil.rmtree(d, ignore_errors=True)
finish()
