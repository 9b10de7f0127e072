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
    """Run 0: experiments, runs/search, runs/create, log-batch, upload, registry, update."""
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
    run_id = info["run_id"]
    log_batch(rec, run_id)
    upload_register_finish(rec, info)
    return info


def log_batch(rec, run_id, resumed=False):
    metrics = [{"key": "objective", "value": 0.67975284054865059, "timestamp": 1795965337820, "step": 1},
               {"key": "accuracy", "value": 0.60850000000000004, "timestamp": 1795965337820, "step": 1},
               {"key": "objective", "value": 0.60057758177940057, "timestamp": 1795965337821, "step": 2},
               {"key": "grad_norm", "value": "NaN", "timestamp": 1795965337821, "step": 2}]
    params = [{"key": "optimizer", "value": "lbfgs"}, {"key": "l2", "value": "0.0001"}]
    tags = [{"key": "mlflow.runName", "value": "seed"}, {"key": "shardlearn.run_uuid", "value": UUID}]
    if resumed:
        metrics = [{"key": "objective", "value": 0.5, "timestamp": 1795965400100, "step": 3}]
        params = [{"key": "l2", "value": "0.0001"}]
        tags = [{"key": "shardlearn.run_uuid", "value": "8c1f0e0b2a9d4c6e8f7a6b5c4d3e2f10"},
                {"key": "shardlearn.resumed.optimizer", "value": "newton"}]
    rec.send("POST", "/api/2.0/mlflow/runs/log-batch",
             {"run_id": run_id, "metrics": metrics, "params": params, "tags": tags})


def upload_register_finish(rec, info, upload=True):
    run_id = info["run_id"]
    root = info["artifact_uri"][len("mlflow-artifacts:"):].lstrip("/")
    if upload:
        rec.send("PUT", "/api/2.0/mlflow-artifacts/artifacts/%s/model/model.json" % root,
                 raw=MODEL, ctype="application/octet-stream")
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
        log_batch(rec, info["run_id"], resumed=True)
        rec.send("POST", "/api/2.0/mlflow/runs/update",
                 {"run_id": info["run_id"], "status": "FINISHED", "end_time": 1795965400200})
        write("resumed-run", seed(1, rec.answers))
        # Run 1 when the run to resume is not there.
        rec = Recorder(server.url)
        rec.get("/api/2.0/mlflow/runs/get", run_id="5d0c7a3e9b8f4e21a6c3b2d1e0f9a8b7")
        write("resumed-run-missing", seed(1, rec.answers))
        # Run 2: a lost log-batch answer; the metric histories first.
        rec = Recorder(server.url)
        for key in ["objective", "accuracy", "grad_norm"]:
            rec.get("/api/2.0/mlflow/metrics/get-history", run_id=info["run_id"], metric_key=key)
        log_batch(rec, info["run_id"])
        upload_register_finish(rec, info)
        pending = rec.answers
        write("pending-window", seed(2, pending))
        # Run 3: the artifact store is not proxied, nothing is uploaded.
        rec = Recorder(server.url)
        log_batch(rec, info["run_id"])
        upload_register_finish(rec, info, upload=False)
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
    write("new-run-log-batch-timeout",
          seed(0, new[:4] + [(1, b"")] + pending[:3] + new[4:]))
    write("pending-window-huge-history",
          str(2).encode() + b"200*" + pending[0][1] + SEP + SEP.join(b"%03d %s" % a for a in pending[1:]))
    write("new-run-garbage", seed(0, [(200, b"<html>not json</html>"), (200, b"[]"),
                                      (200, b'{"experiment":{"experiment_id":7}}'),
                                      (400, b'{"error_code":"INVALID_PARAMETER_VALUE"}')]))


if __name__ == "__main__":
    main()
