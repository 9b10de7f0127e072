"""Damaged tracking files and a server that answers nonsense, against a real
MLflow server. Each case ends with the server holding exactly the run's
history - nothing lost that the journal holds whole, nothing twice:
  1. a delivered run whose state.json is garbled, truncated, or points past
     or inside the journal: mlflow-sync says so in one warning and delivers
     again from the journal's start;
  2. a journal with a damaged line and a torn last line: the damaged record
     is reported and skipped, everything else is delivered;
  3. a run killed with kill -9: its journal has no finish record, and
     mlflow-sync delivers it as FAILED (once, however often it runs);
  4. a proxy answering a fifth of the requests 200 with an HTML page, and the first two
     with 300 MB: no crash, nothing twice, everything delivered."""
import json
import os
import signal
import subprocess
import time

from fault_proxy import FaultProxy
from mlflow_server import MlflowServer
from track_common import (BIN, MPIRUN, check, check_run_matches, children, finish, long_data, mpi_env,
                          run_dir, sync, train, uuid_of, workdir)

d = workdir()
data = os.path.join(d, "long.svm")
long_data(data, n=20000)
SGD = ["--data", data, "--optimizer", "sgd", "--batch-size", "64", "--lr", "0.5", "--quiet"]


def journal_only(tag, epochs=6):
    """A finished run's directory, journal only (no server), and its metrics.json."""
    td, metrics = os.path.join(d, tag), os.path.join(d, f"{tag}-metrics.json")
    p = train(2, SGD + ["--epochs", str(epochs), "--tracking-dir", td, "--metrics-out", metrics])
    check(p.returncode == 0, f"{tag}: training failed {p.stderr}")
    return run_dir(td), metrics


def warnings(stderr):
    return [l for l in stderr.splitlines() if "warning" in l]


def one_run(srv, rd, what):
    runs = srv.runs_with_uuid(uuid_of(rd))
    check(len(runs) == 1, f"{what}: {len(runs)} runs on the server")
    return runs[0]["info"]["run_id"] if runs else None


with MlflowServer() as srv:
    # 1. state.json damaged after the run was delivered.
    rd, metrics = journal_only("state")
    s = sync(rd, srv.url)
    check(s.returncode == 0, f"first sync: {s.stderr}")
    with open(os.path.join(rd, "journal.jsonl"), "rb") as f:
        size = len(f.read())
    with open(os.path.join(rd, "state.json")) as f:
        good = f.read()
    for damage, text in (("garbled", "{this is not json"), ("truncated", good[:25]),
                         ("past the journal", json.dumps({"acked": size + 1000})),
                         ("inside a line", json.dumps({"acked": 17})),
                         ("an endless wait", json.dumps(dict(json.loads(good),
                                                             unsettled_until_ms=9e15)))):
        with open(os.path.join(rd, "state.json"), "w") as f:
            f.write(text)
        s = sync(rd, srv.url)
        w = warnings(s.stderr)
        print(f"state.json {damage}: exit {s.returncode}, {w}", flush=True)
        check(s.returncode == 0, f"state.json {damage}: {s.stderr}")
        check(len(w) == 1 and "state.json is damaged" in w[0], f"state.json {damage}: {w}")
        run_id = one_run(srv, rd, f"state.json {damage}")
        if run_id:
            check_run_matches(srv, run_id, metrics, f"state.json {damage}")
            check(srv.run(run_id)["info"]["status"] == "FINISHED", f"state.json {damage}: status")

    # 2. A damaged line in the middle of the journal and a torn last line.
    rd, metrics = journal_only("torn")
    path = os.path.join(rd, "journal.jsonl")
    with open(path) as f:
        lines = f.read().split("\n")[:-1]
    bad = next(i for i, l in enumerate(lines) if json.loads(l)["type"] == "metric"
               and json.loads(l)["key"] == "objective" and json.loads(l)["step"] == 3)
    lines[bad] = "\x00\x01 not a record {{{"
    with open(path, "w") as f:
        f.write("\n".join(lines) + '\n{"type":"metric","key":"obj')
    s = sync(rd, srv.url)
    w = warnings(s.stderr)
    print(f"damaged journal: exit {s.returncode}, {w}", flush=True)
    check(s.returncode == 0, f"damaged journal: {s.stderr}")
    check(len(w) == 1 and "not a record" in w[0], f"damaged journal: warnings {w}")
    run_id = one_run(srv, rd, "damaged journal")
    if run_id:
        steps = sorted(p["step"] for p in srv.history(run_id, "objective"))
        with open(metrics) as f:
            want = [h["step"] for h in json.load(f)["history"] if h["step"] != 3]
        check(steps == want, f"damaged journal: objective steps {steps}, want {want}")
        check(len(srv.history(run_id, "grad_norm")) == len(want) + 1, "damaged journal: grad_norm")

    # 3. kill -9 of rank 0 (the tracker's) mid-run.
    td = os.path.join(d, "killed")
    cmd = [MPIRUN, "--oversubscribe", "-np", "2", BIN, "train"] + SGD[:-1] + [
        "--epochs", "100000", "--tracking-dir", td]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=mpi_env())
    seen = 0
    while seen < 3:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line.startswith("epoch")
    ranks = children(proc.pid)
    check(len(ranks) == 2, f"killed: rank processes {ranks}")
    if ranks:
        os.kill(ranks[0], signal.SIGKILL)
    proc.communicate(timeout=60)
    rd = run_dir(td)
    for attempt in range(2):
        s = sync(rd, srv.url)
        print(f"killed run, sync #{attempt + 1}: exit {s.returncode}, {warnings(s.stderr)}", flush=True)
        check(s.returncode == 0, f"killed run, sync #{attempt + 1}: {s.stderr}")
        check(("FAILED" in s.stderr) == (attempt == 0), f"killed run, sync #{attempt + 1}: {s.stderr}")
    run_id = one_run(srv, rd, "killed run")
    if run_id:
        run = srv.run(run_id)
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        check(run["info"]["status"] == "FAILED", f"killed run: status {run['info']['status']}")
        check("killed" in tags.get("shardlearn.error", ""), f"killed run: tags {tags}")
        # Epoch 3's line is printed before its metrics are committed: 2 are in.
        n = len(srv.history(run_id, "objective"))
        check(n >= 2, f"killed run: {n} epochs delivered")

    # 4. Answers that are not JSON, and answers far too long.
    rd, metrics = journal_only("nonsense", epochs=30)
    with FaultProxy(srv.url, garbage_rate=0.2, huge_first=2, seed=7) as proxy:
        s = sync(rd, proxy.url, env={"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0.1"})
    print(f"nonsense answers: exit {s.returncode}, {proxy.count} requests", flush=True)
    check(s.returncode == 0, f"nonsense answers: {s.stderr}")
    run_id = one_run(srv, rd, "nonsense answers")
    if run_id:
        check_run_matches(srv, run_id, metrics, "nonsense answers")
finish()
