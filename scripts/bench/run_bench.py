#!/usr/bin/env python3
"""The benchmark's driver (scripts/bench.sh installs, builds and calls it).

In one run, on one synthetic data set and one objective (no intercept
anywhere, so every solver minimises the same F), it times side by side:
shardlearn on 1 and 2 ranks (newton, lbfgs, sgd), scikit-learn's
LogisticRegression (lbfgs, liblinear) and SGDClassifier, and LIBLINEAR's own
liblinear-train; then the cost of MLflow tracking. It prints the tables,
writes bench-out/bench.json and bench-out/bench.md, and with --write-doc puts
the tables into docs/benchmark.md between its bench:begin/bench:end markers.

Every solver's objective is computed here from its weights with one formula
(common.objective); F* is the lowest of them, and "time to target" is the
time to reach F <= F* (1 + 1e-6). See docs/benchmark.md for what each number
means and how it is measured. SHARDLEARN_BIN overrides the binary
(default build/shardlearn, which bench.sh has just built)."""
import argparse
import datetime
import json
import multiprocessing
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from common import (csr_bytes, load_npz, model_weights, objective, read_liblinear_model,  # noqa: E402
                    shard_rows)
import dense_bench  # noqa: E402
import peers_bench  # noqa: E402
import serve_bench  # noqa: E402
import sources_bench  # noqa: E402
import cache_bench  # noqa: E402
import stop_bench  # noqa: E402
import warm_bench  # noqa: E402
import l1_bench  # noqa: E402
import path_bench  # noqa: E402
import multinomial_bench  # noqa: E402

TARGET_REL = 1e-6          # time to F <= F* (1 + TARGET_REL)
BYTES_PER_NNZ = 12         # int32 column index + float64 value
LOG = []                   # every command run, for bench.json


def log(msg):
    print(msg, flush=True)


def env_default(name, default, kind=str):
    v = os.environ.get(name)
    return kind(v) if v not in (None, "") else default


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=env_default("BENCH_ROWS", 1_000_000, int))
    ap.add_argument("--features", type=int, default=env_default("BENCH_FEATURES", 1 << 20, int))
    ap.add_argument("--nnz", type=int, default=env_default("BENCH_NNZ", 40, int),
                    help="nonzeros per row")
    ap.add_argument("--l2", type=float, default=env_default("BENCH_L2", None, float),
                    help="lambda (default 1/rows, i.e. C = 1, LIBLINEAR's default)")
    ap.add_argument("--out", default=env_default("BENCH_OUT", str(ROOT / "bench-out")))
    ap.add_argument("--sgd-epochs", type=int, default=5)
    ap.add_argument("--sync-every", type=int, default=1024, help="shardlearn sgd --sync-every")
    ap.add_argument("--sgd-batch", type=int, default=32)
    ap.add_argument("--sgd-lr", type=float, default=32.0)
    ap.add_argument("--lbfgs-max-iter", type=int, default=550,
                    help="shardlearn lbfgs iteration cap on 2 ranks")
    ap.add_argument("--lbfgs1-max-iter", type=int, default=60,
                    help="shardlearn lbfgs iteration cap on 1 rank (its per-pass numbers)")
    ap.add_argument("--budget", type=float, default=env_default("BENCH_BUDGET", 420.0, float),
                    help="seconds the liblinear-train and the scikit-learn liblinear tolerance "
                         "sequences may each spend before they stop as 'not reached'")
    ap.add_argument("--sklearn-lbfgs-budget", type=float, default=360.0,
                    help="the same for scikit-learn lbfgs's max_iter sequence")
    ap.add_argument("--tracking-max-iter", type=int, default=5,
                    help="newton iterations of each tracking-overhead run")
    ap.add_argument("--tracking-reps", type=int, default=5,
                    help="rounds of the tracking measurement (after one warm-up round)")
    ap.add_argument("--skip-tracking", action="store_true")
    ap.add_argument("--skip-stop", action="store_true",
                    help="skip signal-to-exit and the cost of periodic checkpoints")
    ap.add_argument("--only-stop", action="store_true",
                    help="measure only the stopping figures (signal to exit, checkpoint cost); with "
                         "--write-doc, put just their paragraph and target row into docs/benchmark.md")
    ap.add_argument("--skip-serve", action="store_true",
                    help="leave out the serving comparison (shardlearn serve against mlflow models serve)")
    ap.add_argument("--only-serve", action="store_true",
                    help="measure only the serving comparison; with --write-doc, put just its block and "
                         "target rows into docs/benchmark.md")
    ap.add_argument("--only-warm", action="store_true",
                    help="measure only the warm start (fit at lambda, then 0.8 lambda cold and warm); "
                         "with --write-doc, put just its paragraph and target row into docs/benchmark.md")
    ap.add_argument("--only-l1", action="store_true",
                    help="measure only L1 logistic regression against liblinear-train -s 6; with "
                         "--write-doc, put just its table and target row into docs/benchmark.md")
    ap.add_argument("--skip-l1", action="store_true",
                    help="leave out L1 logistic regression against liblinear-train -s 6")
    ap.add_argument("--l1-frac", type=float, default=0.003,
                    help="the L1 part's A as a fraction of A_max = |X^T y|_inf / (2n)")
    ap.add_argument("--l1-max-iter", type=int, default=3000,
                    help="shardlearn lbfgs (OWL-QN) iteration cap in the L1 part")
    ap.add_argument("--only-path", action="store_true",
                    help="measure only the regularisation path (10 lambdas against one fit at the "
                         "weakest); with --write-doc, put just its paragraph and target row into "
                         "docs/benchmark.md")
    ap.add_argument("--skip-path", action="store_true", help="leave out the regularisation path")
    ap.add_argument("--skip-sources", action="store_true",
                    help="leave out the data-source load rates (plain, .gz, .zst, parts)")
    ap.add_argument("--only-sources", action="store_true",
                    help="measure only the data-source load rates; with --write-doc, put just their "
                         "table and target row into docs/benchmark.md")
    ap.add_argument("--skip-cache", action="store_true",
                    help="skip the binary cache's convert and load rates")
    ap.add_argument("--only-cache", action="store_true",
                    help="measure only the binary cache (convert, load against the text parse); with "
                         "--write-doc its paragraph and target rows replace the earlier ones")
    ap.add_argument("--cache-reps", type=int, default=5,
                    help="runs of each cache and text load, the best one counts")
    ap.add_argument("--skip-peers", action="store_true",
                    help="leave out the multi-core peers (LIBLINEAR -m 2, Snap ML n_jobs=2)")
    ap.add_argument("--only-peers", action="store_true",
                    help="measure only shardlearn newton on 2 ranks against the multi-core peers; "
                         "with --write-doc, put just that block and its target into docs/benchmark.md")
    ap.add_argument("--skip-dense", action="store_true",
                    help="leave out the dense small-d Newton set (12000 x 784)")
    ap.add_argument("--only-dense", action="store_true",
                    help="measure only the dense small-d Newton set (newton direct and cg against "
                         "scikit-learn); with --write-doc, put just its block and targets into "
                         "docs/benchmark.md")
    ap.add_argument("--skip-multinomial", action="store_true",
                    help="leave out the multinomial comparison (60000 x 784, 10 classes)")
    ap.add_argument("--only-multinomial", action="store_true",
                    help="measure only the multinomial comparison against scikit-learn; with "
                         "--write-doc, put just its table and target row into docs/benchmark.md")
    ap.add_argument("--multinomial-budget", type=float, default=900.0,
                    help="seconds each solver's tolerance sequence of the multinomial part may spend")
    ap.add_argument("--multinomial-solvers", type=lambda v: v.split(","), default=None,
                    help="only these of the multinomial part's sequences, e.g. "
                         "shardlearn:newton,sklearn:lbfgs (default: all)")
    ap.add_argument("--serve-seconds", type=float, default=5.0,
                    help="seconds of load per serving cell (server, concurrency, rows a request)")
    ap.add_argument("--stop-after", type=float, default=5.0,
                    help="signal to exit: SIGUSR1 this many seconds after the first iteration")
    ap.add_argument("--skip-control", action="store_true",
                    help="skip the in-cache control runs (the same pass over 4096 columns)")
    ap.add_argument("--spark-budget", type=float, default=360.0,
                    help="seconds of fitting Spark MLlib's maxIter sequence may spend")
    ap.add_argument("--skip-spark", action="store_true",
                    help="leave Spark MLlib out (it needs Java and pyspark)")
    ap.add_argument("--skip-scaling", action="store_true",
                    help="skip the memory runs on 3 and 4 ranks")
    ap.add_argument("--skip-sklearn-parse", action="store_true",
                    help="do not time scikit-learn's load_svmlight_file")
    ap.add_argument("--write-doc", action="store_true",
                    help="replace the tables in docs/benchmark.md with this run's")
    ap.add_argument("--render", action="store_true",
                    help="run nothing: re-render OUT/bench.json (verdicts included) into "
                         "OUT/bench.md, and with --write-doc into docs/benchmark.md")
    a = ap.parse_args()
    if a.l2 is None:
        a.l2 = 1.0 / a.rows
    return a


# --------------------------------------------------------------------------------------------
# The machine


def machine_info():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal"):
            mem_kb = int(line.split()[1])

    def first_line(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "unknown"

    def deb(pkg):
        return first_line(["dpkg-query", "-W", "-f=${Version}", pkg])

    import scipy
    import sklearn
    l3 = first_line(["sh", "-c", "lscpu | grep -i 'L3 cache' | sed 's/.*: *//'"])
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "l3": l3,
        "memory_gib": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "hypervisor": first_line(["sh", "-c", "lscpu | grep -i 'Hypervisor vendor' | sed 's/.*: *//'"]),
        "os": first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "openmpi": first_line(["mpirun", "--version"]),
        "gcc": first_line(["gcc", "--version"]),
        "liblinear_tools": deb("liblinear-tools"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit_learn": sklearn.__version__,
    }


def _copy_worker(nbytes, seconds, barrier, q):
    a = np.ones(nbytes // 8)
    b = np.empty_like(a)
    np.copyto(b, a)  # touch both
    barrier.wait()
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        np.copyto(b, a)
        done += 1
    q.put((done * 2 * a.nbytes, time.perf_counter() - t0))


def copy_bandwidth(procs, nbytes=256 << 20, seconds=2.0, windows=3):
    """Copy bandwidth of `procs` processes copying at once, bytes read plus
    bytes written per second (the STREAM convention), best of a few windows."""
    best = 0.0
    ctx = multiprocessing.get_context("fork")
    for _ in range(windows):
        barrier, q = ctx.Barrier(procs), ctx.Queue()
        ps = [ctx.Process(target=_copy_worker, args=(nbytes, seconds, barrier, q)) for _ in range(procs)]
        for p in ps:
            p.start()
        res = [q.get() for _ in ps]
        for p in ps:
            p.join()
        best = max(best, sum(b for b, _ in res) / max(t for _, t in res))
    return best


# --------------------------------------------------------------------------------------------
# Running things


class Bench:
    def __init__(self, a):
        self.a = a
        self.out = Path(a.out)
        self.runs = self.out / "runs"
        if self.runs.exists():
            shutil.rmtree(self.runs)
        self.runs.mkdir(parents=True)
        self.bin = os.environ.get("SHARDLEARN_BIN", str(ROOT / "build" / "shardlearn"))
        self.cores = os.cpu_count() or 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        self.env = env
        self.lam = a.l2
        self.results = {}

    def run(self, cmd, **kw):
        LOG.append(" ".join(str(c) for c in cmd))
        t0 = time.perf_counter()
        p = subprocess.run([str(c) for c in cmd], env=kw.pop("env", self.env), capture_output=True,
                           text=True, **kw)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(str(c) for c in cmd)} failed ({p.returncode}):\n"
                               f"{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
        return p, wall

    def mpirun(self, ranks):
        cmd = ["mpirun", "-np", str(ranks)]
        if ranks > self.cores:
            cmd.append("--oversubscribe")
        return cmd

    # shardlearn ---------------------------------------------------------------------------

    def shardlearn(self, tag, ranks, args, env=None, with_model=True, data=None):
        """One `shardlearn train` under mpirun, each rank wrapped in
        /usr/bin/time for its peak RSS. Returns metrics.json, the process
        wall time, the per-rank peak RSS and, with_model, the weights
        (with_model needs the benchmark's own data set, not another `data`)."""
        d = self.runs / tag
        d.mkdir(parents=True, exist_ok=True)
        metrics, model = d / "metrics.json", d / "model.json"
        wrap = 'exec /usr/bin/time -f %M -o "$0.$OMPI_COMM_WORLD_RANK" "$@"'
        cmd = self.mpirun(ranks) + ["sh", "-c", wrap, d / "maxrss_kb", self.bin, "train",
                                    "--data", data or self.svm, "--l2", repr(self.lam), "--no-intercept",
                                    "--metrics-out", metrics, "--tracking-dir", d / "journal",
                                    "--quiet"] + (["--model-out", model] if with_model else []) + args
        _, wall = self.run(cmd, env=env or self.env)
        m = json.loads(metrics.read_text())
        rss = []
        for r in range(ranks):
            lines = (d / f"maxrss_kb.{r}").read_text().split()
            rss.append(int(lines[-1]) * 1024)
        out = {"tag": tag, "ranks": ranks, "args": args, "metrics": m, "wall": wall, "rss": rss}
        if with_model:
            mo = json.loads(model.read_text())
            w = model_weights(mo)
            out["F"] = objective(self.X, self.y, w, self.lam)
            model.unlink()  # 20+ MB of text at d = 2^20, not needed once F is known
        return out

    # LIBLINEAR ----------------------------------------------------------------------------

    def liblinear_train(self, eps):
        d = self.runs / "liblinear-train"
        d.mkdir(exist_ok=True)
        model = d / f"model.e{eps:g}"
        cmd = ["/usr/bin/time", "-f", "%M", "-o", d / f"maxrss_kb.e{eps:g}", "liblinear-train",
               "-s", "0", "-c", repr(self.C), "-e", repr(eps), "-B", "-1", "-q", self.svm, model]
        _, wall = self.run(cmd)
        w = read_liblinear_model(model, self.d)
        rss = int((d / f"maxrss_kb.e{eps:g}").read_text().split()[-1]) * 1024
        model.unlink()
        return {"param": eps, "seconds": wall, "F": objective(self.X, self.y, w, self.lam),
                "rss": rss}

    def sklearn(self, solver, tol, max_iter):
        d = self.runs / f"sklearn-{solver}"
        d.mkdir(exist_ok=True)
        out = d / f"fit.t{tol:g}.i{max_iter}"
        self.run([sys.executable, HERE / "sk_fit.py", self.npz, out, solver, repr(self.C),
                  repr(tol), max_iter])
        info = json.loads(Path(str(out) + ".json").read_text())
        w = np.load(str(out) + ".npy")
        return {"param": tol if solver == "liblinear" else max_iter, "seconds": info["fit_seconds"],
                "n_iter": info["n_iter"], "F": objective(self.X, self.y, w, self.lam)}

    def spark(self, budget):
        """Spark MLlib's maxIter sequence, in one Spark session (spark_fit.py):
        the runs as sequence() returns them, F recomputed here like every
        other solver's, and Spark's time to read and cache the file."""
        d = self.runs / "spark"
        d.mkdir(exist_ok=True)
        out = d / "fit"
        iters = [25, 50, 100, 200, 400, 800, 1600]
        self.run([sys.executable, HERE / "spark_fit.py", self.svm, self.npz, out, repr(self.lam),
                  self.d, repr(self.fstar_prelim * (1 + TARGET_REL)), budget] + iters)
        info = json.loads(Path(str(out) + ".json").read_text())
        runs = []
        for r in info["runs"]:
            w = np.load(f"{out}.{r['param']}.npy")
            runs.append({"param": r["param"], "seconds": r["seconds"], "n_iter": r["n_iter"],
                         "F": objective(self.X, self.y, w, self.lam)})
            gap = (runs[-1]["F"] - self.fstar_prelim) / self.fstar_prelim
            log(f"  spark maxIter {r['param']}: {r['seconds']:.1f} s, F = {runs[-1]['F']:.12g} "
                f"(gap {gap:.2e})")
        return runs, info["load_seconds"]

    def sequence(self, name, params, run_one, budget, growth):
        """Runs run_one(p) for p in params until one reaches the target or the
        next one would not fit in the budget (estimated as the last run's time
        times growth)."""
        runs, spent = [], 0.0
        for p in params:
            if runs and spent + growth * runs[-1]["seconds"] > budget:
                log(f"  {name}: the next run ({p}) would not fit in the {budget:.0f} s budget; stop")
                break
            r = run_one(p)
            spent += r["seconds"]
            runs.append(r)
            gap = (r["F"] - self.fstar_prelim) / self.fstar_prelim
            log(f"  {name} {p}: {r['seconds']:.1f} s, F = {r['F']:.12g} (gap {gap:.2e})")
            if r["F"] <= self.fstar_prelim * (1 + TARGET_REL):
                break
        return runs


# --------------------------------------------------------------------------------------------
# Turning runs into numbers


def sl_to_target(run, target):
    """Time to target from shardlearn's per-iteration history.
    solve: (total - load - sum of step times) + steps up to the target step:
    set-up (column map, first evaluation) is counted before the first step.
    process: the mpirun wall time minus the steps after the target step, i.e.
    the whole process had it stopped there (launch, parse, exit included)."""
    m = run["metrics"]
    t, hist = m["timings"], m["history"]
    solve = t["total"] - t["load"]
    setup = solve - sum(h["seconds"] for h in hist)
    cum, ar = setup, 0.0
    for i, h in enumerate(hist):
        cum += h["seconds"]
        ar += h["allreduce_seconds"]
        if h["objective"] <= target:
            after = sum(x["seconds"] for x in hist[i + 1:])
            return {"reached": True, "step": h["step"], "solve_s": cum,
                    "process_s": run["wall"] - after, "passes": h["passes"], "allreduce_s": ar}
    return {"reached": False, "step": None, "solve_s": None, "process_s": None,
            "lower_bound_s": solve, "passes": hist[-1]["passes"] if hist else 0,
            "allreduce_s": ar}


def seq_to_target(runs, target):
    """First run of a tolerance/max_iter sequence that reaches the target."""
    prev = None
    for r in runs:
        if r["F"] <= target:
            return {"reached": True, "seconds": r["seconds"], "param": r["param"],
                    "previous_not_reached_s": prev}
        prev = r["seconds"]
    return {"reached": False, "seconds": None, "lower_bound_s": runs[-1]["seconds"] if runs else None,
            "param": runs[-1]["param"] if runs else None}


def fmt(x, nd=2, unit=""):
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    if abs(x) >= 100:
        return f"{x:.0f}{unit}"
    return f"{x:.{nd}f}{unit}"


# --------------------------------------------------------------------------------------------


def render_saved(a):
    path = Path(a.out) / "bench.json"
    res = json.loads(path.read_text())
    decide(res)
    path.write_text(json.dumps(res, indent=1) + "\n")
    md = render_markdown(res)
    (Path(a.out) / "bench.md").write_text(md)
    print(md)
    if a.write_doc:
        write_doc(md)


def main():
    a = parse_args()
    if a.render:
        render_saved(a)
        return
    b = Bench(a)
    if a.only_multinomial:  # its own data set: the sparse one is not needed
        return multinomial_only(b, a)
    t_start = time.time()
    if a.only_dense:  # its own data set: the benchmark's is not needed
        return dense_only(b, a)
    stem = f"data-{a.rows}x{a.features}x{a.nnz}"
    b.svm = str(Path(a.out) / (stem + ".svm"))
    b.npz = str(Path(a.out) / (stem + ".npz"))
    if not (os.path.exists(b.svm) and os.path.exists(b.npz)):
        log(f"generating {b.svm} (cached for later runs)")
        b.run([sys.executable, HERE / "gen_data.py", str(Path(a.out) / stem), "--rows", a.rows,
               "--features", a.features, "--nnz", a.nnz])
    else:
        log(f"using cached {b.svm}")
    b.X, b.y = load_npz(b.npz)
    n, b.d = b.X.shape
    b.C = 1.0 / (b.lam * n)
    file_bytes = os.path.getsize(b.svm)
    nnz = b.X.nnz
    log(f"data: {n} rows, {b.d} features, {nnz} nonzeros, {file_bytes / 1e6:.0f} MB of text; "
        f"lambda = {b.lam:g} (C = {b.C:g}), no intercept")

    if a.only_stop:
        return stop_only(b, a)
    if a.only_serve:
        return serve_only(b, a)
    if a.only_warm:
        return warm_only(b, a)
    if a.only_sources:
        return sources_only(b, a)
    if a.only_cache:
        return cache_only(b, a)
    if a.only_l1:
        return l1_only(b, a)
    if a.only_path:
        return path_only(b, a)
    if a.only_peers:
        return peers_only(b, a)

    res = {"command": "scripts/bench.sh " + " ".join(sys.argv[1:]),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "host": socket.gethostname(), "machine": machine_info(),
           "data": {"rows": n, "features": b.d, "nnz": nnz, "nnz_per_row": a.nnz,
                    "file": b.svm, "file_bytes": file_bytes,
                    "columns_used": int(np.unique(b.X.indices).size),
                    "positives": float(np.mean(b.y > 0))},
           "l2": b.lam, "C": b.C, "target_rel": TARGET_REL}

    # Memory bandwidth, measured here, now.
    bw = {p: copy_bandwidth(p) for p in (1, 2)}
    res["copy_bandwidth"] = {str(p): v for p, v in bw.items()}
    log(f"copy bandwidth (read + write): 1 process {bw[1] / 1e9:.1f} GB/s, "
        f"2 processes {bw[2] / 1e9:.1f} GB/s")

    # Shard sizes as shardlearn splits the file.
    shards = {}
    for p in (1, 2) + (() if a.skip_scaling else SCALING_RANKS):
        shards[p] = [csr_bytes(b.X, f, l) for f, l in shard_rows(b.svm, p)]
    res["shards"] = {str(p): [{"csr_bytes": c, "rows": r, "nnz": z} for c, r, z in s]
                     for p, s in shards.items()}

    # ---- shardlearn ----------------------------------------------------------------------
    sl = {}
    log("shardlearn newton, 2 ranks, tight tolerance (also the reference optimum F*)")
    sl["newton-2"] = b.shardlearn("newton-2", 2, ["--optimizer", "newton", "--tol", "1e-10"])
    b.fstar_prelim = sl["newton-2"]["F"]
    log(f"  F = {b.fstar_prelim:.15g} in {sl['newton-2']['wall']:.1f} s")
    log("shardlearn newton, 1 rank")
    sl["newton-1"] = b.shardlearn("newton-1", 1, ["--optimizer", "newton", "--tol", "1e-8"])
    # Newton's runs above go on past the target, and the trust-region steps it
    # rejects after its last accepted iteration appear in no history entry;
    # rather than infer, time the target directly: the same run stopped by
    # --max-iter at the iteration that reached the target (the path is the
    # same bits for the same rank count).
    for key, p in (("newton-2", 2), ("newton-1", 1)):
        tt = sl_to_target(sl[key], b.fstar_prelim * (1 + TARGET_REL))
        if tt["reached"]:
            log(f"shardlearn newton, {p} rank(s), --max-iter {tt['step']} (time to target, direct)")
            sl[key]["direct"] = b.shardlearn(f"{key}-to-target", p, ["--optimizer", "newton",
                                                                    "--max-iter", str(tt["step"])])
    for p, cap in ((2, a.lbfgs_max_iter), (1, a.lbfgs1_max_iter)):
        log(f"shardlearn lbfgs, {p} rank(s), at most {cap} iterations")
        sl[f"lbfgs-{p}"] = b.shardlearn(f"lbfgs-{p}", p, ["--optimizer", "lbfgs", "--tol", "1e-10",
                                                          "--max-iter", str(cap)])
    sgd_args = ["--optimizer", "sgd", "--epochs", str(a.sgd_epochs), "--batch-size",
                str(a.sgd_batch), "--lr", repr(a.sgd_lr), "--sync-every", str(a.sync_every)]
    for p in (2, 1):
        log(f"shardlearn sgd, {p} rank(s)")
        sl[f"sgd-{p}"] = b.shardlearn(f"sgd-{p}", p, sgd_args)
    for k, r in sl.items():
        log(f"  {k}: F = {r['F']:.12g}, wall {r['wall']:.1f} s, shardlearn's own F "
            f"{r['metrics']['objective']:.12g}")
    control = None
    if not a.skip_control:
        control = measure_control(b, a, bw)
    scaling = None
    if not a.skip_scaling:
        scaling = measure_scaling(b, shards)

    # ---- LIBLINEAR and scikit-learn ------------------------------------------------------
    eps_seq = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6]
    log("liblinear-train -s 0 (whole process), tolerance sequence")
    ll = b.sequence("liblinear-train -e", eps_seq, b.liblinear_train, a.budget, 1.5)
    log("scikit-learn LogisticRegression(solver='liblinear'), tolerance sequence")
    skll = b.sequence("sklearn liblinear tol", eps_seq, lambda t: b.sklearn("liblinear", t, 1000),
                      a.budget, 1.5)
    log("scikit-learn LogisticRegression(solver='lbfgs'), max_iter sequence")
    sklb = b.sequence("sklearn lbfgs max_iter", [25, 50, 100, 200, 400, 800, 1600, 3200],
                      lambda it: b.sklearn("lbfgs", 1e-12, it), a.sklearn_lbfgs_budget, 2.0)
    log(f"scikit-learn SGDClassifier, {a.sgd_epochs} epochs")
    out = b.runs / "sklearn-sgd" / "fit"
    out.parent.mkdir(exist_ok=True)
    b.run([sys.executable, HERE / "sk_fit.py", b.npz, out, "sgd", repr(b.lam), a.sgd_epochs, 0])
    info = json.loads(Path(str(out) + ".json").read_text())
    sksgd = [{"param": e + 1, "seconds": info["epoch_seconds"][e],
              "F": objective(b.X, b.y, np.load(f"{out}.{e + 1}.npy"), b.lam)}
             for e in range(a.sgd_epochs)]
    peers = None
    if not a.skip_peers:
        peers = peers_bench.measure_peers(b, a, log)
    spark, spark_load = [], None
    if not a.skip_spark:
        log("Spark MLlib LogisticRegression (L-BFGS, local[*]), maxIter sequence")
        spark, spark_load = b.spark(a.spark_budget)
    sk_parse = None
    if not a.skip_sklearn_parse:
        log("scikit-learn load_svmlight_file (parse only, for reference)")
        p, _ = b.run([sys.executable, "-c",
                      "import sys, time; from sklearn.datasets import load_svmlight_file as f; "
                      "t = time.perf_counter(); f(sys.argv[1], n_features=int(sys.argv[2])); "
                      "print(time.perf_counter() - t)", b.svm, b.d])
        sk_parse = float(p.stdout.strip())

    # ---- tracking overhead ---------------------------------------------------------------
    tracking = None
    if not a.skip_tracking:
        tracking = measure_tracking(b, a)

    # ---- stopping: signal to exit, periodic checkpoints -----------------------------------
    stop = None
    if not a.skip_stop:
        log("shardlearn lbfgs, 2 ranks, --checkpoint-dir: SIGUSR1, and checkpoints every iteration")
        stop = stop_bench.measure_stop(b, a)
        log("  " + stop_bench.render(stop))

    # ---- the binary cache: convert, load rate against the text parse ---------------------
    cache = None
    if not a.skip_cache:
        log("shardlearn convert (2 ranks), then train --max-iter 1 from the text and the cache")
        cache = cache_bench.measure_cache(b, a)
        log("  " + cache_bench.render(cache))

    # ---- serving: shardlearn serve against mlflow models serve ----------------------------
    serve = None
    if not a.skip_serve:
        serve = serve_bench.measure_serve(b, a)

    # ---- data sources: plain, .gz, .zst, compressed parts ---------------------------------
    sources = None
    if not a.skip_sources:
        log("data sources: load rates of the file plain, as .gz/.zst, and as compressed parts")
        sources = sources_bench.measure_sources(b, a, log)

    # ---- L1 logistic regression: OWL-QN against liblinear-train -s 6 ---------------------
    l1 = None
    if not a.skip_l1:
        l1 = l1_bench.measure_l1(b, a, log)
    # ---- regularisation path: 10 lambdas by warm starts against one fit --------------------
    path = None
    if not a.skip_path:
        log("shardlearn newton, 2 ranks: a path of 10 lambdas, and one fit at the weakest")
        path = path_bench.measure_path(b, a)
        log("  " + path_bench.render(path))
    # ---- multinomial: 10 classes, dense 60000 x 784, against scikit-learn ----------------
    multi = None
    if not a.skip_multinomial:
        log("multinomial: 60000 x 784, 10 classes, 2 ranks against scikit-learn")
        multi = multinomial_bench.measure_multinomial(b, a, log, a.multinomial_budget)

    # ---- F*, targets, tables -------------------------------------------------------------
    all_F = [r["F"] for r in sl.values() if "F" in r] + [r["F"] for r in ll + skll + sklb + sksgd]
    all_F += [r["F"] for runs in (peers or {}).values() for r in runs]
    fstar = min(all_F)
    target = fstar * (1 + TARGET_REL)
    res.update(fstar=fstar, target=target)

    def gap(F):
        return (F - fstar) / fstar

    rows = []
    for key in ("newton-2", "lbfgs-2", "sgd-2", "newton-1", "lbfgs-1", "sgd-1"):
        r = sl[key]
        m = r["metrics"]
        tt = sl_to_target(r, target)
        tt["measured"] = "history"
        direct = r.get("direct")
        if tt["reached"] and direct and direct["F"] <= target:
            dt = direct["metrics"]["timings"]
            tt.update(solve_inferred_s=tt["solve_s"], process_inferred_s=tt["process_s"],
                      solve_s=dt["total"] - dt["load"], process_s=direct["wall"],
                      measured=f"--max-iter {tt['step']} run")
        P = r["ranks"]
        passes = m["history"][-1]["passes"] if m["history"] else 0
        t_pass = m["timings"]["compute"] / passes if passes else None
        nnz_s = nnz / t_pass if t_pass else None
        bound = bw[P] / BYTES_PER_NNZ
        csr = [c for c, _, _ in shards[P]]
        opt = key.split("-")[0]
        rows.append({
            "solver": f"shardlearn {opt}", "ranks": P, "key": key,
            "reached": tt["reached"], "solve_to_target_s": tt["solve_s"],
            "process_to_target_s": tt["process_s"], "measured": tt["measured"],
            "solve_inferred_s": tt.get("solve_inferred_s"),
            "process_inferred_s": tt.get("process_inferred_s"),
            "lower_bound_s": tt.get("lower_bound_s"), "step_at_target": tt["step"],
            "passes_to_target": tt["passes"] if tt["reached"] else None,
            "final_gap": gap(r["F"]), "objective_python": r["F"],
            "objective_shardlearn": m["objective"], "iterations": m["iterations"],
            "passes": passes, "seconds_per_pass": t_pass, "nnz_per_s": nnz_s,
            "pct_bandwidth_bound": 100 * nnz_s / bound if nnz_s else None,
            "allreduce_s": m["timings"]["allreduce"],
            "allreduce_ms_per_pass": 1e3 * m["timings"]["allreduce"] / passes if passes else None,
            "allreduce_to_target_s": tt["allreduce_s"],
            "load_s": m["timings"]["load"], "solve_s": m["timings"]["total"] - m["timings"]["load"],
            "wall_s": r["wall"],
            "parse_mb_s_per_rank": file_bytes / P / m["timings"]["load"] / 1e6,
            "peak_rss_bytes": r["rss"], "csr_bytes": csr,
            "rss_over_csr": max(x / c for x, c in zip(r["rss"], csr)),
        })
    for name, runs, kind in (("liblinear-train -s 0", ll, "process"),
                             ("sklearn LogisticRegression liblinear", skll, "fit"),
                             ("sklearn LogisticRegression lbfgs", sklb, "fit"),
                             ("sklearn SGDClassifier", sksgd, "fit"),
                             ("Spark MLlib LogisticRegression", spark, "fit")):
        if not runs and name.startswith("Spark"):
            continue
        tt = seq_to_target(runs, target)
        rows.append({  # Spark runs on every core (local[*]): its ranks column is the cores
            "solver": name, "ranks": b.cores if name.startswith("Spark") else 1, "key": name,
            "kind": kind, "reached": tt["reached"],
            "solve_to_target_s": tt["seconds"] if kind == "fit" else None,
            "process_to_target_s": tt["seconds"] if kind == "process" else None,
            "lower_bound_s": tt.get("lower_bound_s"),
            "previous_not_reached_s": tt.get("previous_not_reached_s"),
            "param_at_target": tt["param"] if tt["reached"] else None,
            "final_gap": gap(runs[-1]["F"]) if runs else None,
            "runs": [{"param": r["param"], "seconds": r["seconds"], "F": r["F"], "gap": gap(r["F"])}
                     for r in runs],
            "peak_rss_bytes": [runs[-1]["rss"]] if runs and "rss" in runs[-1] else None,
        })
    res["solvers"] = rows
    res["sklearn_parse_s"] = sk_parse
    res["spark_load_s"] = spark_load
    res["tracking"] = tracking
    res["control"] = control
    res["scaling"] = scaling
    res["stop"] = stop
    res["cache"] = cache
    res["serve"] = serve
    res["sources"] = sources
    res["l1"] = l1
    res["path"] = path
    res["peers"] = peers
    res["dense"] = None
    if not a.skip_dense:
        log("dense small-d Newton set: newton direct and cg against scikit-learn")
        res["dense"] = dense_bench.measure_dense(b, a, log)
    res["multinomial"] = multi

    decide(res)
    res["elapsed_s"] = time.time() - t_start
    res["commands"] = LOG

    md = render_markdown(res)
    (Path(a.out) / "bench.json").write_text(json.dumps(res, indent=1) + "\n")
    (Path(a.out) / "bench.md").write_text(md)
    print()
    print(md)
    if a.write_doc:
        write_doc(md)
    log(f"wrote {a.out}/bench.json and {a.out}/bench.md in {res['elapsed_s'] / 60:.1f} min")


def decide(res):
    """The default optimizer and every target's verdict, from res["solvers"]
    and res["tracking"] (also used by --render on a saved bench.json)."""
    rows, tracking = res["solvers"], res.get("tracking")
    # Default optimizer: which of newton / lbfgs reached the target sooner on 2 ranks.
    by = {r["key"]: r for r in rows}

    def t_of(r):
        return r["solve_to_target_s"] if r["reached"] else float("inf")

    best2 = min(("newton-2", "lbfgs-2"), key=lambda k: t_of(by[k]))
    res["default_optimizer"] = best2.split("-")[0]

    # Targets.
    sl2 = by[best2]
    llt = by["liblinear-train -s 0"]
    targets = []

    def bound(r):
        """(seconds, exact): a reached run's time, or a lower bound."""
        if r["reached"]:
            return (r["solve_to_target_s"] if r.get("kind") == "fit" else r["process_to_target_s"]), True
        return (r["lower_bound_s"] or 0.0), False

    if sl2["reached"]:
        t2 = sl2["process_to_target_s"]
        # scikit-learn's faster solver: the smaller of the two times, where a
        # solver that did not reach the target contributes its lower bound.
        sk = [bound(by["sklearn LogisticRegression liblinear"]), bound(by["sklearn LogisticRegression lbfgs"])]
        t_sk, exact = min(sk)
        ratio = t_sk / t2
        targets.append({"target": "2 ranks reach the target >= 3x sooner than scikit-learn's faster solver",
                        "value": f"{'' if exact else '> '}{ratio:.1f}x", "met": ratio >= 3})
        t_ll, exact = bound(llt)
        ratio = t_ll / t2
        targets.append({"target": "2 ranks reach the target no later than liblinear-train",
                        "value": f"{'' if exact else '> '}{ratio:.1f}x sooner", "met": ratio >= 1})
    else:
        targets.append({"target": "2 ranks reach the target", "value": "not reached", "met": False})
    for P in (2, 1):
        r = by[f"lbfgs-{P}"]
        targets.append({"target": f"gradient pass >= 30% of the bandwidth bound ({P} rank{'s' if P > 1 else ''})",
                        "value": f"{r['pct_bandwidth_bound']:.1f}%", "met": r["pct_bandwidth_bound"] >= 30})
    for P in (2, 1):
        vals = [r["parse_mb_s_per_rank"] for r in rows if r["solver"].startswith("shardlearn") and r["ranks"] == P]
        med = statistics.median(vals)
        targets.append({"target": f"parsing >= 150 MB/s per rank ({P} rank{'s' if P > 1 else ''}, median of {len(vals)} runs)",
                        "value": f"{med:.0f} MB/s", "met": med >= 150})
    worst = max((r for r in rows if r["solver"].startswith("shardlearn")), key=lambda r: r["rss_over_csr"])
    dflt = [r for r in rows if r["key"] in (f"{res['default_optimizer']}-1", f"{res['default_optimizer']}-2")]
    for r in dflt:
        targets.append({"target": f"peak RSS per rank < 2x its shard's CSR ({r['key']})",
                        "value": f"{r['rss_over_csr']:.2f}x", "met": r["rss_over_csr"] < 2})
    targets.append({"target": f"peak RSS per rank < 2x its shard's CSR (worst run: {worst['key']})",
                    "value": f"{worst['rss_over_csr']:.2f}x", "met": worst["rss_over_csr"] < 2})
    if res.get("scaling"):
        sw = max(res["scaling"], key=lambda r: r["rss_over_csr"])
        targets.append({"target": f"peak RSS per rank < 2x its shard's CSR on {', '.join(str(p) for p in SCALING_RANKS)} "
                                  f"ranks (worst run: {sw['key']})",
                        "value": f"{sw['rss_over_csr']:.2f}x", "met": sw["rss_over_csr"] < 2})
    if tracking:
        # Judged on shardlearn's own account of the cost (see measure_tracking),
        # which the machine's noise does not blur; the wall-clock comparison is
        # shown beside it and gets a verdict of its own only when the noise
        # (half the run-to-run spread of tracking off alone) can resolve it.
        noise = tracking["off_spread_pct"] / 2
        med = tracking["median_s"]["total"]
        for mode, lim in (("live", 1.0), ("down", 2.0)):
            cost = tracking.get("cost_pct", {}).get(mode)
            if cost is not None:
                targets.append({"target": f"tracking {mode}: < {lim:g}% slower than tracking off "
                                          f"(rank 0's tracker time + sender CPU, worst of {tracking['reps']} rounds)",
                                "value": f"{cost['max']:.2f}% (median {cost['median']:.2f}%)",
                                "met": cost["max"] < lim})
            v = tracking["slowdown_pct"][mode]
            q = tracking["ratio_pct"]["total"][mode]
            if noise >= lim or tracking["reps"] < 3:
                met = None
            else:
                met = True if v + noise < lim else (False if v - noise > lim else None)
            targets.append({"target": f"tracking {mode}: < {lim:g}% slower than tracking off (wall clock)",
                            "value": f"{v:+.1f}% median of {tracking['reps']} paired rounds "
                                     f"({q['min']:+.1f} … {q['max']:+.1f}); medians "
                                     f"{100 * (med[mode] / med['off'] - 1):+.1f}%; noise ±{noise:.0f}%",
                            "met": met})
    if res.get("stop"):
        targets.extend(stop_bench.targets(res["stop"]))
    if res.get("cache"):
        targets.extend(cache_bench.targets(res["cache"]))
    if res.get("serve"):
        targets.extend(serve_bench.targets(res["serve"]))
    if res.get("sources"):
        targets.extend(sources_bench.targets(res["sources"]))
    if res.get("l1"):
        targets.extend(l1_bench.targets(res["l1"]))
    if res.get("path"):
        targets.extend(path_bench.targets(res["path"]))
    if res.get("peers"):
        n2 = by["newton-2"]
        targets.extend(peers_bench.targets(res["peers"], res["target"],
                                           n2["process_to_target_s"] if n2["reached"] else None))
    if res.get("dense"):
        targets.extend(dense_bench.targets(res["dense"]))
    if res.get("multinomial"):
        targets.extend(multinomial_bench.targets(res["multinomial"]))
    res["targets"] = targets


# --------------------------------------------------------------------------------------------
# The pass with every column in cache


CONTROL_FEATURES = 4096
SCALING_RANKS = (3, 4)


def measure_control(b, a, bw):
    """The same shape of data (rows, nonzeros a row, power-law columns) over
    only 4096 columns, so that the 64 KB of [w_j, g_j] records stay in each
    core's L1 cache: the time per pass of the same kernels with no cache miss
    on the model at all. It is the ceiling of the pass's speed on this machine,
    beside which the full data set's pass shows what its cache misses cost."""
    stem = f"data-{a.rows}x{CONTROL_FEATURES}x{a.nnz}"
    svm = str(Path(a.out) / (stem + ".svm"))
    if not os.path.exists(svm):
        log(f"generating {svm}, the in-cache control (cached for later runs)")
        b.run([sys.executable, HERE / "gen_data.py", str(Path(a.out) / stem), "--rows", a.rows,
               "--features", CONTROL_FEATURES, "--nnz", a.nnz])
    nnz = a.rows * a.nnz
    out = {"features": CONTROL_FEATURES, "file": svm, "runs": {}}
    for p in (2, 1):
        log(f"shardlearn newton, {p} rank(s), {CONTROL_FEATURES} columns (in-cache control)")
        r = b.shardlearn(f"control-{p}", p, ["--optimizer", "newton", "--max-iter", "5"],
                         with_model=False, data=svm)
        m = r["metrics"]
        passes = m["history"][-1]["passes"]
        t_pass = m["timings"]["compute"] / passes
        out["runs"][str(p)] = {"ranks": p, "passes": passes, "seconds_per_pass": t_pass,
                               "nnz_per_s": nnz / t_pass,
                               "pct_bandwidth_bound": 100 * nnz / t_pass / (bw[p] / BYTES_PER_NNZ)}
    return out


def measure_scaling(b, shards):
    """Peak RSS per rank on more ranks than the timed runs (oversubscribed
    here, so no times): each rank's shard shrinks with the rank count, and so
    must everything else it holds. Newton for the iterations that reach the
    target; L-BFGS for 12 iterations, past the 10 its history holds."""
    out = []
    for p in SCALING_RANKS:
        for opt, iters in (("newton", 5), ("lbfgs", 12)):
            key = f"{opt}-{p}"
            log(f"shardlearn {opt}, {p} ranks, {iters} iterations (memory only)")
            r = b.shardlearn(key, p, ["--optimizer", opt, "--max-iter", str(iters)],
                             with_model=False)
            csr = [c for c, _, _ in shards[p]]
            out.append({"key": key, "ranks": p, "iterations": iters, "peak_rss_bytes": r["rss"],
                        "csr_bytes": csr, "rss_over_csr": max(x / c for x, c in zip(r["rss"], csr))})
    return out


# --------------------------------------------------------------------------------------------
# Tracking overhead


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_tracking(b, a):
    """The newton on 2 ranks with tracking off (no URI: the local journal
    only), to a live mlflow server, and to a URI where nothing listens. One
    warm-up round (discarded: the server's first seconds are busy), then
    --tracking-reps rounds with the three modes back to back, the order
    rotating each round. Each round gives a ratio to tracking off measured
    minutes apart at most; the target is judged on the median ratio."""
    sys.path.insert(0, str(ROOT / "tests" / "tracking"))
    from mlflow_server import MlflowServer
    dead = f"http://127.0.0.1:{free_port()}"  # bound and released: nothing listens
    args = ["--optimizer", "newton", "--max-iter", str(a.tracking_max_iter)]
    modes = ["off", "live", "down"]
    keys = ("total", "solve", "process")
    t = {k: {m: [] for m in modes} for k in keys}
    cpu = {m: [] for m in modes}  # CPU seconds the server's processes used during each run
    # shardlearn's own account of what tracking cost rank 0 (metrics.json timings):
    # training-thread seconds inside tracker calls, and the sender thread's CPU seconds.
    journal = {m: [] for m in modes}
    sender = {m: [] for m in modes}
    log("tracking overhead: starting an mlflow server")
    with MlflowServer() as srv:
        # /health answers while the server's job-runner processes are still
        # starting, on both cores for some 20 s here: wait until it is idle.
        deadline = time.time() + 180
        while time.time() < deadline:
            c0 = group_cpu_seconds(srv.proc.pid)
            time.sleep(3)
            busy = (group_cpu_seconds(srv.proc.pid) - c0) / 3
            if busy < 0.1:
                break
        log(f"  server idle ({busy:.2f} cores)")
        for rep in range(-1, a.tracking_reps):
            order = modes[rep % 3:] + modes[:rep % 3]
            for mode in order:
                extra = []
                if mode == "live":
                    extra = ["--tracking-uri", srv.url, "--experiment", "shardlearn-bench"]
                elif mode == "down":
                    extra = ["--tracking-uri", dead, "--tracking-flush-timeout", "1"]
                tag = f"tracking-{mode}-{'warmup' if rep < 0 else rep}"
                cpu0 = group_cpu_seconds(srv.proc.pid)
                r = b.shardlearn(tag, 2, args + extra, with_model=False)
                server_cpu = group_cpu_seconds(srv.proc.pid) - cpu0
                tm = r["metrics"]["timings"]
                log(f"  {tag}: total {tm['total']:.2f} s (solve {tm['total'] - tm['load']:.2f} s), "
                    f"process {r['wall']:.2f} s")
                if rep < 0:
                    continue
                t["total"][mode].append(tm["total"])
                t["solve"][mode].append(tm["total"] - tm["load"])
                t["process"][mode].append(r["wall"])
                cpu[mode].append(server_cpu)
                journal[mode].append(tm.get("tracking", 0.0))
                sender[mode].append(tm.get("tracking_sender_cpu", 0.0))
    out = {"optimizer_args": args, "ranks": 2, "reps": a.tracking_reps, "dead_uri": dead,
           "seconds": t, "median_s": {}, "ratio_pct": {}}
    for k in keys:
        out["median_s"][k] = {m: statistics.median(v) for m, v in t[k].items()}
        out["ratio_pct"][k] = {}
        for m in ("live", "down"):
            pct = [100 * (x / o - 1) for x, o in zip(t[k][m], t[k]["off"])]
            out["ratio_pct"][k][m] = {"median": statistics.median(pct), "min": min(pct),
                                      "max": max(pct), "all": pct}
    # Run-to-run spread of tracking off alone: the resolution of this measurement.
    off = t["total"]["off"]
    out["off_spread_pct"] = 100 * (max(off) - min(off)) / statistics.median(off)
    out["slowdown_pct"] = {m: out["ratio_pct"]["total"][m]["median"] for m in ("live", "down")}
    out["server_cpu_s"] = cpu
    out["median_server_cpu_s"] = {m: statistics.median(v) for m, v in cpu.items()}
    # The direct measure, free of the machine's run-to-run noise: what tracking
    # to a server adds on rank 0 over tracking off (which writes the same
    # journal) is the extra training-thread time in tracker calls plus every
    # CPU second of the sender thread, as a share of that round's training
    # time with tracking off. It bounds what tracking can take from training:
    # the sender runs at batch priority on cores the ranks keep busy.
    out["journal_s"], out["sender_cpu_s"] = journal, sender
    out["cost_pct"] = {}
    for m in ("live", "down"):
        pct = [100 * (j - jo + sc) / o for j, jo, sc, o in
               zip(journal[m], journal["off"], sender[m], t["total"]["off"])]
        out["cost_pct"][m] = {"median": statistics.median(pct), "max": max(pct), "all": pct}
    out["journal_pct_off"] = statistics.median(100 * j / o for j, o in zip(journal["off"], t["total"]["off"]))
    return out


def group_cpu_seconds(pgid):
    """User + system CPU seconds of every live process in process group pgid
    (the mlflow server runs in its own session), children it waited for included."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) != pgid:  # fields[0] is field 3 (state); pgrp is field 5
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / tick


# --------------------------------------------------------------------------------------------
# Output


def render_markdown(res):
    mc, dt = res["machine"], res["data"]
    L = []
    L.append(f"Run {res['date']} on {mc['cores']} cores, {mc['cpu']} ({mc['hypervisor'] or 'bare metal'} "
             f"guest, L3 {mc['l3']}), {mc['memory_gib']} GiB, {mc['os']}; took {res['elapsed_s'] / 60:.1f} min.")
    L.append(f"Data: {dt['rows']:,} rows × {dt['features']:,} features, {dt['nnz']:,} nonzeros "
             f"({dt['nnz_per_row']} a row, {dt['columns_used']:,} columns occur), "
             f"{dt['file_bytes'] / 1e6:.0f} MB of LIBSVM text, {100 * dt['positives']:.1f}% positive. "
             f"λ = {res['l2']:g} (C = {res['C']:g}), no intercept. "
             f"F* = {res['fstar']:.12g}; target F ≤ F*·(1 + {res['target_rel']:g}) = {res['target']:.12g}.")
    bw = res["copy_bandwidth"]
    L.append(f"Copy bandwidth measured in this run (read + write): {float(bw['1']) / 1e9:.1f} GB/s for one "
             f"process, {float(bw['2']) / 1e9:.1f} GB/s for two at once; bound = bandwidth / 12 bytes per nonzero.")
    L.append("")
    L.append("| solver | ranks | to target: solve (s) | to target: whole process (s) | final F/F* − 1 | how |")
    L.append("|---|---|---|---|---|---|")
    for r in res["solvers"]:
        if r["solver"].startswith("shardlearn"):
            unit = "epochs" if "sgd" in r["key"] else "iterations"
            how = (f"iteration {r['step_at_target']}, {r['passes_to_target']} passes; timed by "
                   f"{'a ' + r['measured'] if r['measured'] != 'history' else 'its history'}"
                   if r["reached"] else f"not reached in {r['iterations']} {unit}")
            solve = fmt(r["solve_to_target_s"], 1) if r["reached"] else f"> {r['lower_bound_s']:.1f}"
            proc = fmt(r["process_to_target_s"], 1) if r["reached"] else f"> {r['wall_s']:.1f}"
        else:
            runs = ", ".join(f"{fmt_param(r['solver'], x['param'])}: {x['seconds']:.1f} s"
                             for x in r["runs"])
            how = runs
            val = (r["solve_to_target_s"] if r["kind"] == "fit" else r["process_to_target_s"])
            shown = fmt(val, 1) if r["reached"] else (f"> {r['lower_bound_s']:.1f}" if r["lower_bound_s"] else "—")
            solve = shown if r["kind"] == "fit" else "—"
            proc = shown if r["kind"] == "process" else "—"
        L.append(f"| {r['solver']} | {r['ranks']} | {solve} | {proc} | {r['final_gap']:.1e} | {how} |")
    if res.get("sklearn_parse_s"):
        L.append("")
        L.append(f"scikit-learn's `load_svmlight_file` takes {res['sklearn_parse_s']:.1f} s for this file "
                 f"({res['data']['file_bytes'] / 1e6 / res['sklearn_parse_s']:.0f} MB/s); add it to a scikit-learn "
                 f"fit time for its whole process.")
    if res.get("spark_load_s"):
        L.append("")
        L.append(f"Spark MLlib (local[*], one session) reads and caches this file in {res['spark_load_s']:.1f} s with its "
                 f"own LIBSVM reader; its times above are fit only, like scikit-learn's.")
    L.append("")
    L.append("| shardlearn run | passes | s / pass (compute) | nonzeros / s | % of bound | allreduce (s, ms / pass) | parse MB/s / rank | peak RSS / rank (MB) | shard CSR (MB) | RSS / CSR |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in res["solvers"]:
        if not r["solver"].startswith("shardlearn"):
            continue
        rss = " / ".join(f"{x / 1e6:.0f}" for x in r["peak_rss_bytes"])
        csr = " / ".join(f"{x / 1e6:.0f}" for x in r["csr_bytes"])
        if "sgd" in r["key"]:  # passes count only the per-epoch objective evaluations
            per = f"— | — | — | {r['allreduce_s']:.2f}, — "
        else:
            per = (f"{r['seconds_per_pass']:.3f} | {r['nnz_per_s'] / 1e6:.0f} M | {r['pct_bandwidth_bound']:.1f}% | "
                   f"{r['allreduce_s']:.2f}, {r['allreduce_ms_per_pass']:.1f} ")
        L.append(f"| {r['key']} | {r['passes']} | {per}| {r['parse_mb_s_per_rank']:.0f} | {rss} | {csr} | "
                 f"{r['rss_over_csr']:.2f} |")
    ctl = res.get("control")
    if ctl:
        c = [ctl["runs"][k] for k in ("2", "1") if k in ctl["runs"]]
        L.append("")
        L.append(f"In-cache control: the same {dt['rows']:,} rows × {dt['nnz_per_row']} nonzeros over only "
                 f"{ctl['features']:,} columns, whose records stay in L1 (newton, 5 iterations): "
                 + "; ".join(f"{r['ranks']} rank{'s' if r['ranks'] > 1 else ''} {r['seconds_per_pass']:.3f} s / pass, "
                             f"{r['nnz_per_s'] / 1e6:.0f} M nonzeros / s, {r['pct_bandwidth_bound']:.1f}% of the bound"
                             for r in c)
                 + ". This is what the pass's instructions alone allow on this machine.")
    sc = res.get("scaling")
    if sc:
        L.append("")
        L.append("Memory on more ranks (oversubscribed on this machine, so not timed): peak RSS per rank "
                 "(largest rank) / its shard's CSR: "
                 + "; ".join(f"{r['key']} ({r['iterations']} iterations) {max(r['peak_rss_bytes']) / 1e6:.0f} MB / "
                             f"{max(r['csr_bytes']) / 1e6:.0f} MB = {r['rss_over_csr']:.2f}" for r in sc)
                 + ".")
    tr = res.get("tracking")
    if tr:
        L.append("")
        L.append(f"Tracking, newton on 2 ranks ({' '.join(tr['optimizer_args'][2:])}), {tr['reps']} rounds after a "
                 f"warm-up, the three modes back to back in each round. Seconds are medians; "
                 f"'vs off' is the median over rounds of each round's ratio to tracking off "
                 f"(min … max in brackets). Tracking off alone varied by {tr['off_spread_pct']:.0f}% "
                 f"between rounds.")
        L.append("")
        L.append("| tracking | training: timings.total (s) | vs off | solve: total − load (s) | vs off | whole process (s) | vs off |")
        L.append("|---|---|---|---|---|---|---|")
        for m in ("off", "live", "down"):
            cells = []
            for k in ("total", "solve", "process"):
                cells.append(f"{tr['median_s'][k][m]:.2f}")
                if m == "off":
                    cells.append("—")
                else:
                    q = tr["ratio_pct"][k][m]
                    cells.append(f"{q['median']:+.1f}% ({q['min']:+.1f} … {q['max']:+.1f})")
            L.append(f"| {m} | " + " | ".join(cells) + " |")
        c = tr["median_server_cpu_s"]
        if "cost_pct" in tr:
            js = {m: statistics.median(v) for m, v in tr["journal_s"].items()}
            sc = {m: statistics.median(v) for m, v in tr["sender_cpu_s"].items()}
            L.append("")
            L.append("shardlearn's own account (metrics.json `timings.tracking`: rank 0's training thread "
                     "inside tracker calls; `timings.tracking_sender_cpu`: the sender thread's CPU), medians:")
            L.append("")
            L.append("| tracking | training thread in tracker calls (s) | sender thread CPU (s) | "
                     "added over off, % of training (median, worst) |")
            L.append("|---|---|---|---|")
            for m in ("off", "live", "down"):
                add = "—" if m == "off" else (f"{tr['cost_pct'][m]['median']:.3f}%, "
                                              f"{tr['cost_pct'][m]['max']:.3f}%")
                L.append(f"| {m} | {js[m]:.4f} | {sc[m]:.4f} | {add} |")
            L.append("")
            L.append(f"The journal itself (written with tracking off too) takes {tr['journal_pct_off']:.3f}% "
                     f"of training.")
        L.append("")
        L.append(f"CPU seconds the mlflow server's processes used during a run (median): off {c['off']:.2f}, "
                 f"live {c['live']:.2f}, down {c['down']:.2f}. The noise in the targets below is half the "
                 f"spread of tracking off alone.")
    if res.get("stop"):
        L.append("")
        L += [STOP_BEGIN, stop_bench.render(res["stop"]), STOP_END]
    if res.get("cache"):
        L.append("")
        L += [CACHE_BEGIN, cache_bench.render(res["cache"]), CACHE_END]
    if res.get("serve"):
        L.append("")
        L += [SERVE_BEGIN, serve_bench.render(res["serve"]), SERVE_END]
    if res.get("warm"):
        L.append("")
        L += [WARM_BEGIN, warm_bench.render(res["warm"]), WARM_END]
    if res.get("sources"):
        L.append("")
        L += [SOURCES_BEGIN, sources_bench.render(res["sources"]), SOURCES_END]
    if res.get("l1"):
        L.append("")
        L += [L1_BEGIN, l1_bench.render(res["l1"]), L1_END]
    if res.get("path"):
        L.append("")
        L += [PATH_BEGIN, path_bench.render(res["path"]), PATH_END]
    if res.get("peers"):
        L.append("")
        L += [PEERS_BEGIN, peers_bench.render(res["peers"], res["target"]), PEERS_END]
    if res.get("dense"):
        L.append("")
        L += [DENSE_BEGIN, dense_bench.render(res["dense"]), DENSE_END]
    if res.get("multinomial"):
        L.append("")
        L += [MULTI_BEGIN, multinomial_bench.render(res["multinomial"]), MULTI_END]
    L.append("")
    L.append(f"Default optimizer by this run: **{res['default_optimizer']}** (reached the target sooner on 2 ranks).")
    L.append("")
    L.append("| target | this run | met |")
    L.append("|---|---|---|")
    for t in res["targets"]:
        verdict = "not resolved" if t["met"] is None else ("yes" if t["met"] else "**no**")
        L.append(f"| {t['target']} | {t['value']} | {verdict} |")
    return "\n".join(L) + "\n"


def fmt_param(solver, p):
    if "Spark" in solver:
        return f"maxIter {p}"
    if "lbfgs" in solver:
        return f"max_iter {p}"
    if "SGD" in solver:
        return f"epoch {p}"
    if "liblinear-train" in solver:
        return f"-e {p:g}"
    return f"tol {p:g}"


BENCH_BEGIN, BENCH_END = "<!-- bench:begin -->", "<!-- bench:end -->"
STOP_BEGIN, STOP_END = "<!-- stop:begin -->", "<!-- stop:end -->"
SERVE_BEGIN, SERVE_END = "<!-- serve:begin -->", "<!-- serve:end -->"
WARM_BEGIN, WARM_END = "<!-- warm:begin -->", "<!-- warm:end -->"
L1_BEGIN, L1_END = "<!-- l1:begin -->", "<!-- l1:end -->"
SOURCES_BEGIN, SOURCES_END = "<!-- sources:begin -->", "<!-- sources:end -->"
CACHE_BEGIN, CACHE_END = "<!-- cache:begin -->", "<!-- cache:end -->"
PATH_BEGIN, PATH_END = "<!-- path:begin -->", "<!-- path:end -->"
PEERS_BEGIN, PEERS_END = "<!-- peers:begin -->", "<!-- peers:end -->"
DENSE_BEGIN, DENSE_END = "<!-- dense:begin -->", "<!-- dense:end -->"
MULTI_BEGIN, MULTI_END = "<!-- multinomial:begin -->", "<!-- multinomial:end -->"


def record_part(a, key, value, text, ts, markers, block=False, rows=None):
    """The end of a part measured alone (--only-KEY): logs text (a paragraph,
    or with block a table), saves value (save_part) and, with --write-doc,
    puts text and the part's target rows into docs/benchmark.md between
    markers, in place of an earlier run's (rows: the prefixes of the target
    rows it replaces; by default its own targets')."""
    log(text if block else "  " + text)
    date = save_part(a, key, value, ts)
    if a.write_doc:
        sep = "\n\n" if block else " "
        patch_doc(*markers, f"{text}{sep}(`scripts/bench.sh --only-{key}`, {date})", ts,
                  rows or tuple("| " + t["target"] for t in ts))


def stop_only(b, a):
    """--only-stop: the stopping figures alone."""
    log("shardlearn lbfgs, 2 ranks, --checkpoint-dir: SIGUSR1, and checkpoints every iteration")
    st = stop_bench.measure_stop(b, a)
    record_part(a, "stop", st, stop_bench.render(st), stop_bench.targets(st), (STOP_BEGIN, STOP_END))


def serve_only(b, a):
    """--only-serve: the serving comparison alone."""
    sv = serve_bench.measure_serve(b, a)
    record_part(a, "serve", sv, serve_bench.render(sv), serve_bench.targets(sv),
                (SERVE_BEGIN, SERVE_END), block=True, rows=("| serving",))


def warm_only(b, a):
    """--only-warm: the warm-start saving alone."""
    log("shardlearn newton, 2 ranks: lambda, then 0.8 lambda cold and with --init-model")
    w = warm_bench.measure_warm(b, a)
    record_part(a, "warm", w, warm_bench.render(w), warm_bench.targets(w), (WARM_BEGIN, WARM_END))


def l1_only(b, a):
    """--only-l1: L1 logistic regression against liblinear-train -s 6 alone."""
    r = l1_bench.measure_l1(b, a, log)
    record_part(a, "l1", r, l1_bench.render(r), l1_bench.targets(r), (L1_BEGIN, L1_END), block=True)


def sources_only(b, a):
    """--only-sources: the data-source load rates alone."""
    log("data sources: load rates of the file plain, as .gz/.zst, as compressed parts and from gs://")
    sv = sources_bench.measure_sources(b, a, log)
    record_part(a, "sources", sv, sources_bench.render(sv), sources_bench.targets(sv),
                (SOURCES_BEGIN, SOURCES_END), block=True, rows=("| decompress-and-parse",))


def cache_only(b, a):
    """--only-cache: the binary cache alone."""
    log("shardlearn convert (2 ranks), then train --max-iter 1 from the text and the cache")
    c = cache_bench.measure_cache(b, a)
    record_part(a, "cache", c, cache_bench.render(c), cache_bench.targets(c), (CACHE_BEGIN, CACHE_END),
                rows=("| cache load", "| models from the cache"))


def path_only(b, a):
    """--only-path: the regularisation path alone."""
    log("shardlearn newton, 2 ranks: a path of 10 lambdas, and one fit at the weakest")
    p = path_bench.measure_path(b, a)
    record_part(a, "path", p, path_bench.render(p), path_bench.targets(p), (PATH_BEGIN, PATH_END))


def dense_only(b, a):
    """--only-dense: the small-d Newton set alone."""
    dv = dense_bench.measure_dense(b, a, log)
    record_part(a, "dense", dv, dense_bench.render(dv), dense_bench.targets(dv),
                (DENSE_BEGIN, DENSE_END), rows=("| dense 12000×784",))


def peers_only(b, a):
    """--only-peers: shardlearn newton on 2 ranks (to the target, whole
    process) against the multi-core peers alone (see save_part, patch_doc)."""
    log("shardlearn newton, 2 ranks, tight tolerance")
    r = b.shardlearn("newton-2", 2, ["--optimizer", "newton", "--tol", "1e-10"])
    b.fstar_prelim = r["F"]
    pe = peers_bench.measure_peers(b, a, log)
    target = min([r["F"]] + [x["F"] for runs in pe.values() for x in runs]) * (1 + TARGET_REL)
    tt = sl_to_target(r, target)
    t2 = None
    if tt["reached"]:
        log(f"shardlearn newton, 2 ranks, --max-iter {tt['step']} (whole process to target)")
        d = b.shardlearn("newton-2-to-target", 2, ["--optimizer", "newton", "--max-iter",
                                                    str(tt["step"])])
        t2 = d["wall"] if d["F"] <= target else None
    para = peers_bench.render(pe, target)
    if t2:
        para += f" shardlearn newton, 2 ranks, whole process: {t2:.2f} s."
    log("  " + para)
    ts = peers_bench.targets(pe, target, t2)
    n, d_ = b.X.shape
    value = {"rows": n, "features": d_, "nnz": int(b.X.nnz), "target": target, "peers": pe,
             "shardlearn_process_s": t2}
    date = save_part(a, "peers_only", value, ts)
    if a.write_doc:
        patch_doc(PEERS_BEGIN, PEERS_END,
                  f"{para} ({n} rows × {d_} features, {b.X.nnz} nonzeros; "
                  f"`scripts/bench.sh --only-peers {' '.join(sys.argv[1:]).replace('--only-peers', '').replace('--write-doc', '').strip()}`, {date})",
                  ts, ("| 2 ranks reach the target >= 4x",))


def multinomial_only(b, a):
    """--only-multinomial: the multinomial comparison alone."""
    log("multinomial: 60000 x 784, 10 classes, 2 ranks against scikit-learn")
    m = multinomial_bench.measure_multinomial(b, a, log, a.multinomial_budget)
    record_part(a, "multinomial", m, multinomial_bench.render(m), multinomial_bench.targets(m),
                (MULTI_BEGIN, MULTI_END), block=True, rows=("| multinomial",))


def save_part(a, key, value, ts):
    """One part of the benchmark measured alone: into OUT/<key>.json, and into
    OUT/bench.json's <key> when a full run's is there (so --render keeps it).
    Returns the date it is recorded with."""
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    out = Path(a.out)
    (out / f"{key}.json").write_text(json.dumps({"date": date, "machine": machine_info(), key: value,
                                                 "targets": ts}, indent=1) + "\n")
    if (out / "bench.json").exists():
        res = json.loads((out / "bench.json").read_text())
        res[key] = value
        (out / "bench.json").write_text(json.dumps(res, indent=1) + "\n")
    return date


def patch_doc(begin, end, text, ts, rows):
    """Into docs/benchmark.md's results, in place of an earlier run's: text
    between its own markers, before the "Default optimizer" line, and the
    target rows ts at the end of the targets table (rows starting with one
    of `rows` are an earlier run's). Dated by the caller, since the rest of
    the results are older."""
    doc = ROOT / "docs" / "benchmark.md"
    head, rest = doc.read_text().split(BENCH_BEGIN, 1)
    inner, tail = rest.split(BENCH_END, 1)
    if begin in inner:  # in its place
        pre, post = inner.split(begin, 1)
        inner = pre + begin + "\n" + text + "\n" + end + post.split(end, 1)[1]
        lines = inner.split("\n")
    else:  # a new part: before the "Default optimizer" line
        lines = inner.split("\n")
        at = next(i for i, l in enumerate(lines) if l.startswith("Default optimizer"))
        lines[at:at] = [begin, text, end, ""]
    old = [i for i, l in enumerate(lines) if l.startswith(rows)]
    lines = [l for l in lines if not l.startswith(rows)]
    # The new rows where the old ones began, else at the end of the table.
    at = old[0] if old else max(i for i, l in enumerate(lines) if l.startswith("| ")) + 1
    verdict = {None: "not resolved", True: "yes", False: "**no**"}
    lines[at:at] = [f"| {t['target']} | {t['value']} | {verdict[t['met']]} |" for t in ts]
    doc.write_text(head + BENCH_BEGIN + "\n".join(lines) + BENCH_END + tail)
    log(f"updated {doc}")


def write_doc(md):
    doc = ROOT / "docs" / "benchmark.md"
    text = doc.read_text()
    if BENCH_BEGIN not in text or BENCH_END not in text:
        raise SystemExit(f"{doc}: no {BENCH_BEGIN} ... {BENCH_END} markers")
    head, rest = text.split(BENCH_BEGIN, 1)
    _, tail = rest.split(BENCH_END, 1)
    doc.write_text(head + BENCH_BEGIN + "\n" + md + BENCH_END + tail)
    log(f"updated {doc}")


if __name__ == "__main__":
    main()
