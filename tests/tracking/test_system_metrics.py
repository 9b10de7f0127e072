"""System metrics in a real `mlflow server`: a 2-rank run with
--system-metrics-interval 1 stores system/rank_<r>/... for every rank - the
keys MLflow's System metrics tab shows - with steps 0, 1, 2, ... at
timestamps at least the interval apart, plausible memory and CPU, and
collective time and bytes that only grow; metrics.json's per-rank totals are
the last sample's. MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=false turns them off,
--system-metrics turns them back on, and a bad value is a one-line error on
every rank."""
import json
import os
import subprocess

from mlflow_server import MlflowServer
from track_common import BIN, MPIRUN, check, finish, long_data, mpi_env, run_dir, state, train, workdir

NAMES = ["process_memory_rss_megabytes", "process_memory_peak_megabytes",
         "process_cpu_utilization_percentage", "collective_time_seconds", "collective_megabytes"]
RANKS = 2
d = workdir()
data = os.path.join(d, "long.svm")
long_data(data, n=30000)
small = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train.svm")
NO_URI = {"MLFLOW_TRACKING_URI": ""}


def system_keys(srv, run_id):
    return sorted(m["key"] for m in srv.run(run_id)["data"].get("metrics", [])
                  if m["key"].startswith("system/"))


def tracked(srv, name, args, env=None):
    td = os.path.join(d, name)
    p = train(RANKS, ["--tracking-uri", srv.url, "--tracking-dir", td, "--run-name", name,
                      "--tracking-flush-timeout", "120", "--quiet"] + args, env=dict(NO_URI, **(env or {})))
    return p, (state(run_dir(td))["run_id"] if p.returncode == 0 else None)


with MlflowServer() as srv:
    metrics = os.path.join(d, "metrics.json")
    p, rid = tracked(srv, "sampled", ["--data", data, "--optimizer", "sgd", "--epochs", "600",
                                      "--system-metrics-interval", "1", "--metrics-out", metrics])
    check(p.returncode == 0, f"train failed: {p.stderr}")
    want = sorted(f"system/rank_{r}/{n}" for r in range(RANKS) for n in NAMES)
    check(system_keys(srv, rid) == want, f"system keys {system_keys(srv, rid)}")
    with open(metrics) as f:
        m = json.load(f)
    seconds = m["timings"]["total"]
    hist = {}
    for r in range(RANKS):
        for n in NAMES:
            pts = sorted(srv.history(rid, f"system/rank_{r}/{n}"), key=lambda x: int(x["step"]))
            hist[r, n] = pts
            steps = [int(x["step"]) for x in pts]
            check(steps == list(range(len(pts))), f"rank {r} {n}: steps {steps}")
    steps = len(hist[0, NAMES[0]])
    # The start, one a second while training (the interval is a minimum: a
    # loaded machine spaces them further), the end; a run of 2 s or more has
    # one in between at least.
    check((3 if seconds >= 2 else 2) <= steps <= seconds + 3,
          f"{steps} samples in a {seconds:.1f} s run at 1 s")
    ts = [int(x["timestamp"]) for x in hist[0, NAMES[0]]]
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    print(f"{steps} samples in {seconds:.1f} s, {gaps} ms apart; monitor "
          f"{m['timings']['system_metrics']:.4f} s; rank 1 CPU % "
          f"{[round(x['value']) for x in hist[1, NAMES[2]]]}", flush=True)
    check(all(g >= 995 for g in gaps[:-1]) and gaps[-1] >= 0, f"gaps between samples (ms) {gaps}")
    ncpu = os.cpu_count()
    for r in range(RANKS):
        val = {n: [x["value"] for x in hist[r, n]] for n in NAMES}
        check([int(x["timestamp"]) for x in hist[r, NAMES[1]]] == ts, f"rank {r}: timestamps differ")
        check(all(1 < v < 24000 for v in val[NAMES[0]]), f"rank {r} RSS MB {val[NAMES[0]]}")
        check(all(p >= v for p, v in zip(val[NAMES[1]], val[NAMES[0]])), f"rank {r}: peak below RSS")
        check(all(0 <= v <= 100 * ncpu for v in val[NAMES[2]]) and max(val[NAMES[2]]) > 1,
              f"rank {r} CPU % {val[NAMES[2]]}")
        for n in NAMES[3:]:
            v = val[n]
            check(all(a <= b for a, b in zip(v, v[1:])) and v[-1] > v[0], f"rank {r} {n} not growing: {v}")
        # 600 epochs of SGD average a 1263-wide model after every batch: megabytes, not bytes.
        check(val["collective_megabytes"][-1] > 1, f"rank {r} collective MB {val['collective_megabytes']}")
        last = m["ranks"][r]
        check(last["rank"] == r and last["peak_rss_megabytes"] == val[NAMES[1]][-1]
              and last["collective_seconds"] == val["collective_time_seconds"][-1]
              and last["collective_megabytes"] == val["collective_megabytes"][-1],
              f"metrics.json rank {r} {last} vs the last sample")
    check(0 <= m["timings"]["system_metrics"] < 0.05 * seconds + 0.05,
          f"monitor overhead {m['timings']['system_metrics']} s of {seconds} s")

    # Off through MLflow's variable; the option wins over it.
    p, rid = tracked(srv, "off", ["--data", small], env={"MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "false"})
    check(p.returncode == 0 and rid, f"off: {p.stderr}")
    check(rid and system_keys(srv, rid) == [], f"off: system keys {rid and system_keys(srv, rid)}")
    check(rid and "final_objective" in {x["key"] for x in srv.run(rid)["data"]["metrics"]}, "off: no metrics")
    p, rid = tracked(srv, "flag", ["--data", small, "--system-metrics"],
                     env={"MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "0"})
    check(p.returncode == 0 and rid and system_keys(srv, rid) == want, f"flag: {p.stderr}")
    if rid:  # a short run: the start and the end
        check(len(srv.history(rid, "system/rank_1/collective_megabytes")) == 2, "flag: samples")
    p, rid = tracked(srv, "noflag", ["--data", small, "--system-metrics=false"])
    check(p.returncode == 0 and rid and system_keys(srv, rid) == [], f"--system-metrics=false: {p.stderr}")

    # A value MLflow would refuse: exit 2 on every rank, one line, no run.
    for var, val in (("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "yes"),
                     ("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0")):
        p, _ = tracked(srv, "bad-" + var, ["--data", small], env={var: val})
        errs = [l for l in p.stderr.splitlines() if "error:" in l]
        check(p.returncode == 2 and len(errs) == 1 and var in errs[0], f"{var}={val}: {p.returncode} {p.stderr}")
        check(not os.path.exists(os.path.join(d, "bad-" + var)), f"{var}={val}: a run directory")
    # Only rank 1 sees the bad value (a host mpirun passed no variables to): still no hang.
    args = ["train", "--data", small, "--tracking-dir", os.path.join(d, "bad-rank1"), "--quiet"]
    p = subprocess.run([MPIRUN, "--oversubscribe", "-np", "1", BIN] + args +
                       [":", "-np", "1", "env", "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL=abc", BIN] + args,
                       capture_output=True, text=True, env=mpi_env(NO_URI), timeout=120)
    errs = [l for l in p.stderr.splitlines() if "error:" in l]
    check(p.returncode == 2 and len(errs) == 1 and "[rank 1] MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL" in errs[0],
          f"bad value on rank 1 only: {p.returncode} {p.stderr}")
finish()
