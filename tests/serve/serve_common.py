"""Shared by the serve tests: a real `shardlearn serve` on a free port of
127.0.0.1 (always stopped), HTTP calls with the standard library, and the
models and predictions the answers are compared with."""
import http.client
import json
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from common import BIN, ENV, MPIRUN, check, finish, mpi_env, workdir  # noqa: E402,F401
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tracking"))
from mlflow_server import stop_group  # noqa: E402

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
TRAIN = os.path.abspath(os.path.join(EXAMPLES, "train.svm"))
TEST = os.path.abspath(os.path.join(EXAMPLES, "test.svm"))


def shardlearn(args, env=None, timeout=120):
    """One process, no mpirun (as serve itself runs)."""
    return subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True,
                          env=mpi_env(env), timeout=timeout)


def train(data, model, extra=(), env=None):
    """A model file; its run journal goes beside it, not into the working directory."""
    runs = os.path.join(os.path.dirname(model), "runs")
    p = shardlearn(["train", "--data", data, "--model-out", model, "--quiet", "--tracking-dir", runs]
                   + list(extra), env=env)
    assert p.returncode == 0, p.stderr
    return model


def predict(model, data, proba=True, extra=()):
    """shardlearn predict's answers, as written to its --out file."""
    out = model + (".proba" if proba else ".labels")
    p = shardlearn(["predict", "--model", model, "--data", data, "--out", out]
                   + (["--proba"] if proba else []) + list(extra))
    assert p.returncode == 0, p.stderr
    with open(out) as f:
        return [float(x) for x in f.read().split()]


def rows(path, n=None):
    """A LIBSVM file's rows: (label, [(index, value)...]) as written."""
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            out.append((parts[0], [(int(a), float(b)) for a, b in (t.split(":") for t in parts[1:])]))
            if n and len(out) == n:
                break
    return out


class Server:
    """`shardlearn serve ARGS --port 0`: the port is read from its first line."""

    def __init__(self, args, env=None, mpirun_np=None, port0=True):
        self.args = [str(a) for a in args] + (["--port", "0"] if port0 else [])
        self.env = env
        self.mpirun_np = mpirun_np
        self.proc = None
        self.out, self.err = [], []
        self.url = None
        self.host = self.port = None

    def start(self, timeout=60):
        cmd = [BIN, "serve"] + self.args
        if self.mpirun_np:
            cmd = [MPIRUN, "--oversubscribe", "-np", str(self.mpirun_np)] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=mpi_env(self.env), start_new_session=True)
        ready = threading.Event()

        def pump(stream, lines, watch):
            for line in stream:
                lines.append(line.rstrip("\n"))
                if watch and " on http://" in line and not ready.is_set():
                    addr = line.split(" on http://", 1)[1].split()[0]
                    self.host, port = addr.rsplit(":", 1)
                    self.port = int(port)
                    ready.set()
            ready.set()  # ended without the line

        self.threads = [threading.Thread(target=pump, args=(self.proc.stdout, self.out, True), daemon=True),
                        threading.Thread(target=pump, args=(self.proc.stderr, self.err, False), daemon=True)]
        for t in self.threads:
            t.start()
        ready.wait(timeout)
        if self.port is None:
            self.stop()
            raise RuntimeError(f"serve did not start: {self.err} {self.out}")
        return self

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def wait(self, timeout=60):
        rc = self.proc.wait(timeout)
        for t in self.threads:
            t.join(5)
        return rc

    def stop(self):
        if self.proc:
            stop_group(self.proc, 30)
        return self.proc.returncode if self.proc else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        rc = self.stop()
        # A clean stop exits 0: a sanitizer report (TSan's exit code 66) or a
        # crash at shutdown fails the test here.
        if exc[0] is None and not self.mpirun_np:
            check(rc == 0, f"serve {' '.join(self.args)} exited {rc}: {self.err[-5:]}")
        if exc[0] is None and self.mpirun_np:  # mpirun, signalled itself, exits 1 whatever the rank did
            check(any("serve: stopped" in l for l in self.out), f"the rank did not stop cleanly: {self.err[-5:]}")

    def call(self, method, path, body=None, ctype="application/json", headers=None, timeout=30):
        """(status, headers, body text); body: bytes, str, or an object sent as JSON."""
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        h = dict(headers or {})
        if ctype and body is not None:
            h["Content-Type"] = ctype
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read().decode()
        finally:
            c.close()

    def predictions(self, path, body, **kw):
        status, _, text = self.call("POST", path, body, **kw)
        assert status == 200, (status, text)
        return json.loads(text)["predictions"]

    def metrics(self):
        status, _, text = self.call("GET", "/metrics")
        assert status == 200, status
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out
