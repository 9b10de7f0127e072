"""Shared by the tracking tests: run shardlearn, make a data set big enough
for a run that lasts a few seconds, and compare a server's run with the
run's metrics.json."""
import glob
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from common import BIN, ENV, MPIRUN, check, children, finish, mpi_env, workdir  # noqa: E402,F401

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
PER_ITER = ["objective", "train_logloss", "grad_norm", "accuracy"]


def train_cmd(np_, args):
    return [MPIRUN, "--oversubscribe", "-np", str(np_), BIN, "train"] + [str(a) for a in args]


def train(np_, args, env=None, timeout=300):
    return subprocess.run(train_cmd(np_, args), capture_output=True, text=True,
                          env=mpi_env(env), timeout=timeout)


def sync(run_dir, uri, env=None, timeout=300):
    return subprocess.run([BIN, "mlflow-sync", run_dir, "--tracking-uri", uri, "--timeout", "120"],
                          capture_output=True, text=True, env=mpi_env(env), timeout=timeout)


def run_dir(tracking_dir):
    dirs = glob.glob(os.path.join(tracking_dir, "*"))
    assert len(dirs) == 1, dirs
    return dirs[0]


def state(rd):
    with open(os.path.join(rd, "state.json")) as f:
        return json.load(f)


def uuid_of(rd):
    with open(os.path.join(rd, "journal.jsonl")) as f:
        return json.loads(f.readline())["run_uuid"]


def long_data(path, n=60000, k=30, seed=5):
    """A sparse LIBSVM file on which SGD epochs take a noticeable time."""
    rng = np.random.default_rng(seed)
    cols = np.cumsum(rng.integers(1, 60, size=(n, k)), axis=1)
    vals = rng.random((n, k))
    w = rng.normal(size=cols.max() + 1)
    y = np.where((vals * w[cols]).sum(axis=1) + rng.normal(size=n) > 0, "+1", "-1")
    with open(path, "w") as f:
        for i in range(n):
            f.write(y[i] + " " + " ".join(f"{c}:{v:.5f}" for c, v in zip(cols[i], vals[i])) + "\n")


def check_run_matches(srv, run_id, metrics_path, what, n_steps=None):
    """The server holds exactly the history of metrics.json: same steps, same
    values, no point lost, none twice."""
    with open(metrics_path) as f:
        m = json.load(f)
    hist = m["history"]
    if n_steps is not None:
        check(len(hist) == n_steps, f"{what}: metrics.json has {len(hist)} steps, want {n_steps}")
    for key in PER_ITER:
        pts = srv.history(run_id, key)
        got = sorted((p["step"], p["value"]) for p in pts)
        want = sorted((h["step"], h[key]) for h in hist)
        first = next((f"{a} vs {b}" for a, b in zip(got, want) if a != b), "")
        check(got == want, f"{what}: history of {key}: {len(got)} points on the server, "
                           f"{len(want)} in metrics.json; first difference {first}")
    run = srv.run(run_id)
    finals = {x["key"]: x["value"] for x in run["data"].get("metrics", [])}
    check(abs(finals.get("final_objective", -1) - m["objective"]) == 0,
          f"{what}: final_objective {finals.get('final_objective')} vs {m['objective']}")
    return run


class Watched:
    """A training run in the background whose progress lines are collected as
    they arrive, so a test can act at a given epoch instead of after a guessed
    sleep."""

    def __init__(self, np_, args, env=None):
        import threading
        self.proc = subprocess.Popen(train_cmd(np_, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=mpi_env(env))
        self.lines, self.err = [], []
        self.threads = [threading.Thread(target=self._read, args=(s, l), daemon=True)
                        for s, l in ((self.proc.stdout, self.lines), (self.proc.stderr, self.err))]
        for t in self.threads:
            t.start()

    @staticmethod
    def _read(stream, into):
        for line in stream:
            into.append(line)

    def epochs_done(self):
        return sum(1 for l in self.lines if l.startswith("epoch"))

    def wait_epochs(self, n, timeout=120):
        import time
        deadline = time.time() + timeout
        while self.epochs_done() < n and self.proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        return self.epochs_done() >= n

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout=600):
        self.proc.wait(timeout=timeout)
        for t in self.threads:
            t.join(timeout=10)
        return self.proc.returncode, "".join(self.err)


def self_signed_cert(directory):
    """A certificate for 127.0.0.1 signed by itself: (certfile, keyfile)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    certfile, keyfile = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(certfile, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(keyfile, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return certfile, keyfile
