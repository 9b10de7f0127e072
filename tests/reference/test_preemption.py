"""--watch-preemption (README: Checkpoints and stop signals), against a fake
Compute Engine metadata server on 127.0.0.1 that speaks the documented
protocol: instance/preempted answers FALSE or TRUE with an ETag; with
wait_for_change=true and a last_etag equal to the current ETag it holds the
request until the value changes or timeout_sec passes.

  1. an uninterrupted lbfgs run on 2 ranks (no watcher);
  2. the same with --watch-preemption --checkpoint-dir: the server flips to
     TRUE after iteration 5 is printed; exit 75, one complete checkpoint, no
     model file, the one-line notice, the shardlearn.preempted tag in the
     journal; the server saw Metadata-Flavor: Google, wait_for_change=true and
     the ETag it had given back as last_etag;
  3. the same command again (the server, like a new VM, says FALSE): exit 0
     and the uninterrupted run's model byte for byte, ending promptly although
     the watcher's request is being held;
  4. a server that answers 503 once after answering: one warning, a retry,
     and the notice still stops an SGD run without --checkpoint-dir (143);
  5. GCE_METADATA_HOST at a closed port: one warning, exit 0, the same model."""
import glob
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from common import BIN, MPIRUN, check, finish, mpi_env, workdir

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tracking"))
from track_common import long_data  # noqa: E402

EXIT_CHECKPOINTED = 75
PATH = "/computeMetadata/v1/instance/preempted"
NOTICE = "preemption notice from the metadata server: checkpointing"
d = workdir()
DATA = os.path.join(d, "data.svm")
long_data(DATA)
RUNS = os.path.join(d, "runs")
OPTS = ["--optimizer", "lbfgs", "--tol", "1e-12", "--l2", "1e-5", "--max-iter", "1000"]  # 251 iters
SGD = ["--optimizer", "sgd", "--batch-size", "8", "--epochs", "1000", "--l2", "1e-5"]  # stopped long before


class FakeMetadata:
    """instance/preempted of one VM: value and ETag change together."""

    def __init__(self):
        self.cond = threading.Condition()
        self.version, self.value = 1, "FALSE"
        self.requests = []  # (Metadata-Flavor header, query dict), in order
        self.etags = set()  # every ETag given out
        self.fail_next = 0  # answer this many requests with 503
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                u = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(u.query).items()}
                flavor = self.headers.get("Metadata-Flavor")
                with outer.cond:
                    outer.requests.append((flavor, q))
                    outer.cond.notify_all()
                with outer.cond:
                    fail = outer.fail_next > 0
                    outer.fail_next -= fail
                if fail:
                    return self.answer(503, "unavailable", None)
                if u.path != PATH:
                    return self.answer(404, "not found", None)
                if flavor != "Google":
                    return self.answer(403, "missing Metadata-Flavor", None)
                with outer.cond:
                    if q.get("wait_for_change") == "true" and q.get("last_etag") == outer.etag():
                        seen = outer.version
                        outer.cond.wait_for(lambda: outer.version != seen,
                                            float(q.get("timeout_sec", "300")))
                    body, etag = outer.value, outer.etag()
                    outer.etags.add(etag)
                self.answer(200, body, etag)

            def answer(self, code, body, etag):
                data = body.encode()
                self.send_response(code)
                self.send_header("Metadata-Flavor", "Google")
                self.send_header("Content-Type", "application/text")
                self.send_header("Content-Length", str(len(data)))
                if etag:
                    self.send_header("ETag", etag)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def etag(self):
        return f"{self.version * 7919:016x}"

    def set(self, value):
        with self.cond:
            self.version += 1
            self.value = value
            self.cond.notify_all()

    def held(self, n=1, timeout=20):
        """Waits until n requests for the current ETag (held unless failed) have arrived."""
        with self.cond:
            return self.cond.wait_for(
                lambda: sum(q.get("last_etag") == self.etag() for _, q in self.requests) >= n,
                timeout)

    def close(self):
        self.set("FALSE")  # releases held requests
        self.httpd.shutdown()
        self.httpd.server_close()


def ended(p, log, hung):
    """Waits for the job (killed, with a failed check saying hung, after 60 s);
    its whole output."""
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        check(False, hung)
    log.seek(0)
    return log.read()


def cmd(model, extra=(), opts=OPTS):
    return [MPIRUN, "--oversubscribe", "-np", "2", BIN, "train", "--data", DATA, "--model-out",
            model, "--tracking-dir", RUNS] + opts + list(extra)


def same_bytes(a, b):
    with open(a, "rb") as f, open(b, "rb") as g:
        return f.read() == g.read()


def warnings(text):
    return [l for l in text.splitlines() if "warning" in l]


full = os.path.join(d, "full.json")
r = subprocess.run(cmd(full), capture_output=True, text=True, env=mpi_env(), timeout=120)
check(r.returncode == 0, f"uninterrupted run failed: {r.stderr[-2000:]}")

srv = FakeMetadata()
try:
    cdir = os.path.join(d, "ckpt")
    model = os.path.join(d, "resumed.json")
    watched = cmd(model, ["--watch-preemption", "--checkpoint-dir", cdir])
    env = mpi_env({"GCE_METADATA_HOST": srv.host})
    log = open(os.path.join(d, "stop.log"), "w+")
    p = subprocess.Popen(watched, stdout=log, stderr=subprocess.STDOUT, env=env)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60 and p.poll() is None:
        log.seek(0)
        if "iter      5 " in log.read():
            break
        time.sleep(0.005)
    check(p.poll() is None, "the watched run ended before iteration 5")
    check(srv.held(), "the watcher never made a request that the server holds")
    srv.set("TRUE")
    out = ended(p, log, "after the notice the job hung")
    check(p.returncode == EXIT_CHECKPOINTED,
          f"notice: exit {p.returncode}, want {EXIT_CHECKPOINTED}\n{out[-2000:]}")
    check(out.count(NOTICE) == 1, f"notice: {out.count(NOTICE)} notice lines, want 1")
    check("stopped by a preemption notice after" in out, "notice: no 'stopped by' line")
    check(not warnings(out), f"notice: warnings {warnings(out)}")
    check(not os.path.exists(model), "notice: a model file was written")
    all_ = sorted(glob.glob(os.path.join(cdir, "ckpt-*")))
    files = sorted(os.path.basename(f) for f in glob.glob(os.path.join(cdir, "ckpt-*", "*")))
    check(len(all_) == 1 and files == ["manifest.json", "rank-00000.bin", "rank-00001.bin"],
          f"notice: the checkpoint directory holds {all_}: {files}")
    journals = glob.glob(os.path.join(RUNS, "*", "journal.jsonl"))
    text = "".join(open(j).read() for j in journals)
    check("shardlearn.preempted" in text and "a preemption notice after iteration" in text,
          "notice: no shardlearn.preempted tag in the run's journal")
    with srv.cond:
        reqs = list(srv.requests)
    check(reqs and all(f == "Google" for f, _ in reqs),
          f"requests without Metadata-Flavor: Google: {[f for f, _ in reqs]}")
    check(all(q.get("wait_for_change") == "true" and q.get("timeout_sec") for _, q in reqs),
          f"requests without wait_for_change=true&timeout_sec: {[q for _, q in reqs]}")
    check(any(q.get("last_etag") in srv.etags for _, q in reqs),
          f"no request named an ETag the server gave: {[q for _, q in reqs]}")

    # A new VM: the value is FALSE again; the same command continues.
    srv.set("FALSE")
    t0 = time.monotonic()
    r = subprocess.run(watched, capture_output=True, text=True, env=env, timeout=120)
    took = time.monotonic() - t0
    check(r.returncode == 0, f"rerun: exit {r.returncode}: {r.stderr[-2000:]}")
    check("resuming from" in r.stdout, f"rerun did not resume:\n{r.stdout[-1500:]}")
    check(os.path.exists(model) and same_bytes(model, full),
          "rerun: the model differs from the uninterrupted run's")
    check(NOTICE not in r.stdout and not warnings(r.stderr), f"rerun: {warnings(r.stderr)}")
    print(f"rerun with a held metadata request: {took:.1f}s", flush=True)

    # A server that fails once after answering: one warning, a retry after
    # 1 s, and the notice still stops the run (SGD, no --checkpoint-dir: exit
    # 143 as for SIGTERM, nothing written).
    srv.set("FALSE")
    model = os.path.join(d, "retry.json")
    log = open(os.path.join(d, "retry.log"), "w+")
    p = subprocess.Popen(cmd(model, ["--watch-preemption"], SGD), stdout=log,
                         stderr=subprocess.STDOUT, env=env)
    check(srv.held(), "retry: the watcher never made a request that the server holds")
    with srv.cond:
        srv.fail_next = 1
    srv.set("FALSE")  # answers the held request; the next one fails
    check(srv.held(n=2), "retry: no request after the failed one")
    srv.set("TRUE")
    out = ended(p, log, "retry: after the notice the job hung")
    w = warnings(out)
    check(p.returncode == 143 and not os.path.exists(model),
          f"retry: exit {p.returncode}, want 143 and no model\n{out[-2000:]}")
    check(len(w) == 1 and "HTTP 503; retrying" in w[0], f"retry: warnings {w}")
    check(out.count(NOTICE) == 1, f"retry: {out.count(NOTICE)} notice lines, want 1")
finally:
    srv.close()

# Not on GCE: nothing listens at the metadata host.
s = socket.socket()
s.bind(("127.0.0.1", 0))
closed = f"127.0.0.1:{s.getsockname()[1]}"
s.close()
model = os.path.join(d, "nogce.json")
r = subprocess.run(cmd(model, ["--watch-preemption"]), capture_output=True, text=True,
                   env=mpi_env({"GCE_METADATA_HOST": closed}), timeout=120)
w = warnings(r.stderr)
check(r.returncode == 0 and os.path.exists(model) and same_bytes(model, full),
      f"no server: exit {r.returncode}, not the uninterrupted model: {r.stderr}")
check(len(w) == 1 and f"no metadata server at {closed}" in w[0], f"no server: warnings {w}")
finish()
