#!/usr/bin/env python3
"""Captures the seed corpus of fuzz_mlflow from a real `mlflow server`.

Starts a server as the tracking tests do (tests/tracking/mlflow_server.py,
from .venv), sends the requests that sl_mlflow_deliver makes for the fixed
journals of tests/fuzz/fuzz_mlflow.c, in the same order, and writes each
run's answers as one seed ("N" run byte, then "STATUS body" answers separated
by "\\n~~~\\n", see fuzz_mlflow.c). Then a few variants of those answers with
the faults the sender must survive: 5xx and 429 before an answer, timeouts,
a refused connection, RESOURCE_ALREADY_EXISTS, an existing run.

    .venv/bin/python tests/fuzz/make_mlflow_seeds.py
"""
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "tracking"))
from mlflow_server import MlflowServer  # noqa: E402

OUT = os.path.join(HERE, "corpus", "fuzz_mlflow")
SEP = b"\n~~~\n"
UUID = "f5a7b010d804c430ba98d090f71c79b3"  # JOURNAL_NEW's run_uuid
MODEL = (b'{"format": "shardlearn-model", "version": 1, "loss": "logistic", "objective": 0.5, '
         b'"n_features": 2, "fit_intercept": true, "intercept": 0.25, "weights": [1, -1]}\n')


class Recorder:
    """Sends requests to the server and keeps (status, body) of each answer."""

    def __init__(self, url):
        self.url = url
        self.answers = []
        self.paths = []  # for reading the order of requests when changing this script

    def send(self, method, path, body=None, raw=None, ctype="application/json"):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": ctype})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        self.answers.append((status, text))
        self.paths.append(method + " " + path.split("?")[0])
        return status, (json.loads(text) if text.strip().startswith(b"{") else None)

    def get(self, path, **q):
        return self.send("GET", path + "?" + urllib.parse.urlencode(q, quote_via=urllib.parse.quote))


def seed(run, answers):
    return str(run).encode() + SEP.join(b"%03d %s" % (s, b) for s, b in answers)


def write(name, data):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def deliver_new(rec, run_id=None):
    """Run 0: experiments, runs/search, runs/create, then the journal's records (run_body)."""
    st, ans = rec.get("/api/2.0/mlflow/experiments/get-by-name", experiment_name="fuzz-exp")
    if st == 404:
        st, ans = rec.send("POST", "/api/2.0/mlflow/experiments/create", {"name": "fuzz-exp"})
        exp = ans["experiment_id"]
    else:
        exp = ans["experiment"]["experiment_id"]
    st, ans = rec.send("POST", "/api/2.0/mlflow/runs/search", {
        "experiment_ids": [exp], "filter": "tags.`shardlearn.run_uuid` = '%s'" % UUID,
        "run_view_type": "ALL", "max_results": 1})
    if ans.get("runs"):
        info = ans["runs"][0]["info"]
    else:
        st, ans = rec.send("POST", "/api/2.0/mlflow/runs/create", {
            "experiment_id": exp, "start_time": 1795965337818, "run_name": "seed",
            "tags": [{"key": "shardlearn.run_uuid", "value": UUID}]})
        info = ans["run"]["info"]
    run_body(rec, info)
    return info


METRICS = [{"key": "objective", "value": 0.67975284054865059, "timestamp": 1795965337820, "step": 1},
           {"key": "accuracy", "value": 0.60850000000000004, "timestamp": 1795965337820, "step": 1},
           {"key": "objective", "value": 0.60057758177940057, "timestamp": 1795965337821, "step": 2},
           {"key": "grad_norm", "value": "NaN", "timestamp": 1795965337821, "step": 2}]
FINAL = {"key": "final_objective", "value": 0.5, "timestamp": 1795965337822, "step": 0}


def run_body(rec, info, upload=True, pending=False):
    """JOURNAL_NEW after the run is known: params and tags (sent before the input
    record), log-inputs, the metrics, the artifact, the logged model, the final
    metric with its model_id, registration, the end. With a pending window the
    metric histories come first, and points the server holds are not sent."""
    run_id = info["run_id"]
    rec.send("POST", "/api/2.0/mlflow/runs/log-batch", {
        "run_id": run_id, "metrics": [],
        "params": [{"key": "optimizer", "value": "lbfgs"}, {"key": "l2", "value": "0.0001"}],
        "tags": [{"key": "mlflow.runName", "value": "seed"}, {"key": "shardlearn.run_uuid", "value": UUID}]})
    rec.send("POST", "/api/2.0/mlflow/runs/log-inputs", {"run_id": run_id, "datasets": [{
        "tags": [{"key": "mlflow.data.context", "value": "training"}],
        "dataset": {"name": "train.svm", "digest": "0ac2126f-485618", "source_type": "local",
                    "source": '{"uri":"/data/train.svm"}', "schema": '{"format":"libsvm","rows":4000}',
                    "profile": '{"bytes":485618}'}}]})
    send_metrics(rec, run_id, METRICS, pending)
    root = info["artifact_uri"][len("mlflow-artifacts:"):].lstrip("/")
    if upload:
        rec.send("PUT", "/api/2.0/mlflow-artifacts/artifacts/%s/model/model.json" % root,
                 raw=MODEL, ctype="application/octet-stream")
    model_id = logged_model(rec, info)
    send_metrics(rec, run_id, [dict(FINAL, model_id=model_id)], pending)
    register_finish(rec, info)


def send_metrics(rec, run_id, metrics, pending):
    if pending:
        held = {}
        for m in metrics:
            if m["key"] not in held:
                _, ans = rec.get("/api/2.0/mlflow/metrics/get-history", run_id=run_id, metric_key=m["key"])
                held[m["key"]] = ans.get("metrics", [])
        metrics = [m for m in metrics
                   if not any(p["step"] == m["step"] and p["timestamp"] == m["timestamp"]
                              for p in held[m["key"]])]
    if metrics:
        rec.send("POST", "/api/2.0/mlflow/runs/log-batch",
                 {"run_id": run_id, "metrics": metrics, "params": [], "tags": []})


def logged_model(rec, run_info):
    """Search by the run_uuid tag; create when none; upload and finalise unless READY."""
    exp = run_info["experiment_id"]
    _, ans = rec.send("POST", "/api/2.0/mlflow/logged-models/search", {
        "experiment_ids": [exp], "filter": "tags.`shardlearn.run_uuid` = '%s'" % UUID, "max_results": 1})
    if ans.get("models"):
        info = ans["models"][0]["info"]
    else:
        _, ans = rec.send("POST", "/api/2.0/mlflow/logged-models", {
            "experiment_id": exp, "name": "model", "model_type": "shardlearn",
            "source_run_id": run_info["run_id"],
            "params": [{"key": "optimizer", "value": "lbfgs"}, {"key": "l2", "value": "0.0001"}],
            "tags": [{"key": "shardlearn.run_uuid", "value": UUID}]})
        info = ans["model"]["info"]
    if info.get("status") != "LOGGED_MODEL_READY":
        root = info["artifact_uri"][len("mlflow-artifacts:"):].lstrip("/")
        rec.send("PUT", "/api/2.0/mlflow-artifacts/artifacts/%s/model.json" % root,
                 raw=MODEL, ctype="application/octet-stream")
        rec.send("PATCH", "/api/2.0/mlflow/logged-models/%s" % info["model_id"],
                 {"model_id": info["model_id"], "status": 2})
    return info["model_id"]


def log_batch_resumed(rec, run_id):
    rec.send("POST", "/api/2.0/mlflow/runs/log-batch", {
        "run_id": run_id,
        "metrics": [{"key": "objective", "value": 0.5, "timestamp": 1795965400100, "step": 3}],
        "params": [{"key": "l2", "value": "0.0001"}],
        "tags": [{"key": "shardlearn.run_uuid", "value": "8c1f0e0b2a9d4c6e8f7a6b5c4d3e2f10"},
                 {"key": "shardlearn.resumed.optimizer", "value": "newton"}]})


def register_finish(rec, info):
    run_id = info["run_id"]
    rec.send("POST", "/api/2.0/mlflow/registered-models/create", {"name": "fuzzmodel"})
    rec.get("/api/2.0/mlflow/model-versions/search",
            filter="name='fuzzmodel' and run_id='%s'" % run_id)
    rec.send("POST", "/api/2.0/mlflow/model-versions/create",
             {"name": "fuzzmodel", "source": "runs:/%s/model" % run_id, "run_id": run_id})
    rec.send("POST", "/api/2.0/mlflow/runs/update",
             {"run_id": run_id, "status": "FINISHED", "end_time": 1795965337822})


def main():
    with MlflowServer() as server:
        # Run 0 on a new server: the experiment and the run are created.
        rec = Recorder(server.url)
        info = deliver_new(rec)
        new = rec.answers
        if os.environ.get("SHOW_REQUESTS"):  # the order of requests, for the fault seeds below
            print("\n".join(f"{i}: {p}" for i, p in enumerate(rec.paths)))
        write("new-run", seed(0, new))
        # Run 0 again: the experiment exists and runs/search finds the run.
        rec = Recorder(server.url)
        deliver_new(rec)
        found = rec.answers
        write("new-run-found", seed(0, found))
        # Run 1: resumed (runs/get, runs/update RUNNING, runs/get for params).
        rec = Recorder(server.url)
        rec.get("/api/2.0/mlflow/runs/get", run_id=info["run_id"])
        rec.send("POST", "/api/2.0/mlflow/runs/update", {"run_id": info["run_id"], "status": "RUNNING"})
        rec.get("/api/2.0/mlflow/runs/get", run_id=info["run_id"])
        log_batch_resumed(rec, info["run_id"])
        rec.send("POST", "/api/2.0/mlflow/runs/update",
                 {"run_id": info["run_id"], "status": "FINISHED", "end_time": 1795965400200})
        write("resumed-run", seed(1, rec.answers))
        # Run 1 when the run to resume is not there.
        rec = Recorder(server.url)
        rec.get("/api/2.0/mlflow/runs/get", run_id="5d0c7a3e9b8f4e21a6c3b2d1e0f9a8b7")
        write("resumed-run-missing", seed(1, rec.answers))
        # Run 2: a lost log-batch answer; the metric histories first.
        rec = Recorder(server.url)
        run_body(rec, info, pending=True)
        pending = rec.answers
        write("pending-window", seed(2, pending))
        # Run 3: the artifact store is not proxied, nothing is uploaded.
        rec = Recorder(server.url)
        run_body(rec, info, upload=False)
        write("not-proxied", seed(3, rec.answers))

    # Faults around the real answers (the run stays the same).
    write("new-run-503-then-ok", seed(0, [(503, b"<html>Service Unavailable</html>")] + new))
    write("new-run-429-retry-after", seed(0, [(429, b'{"error_code":"REQUEST_LIMIT_EXCEEDED"}')] + new))
    # runs/create (4th answer) times out but the server made the run: once that
    # has settled, the next try finds the experiment and the run.
    write("new-run-create-timeout", seed(0, new[:3] + [(1, b"")] + found))
    # log-batch (5th answer) refused: never reached the server, so no pending window.
    write("new-run-log-batch-refused", seed(0, new[:4] + [(0, b"")] + new[4:]))
    # log-batch answer lost: the next try checks the metric histories first.
    # The metrics' log-batch (7th answer: after the params' log-batch and log-inputs) lost:
    # the next try checks the three metric histories first (pending[2:5], which hold them).
    write("new-run-log-batch-timeout",
          seed(0, new[:6] + [(1, b"")] + pending[2:5] + new[7:]))
    write("pending-window-huge-history",
          str(2).encode() + SEP.join(b"%03d %s" % a for a in pending[:2]) + SEP + b"200*" + pending[2][1]
          + SEP + SEP.join(b"%03d %s" % a for a in pending[3:]))
    # A server without logged models (MLflow 2.x): its 404 page for logged-models/search.
    at = 7  # get-by-name, create, search, create, log-batch, log-inputs, log-batch, PUT: then search
    write("new-run-no-logged-models",
          seed(0, new[:at + 1] + [(404, b"<!doctype html><title>404 Not Found</title>")] + new[at + 5:]))
    write("new-run-garbage", seed(0, [(200, b"<html>not json</html>"), (200, b"[]"),
                                      (200, b'{"experiment":{"experiment_id":7}}'),
                                      (400, b'{"error_code":"INVALID_PARAMETER_VALUE"}')]))


if __name__ == "__main__":
    main()
