"""Faults between a run and a real MLflow server. Each case ends with the
server holding exactly the run's history - nothing lost, nothing twice -
and training is never stopped by the tracker:
  1. server down for the whole run, then mlflow-sync (twice: the second is a no-op);
     a server that never answers does not hold the run past its flush timeout;
  2. server killed mid-run and restarted on the same port and database;
  3. a proxy answering 500/503 and holding requests past the client's timeout;
  4. a 401 from an auth-checking proxy: one clear error, training completes,
     the journal is kept, no credential printed; Basic auth that is right goes through;
  5. SIGTERM mid-run: status KILLED, no model file."""
import json
import os
import signal
import socket
import time

from fault_proxy import FaultProxy
from mlflow_server import MlflowServer, free_port
from track_common import (Watched, check, check_run_matches, finish, long_data, run_dir, state, sync,
                          train, uuid_of, workdir)

d = workdir()
data = os.path.join(d, "long.svm")
long_data(data)
SGD = ["--data", data, "--optimizer", "sgd", "--batch-size", "64", "--lr", "0.5", "--quiet"]
# Runs the tests act on mid-way print their epochs (no --quiet).
LOUD = SGD[:-1]


T0 = time.time()


def lap(what):
    print(f"{what}: done at {time.time() - T0:.1f}s", flush=True)


def outputs(tag):
    return os.path.join(d, f"{tag}-model.json"), os.path.join(d, f"{tag}-metrics.json")


with MlflowServer() as srv:
    # 1. Down for the whole run (nothing listens on the port yet), then delivered later.
    # 200 epochs leave well over MLflow's 1000 metrics per request in the journal, so
    # mlflow-sync must split them into batches the server accepts.
    dead = f"http://127.0.0.1:{free_port()}"
    td = os.path.join(d, "down")
    model, metrics = outputs("down")
    p = train(2, SGD + ["--epochs", "200", "--tracking-uri", dead, "--tracking-dir", td,
                        "--tracking-flush-timeout", "1", "--model-out", model, "--metrics-out", metrics])
    check(p.returncode == 0 and os.path.exists(model), f"server down: training failed {p.stderr}")
    check("mlflow-sync" in p.stderr and p.stderr.count("\n") <= 2, f"server down: message {p.stderr!r}")
    rd = run_dir(td)
    with open(os.path.join(rd, "journal.jsonl")) as f:
        n_metric = sum(1 for line in f if json.loads(line)["type"] == "metric")
    check(n_metric > 1000, f"server down: only {n_metric} metric records, the batch split is not exercised")
    for attempt in range(2):
        s = sync(rd, srv.url)
        check(s.returncode == 0, f"mlflow-sync #{attempt + 1}: {s.stderr}")
    runs = srv.runs_with_uuid(uuid_of(rd))
    check(len(runs) == 1, f"server down: {len(runs)} runs after two syncs")
    run = check_run_matches(srv, state(rd)["run_id"], metrics, "server down then synced", n_steps=200)
    check(run["info"]["status"] == "FINISHED", f"server down: status {run['info']['status']}")
    with open(model, "rb") as f:
        check(srv.artifact(run, "model/model.json") == f.read(), "server down: model artifact")

    # 1b. A server that takes connections and never answers, with MLflow's default
    # 120 s request timeout: the run still ends about flush-timeout after training.
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)
    td = os.path.join(d, "hole")
    t = time.time()
    p = train(2, SGD + ["--epochs", "4", "--tracking-uri", f"http://127.0.0.1:{hole.getsockname()[1]}",
                        "--tracking-dir", td, "--tracking-flush-timeout", "2"])
    took = time.time() - t
    hole.close()
    check(p.returncode == 0 and took < 60, f"silent server: exit {p.returncode} after {took:.0f}s {p.stderr}")
    check(len(p.stderr.splitlines()) == 1 and "mlflow-sync" in p.stderr, f"silent server: message {p.stderr!r}")
    s = sync(run_dir(td), srv.url)
    check(s.returncode == 0 and state(run_dir(td)).get("finished_sent"), f"silent server: sync {s.stderr}")

    lap("1 server down")

    # 2. Killed mid-run (a request may be in flight), restarted on the same port
    # and database; training goes on throughout.
    td = os.path.join(d, "killed")
    model, metrics = outputs("killed")
    epochs = 200
    run = Watched(2, LOUD + ["--epochs", epochs, "--tracking-uri", srv.url, "--tracking-dir", td,
                             "--tracking-flush-timeout", "120", "--model-out", model, "--metrics-out", metrics],
                  env={"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0.25"})  # retry soon after the restart
    check(run.wait_epochs(10), "server killed: no progress before the kill")
    at_kill = run.epochs_done()
    srv.kill()
    check(run.wait_epochs(min(at_kill + 20, epochs)), "server killed: training stalled while the server was down")
    srv.start()
    code, err = run.wait()
    check(code == 0, f"server killed: training failed {err}")
    rd = run_dir(td)
    check(len(srv.runs_with_uuid(uuid_of(rd))) == 1, "server killed: not exactly one run")
    got = check_run_matches(srv, state(rd)["run_id"], metrics, "server killed mid-run", n_steps=epochs)
    check(got["info"]["status"] == "FINISHED", f"server killed: status {got['info']['status']}")

    lap("2 server killed")

    # 3. 500/503 answers and requests held past the client's timeout (then applied).
    with FaultProxy(srv.url, fail_rate=0.25, delay_rate=0.15, delay=2.5, seed=7) as px:
        td = os.path.join(d, "flaky")
        model, metrics = outputs("flaky")
        env = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0.1"}
        p = train(2, SGD + ["--epochs", "20", "--tracking-uri", px.url, "--tracking-dir", td,
                            "--tracking-flush-timeout", "120", "--model-out", model,
                            "--metrics-out", metrics], env=env, timeout=600)
        check(p.returncode == 0, f"flaky: training failed {p.stderr}")
        rd = run_dir(td)
        if not state(rd).get("finished_sent"):
            s = sync(rd, px.url, env=env)
            check(s.returncode == 0, f"flaky: sync {s.stderr}")
        kinds = {f for (_, _, _, f) in px.log}
        held_writes = [x for x in px.log if x[3] == "hold" and x[2].endswith(("log-batch", "runs/create"))]
        check(kinds >= {"fail", "hold"} and held_writes, f"flaky: faults not exercised: {px.log}")
        check(len(srv.runs_with_uuid(uuid_of(rd))) == 1, f"flaky: not exactly one run; requests {px.log}")
        got = check_run_matches(srv, state(rd)["run_id"], metrics, "flaky proxy", n_steps=20)
        check(got["info"]["status"] == "FINISHED", f"flaky: status {got['info']['status']}; requests {px.log}")
        with open(model, "rb") as f:
            check(srv.artifact(got, "model/model.json") == f.read(), "flaky: model artifact")

    lap("3 flaky proxy")

    # 4. Wrong credentials: one clear error, training completes, journal kept, secrets unprinted.
    with FaultProxy(srv.url, require_auth="Bearer right-token-123") as px:
        td = os.path.join(d, "auth")
        model, metrics = outputs("auth")
        p = train(2, SGD + ["--epochs", "2", "--tracking-uri", px.url, "--tracking-dir", td,
                            "--model-out", model, "--metrics-out", metrics],
                  env={"MLFLOW_TRACKING_TOKEN": "wrong-token-456"})
        errs = [l for l in p.stderr.splitlines() if "401" in l]
        check(p.returncode == 0 and os.path.exists(model), f"auth: training did not complete {p.stderr}")
        check(len(errs) == 1, f"auth: want one 401 line, got {p.stderr!r}")
        rd = run_dir(td)
        journal = open(os.path.join(rd, "journal.jsonl")).read()
        for secret in ("wrong-token-456", "right-token-123"):
            check(secret not in p.stderr + p.stdout + journal, f"auth: {secret} leaked")
        s = sync(rd, px.url, env={"MLFLOW_TRACKING_TOKEN": "right-token-123"})
        check(s.returncode == 0, f"auth: sync with the right token {s.stderr}")
        check_run_matches(srv, state(rd)["run_id"], metrics, "after 401, synced", n_steps=2)
    basic = "Basic " + __import__("base64").b64encode(b"ann:pa55word").decode()
    with FaultProxy(srv.url, require_auth=basic) as px:
        td = os.path.join(d, "basic")
        model, metrics = outputs("basic")
        p = train(1, SGD + ["--epochs", "2", "--tracking-uri", px.url, "--tracking-dir", td,
                            "--metrics-out", metrics],
                  env={"MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_PASSWORD": "pa55word"})
        rd = run_dir(td)
        check(p.returncode == 0 and state(rd).get("finished_sent"), f"basic auth: {p.stderr}")
        check("pa55word" not in p.stderr + open(os.path.join(rd, "journal.jsonl")).read(), "basic: password leaked")

    lap("4 auth")

    # 5. SIGTERM mid-run: KILLED, with an end time; no model file.
    td = os.path.join(d, "term")
    model, metrics = outputs("term")
    run = Watched(2, LOUD + ["--epochs", "100000", "--tracking-uri", srv.url, "--tracking-dir", td,
                             "--model-out", model, "--metrics-out", metrics])
    check(run.wait_epochs(5), "SIGTERM: no progress")
    run.proc.send_signal(signal.SIGTERM)
    code, err = run.wait(timeout=120)
    check(code != 0, "SIGTERM: exit status 0")
    check(not os.path.exists(model) and not os.path.exists(metrics), "SIGTERM: output files written")
    rd = run_dir(td)
    st = state(rd)
    if not st.get("finished_sent"):
        s = sync(rd, srv.url)
        check(s.returncode == 0, f"SIGTERM: sync {s.stderr}")
        st = state(rd)
    got = srv.run(st["run_id"])
    check(got["info"]["status"] == "KILLED" and int(got["info"].get("end_time", 0)) > 0,
          f"SIGTERM: status {got['info']['status']}")
    steps = [p["step"] for p in srv.history(st["run_id"], "objective")]
    check(len(steps) == len(set(steps)) and len(steps) >= 5, f"SIGTERM: objective steps {steps}")
lap("5 SIGTERM")
finish()
