"""The benchmark's serving measurements (README: Serving predictions), side by
side in one run on one model of the benchmark's 2^20 features:

  the model: `shardlearn train` (newton, 3 iterations, --n-features 2^20) on
  the first SERVE_ROWS rows of the benchmark's data; the same coefficients
  as a scikit-learn LogisticRegression (coef_, intercept_, classes_ set from
  model.json), saved with mlflow.sklearn (pyfunc_predict_fn="predict_proba")
  and, wrapped in a pyfunc that takes CSR arrays (mlflow_sparse_model.py),
  with mlflow.pyfunc;

  the servers, one at a time on the same cores: `shardlearn serve` and
  `mlflow models serve --env-manager local` for each MLflow model;

  the load: wrk (post_body.lua: the same body every request) at each
  concurrency in CONCURRENCY with 1- and 100-row requests of the data's first
  rows, after one discarded second of warm-up; requests/s, p50 and p99;

  the answers: each server's predictions for those rows against
  scikit-learn's predict_proba computed here (to MAX_DIFF);

  offline: `shardlearn predict --proba` on the SERVE_ROWS-row file (the
  whole process, on 1 and 2 ranks) against scikit-learn's predict_proba on
  the same rows already in memory as CSR (and its load_svmlight_file).

Called by run_bench.py as measure_serve(bench, args)."""
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CONCURRENCY = (1, 16, 64)
BATCHES = (1, 100)
SERVE_ROWS = 100_000       # rows of the model's training slice and of the offline comparison
MAX_DIFF = 1e-12           # predictions against scikit-learn's predict_proba
BODY_BUDGET = 1 << 30      # request bytes in flight at once (concurrency x body) a cell may need
TARGET_CONC = 16
SERVERS = ("shardlearn", "mlflow-sklearn", "mlflow-sparse")
LABEL = {"shardlearn": "`shardlearn serve`",
         "mlflow-sklearn": "`mlflow models serve`, mlflow.sklearn",
         "mlflow-sparse": "`mlflow models serve`, pyfunc on CSR"}
FORM = {"shardlearn": "sparse objects",
        "mlflow-sklearn": "dense `inputs`",
        "mlflow-sparse": "`inputs` as CSR arrays"}


def log(msg):
    print(msg, flush=True)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Bodies and answers


def body(server, X, rows):
    """The JSON request for rows [0, rows) of CSR X in the server's form."""
    if server == "shardlearn":
        inst = []
        for i in range(rows):
            lo, hi = X.indptr[i], X.indptr[i + 1]
            inst.append({"indices": X.indices[lo:hi].tolist(), "values": X.data[lo:hi].tolist()})
        return json.dumps({"instances": inst}, separators=(",", ":")).encode()
    if server == "mlflow-sparse":
        sub = X[:rows]
        return json.dumps({"inputs": {"indptr": sub.indptr.tolist(), "indices": sub.indices.tolist(),
                                      "values": sub.data.tolist()}}, separators=(",", ":")).encode()
    # mlflow.sklearn takes dense rows only: a zero is "0", the nonzeros as Python prints them.
    out = []
    for i in range(rows):
        cells = ["0"] * X.shape[1]
        for j, v in zip(X.indices[X.indptr[i]:X.indptr[i + 1]], X.data[X.indptr[i]:X.indptr[i + 1]]):
            cells[j] = repr(float(v))
        out.append("[" + ",".join(cells) + "]")
    return ('{"inputs":[' + ",".join(out) + "]}").encode()


def post(url, data, timeout):
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=timeout) as r:
        ans = json.loads(r.read())
    return ans, time.perf_counter() - t0


def positive(preds):
    """The positive class's probability from an answer's predictions
    (predict_proba's pairs for mlflow.sklearn, one number for the others)."""
    return np.array([p[1] if isinstance(p, list) else p for p in preds], dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Servers


class Server:
    """One server process in its own session, stopped (its whole process
    group) on exit even when the measurement failed."""

    def __init__(self, name, cmd, env, logpath, port=None):
        self.name, self.port = name, port
        self.log = open(logpath, "w")
        self.proc = subprocess.Popen([str(c) for c in cmd], env=env, start_new_session=True,
                                     stdout=subprocess.PIPE if port is None else self.log,
                                     stderr=self.log, text=True)
        if port is None:  # shardlearn serve --port 0: the port is on the first line
            line = self.proc.stdout.readline()
            m = re.search(r"http://[^:/]+:(\d+)", line)
            if not m:
                self.stop()
                raise RuntimeError(f"{name}: no port on its first line: {line!r}")
            self.port = int(m.group(1))
            self.log.write(line)
            self.log.flush()
            threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.log.write(line)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, seconds=180):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name}: /ping not answering after {seconds} s; see {self.log.name}")

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start(server, b, d, models):
    logpath = d / f"{server}.log"
    if server == "shardlearn":
        return Server(server, [b.bin, "serve", "--model", models["shardlearn"], "--port", "0"],
                      b.env, logpath)
    venv_bin = Path(sys.executable).parent  # mlflow runs `uvicorn` from the PATH
    env = dict(b.env, PATH=f"{venv_bin}{os.pathsep}{b.env.get('PATH', '')}")
    port = free_port()
    # MLflow's default of one uvicorn worker: with `-w 2` every request on a
    # kept-alive connection took some 40 ms more here (any client), so one
    # worker is MLflow's faster setting on this machine, not a handicap.
    # `-t 600` instead of its 60 s request timeout: 100 dense rows of 2^20
    # take tens of seconds, and a 504 would measure nothing.
    return Server(server, [venv_bin / "mlflow", "models", "serve", "-m", models[server], "--env-manager",
                           "local", "-h", "127.0.0.1", "-p", port, "-t", 600], env, logpath, port=port)


def wrk(url, body_file, conc, seconds, timeout):
    cmd = ["wrk", "-t", str(min(conc, 2)), "-c", str(conc), "-d", f"{seconds:g}s",
           "--timeout", f"{timeout:g}s", "-s", str(HERE / "post_body.lua"), url]
    env = dict(os.environ, WRK_BODY_FILE=str(body_file))
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + timeout + 60)
    line = next((l for l in p.stdout.splitlines() if l.startswith("WRKJSON ")), None)
    if p.returncode != 0 or line is None:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    r = json.loads(line[len("WRKJSON "):])
    r["errors"] = sum(r[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors",
                                     "timeouts"))
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


# --------------------------------------------------------------------------------------------
# The models


def make_models(b, d, slice_svm):
    """Train the shardlearn model and save its coefficients as the two MLflow models."""
    import mlflow.pyfunc
    import mlflow.sklearn
    import scipy
    import sklearn
    from sklearn.linear_model import LogisticRegression
    sys.path.insert(0, str(HERE))
    from common import model_weights
    from mlflow_sparse_model import SparseLogReg

    model = d / "model.json"
    b.run(b.mpirun(2) + [b.bin, "train", "--data", slice_svm, "--n-features", b.d, "--optimizer", "newton",
                         "--max-iter", "3", "--model-out", model, "--tracking-dir", d / "journal", "--quiet"])
    m = json.loads(model.read_text())
    w = model_weights(m)
    if w.size != b.d:
        raise RuntimeError(f"{model}: {w.size} weights, expected {b.d}")
    sk = LogisticRegression()
    sk.coef_ = w.reshape(1, -1)
    sk.intercept_ = np.array([float(m["intercept"])])
    sk.classes_ = np.array([-1, 1])
    sk.n_features_in_ = b.d
    reqs = [f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}", f"scipy=={scipy.__version__}"]
    sk_path, sparse_path = d / "mlflow-sklearn", d / "mlflow-sparse"
    mlflow.sklearn.save_model(sk, str(sk_path), pyfunc_predict_fn="predict_proba", pip_requirements=reqs)
    mlflow.pyfunc.save_model(str(sparse_path), python_model=SparseLogReg(),
                             artifacts={"sklearn": str(sk_path)},
                             code_paths=[str(HERE / "mlflow_sparse_model.py")], pip_requirements=reqs)
    return sk, {"shardlearn": model, "mlflow-sklearn": sk_path, "mlflow-sparse": sparse_path}, \
        {"intercept": float(m["intercept"]), "nonzero_weights": int(np.count_nonzero(w))}


# --------------------------------------------------------------------------------------------
# Offline


def offline(b, d, sk, slice_svm, X, reps=3):
    from sklearn.datasets import load_svmlight_file
    n = X.shape[0]
    want = sk.predict_proba(X)[:, 1]
    out = {"rows": n}
    for P in (1, 2):
        walls = []
        for r in range(reps):
            f = d / f"predict-{P}.txt"
            _, wall = b.run(b.mpirun(P) + [b.bin, "predict", "--model", d / "model.json", "--data", slice_svm,
                                           "--proba", "--out", f])
            walls.append(wall)
        got = np.loadtxt(f, dtype=np.float64)
        diff = float(np.max(np.abs(got - want)))
        if not diff <= MAX_DIFF:
            raise RuntimeError(f"shardlearn predict on {P} rank(s) differs from predict_proba by {diff:g}")
        out[f"shardlearn_{P}"] = {"seconds": min(walls), "all_s": walls, "rows_per_s": n / min(walls),
                                  "max_diff": diff}
    ts = []
    for r in range(reps):
        t0 = time.perf_counter()
        sk.predict_proba(X)
        ts.append(time.perf_counter() - t0)
    out["sklearn"] = {"seconds": min(ts), "all_s": ts, "rows_per_s": n / min(ts)}
    t0 = time.perf_counter()
    load_svmlight_file(str(slice_svm), n_features=b.d)
    out["sklearn_load_s"] = time.perf_counter() - t0
    return out


# --------------------------------------------------------------------------------------------
# The measurement


def write_slice(src, dst, rows):
    with open(src, "rb") as f, open(dst, "wb") as g:
        for i, line in enumerate(f):
            if i == rows:
                break
            g.write(line)


def measure_server(server, b, a, d, models, want, bodies):
    cells, checks = [], {}
    with start(server, b, d, models) as srv:
        srv.wait_ready()
        url = srv.url + "/invocations"
        for batch in BATCHES:
            bf = bodies[(server, batch)]
            data = bf.read_bytes()
            ans, t_one = post(url, data, timeout=600)
            got = positive(ans["predictions"])
            diff = float(np.max(np.abs(got - want[:batch]))) if got.size == batch else float("inf")
            checks[str(batch)] = {"max_diff": diff, "seconds": t_one}
            if not diff <= MAX_DIFF:
                raise RuntimeError(f"{server}: {batch} rows' predictions differ from predict_proba by {diff:g}")
            t = t_one
            if t_one < 1:  # warm-up, discarded; its mean is the time of one request alone
                t = wrk(url, bf, 1, 1, 10)["mean_us"] / 1e6
            for conc in CONCURRENCY:
                # Where conc requests queue for seconds, the window holds some five rounds
                # of them, up to a minute unless three rounds need longer; the timeout is
                # well above a round. (wrk takes whole seconds.)
                seconds = math.ceil(max(a.serve_seconds, min(5 * t * conc, max(60, 3 * t * conc))))
                timeout = math.ceil(max(10.0, 4 * t * conc))
                cell = {"server": server, "batch": batch, "concurrency": conc, "body_bytes": len(data),
                        "window_s": seconds}
                if conc * len(data) > BODY_BUDGET:
                    cell["skipped"] = (f"{conc} × {len(data) / 1e6:.0f} MB bodies in flight exceed "
                                       f"{BODY_BUDGET / 2**30:g} GiB")
                    # What can be said without running it: a request takes at least
                    # its time alone, and the server runs at most one request per
                    # core at a time (MLflow: one per uvicorn worker).
                    cell["bound"] = {"one_s": t, "p99_us_min": t * 1e6, "rps_max": b.cores / t}
                    log(f"  {server}, {batch} rows, concurrency {conc}: not run ({cell['skipped']})")
                else:
                    cell.update(wrk(url, bf, conc, seconds, timeout))
                    log(f"  {server}, {batch} rows, concurrency {conc}: {cell['rps']:.1f} requests/s, "
                        f"p50 {cell['p50_us'] / 1e3:.2f} ms, p99 {cell['p99_us'] / 1e3:.2f} ms, "
                        f"{cell['errors']} errors")
                cells.append(cell)
    return cells, checks


def measure_serve(b, a):
    d = b.runs / "serve"
    d.mkdir(parents=True, exist_ok=True)
    n = min(SERVE_ROWS, b.X.shape[0])
    slice_svm = d / "slice.svm"
    write_slice(b.svm, slice_svm, n)
    X = b.X[:n]
    log(f"serving: a model of {b.d} features from the first {n} rows (newton, 3 iterations)")
    sk, models, info = make_models(b, d, slice_svm)
    want = sk.predict_proba(X[:max(BATCHES)])[:, 1]
    bodies = {}
    for server in SERVERS:
        for batch in BATCHES:
            f = d / f"body-{server}-{batch}.json"
            f.write_bytes(body(server, X, batch))
            bodies[(server, batch)] = f
    log("  offline: shardlearn predict against scikit-learn's predict_proba")
    off = offline(b, d, sk, slice_svm, X)
    cells, checks = [], {}
    for server in SERVERS:
        c, k = measure_server(server, b, a, d, models, want, bodies)
        cells += c
        checks[server] = k
    return {"rows": n, "features": b.d, "model": info, "threads": b.cores, "seconds": a.serve_seconds,
            "cells": cells, "checks": checks, "offline": off,
            "body_bytes": {f"{s}/{k}": f.stat().st_size for (s, k), f in bodies.items()}}


# --------------------------------------------------------------------------------------------
# Output


def _cell(sv, server, batch, conc):
    return next((c for c in sv["cells"] if c["server"] == server and c["batch"] == batch
                 and c["concurrency"] == conc), None)


def render(sv):
    """The serving block of bench.md: a paragraph, the table, the offline paragraph."""
    L = []
    sizes = "; ".join(f"{LABEL[s]} ({FORM[s]}): " + ", ".join(
        f"{_fmt_bytes(sv['body_bytes'][f'{s}/{k}'])} for {k} row{'s' if k > 1 else ''}" for k in BATCHES)
        for s in SERVERS)
    worst = max(max(v["max_diff"] for v in c.values()) for c in sv["checks"].values())
    L.append(f"Serving (a model of {sv['features']:,} features; `shardlearn serve` with its default "
             f"{sv['threads']} request threads, `mlflow models serve` with its default one worker; wrk "
             f"POSTing the same body to `/invocations` over kept-alive connections for {sv['seconds']:g} s a cell, "
             f"or five times concurrency × one request's time where that is longer (at most 60 s, or three "
             f"rounds where those take longer), "
             f"after a discarded second): the rows are the data's first; request bodies: {sizes}. Every server's "
             f"predictions for those rows equal scikit-learn's `predict_proba` to {worst:.1e} (at most).")
    L.append("")
    L.append("| server | rows / request | concurrency | requests / s | rows / s | p50 (ms) | p99 (ms) | "
             "errors | requests (window) |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for c in sv["cells"]:
        head = f"| {LABEL[c['server']]} | {c['batch']} | {c['concurrency']} |"
        if "skipped" in c and "bound" in c:
            bd = c["bound"]
            L.append(f"{head} not run: {c['skipped']}; bounds from one request alone ({bd['one_s']:.1f} s) "
                     f"and {sv['threads']} cores: ≤ {_num(bd['rps_max'])} | ≤ {_num(bd['rps_max'] * c['batch'])} | "
                     f"≥ {bd['p99_us_min'] / 1e3:.0f} | ≥ {bd['p99_us_min'] / 1e3:.0f} | | |")
        elif "skipped" in c:
            L.append(f"{head} not run: {c['skipped']} | | | | | |")
        else:
            L.append(f"{head} {_num(c['rps'])} | {_num(c['rps'] * c['batch'])} | {c['p50_us'] / 1e3:.3f} | "
                     f"{c['p99_us'] / 1e3:.3f} | {c['errors']} | {c['requests']:,} ({c['window_s']:.0f} s) |")
    o = sv["offline"]
    s1, s2, skp = o["shardlearn_1"], o["shardlearn_2"], o["sklearn"]
    L.append("")
    L.append(f"Offline, {o['rows']:,} rows: `shardlearn predict --proba` (whole process, parsing the "
             f"file included) {s1['seconds']:.2f} s on 1 rank ({s1['rows_per_s']:,.0f} rows/s) and "
             f"{s2['seconds']:.2f} s on 2 ({s2['rows_per_s']:,.0f} rows/s); scikit-learn's `predict_proba` "
             f"on the same rows already in memory as CSR {skp['seconds']:.3f} s ({skp['rows_per_s']:,.0f} "
             f"rows/s), after {o['sklearn_load_s']:.2f} s of `load_svmlight_file`. The probabilities agree "
             f"to {max(s1['max_diff'], s2['max_diff']):.1e}.")
    return "\n".join(L)


def _num(x):
    """A rate with three significant digits below 100, whole numbers above."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _fmt_bytes(n):
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def targets(sv):
    """The issue's serving targets at concurrency 16, as rows of the targets table:
    against mlflow.sklearn (the issue's server) and the sparse pyfunc."""
    served = max(max(v["max_diff"] for v in c.values()) for c in sv["checks"].values())
    o = sv["offline"]
    offline = max(o["shardlearn_1"]["max_diff"], o["shardlearn_2"]["max_diff"])
    out = [{"target": f"serving: predictions equal scikit-learn's predict_proba to {MAX_DIFF:g} "
                      f"(every server's answers; shardlearn predict)",
            "value": f"{served:.1e}; {offline:.1e}", "met": max(served, offline) <= MAX_DIFF}]
    for other in ("mlflow-sklearn", "mlflow-sparse"):
        for batch in BATCHES:
            s, m = _cell(sv, "shardlearn", batch, TARGET_CONC), _cell(sv, other, batch, TARGET_CONC)
            what = f"{batch} row{'s' if batch > 1 else ''} a request, against {LABEL[other]}"
            if s and m and "skipped" not in s and "bound" in m:
                bd = m["bound"]
                p, r = bd["p99_us_min"] / s["p99_us"], s["rps"] / bd["rps_max"]
                note = (f"not run ({m['skipped']}); MLflow's bounds from one request alone, "
                        f"{bd['one_s']:.1f} s, and {sv['threads']} cores")
                out.append({"target": f"serving at concurrency {TARGET_CONC}: p99 <= 1/20 of MLflow's ({what})",
                            "value": f"≤ 1/{p:,.0f} ({s['p99_us'] / 1e3:.2f} ms against ≥ "
                                     f"{bd['p99_us_min'] / 1e3:,.0f} ms; {note})",
                            "met": p >= 20 and s["errors"] == 0})
                out.append({"target": f"serving at concurrency {TARGET_CONC}: requests/s >= 20x MLflow's ({what})",
                            "value": f"≥ {_num(r)}x ({s['rps']:,.0f} against ≤ {bd['rps_max']:.3g}; {note})",
                            "met": r >= 20 and s["errors"] == 0})
                continue
            if not s or not m or "skipped" in s or "skipped" in m:
                out.append({"target": f"serving at concurrency {TARGET_CONC}: p99 <= 1/20 and requests/s >= 20x ({what})",
                            "value": "not measured: " + ((m or {}).get("skipped") or "no cell"), "met": None})
                continue
            p, r = m["p99_us"] / s["p99_us"], s["rps"] / m["rps"]
            out.append({"target": f"serving at concurrency {TARGET_CONC}: p99 <= 1/20 of MLflow's ({what})",
                        "value": f"1/{p:,.0f} ({s['p99_us'] / 1e3:.2f} ms against {m['p99_us'] / 1e3:.1f} ms)",
                        "met": p >= 20 and s["errors"] == 0})
            out.append({"target": f"serving at concurrency {TARGET_CONC}: requests/s >= 20x MLflow's ({what})",
                        "value": f"{_num(r)}x ({s['rps']:,.0f} against {m['rps']:,.1f})",
                        "met": r >= 20 and s["errors"] == 0})
    return out
