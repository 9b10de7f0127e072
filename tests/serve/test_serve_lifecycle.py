"""shardlearn serve over its life: SIGTERM drains a request in flight and
exits 0 (and 1, cutting it off, past --drain); SIGHUP reloads a file model,
and a broken file on reload keeps the old one serving; Vertex AI's AIP_*
variables decide port, routes and interface; under mpirun -np 1 it serves,
with a second rank it refuses."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

from serve_common import BIN, MPIRUN, TEST, TRAIN, Server, check, finish, mpi_env, predict, train

tmp = tempfile.TemporaryDirectory(prefix="sl-serve-life-")
d = tmp.name
a = train(TRAIN, os.path.join(d, "a.json"), ["--l2", "1e-4"])
b = train(TRAIN, os.path.join(d, "b.json"), ["--l2", "1e-1"])
want_a, want_b = predict(a, TEST), predict(b, TEST)
check(want_a != want_b, "the two models differ")
features = [" ".join(l.split()[1:]) for l in open(TEST)][:20]
body = json.dumps({"instances": features}).encode()


def partial_request(port, sent):
    """A request whose body is only partly sent: in flight."""
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:sent])
    return c


def read_answer(c):
    """Everything up to the close (a draining server answers Connection: close)."""
    c.settimeout(20)
    data = b""
    while True:
        chunk = c.recv(65536)
        if not chunk:
            return data
        data += chunk


# SIGTERM with a request in flight: it is answered, new connections are
# refused, the server exits 0.
s = Server(["--model", a, "--drain", 20]).start()
try:
    c = partial_request(s.port, 100)
    time.sleep(0.3)
    t0 = time.time()
    s.signal(signal.SIGTERM)
    time.sleep(0.5)
    try:
        socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
        refused = False
    except OSError:
        refused = True
    check(refused, "a new connection was accepted while draining")
    check(s.proc.poll() is None, "serve exited with a request in flight")
    c.sendall(body[100:])
    ans = read_answer(c)
    c.close()
    head, _, payload = ans.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200") and json.loads(payload)["predictions"] == want_a[:20],
          f"the request in flight was not answered in full: {ans[:200]!r}")
    rc = s.wait(30)
    check(rc == 0, f"exit {rc} after draining: {s.err}")
    check(time.time() - t0 < 10, "draining took too long")
    check(any("draining" in l for l in s.out) and any("stopped" in l for l in s.out), f"drain lines {s.out}")
finally:
    s.stop()

# Past --drain, the request still running is cut off: exit 1, one line.
s = Server(["--model", a, "--drain", 1]).start()
try:
    c = partial_request(s.port, 10)
    time.sleep(0.3)
    s.signal(signal.SIGTERM)
    rc = s.wait(30)
    c.close()
    check(rc == 1 and any("1 request(s) were still running after --drain 1 s" in l for l in s.err),
          f"exit {rc} past the drain deadline: {s.err}")
finally:
    s.stop()

# SIGHUP reloads the file; a broken file leaves the old model serving.
served = os.path.join(d, "served.json")
with open(a) as f, open(served, "w") as g:
    g.write(f.read())
log = os.path.join(d, "access.log")
n_requests = 0
with Server(["--model", served, "--access-log", log]) as s:
    check(s.predictions("/predict", {"instances": features}) == want_a[:20], "model a at start")
    n_requests += 1
    # A request's line is written when MHD reports it complete, just after its
    # answer went out: rotate once it is there, as a log rotated later would be.
    deadline = time.time() + 10
    while time.time() < deadline and not open(log).read().endswith("\n"):
        time.sleep(0.02)
    with open(b) as f, open(served + ".tmp", "w") as g:
        g.write(f.read())
    os.replace(served + ".tmp", served)
    os.replace(log, log + ".1")  # as logrotate moves it; SIGHUP opens the name again
    s.signal(signal.SIGHUP)
    deadline = time.time() + 10
    got = None
    while time.time() < deadline:
        got = s.predictions("/predict", {"instances": features})
        n_requests += 1
        if got == want_b[:20]:
            break
        time.sleep(0.1)
    check(got == want_b[:20], "SIGHUP did not swap to the new file")
    with open(served, "w") as g:
        g.write('{"format": "shardlearn-model", "version": 1, "n_features": 3, "weights": [1')
    s.signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and not any("reload failed" in l for l in s.err):
        time.sleep(0.1)
    check(any("reload failed, still serving" in l and "not a JSON model file" in l for l in s.err),
          f"the failed reload was not logged: {s.err}")
    check(s.predictions("/predict", {"instances": features}) == want_b[:20], "a broken file replaced the model")
    m = s.metrics()
    check(m.get("shardlearn_model_load_failures_total") == 1 and m.get("shardlearn_model_loads_total") == 2,
          f"load counters {m.get('shardlearn_model_loads_total')} {m.get('shardlearn_model_load_failures_total')}")
    st, _, _ = s.call("GET", "/health")
    check(st == 200, "health after a failed reload")
    n_requests += 3  # the request after the broken file, /metrics, /health
old_lines = open(log + ".1").read().splitlines()
new_lines = open(log).read().splitlines() if os.path.exists(log) else []
check(len(new_lines) >= 3 and len(old_lines) >= 1 and len(old_lines) + len(new_lines) == n_requests,
      f"access log after SIGHUP: {len(old_lines)} lines in the moved file, {len(new_lines)} in the new one, "
      f"{n_requests} requests")

# Vertex AI's contract: AIP_HTTP_PORT, the routes, every interface.
with socket.socket() as x:
    x.bind(("127.0.0.1", 0))
    port = x.getsockname()[1]
pr, hr = "/v1/endpoints/123/deployedModels/456:predict", "/v1/endpoints/123/deployedModels/456"
env = {"AIP_HTTP_PORT": str(port), "AIP_PREDICT_ROUTE": pr, "AIP_HEALTH_ROUTE": hr, "AIP_MODE": "PREDICTION"}
with Server(["--model", a], env=env, port0=False) as s:
    check(s.port == port and s.host == "0.0.0.0", f"listening on {s.host}:{s.port}, want 0.0.0.0:{port}")
    listening = open("/proc/net/tcp").read().split("\n")
    check(any(f" 00000000:{port:04X} " in l and l.split()[3] == "0A" for l in listening),
          "no socket listening on 0.0.0.0 at AIP_HTTP_PORT")
    st, _, _ = s.call("GET", hr)
    check(st == 200, f"GET AIP_HEALTH_ROUTE: {st}")
    check(s.predictions(pr, {"instances": features}) == want_a[:20], "POST AIP_PREDICT_ROUTE")
    st, _, _ = s.call("POST", "/predict", {"instances": features})
    check(st == 404, f"/predict is not a route under AIP_PREDICT_ROUTE: {st}")
    check(s.predictions("/invocations", {"instances": features}) == want_a[:20], "MLflow's route stays")
p = subprocess.run([BIN, "serve", "--model", a], env=mpi_env({"AIP_HTTP_PORT": "99999"}),
                   capture_output=True, text=True, timeout=30)
check(p.returncode == 2 and "AIP_HTTP_PORT=99999 is not a port" in p.stderr, f"bad AIP_HTTP_PORT: {p.stderr}")

# mpirun: one rank serves; two is a clear error on both, no hang.
with Server(["--model", a], mpirun_np=1) as s:
    check(s.predictions("/predict", {"instances": features}) == want_a[:20], "under mpirun -np 1")
p = subprocess.run([MPIRUN, "--oversubscribe", "-np", "2", BIN, "serve", "--model", a, "--port", "0"],
                   env=mpi_env(), capture_output=True, text=True, timeout=60)
check(p.returncode == 2 and "serve runs as one process" in p.stderr, f"-np 2: {p.returncode} {p.stderr}")

# Sources that cannot load: one line, exit 1; bad options: exit 2.
for args, code, msg in [(["--model", os.path.join(d, "none.json")], 1, "none.json: No such file"),
                        (["--model", "models:/m@champion"], 1, "MLFLOW_TRACKING_URI"),
                        (["--model", a, "--refresh", "5"], 2, "--refresh follows an alias"),
                        (["--model", a, "--predict-route", "predict"], 2, "does not start with '/'"),
                        ([], 2, "serve needs --model")]:
    p = subprocess.run([BIN, "serve", "--port", "0"] + args, env=mpi_env({"MLFLOW_TRACKING_URI": ""}),
                       capture_output=True, text=True, timeout=30)
    lines = [l for l in p.stderr.splitlines() if "error:" in l]
    check(p.returncode == code and len(lines) == 1 and msg in lines[0], f"serve {args}: {p.returncode} {p.stderr!r}")
finish()
