"""The Google Cloud Batch job (examples/gcp), run here: the task script itself
on two network-namespace "hosts", batch0 and batch1 (tests/cluster/netns.py,
on 10.211.8.0/24, so it runs beside cluster_multihost), with what Batch would
give it - BATCH_TASK_INDEX, a BATCH_HOSTS_FILE (written batch1 first, as
Batch's order need not be ours) - and a local directory standing in for
the Cloud Storage bucket mounted on every VM. Open MPI reaches batch1 through
tests/cluster/netns-rsh where Batch's VMs use ssh (permissiveSsh).

Checked:
  1. prepare (both tasks): exit 0, "ready", and task 0 opens an attempt in
     the bucket; with data missing from the bucket, exit 1 and one line
     naming the file;
  2. train on task 1 follows task 0: in every run below it waits and exits
     with task 0's code (0, or 75 so that all tasks are retried together);
     when a newer attempt appears (task 0 started again), it exits 75;
  3. train on task 0: 2 ranks over the hosts file; the model lands in the
     bucket and is, byte for byte, the model of the same 2-rank job on one
     host (the hosts change only the transport); rank 0
     ran on batch0 (the journal's shardlearn.hosts is "batch0,batch1"); the
     --watch-preemption warning shows it was on (GCE_METADATA_HOST points at
     a closed port); no checkpoint is left;
  4. the same in a fresh job directory, stopped by SIGUSR1 to the task script
     mid-run: exit 75 (what the job's lifecyclePolicies retry), a complete
     checkpoint in the bucket and no model; the task run again resumes from it
     and writes the model of step 3 byte for byte, in the same tracking run;
  5. a preemption notice on the other VM: task 1's watch step long-polls a
     fake metadata server in batch1 (tests/cluster/fake_metadata.py) that
     turns TRUE mid-run; task 0 gets the notice through the bucket and exits
     75 with a checkpoint; the rerun (which ignores the old notice) ends as in 4;
  6. a VM lost before its ranks could checkpoint: batch1's processes are
     frozen, a notice from batch1 is put in the bucket, and once task 0 has
     answered it they are killed: mpirun fails, task 0 still exits 75, and
     the rerun ends with the model of step 3;
  7. first, and also without root: the job spec. examples/gcp/batch-job.json
     and scripts/gcp/submit-batch.sh --dry-run for two argument sets
     validate against tests/cluster/batch_job.schema.json (written from
     Google's Batch API reference) and hold what was asked; broken copies (a
     misspelled field, a wrong type, a bad enum, a second runnable kind, ...)
     are rejected; bad arguments are one line and exit 2; without gcloud, a
     clear error; with a stand-in gcloud, the call is `batch jobs submit NAME
     --location REGION --config -` with the dry run's JSON on stdin.
The namespaces are removed even when a check fails or the test is stopped.

  test_batch_task.py SHARDLEARN MPIRUN"""
import copy
import glob
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tracking"))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))

import numpy as np  # noqa: E402
from common import BIN, MPIRUN, check, failures, finish, mpi_env  # noqa: E402
from common import load_model  # noqa: E402
from netns import RSH, Cluster, hold_signals, stop  # noqa: E402
from track_common import long_data  # noqa: E402

TASK = os.path.join(ROOT, "examples", "gcp", "task.sh")
TEMPLATE = os.path.join(ROOT, "examples", "gcp", "batch-job.json")
SUBMIT = os.path.join(ROOT, "scripts", "gcp", "submit-batch.sh")
SCHEMA = os.path.join(HERE, "batch_job.schema.json")
FAKE_METADATA = os.path.join(HERE, "fake_metadata.py")
SUBNET = "10.211.8.0/24"
CLUSTER = Cluster("slb", SUBNET, {"batch0": "10.211.8.1", "batch1": "10.211.8.2"})
EXIT_CHECKPOINTED = 75
# 181 L-BFGS iterations on long_data(n=150000), 2-3 s over the two hosts: stopped at iteration 5.
TRAIN = ["--optimizer", "lbfgs", "--tol", "1e-8", "--l2", "1e-5", "--max-iter", "1000"]
BIN = os.path.abspath(BIN)


def task_env(d, out, index, extra=None):
    env = CLUSTER.env(mpi_env())
    env.update(BATCH_TASK_INDEX=str(index), BATCH_TASK_COUNT="2",
               BATCH_HOSTS_FILE=os.path.join(d, "hosts"), SL_MOUNT=os.path.join(d, "bucket"),
               SL_DATA="data/train.svm", SL_OUT=out, SL_BIN=BIN, SL_MPIRUN=MPIRUN,
               SL_SLOTS_PER_HOST="1", SL_NETWORK=SUBNET,
               # --bind-to none: each host would pin its rank to core 0, the same core here.
               SL_MPI_ARGS=f"--mca plm_rsh_agent {RSH} --bind-to none",
               SL_TRAIN_ARGS="\n".join(TRAIN),
               GCE_METADATA_HOST="127.0.0.1:1",
               SL_NOTICE_POLL="0.2", SL_FOLLOW_POLL="0.2")  # closed: the watcher warns once and trains on
    for k in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_TRACKING_TOKEN"):
        env.pop(k, None)
    env.update(extra or {})
    return env


def task_cmd(index):
    return CLUSTER.in_host(f"batch{index}", ["bash", TASK])


def run_task(d, out, index, step, extra=None, timeout=90):
    env = task_env(d, out, index, dict(extra or {}, SL_STEP=step))
    try:
        return subprocess.run(task_cmd(index), capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        check(False, f"task {index} {step}: no exit within {timeout} s")
        return subprocess.CompletedProcess(e.cmd, -1, e.stdout or "", e.stderr or "")


def weights(path):
    w, b, _ = load_model(path)
    return np.append(w, b)


def journal_tags(out_dir):
    runs = glob.glob(os.path.join(out_dir, "runs", "*"))
    tags = {}
    for rd in runs:
        with open(os.path.join(rd, "journal.jsonl")) as f:
            for line in f:
                r = json.loads(line)
                if r.get("type") == "tag":
                    tags[r["key"]] = r["value"]
    return runs, tags


def manifests(out_dir):
    return glob.glob(os.path.join(out_dir, "ckpts", "ckpt-*", "manifest.json"))


def check_steps(d):
    """1 and 2: prepare on both tasks; a follower whose attempt is overtaken."""
    for i in (0, 1):
        p = run_task(d, "jobs/full", i, "prepare")
        check(p.returncode == 0 and f"task {i} on batch{i}: ready" in p.stdout,
              f"prepare task {i}: exit {p.returncode}\n{p.stdout}{p.stderr}")
    p = run_task(d, "jobs/full", 1, "prepare", {"SL_DATA": "data/missing.svm"})
    missing = os.path.join(d, "bucket", "data", "missing.svm")
    lines = p.stderr.strip().splitlines()
    check(p.returncode == 1 and len(lines) == 1 and missing in p.stderr,
          f"prepare with missing data: exit {p.returncode}, stderr {p.stderr!r}")
    attempts = os.path.join(d, "bucket", "jobs", "full", "attempts")
    opened = os.listdir(attempts) if os.path.isdir(attempts) else []
    check(len(opened) == 1, f"prepare task 0: attempts {opened}, want one")
    # A follower whose attempt is overtaken (task 0 started again without an
    # exit code, as after its VM was preempted) exits 75 to start again too.
    os.makedirs(os.path.join(d, "bucket", "jobs", "overtaken", "attempts", "20260101T000000.000000000Z"))
    p, log = start_logged(task_cmd(1), task_env(d, "jobs/overtaken", 1, {"SL_STEP": "train"}),
                          os.path.join(d, "overtaken.log"))
    check(wait_marker(p, log, "waiting for its exit code"), "follower: never waited for task 0")
    time.sleep(0.5)
    check(p.poll() is None, "follower: did not wait for task 0's exit code")
    os.makedirs(os.path.join(d, "bucket", "jobs", "overtaken", "attempts", "20260101T000100.000000000Z"))
    rc, text = finish_stopped(p, log, "follower", timeout=20)
    check(rc == EXIT_CHECKPOINTED and "task 0 started again" in text,
          f"follower of an overtaken attempt: exit {rc}\n{text}")


def follower(d, job):
    """Task 1's train step beside task 0's: it waits for task 0's exit code."""
    return start_logged(task_cmd(1), task_env(d, job, 1, {"SL_STEP": "train"}),
                        os.path.join(d, f"follower-{job.replace('/', '-')}-{time.monotonic_ns()}.log"))


def check_follower(f, want, what):
    p, log = f
    rc, text = finish_stopped(p, log, f"{what}: task 1", timeout=30)
    check(rc == want and f"task 0 exited {want}: so does this task" in text,
          f"{what}: task 1 exit {rc}, want {want} as task 0\n{text[-2000:]}")


def check_full(d, ref):
    """3: task 0 trains over both hosts into the bucket."""
    out = os.path.join(d, "bucket", "jobs", "full")
    fol = follower(d, "jobs/full")
    t0 = time.monotonic()
    p = run_task(d, "jobs/full", 0, "train")
    check_follower(fol, 0, "full run")
    print(f"task 0 train over 2 hosts: exit {p.returncode} in {time.monotonic() - t0:.1f} s", flush=True)
    check(p.returncode == 0, f"train task 0: exit {p.returncode}\n{p.stdout[-3000:]}{p.stderr[-3000:]}")
    model = os.path.join(out, "model.json")
    if not os.path.exists(model):
        check(False, "train task 0: no model.json in the bucket")
        return None
    with open(model, "rb") as a, open(ref, "rb") as b:
        same = a.read() == b.read()
    rel = np.abs(weights(model) - weights(ref)).max() / np.abs(weights(ref)).max()
    print(f"2 ranks on 2 hosts (task script) vs 2 ranks on 1 host: max |dw| / max |w| = {rel:.2e}, "
          f"{'the same bytes' if same else 'other bytes'}", flush=True)
    check(same, f"the task's model is not the 1-host model byte for byte ({rel:.3e} relative)")
    check(os.path.exists(os.path.join(out, "metrics.json")), "no metrics.json in the bucket")
    runs, tags = journal_tags(out)
    check(len(runs) == 1, f"tracking runs in the bucket: {runs}")
    check(tags.get("shardlearn.hosts") == "batch0,batch1",
          f"shardlearn.hosts = {tags.get('shardlearn.hosts')!r}: rank 0 not on task 0's host?")
    check(tags.get("shardlearn.mpi_ranks") == "2", f"shardlearn.mpi_ranks = {tags.get('shardlearn.mpi_ranks')!r}")
    check("--watch-preemption" in p.stderr + p.stdout, "no --watch-preemption warning: was it passed?")
    check(not manifests(out), "a checkpoint was left after the run finished")
    return model


def start_logged(cmd, env, log_path):
    log = open(log_path, "w+")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log


def wait_marker(p, log, marker, timeout=60):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout and p.poll() is None:
        log.seek(0)
        if marker in log.read():
            return True
        time.sleep(0.02)
    return False


def finish_stopped(p, log, what, timeout=60):
    """The exit code (None if it hung) and the output."""
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        check(False, f"{what}: the task did not exit within {timeout} s")
        stop(p)
        rc = None
    log.seek(0)
    text = log.read()
    log.close()
    return rc, text


def check_resume(d, job, full_model, what):
    """After a stop: exit 75 was checked; one checkpoint, no model; the task
    run again resumes and ends with the uninterrupted model, same run."""
    out = os.path.join(d, "bucket", "jobs", job)
    check(len(manifests(out)) == 1, f"{what}: complete checkpoints in the bucket: {manifests(out)}")
    check(not os.path.exists(os.path.join(out, "model.json")), f"{what}: a model file was written")
    runs_before, _ = journal_tags(out)
    for i in (0, 1):
        run_task(d, f"jobs/{job}", i, "prepare")
    fol = follower(d, f"jobs/{job}")
    p = run_task(d, f"jobs/{job}", 0, "train")
    check_follower(fol, 0, f"{what}, rerun")
    check(p.returncode == 0 and "resuming from" in p.stdout + p.stderr,
          f"{what}, rerun: exit {p.returncode}\n{p.stdout[-3000:]}{p.stderr[-3000:]}")
    model = os.path.join(out, "model.json")
    if full_model and os.path.exists(model):
        with open(model, "rb") as a, open(full_model, "rb") as b:
            check(a.read() == b.read(), f"{what}, rerun: the model is not byte for byte the uninterrupted one")
    else:
        check(False, f"{what}, rerun: no model.json in the bucket")
    runs_after, _ = journal_tags(out)
    check(len(runs_before) == 1 and runs_after == runs_before,
          f"{what}, rerun: tracking runs {runs_before} before, {runs_after} after (want the same one)")


def check_stop_and_resume(d, full_model):
    """4: SIGUSR1 to the task script, exit 75, rerun resumes."""
    run_task(d, "jobs/stopped", 0, "prepare")
    fol = follower(d, "jobs/stopped")
    p, log = start_logged(task_cmd(0), task_env(d, "jobs/stopped", 0, {"SL_STEP": "train"}),
                          os.path.join(d, "stopped.log"))
    check(wait_marker(p, log, "iter      5 "), "SIGUSR1: iteration 5 never printed")
    # ip netns exec, unshare and sh exec in turn: the pid is the task script's bash.
    try:
        with open(f"/proc/{p.pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        argv = []
    check(argv[:2] == [b"bash", TASK.encode()], f"SIGUSR1: pid {p.pid} runs {argv}")
    p.send_signal(signal.SIGUSR1)
    rc, text = finish_stopped(p, log, "SIGUSR1")
    check(rc == EXIT_CHECKPOINTED, f"SIGUSR1: exit {rc}, want {EXIT_CHECKPOINTED}\n{text[-3000:]}")
    check_follower(fol, EXIT_CHECKPOINTED, "SIGUSR1")
    check_resume(d, "stopped", full_model, "SIGUSR1")


def check_peer_notice(d, full_model):
    """5: batch1's metadata server turns TRUE mid-run: its watch step tells
    task 0 through the bucket, and task 0 stops the run with a checkpoint."""
    flag = os.path.join(d, "batch1-preempted")
    srv = subprocess.Popen(CLUSTER.in_host("batch1", [sys.executable, FAKE_METADATA, "127.0.0.1:8181", flag]),
                           stdout=subprocess.PIPE, text=True)
    watch = train = None
    try:
        ready, _, _ = select.select([srv.stdout], [], [], 20)
        check(ready and srv.stdout.readline().strip() == "ready", "the fake metadata server did not start")
        watch, wlog = start_logged(task_cmd(1), task_env(d, "jobs/notice", 1, {
            "SL_STEP": "watch", "GCE_METADATA_HOST": "127.0.0.1:8181"}), os.path.join(d, "watch.log"))
        train, tlog = start_logged(task_cmd(0), task_env(d, "jobs/notice", 0, {"SL_STEP": "train"}),
                                   os.path.join(d, "notice.log"))
        check(wait_marker(train, tlog, "iter      5 "), "notice: iteration 5 never printed")
        open(flag, "w").close()
        rc, text = finish_stopped(train, tlog, "notice")
        check(rc == EXIT_CHECKPOINTED and "preemption notice on batch1: checkpointing" in text,
              f"notice: exit {rc}, want {EXIT_CHECKPOINTED} after batch1's notice\n{text[-3000:]}")
        wrc, wtext = finish_stopped(watch, wlog, "watch", timeout=10)
        check(wrc == 0 and "preemption notice: passed on to task 0" in wtext,
              f"watch on task 1: exit {wrc}\n{wtext[-2000:]}")
    finally:
        for p in (srv, watch, train):
            if p:
                stop(p)
    check_resume(d, "notice", full_model, "notice")


def check_lost_host(d, full_model):
    """6: a VM that goes before its ranks can checkpoint. batch1's processes
    are frozen (SIGSTOP), a notice from batch1 appears in the bucket, and once
    task 0 has answered it, batch1's processes are killed, as when the VM is
    gone: mpirun fails, and task 0 still exits 75 (continue from the last
    checkpoint, or from the start when there is none)."""
    out = os.path.join(d, "bucket", "jobs", "lost")
    p, log = start_logged(task_cmd(0), task_env(d, "jobs/lost", 0, {"SL_STEP": "train"}),
                          os.path.join(d, "lost.log"))
    check(wait_marker(p, log, "iter      5 "), "lost host: iteration 5 never printed")
    ns = CLUSTER.ns["batch1"]
    pids = [int(x) for x in subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                           text=True).stdout.split()]
    check(pids, "lost host: nothing runs in batch1")
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    os.makedirs(os.path.join(out, "preempted"), exist_ok=True)
    with open(os.path.join(out, "preempted", "batch1"), "w") as f:
        f.write("2026-01-01T00:00:00Z\n")
    check(wait_marker(p, log, "preemption notice on batch1: checkpointing", timeout=20),
          "lost host: task 0 did not see batch1's notice")
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    t0 = time.monotonic()
    rc, text = finish_stopped(p, log, "lost host")
    print(f"  lost host: task 0 exited {rc} {time.monotonic() - t0:.1f} s after batch1's processes were killed",
          flush=True)
    check(rc == EXIT_CHECKPOINTED and "after batch1 was preempted: exit 75" in text,
          f"lost host: exit {rc}, want {EXIT_CHECKPOINTED}\n{text[-3000:]}")
    check(not os.path.exists(os.path.join(out, "model.json")), "lost host: a model file was written")
    t0 = time.monotonic()
    p = run_task(d, "jobs/lost", 0, "train")
    print(f"  lost host: the rerun exited {p.returncode} in {time.monotonic() - t0:.1f} s", flush=True)
    check(p.returncode == 0, f"lost host, rerun: exit {p.returncode}\n{p.stdout[-3000:]}{p.stderr[-3000:]}")
    model = os.path.join(out, "model.json")
    if full_model and os.path.exists(model):
        with open(model, "rb") as a, open(full_model, "rb") as b:
            check(a.read() == b.read(), "lost host, rerun: the model is not byte for byte the uninterrupted one")
    else:
        check(False, "lost host, rerun: no model.json in the bucket")


def validator():
    import jsonschema
    with open(SCHEMA) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(v, doc):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(doc)]


def submit(args, env=None):
    return subprocess.run([SUBMIT] + args, capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, **(env or {})))


def check_spec(d):
    """7: the template, submit-batch.sh's output, the schema."""
    v = validator()
    with open(TEMPLATE) as f:
        template = json.load(f)
    with open(TASK) as f:
        task_text = f.read()
    check(not errors(v, template), f"template: {errors(v, template)}")

    a = ["--bucket", "gs://ml-data-eu", "--data", "ctr/train.svm", "--hosts", "2", "--job-name", "ctr-1",
         "--region", "europe-west4", "--mlflow-uri", "http://10.0.0.5:5000", "--experiment", "ctr",
         "--dry-run", "--", "--optimizer", "lbfgs", "--l2", "1e-5", "--run-name", "two words"]
    b = ["--bucket", "ml-data-eu/team/x", "--data", "big/part.svm", "--hosts", "4", "--slots-per-host", "8",
         "--machine-type", "c3-standard-8", "--provisioning-model", "STANDARD", "--max-retries", "10",
         "--mlflow-token-secret", "projects/p1/secrets/mlflow-token/versions/latest", "--network",
         "10.128.0.0/9", "--out", "runs/big", "--dry-run"]
    specs = {}
    for name, args in (("A", a), ("B", b)):
        p = submit(args)
        check(p.returncode == 0, f"dry run {name}: exit {p.returncode}: {p.stderr}")
        try:
            specs[name] = json.loads(p.stdout)
        except json.JSONDecodeError as e:
            check(False, f"dry run {name}: not JSON: {e}")
            continue
        check(not errors(v, specs[name]), f"dry run {name}: {errors(v, specs[name])}")
    if len(specs) == 2:
        for name, s in specs.items():
            tg = s["taskGroups"][0]
            ts = tg["taskSpec"]
            kinds = [next(k for k in ("script", "barrier", "container") if k in r) for r in ts["runnables"]]
            check(kinds == ["script", "script", "barrier", "script", "barrier"], f"{name}: runnables {kinds}")
            check([r.get("environment", {}).get("variables", {}).get("SL_STEP") for r in ts["runnables"]]
                  == ["prepare", "watch", None, "train", None], f"{name}: SL_STEP of the runnables")
            check([bool(r.get("background")) for r in ts["runnables"]] == [False, True, False, False, False],
                  f"{name}: only the watch step runs in the background")
            check(all(r["script"]["text"] == task_text for r in ts["runnables"] if "script" in r),
                  f"{name}: the script runnables do not hold examples/gcp/task.sh")
            check(tg["taskCountPerNode"] == 1 and tg["requireHostsFile"] is True and tg["permissiveSsh"] is True,
                  f"{name}: task group {tg}")
            lp = ts["lifecyclePolicies"]
            check(lp[0]["action"] == "RETRY_TASK" and sorted(lp[0]["actionCondition"]["exitCodes"])
                  == [75, 50001], f"{name}: lifecyclePolicies {lp}")
            check(ts["volumes"][0]["mountPath"] == ts["environment"]["variables"]["SL_MOUNT"],
                  f"{name}: the bucket is not mounted where the task looks for it")
        ea = specs["A"]["taskGroups"][0]["taskSpec"]
        va = ea["environment"]["variables"]
        check(specs["A"]["taskGroups"][0]["taskCount"] == 2, "A: taskCount")
        check(ea["volumes"][0]["gcs"]["remotePath"] == "ml-data-eu", f"A: remotePath {ea['volumes'][0]}")
        check(va.get("SL_DATA") == "ctr/train.svm" and va.get("SL_OUT") == "jobs/ctr-1", f"A: {va}")
        check(va.get("MLFLOW_TRACKING_URI") == "http://10.0.0.5:5000" and va.get("MLFLOW_EXPERIMENT_NAME") == "ctr",
              f"A: MLflow variables {va}")
        check(va.get("SL_TRAIN_ARGS", "").split("\n") == ["--optimizer", "lbfgs", "--l2", "1e-5", "--run-name",
                                                          "two words"], f"A: SL_TRAIN_ARGS {va.get('SL_TRAIN_ARGS')!r}")
        check(specs["A"]["allocationPolicy"]["instances"][0]["policy"]["provisioningModel"] == "SPOT", "A: not SPOT")
        check(ea["maxRetryCount"] == 5, f"A: maxRetryCount {ea['maxRetryCount']}")
        eb = specs["B"]["taskGroups"][0]["taskSpec"]
        vb = eb["environment"]["variables"]
        pb = specs["B"]["allocationPolicy"]["instances"][0]["policy"]
        check(specs["B"]["taskGroups"][0]["taskCount"] == 4 and vb.get("SL_SLOTS_PER_HOST") == "8", f"B: {vb}")
        check(eb["volumes"][0]["gcs"]["remotePath"] == "ml-data-eu/team/x", "B: remotePath")
        check(pb == {"machineType": "c3-standard-8", "provisioningModel": "STANDARD",
                     "bootDisk": {"image": "batch-debian"}}, f"B: policy {pb}")
        check(eb["maxRetryCount"] == 10 and vb.get("SL_OUT") == "runs/big" and vb.get("SL_NETWORK") == "10.128.0.0/9",
              f"B: {eb['maxRetryCount']} {vb}")
        check("MLFLOW_TRACKING_URI" not in vb and "SL_TRAIN_ARGS" not in vb, f"B: unasked variables {vb}")
        check(eb["environment"].get("secretVariables") == {
            "MLFLOW_TRACKING_TOKEN": "projects/p1/secrets/mlflow-token/versions/latest"}, "B: the token secret")

    # The schema can fail: each broken copy of the template must be rejected.
    def broken(edit):
        doc = copy.deepcopy(template)
        edit(doc)
        return doc
    tg = lambda doc: doc["taskGroups"][0]  # noqa: E731
    cases = {
        "misspelled taskCountPerNode": lambda doc: tg(doc).update(taskCountPerNodes=tg(doc).pop("taskCountPerNode")),
        "requireHostsFile as a string": lambda doc: tg(doc).update(requireHostsFile="true"),
        "taskCount not a number": lambda doc: tg(doc).update(taskCount="two"),
        "provisioningModel SPOT_VM": lambda doc: doc["allocationPolicy"]["instances"][0]["policy"].update(
            provisioningModel="SPOT_VM"),
        "action RETRY": lambda doc: tg(doc)["taskSpec"]["lifecyclePolicies"][0].update(action="RETRY"),
        "exitCodes as one number": lambda doc: tg(doc)["taskSpec"]["lifecyclePolicies"][0].update(
            actionCondition={"exitCodes": 75}),
        "maxRetryCount 11": lambda doc: tg(doc)["taskSpec"].update(maxRetryCount=11),
        "background as a string": lambda doc: tg(doc)["taskSpec"]["runnables"][1].update(background="yes"),
        "gcs remote_path": lambda doc: tg(doc)["taskSpec"]["volumes"][0].update(gcs={"remote_path": "b"}),
        "script and barrier in one runnable": lambda doc: tg(doc)["taskSpec"]["runnables"][2].update(
            script={"text": "true"}),
        "status set (output only)": lambda doc: doc.update(status={"state": "QUEUED"}),
    }
    for what, edit in cases.items():
        check(errors(v, broken(edit)), f"schema: accepted a broken spec ({what})")

    # Bad arguments: one line, exit 2, naming the option.
    base = ["--bucket", "ml-data-eu", "--data", "d.svm", "--dry-run"]
    bad = {
        "--bucket": ["--data", "d.svm", "--dry-run"],
        "--hosts": base + ["--hosts", "0"],
        "--max-retries": base + ["--max-retries", "11"],
        "--data": ["--bucket", "ml-data-eu", "--data", "../d.svm", "--dry-run"],
        "--mlflow-uri": base + ["--mlflow-uri", "ftp://x"],
        "--job-name": base + ["--job-name", "Bad_Name"],
        "--provisioning-model": base + ["--provisioning-model", "spot"],
        "--region": ["--bucket", "ml-data-eu", "--data", "d.svm"],
        "--frobnicate": base + ["--frobnicate"],
    }
    for opt, args in bad.items():
        p = submit(args)
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 2 and len(lines) == 1 and opt in lines[0] and not p.stdout,
              f"bad {opt}: exit {p.returncode}, stdout {p.stdout[:80]!r}, stderr {p.stderr!r}")

    real = ["--bucket", "ml-data-eu", "--data", "d.svm", "--region", "us-central1", "--job-name", "sl-1",
            "--project", "p1"]
    p = submit(real, {"GCLOUD": os.path.join(d, "no-such-gcloud")})
    check(p.returncode == 2 and "gcloud is not installed" in p.stderr and len(p.stderr.strip().splitlines()) == 1,
          f"no gcloud: exit {p.returncode}, {p.stderr!r}")
    # A stand-in for gcloud (the real one needs a project and credentials): it
    # records its arguments and stdin.
    fake = os.path.join(d, "gcloud")
    with open(fake, "w") as f:
        f.write('#!/bin/sh\nprintf "%s\\n" "$@" > "$0.args"\ncat > "$0.stdin"\necho "Job sl-1 was successfully submitted."\n')
    os.chmod(fake, os.stat(fake).st_mode | stat.S_IXUSR)
    p = submit(real, {"GCLOUD": fake})
    check(p.returncode == 0 and "successfully submitted" in p.stdout, f"submit: exit {p.returncode} {p.stderr}")
    if os.path.exists(fake + ".args"):
        with open(fake + ".args") as f:
            got = f.read().split("\n")[:-1]
        check(got == ["batch", "jobs", "submit", "sl-1", "--location", "us-central1", "--config", "-",
                      "--project", "p1"], f"submit: gcloud called with {got}")
        with open(fake + ".stdin") as f:
            sent = json.load(f)
        dry = json.loads(submit(real + ["--dry-run"]).stdout)
        check(sent == dry and not errors(v, sent), "submit: the JSON on gcloud's stdin is not the dry run's")
    else:
        check(False, "submit: the stand-in gcloud was not called")


def phase(what, since):
    now = time.monotonic()
    print(f"  {what}: {now - since:.1f} s", flush=True)
    return now


def main():
    t_start = time.monotonic()
    # The spec needs no root: checked first, so that it is checked where the
    # task runs are skipped.
    d = tempfile.mkdtemp(prefix="sl-batch-")
    try:
        check_spec(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if failures:
        finish()
    print("the job spec: every check passed", flush=True)
    CLUSTER.up()
    d = tempfile.mkdtemp(prefix="sl-batch-")
    try:
        os.makedirs(os.path.join(d, "bucket", "data"))
        long_data(os.path.join(d, "bucket", "data", "train.svm"), n=150000)
        with open(os.path.join(d, "hosts"), "w") as f:
            f.write("batch1\nbatch0\n")  # Batch's order need not put task 0's VM first
        # The same job on one host, 2 ranks: the hosts change only the transport.
        ref_path = os.path.join(d, "one-host.json")
        p = subprocess.run([MPIRUN, "-np", "2", BIN, "train", "--data",
                            os.path.join(d, "bucket", "data", "train.svm"), "--model-out", ref_path,
                            "--tracking-dir", os.path.join(d, "ref-runs"), "--quiet"] + TRAIN,
                           capture_output=True, text=True, env=mpi_env(), timeout=90)
        check(p.returncode == 0, f"1-host run: exit {p.returncode}\n{p.stderr[-2000:]}")
        ref = ref_path if p.returncode == 0 else None
        phase("cluster, data, 1-host run", t_start)
        t = time.monotonic()
        check_steps(d)
        t = phase("prepare, follower", t)
        full = check_full(d, ref) if ref is not None else None
        t = phase("full run", t)
        check_stop_and_resume(d, full)
        t = phase("SIGUSR1 and rerun", t)
        check_peer_notice(d, full)
        t = phase("peer notice and rerun", t)
        check_lost_host(d, full)
        phase("lost host and rerun", t)
    finally:
        hold_signals()
        CLUSTER.cleanup()
        shutil.rmtree(d, ignore_errors=True)
    left = CLUSTER.ours()
    check(not left, f"namespaces left behind: {left}")
    print(f"cluster_batch_task: {time.monotonic() - t_start:.1f} s", flush=True)
    finish()


if __name__ == "__main__":
    main()
