"""examples/slurm/train.sbatch under a real Slurm (README: Running on a
cluster, Slurm). The test starts a single-machine Slurm (tests/cluster/
slurm_cluster.py: munged, slurmctld, slurmd) and a real MLflow server, and
submits the example script unmodified, its settings given through the
environment (sbatch --export=ALL) and the node count on sbatch's command line:
SGD on 2 ranks with a checkpoint after every epoch, launched once by mpirun and
once by srun --mpi=pmix (SL_LAUNCHER), one job after the other.

Once the job has checkpointed its 5th epoch, it gets the warning the way
--signal=B:USR1@120 gives it (scancel --batch --signal=USR1: the batch shell
only). Checked: the script passes it on, the ranks checkpoint and exit 75, the
script requeues the job, which Slurm starts again (Restarts=1, PENDING in
between), and the second start resumes from the checkpoint and ends with
JobState COMPLETED, exit 0, the same model file byte for byte as an
uninterrupted mpirun run outside Slurm on 2 ranks, no checkpoint left, and one
FINISHED MLflow run with every epoch's metric once.

The daemons, the job and the MLflow server are stopped also when a check
fails or the test gets SIGTERM/SIGINT; those of an earlier run that was killed
with SIGKILL are stopped at the start. Without Slurm or munge, or not as root
(the configuration runs the daemons as root), it exits 77 and says why.

  test_slurm.py SHARDLEARN MPIRUN"""
import glob
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SBATCH = os.path.join(ROOT, "examples", "slurm", "train.sbatch")
sys.path.insert(0, os.path.join(HERE, "..", "tracking"))
sys.path.insert(0, HERE)
from slurm_cluster import MARK, SlurmCluster, missing_tools, stop_stale  # noqa: E402

EXIT_CHECKPOINTED = 75
EPOCHS = 40  # 1.5 s (idle) to 6 s (loaded 2-core machine) with a checkpoint after every epoch
OPTS = ["--optimizer", "sgd", "--batch-size", "8", "--epochs", str(EPOCHS), "--l2", "1e-5"]
DONE = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
        "DEADLINE", "PREEMPTED"}


T0 = time.monotonic()


def say(what):
    print(f"[{time.monotonic() - T0:5.1f} s] {what}", flush=True)


def skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(77)


def leave_on_signals():
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))


def hold_signals():
    """Clean-up runs to its end: a stop signal that arrives now waits."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def same_bytes(a, b):
    with open(a, "rb") as f, open(b, "rb") as g:
        return f.read() == g.read()


def start_in_background(srv):
    """srv.start() in a thread (MLflow takes seconds to come up): a function
    that waits for it and raises what it raised."""
    err = []

    def go():
        try:
            srv.start()
        except Exception as e:  # noqa: BLE001 - handed to the waiter
            err.append(e)

    t = threading.Thread(target=go, daemon=True)
    t.start()

    def wait():
        t.join(150)
        if t.is_alive():
            raise RuntimeError("mlflow server: no answer in 150 s")
        if err:
            raise err[0]

    return wait


def wait_for(what, cond, timeout, poll=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(poll)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def requeued_job(cluster, srv, launcher, bin_, mpirun, d, data, full):
    """Submits the example with SL_LAUNCHER=launcher, warns it after its first
    checkpoint and checks the requeue, the resume and the result."""
    from common import check, mpi_env

    def ck(ok, what):
        check(ok, f"{launcher}: {what}")

    shared = os.path.join(d, launcher)
    ckpt = os.path.join(shared, "ckpts")
    model = os.path.join(shared, "model.json")
    out = os.path.join(d, f"{launcher}.out")
    experiment = f"slurm-{launcher}"
    job_env = mpi_env(dict(cluster.env, SL_BIN=bin_, SL_DATA=data, SL_OPTS=" ".join(OPTS),
                           SL_SHARED=shared, SL_CKPT_DIR=ckpt, SL_CKPT_EVERY="0",
                           SL_MODEL_OUT=model, SL_RUNS_DIR=os.path.join(shared, "runs"),
                           MLFLOW_TRACKING_URI=srv.url, MLFLOW_EXPERIMENT_NAME=experiment,
                           SL_LAUNCHER=launcher,
                           PATH=os.path.dirname(mpirun) + os.pathsep + os.environ["PATH"]))
    # Open MPI's session directory: the script's own, per job, under the job's TMPDIR.
    job_env.pop("OMPI_MCA_orte_tmpdir_base")
    job_env["TMPDIR"] = tmp = os.path.join(d, f"{launcher}-tmp")
    os.mkdir(tmp)
    r = cluster.client(["sbatch", "--parsable", "--export=ALL", "--nodes=1", "--ntasks-per-node=2",
                        f"--chdir={d}", f"--output={out}", SBATCH], env=job_env)
    job = r.stdout.strip().split(";")[0]
    say(f"{launcher}: submitted job {job}")

    # The warning, once the checkpoint after the 5th epoch is complete (one after every epoch:
    # ckpt-000000 after the first).
    manifests = os.path.join(ckpt, "ckpt-*", "manifest.json")

    def fifth():
        return [m for m in glob.glob(manifests) if int(m.split("ckpt-")[-1][:6]) >= 4]

    wait_for("the job's 5th checkpoint", lambda: fifth() or cluster.job(job).get("JobState") in DONE, 60)
    state = cluster.job(job).get("JobState")
    if state != "RUNNING":
        raise RuntimeError(f"at the 5th checkpoint the job is {state}, not RUNNING\n{read(out)}")
    say(f"{launcher}: checkpoint {fifth()}; scancel --batch --signal=USR1 {job}")
    cluster.client(["scancel", "--batch", "--signal=USR1", job])

    # Requeued, started again, finished.
    seen = []

    def ended():
        s = cluster.job(job)
        st = s.get("JobState")
        if st and (not seen or seen[-1] != st):
            seen.append(st)
        return s if st in DONE else None

    final = wait_for("the job to end", ended, 90, poll=0.2)
    text = read(out)
    say(f"{launcher}: job {job} ended; states after the warning: {' -> '.join(seen)}")
    # The job's output without its per-epoch progress lines.
    print("\n".join(l for l in text.splitlines() if not l.startswith("epoch ")), flush=True)
    ck(final.get("JobState") == "COMPLETED" and final.get("ExitCode") == "0:0",
       f"job ended {final.get('JobState')} with ExitCode {final.get('ExitCode')}")
    ck(final.get("Restarts") == "1", f"Restarts={final.get('Restarts')}, want 1 (one requeue)")
    ck("PENDING" in seen, f"the job never went back to the queue: states {seen}")
    ck(text.count(f"train.sbatch: job {job}, start ") == 2
       and f"train.sbatch: job {job}, start 2," in text,
       "the output does not show the script starting twice (start 1, start 2)")
    ck(text.count("train.sbatch: warning signal: asking the ranks to checkpoint") == 1,
       "the script did not pass the warning on once")
    ck(text.count("stopped by signal 10 after") == 1, "no 'stopped by signal 10' line")
    ck(text.count(f"(exit 75): requeueing job {job}") == 1, "no requeue line")
    ck(text.count(f"resuming from {ckpt}/ckpt-") == 1, "the second start did not resume")
    ck(text.rstrip().endswith("train.sbatch: done, exit 0"), "the output does not end with exit 0")
    ck(os.path.exists(model) and same_bytes(model, full),
       "the requeued job's model differs from the uninterrupted run's")
    ck(not os.listdir(tmp), f"left in the job's TMPDIR: {os.listdir(tmp)}")
    ck(not glob.glob(os.path.join(ckpt, "*")),
       f"checkpoints left after the run finished: {glob.glob(os.path.join(ckpt, '*'))}")

    # One MLflow run, continued across the requeue: every epoch once.
    exp = srv.get("experiments/get-by-name", experiment_name=experiment)["experiment"]
    runs = srv.post("runs/search", {"experiment_ids": [exp["experiment_id"]],
                                    "run_view_type": "ALL"}).get("runs", [])
    ck(len(runs) == 1, f"{len(runs)} MLflow runs, want 1 (the resumed job continues its run)")
    if runs:
        info = runs[0]["info"]
        ck(info["status"] == "FINISHED", f"MLflow run {info['status']}, want FINISHED")
        steps = sorted(p["step"] for p in srv.history(info["run_id"], "objective"))
        ck(steps == list(range(1, EPOCHS + 1)),
           f"objective logged at {len(steps)} steps, want 1..{EPOCHS} once each")


def main(bin_, mpirun):
    from common import check, finish, mpi_env
    from mlflow_server import MlflowServer
    from track_common import long_data

    stale = stop_stale()
    if stale:
        print(f"stopped processes of an earlier run of this test that was killed: {stale}", flush=True)
    cluster = SlurmCluster(cpus=2)
    # Everything this test starts carries the cluster's mark (the MLflow server and the
    # uninterrupted run too), and the data lives in the cluster's directory: a later run
    # cleans up after this one if it is killed with SIGKILL.
    os.environ[MARK] = cluster.dir
    d = cluster.path("work")
    os.mkdir(d)
    srv = MlflowServer()
    try:
        mlflow_up = start_in_background(srv)
        cluster.start()
        say("Slurm is up")
        data = os.path.join(d, "data.svm")
        long_data(data)
        say("data written")

        # The uninterrupted run, outside Slurm, on the same rank count.
        full = os.path.join(d, "full.json")
        env = mpi_env()
        env.pop("MLFLOW_TRACKING_URI", None)
        r = subprocess.run([mpirun, "--oversubscribe", "-np", "2", bin_, "train", "--data", data,
                            "--model-out", full, "--tracking-dir", os.path.join(d, "runs-full")]
                           + OPTS, capture_output=True, text=True, env=env, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"uninterrupted run: exit {r.returncode}\n{r.stderr[-2000:]}")
        say("uninterrupted run done")
        mlflow_up()
        say("MLflow is up")

        for launcher in ("mpirun", "srun"):
            try:
                requeued_job(cluster, srv, launcher, bin_, mpirun, d, data, full)
            except RuntimeError as e:
                raise RuntimeError(f"{launcher}: {e}") from e
    except RuntimeError as e:
        check(False, f"{e}\n{cluster.logs()}")
    finally:
        hold_signals()
        srv.close()
        cluster.stop()
    finish()


if __name__ == "__main__":
    if os.geteuid() != 0:
        skip("the test's Slurm runs its daemons and the job as root")
    missing = missing_tools()
    if missing:
        skip(f"not installed: {', '.join(missing)} (scripts/deps.sh installs slurm-wlm and munge)")
    sys.path.insert(0, os.path.join(HERE, "..", "reference"))
    leave_on_signals()
    main(os.path.abspath(sys.argv[1]), sys.argv[2])
