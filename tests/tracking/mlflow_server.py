"""A real `mlflow server` for the tracking tests: sqlite backend and artifact
serving in a temporary directory on 127.0.0.1, started, waited on (/health),
restarted on the same port and database, and always stopped."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

MLFLOW = os.path.join(os.path.dirname(sys.executable), "mlflow")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(proc, timeout):
    """Stops a process started with start_new_session=True and all it
    started: SIGTERM to its group, SIGKILL after timeout seconds."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class MlflowServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sl-mlflow-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self, timeout=120):
        cmd = [MLFLOW, "server", "--host", "127.0.0.1", "--port", str(self.port),
               "--backend-store-uri", f"sqlite:///{self.dir}/mlflow.db",
               "--artifacts-destination", f"{self.dir}/artifacts", "--workers", "1"]
        log = open(os.path.join(self.dir, "server.log"), "ab")
        # MLflow 3 starts a job runner with about ten Huey consumer processes
        # (GenAI jobs, ~250 MB each) beside every server; the REST API the
        # engine uses needs none of them, and side by side they overload 2 cores.
        env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=self.dir, start_new_session=True,
                                     env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mlflow server exited:\n" + open(os.path.join(self.dir, "server.log")).read()[-3000:])
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        raise RuntimeError("mlflow server did not become healthy")

    def stop(self):
        if self.proc:
            stop_group(self.proc, 20)
        self.proc = None

    def kill(self):
        """Dies the hard way, mid-request if need be."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # --- reading back through the REST API -----------------------------------------------
    def get(self, path, **params):
        url = f"{self.url}/api/2.0/mlflow/{path}?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=30) as r:
            return json.load(r)

    def post(self, path, body):
        req = urllib.request.Request(f"{self.url}/api/2.0/mlflow/{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def run(self, run_id):
        return self.get("runs/get", run_id=run_id)["run"]

    def history(self, run_id, key):
        return self.get("metrics/get-history", run_id=run_id, metric_key=key).get("metrics", [])

    def artifact(self, run, path):
        uri = run["info"]["artifact_uri"]
        assert uri.startswith("mlflow-artifacts:/"), uri
        root = uri[len("mlflow-artifacts:"):].lstrip("/")
        with urllib.request.urlopen(f"{self.url}/api/2.0/mlflow-artifacts/artifacts/{root}/{path}", timeout=30) as r:
            return r.read()

    def runs_with_uuid(self, uuid):
        exps = self.post("experiments/search", {"max_results": 1000}).get("experiments", [])
        ids = [e["experiment_id"] for e in exps]
        found = self.post("runs/search", {"experiment_ids": ids, "run_view_type": "ALL",
                                          "filter": f"tags.`shardlearn.run_uuid` = '{uuid}'"})
        return found.get("runs", [])
