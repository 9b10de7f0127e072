"""A run stopped with a checkpoint and resumed stays one MLflow run, on a real
`mlflow server`:
  1. SIGUSR1 to mpirun mid-run: exit 75, and the server holds the run as
     KILLED with the tag shardlearn.preempted and the iterations so far;
     the same command again continues the same run (the same journal, one
     run with its shardlearn.run_uuid on the server), FINISHED at the end,
     every per-iteration metric at steps 1..N once each with the values of
     an uninterrupted run;
  2. kill -9 of a rank after periodic checkpoints, when the journal already
     holds iterations past the last checkpoint: the rerun recomputes them
     but logs none twice; the same histories, FINISHED.
In both, the system/ metrics of the two attempts are one series, each step once."""
import glob
import json
import os
import signal
import time

from mlflow_server import MlflowServer
from track_common import (PER_ITER, Watched, check, children, finish, long_data, run_dir, state, train,
                          uuid_of, workdir)

EXIT_CHECKPOINTED = 75
d = workdir()
DATA = os.path.join(d, "data.svm")
long_data(DATA)
ARGS = ["--data", DATA, "--optimizer", "lbfgs", "--l2", "1e-5", "--tol", "1e-12", "--max-iter", "1000"]


def points(srv, run_id, key):
    return sorted((p["step"], p["value"]) for p in srv.history(run_id, key))


def iters(w):
    return sum(1 for l in w.lines if l.startswith("iter "))


def wait_until(cond, timeout=60):
    t0 = time.monotonic()
    while not cond() and time.monotonic() - t0 < timeout:
        time.sleep(0.005)
    return cond()


def latest_manifest(cdir):
    done = sorted(glob.glob(os.path.join(cdir, "ckpt-*", "manifest.json")))
    if not done:
        return None
    with open(done[-1]) as f:
        return json.load(f)


def check_resumed(srv, what, tdir, ref_id, n_ref):
    rd = run_dir(tdir)  # one run directory: the journal was continued, not replaced
    run_id = state(rd)["run_id"]
    check(len(srv.runs_with_uuid(uuid_of(rd))) == 1, f"{what}: not exactly one run on the server")
    run = srv.run(run_id)
    tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
    check(run["info"]["status"] == "FINISHED", f"{what}: status {run['info']['status']}")
    check("shardlearn.preempted" in tags or what == "kill -9",
          f"{what}: no shardlearn.preempted tag at the end")
    for key in PER_ITER:
        got, want = points(srv, run_id, key), points(srv, ref_id, key)
        first = next((f"{a} vs {b}" for a, b in zip(got, want) if a != b), "")
        check(got == want, f"{what}: {key}: {len(got)} points, the uninterrupted run "
                           f"{len(want)}; first difference {first}")
    for key in ("seconds_per_iter", "allreduce_seconds"):
        steps = [s for s, _ in points(srv, run_id, key)]
        check(steps == list(range(1, n_ref + 1)), f"{what}: {key} steps are not 1..{n_ref} once each")
    # System metrics are sampled by time: the continued run's samples go on
    # after the first attempt's, each step once.
    for key in ("system/rank_0/process_memory_rss_megabytes", "system/rank_1/collective_megabytes"):
        steps = [s for s, _ in points(srv, run_id, key)]
        check(len(steps) >= 4 and steps == list(range(len(steps))),
              f"{what}: {key} steps {steps[:4]}..{steps[-4:]} are not 0..n-1 once each")
    finals = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
    ref_finals = {m["key"]: m["value"] for m in srv.run(ref_id)["data"].get("metrics", [])}
    check(finals.get("final_objective") == ref_finals.get("final_objective"),
          f"{what}: final_objective {finals.get('final_objective')} vs {ref_finals.get('final_objective')}")


with MlflowServer() as srv:
    ref_dir = os.path.join(d, "ref-runs")
    r = train(2, ARGS + ["--tracking-uri", srv.url, "--tracking-dir", ref_dir, "--quiet"])
    check(r.returncode == 0, f"uninterrupted run: {r.stderr[-2000:]}")
    ref_id = state(run_dir(ref_dir))["run_id"]
    n_ref = len(points(srv, ref_id, "objective"))
    print(f"uninterrupted run: {n_ref} iterations", flush=True)

    # 1. SIGUSR1, then the same command.
    tdir, cdir = os.path.join(d, "usr1-runs"), os.path.join(d, "usr1-ckpt")
    extra = ["--tracking-uri", srv.url, "--tracking-dir", tdir, "--checkpoint-dir", cdir,
             "--system-metrics-interval", "0.1"]
    w = Watched(2, ARGS + extra)
    check(wait_until(lambda: iters(w) >= 30 or not w.running()) and w.running(),
          "SIGUSR1: the run ended before iteration 30")
    w.proc.send_signal(signal.SIGUSR1)
    code, err = w.wait(timeout=120)
    check(code == EXIT_CHECKPOINTED, f"SIGUSR1: exit {code}: {err[-2000:]}")
    k = latest_manifest(cdir)["iteration"] if latest_manifest(cdir) else -1
    rd = run_dir(tdir)
    run = srv.run(state(rd)["run_id"])
    tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
    print(f"SIGUSR1: stopped after iteration {k}; the run is {run['info']['status']}, "
          f"shardlearn.preempted = {tags.get('shardlearn.preempted')!r}", flush=True)
    check(run["info"]["status"] == "KILLED", f"SIGUSR1: status {run['info']['status']}")
    check("shardlearn.preempted" in tags, "SIGUSR1: no shardlearn.preempted tag while stopped")
    steps = [s for s, _ in points(srv, state(rd)["run_id"], "objective")]
    check(steps == list(range(1, k + 1)), f"SIGUSR1: objective steps {steps[:3]}..{steps[-3:]}, want 1..{k}")
    r = train(2, ARGS + extra)
    check(r.returncode == 0 and "continuing run journal" in r.stdout,
          f"SIGUSR1: resume: exit {r.returncode}\n{r.stdout[-1500:]}{r.stderr[-1500:]}")
    check_resumed(srv, "SIGUSR1", tdir, ref_id, n_ref)

    # 2. kill -9 of a rank between periodic checkpoints.
    tdir, cdir = os.path.join(d, "kill-runs"), os.path.join(d, "kill-ckpt")
    extra = ["--tracking-uri", srv.url, "--tracking-dir", tdir, "--checkpoint-dir", cdir,
             "--checkpoint-every", "0.2", "--system-metrics-interval", "0.1"]
    w = Watched(2, ARGS + extra)
    ok = wait_until(lambda: (latest_manifest(cdir) or {}).get("iteration", 0) >= 20 or not w.running())
    m = latest_manifest(cdir) or {"iteration": 0}
    ok = ok and wait_until(lambda: iters(w) >= m["iteration"] + 10 or not w.running())
    check(ok and w.running(), "kill -9: the run ended before a checkpoint and ten more iterations")
    ranks = children(w.proc.pid)
    check(len(ranks) == 2, f"kill -9: rank processes {ranks}")
    if ranks:
        os.kill(sorted(ranks)[1], signal.SIGKILL)
    code, err = w.wait(timeout=60)
    m = latest_manifest(cdir) or {"iteration": -1}
    print(f"kill -9: exit {code} after {iters(w)} iteration lines; last checkpoint at iteration "
          f"{m['iteration']}", flush=True)
    check(code != 0, "kill -9: exit status 0")
    r = train(2, ARGS + extra)
    check(r.returncode == 0 and "continuing run journal" in r.stdout,
          f"kill -9: resume: exit {r.returncode}\n{r.stdout[-1500:]}{r.stderr[-1500:]}")
    check_resumed(srv, "kill -9", tdir, ref_id, n_ref)

finish()
