"""No rank left waiting: a failure injected on one chosen rank at each place
a job can fail (SL_FAULT, src/core/fault.h) ends every rank within 10 s with a
non-zero exit, one error message, no output file and no temporary file left,
and the file that was at an output path before stays as it was. A journal
that cannot be written is one warning and training goes on. kill -9 of one
rank mid-training ends the job within 10 s with no model file."""
import os
import signal
import subprocess
import time

from common import (BIN, MPIRUN, check, children, error_lines, finish, mpi_env, run, workdir)

d = workdir()
EX = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
TRAIN, TEST = os.path.join(EX, "train.svm"), os.path.join(EX, "test.svm")
RUNS = os.path.join(d, "runs")
PREVIOUS = "a previous file, kept when a run fails\n"


def outputs(*names):
    """Paths in d, each holding PREVIOUS."""
    paths = [os.path.join(d, n) for n in names]
    for p in paths:
        with open(p, "w") as f:
            f.write(PREVIOUS)
    return paths


def unchanged(path):
    with open(path) as f:
        return f.read() == PREVIOUS


def timed(args, np_, fault, timeout=60):
    t0 = time.monotonic()
    p = run(args, np_=np_, check_rc=False, timeout=timeout, env={"SL_FAULT": fault})
    return p, time.monotonic() - t0


def expect_failure(what, p, secs, paths, says=None, one_message=True):
    errs = error_lines(p.stderr)
    print(f"{what}: exit {p.returncode} in {secs:.1f}s: {errs}", flush=True)
    check(p.returncode != 0, f"{what}: exit status 0")
    check(secs < 10, f"{what}: took {secs:.1f}s (a rank was left waiting?)")
    if one_message:
        check(len(errs) == 1, f"{what}: {len(errs)} error lines: {p.stderr}")
    if says:
        check(any(says in e for e in errs) or says in p.stderr, f"{what}: no '{says}' in {p.stderr}")
    for path in paths:
        check(unchanged(path), f"{what}: {os.path.basename(path)} was replaced or removed")
    left = [f for f in os.listdir(d) if ".tmp." in f]
    check(not left, f"{what}: temporary files left: {left}")


# train: every site, on a rank that is not 0 and on rank 0.
for fault, says in (("data.open@1", "train.svm"), ("data.open@0", "train.svm"),
                    ("data.read@2", "read error"), ("output.write@0", "No space left on device")):
    model, metrics = outputs("model.json", "metrics.json")
    p, secs = timed(["train", "--data", TRAIN, "--model-out", model, "--metrics-out", metrics,
                     "--quiet", "--tracking-dir", RUNS], 3, fault)
    expect_failure(f"train {fault}", p, secs, [model, metrics], says)
# The metrics file fails after the model file was written: neither replaces its previous file.
model, metrics = outputs("model.json", "metrics.json")
p, secs = timed(["train", "--data", TRAIN, "--model-out", model, "--metrics-out",
                 os.path.join(d, "no-such-dir", "metrics.json"), "--quiet", "--tracking-dir", RUNS],
                2, "")
expect_failure("train, metrics unwritable", p, secs, [model], "no-such-dir")
# Out of memory on one rank: the job ends (MPI_Abort), not a hang.
model, = outputs("model.json")
p, secs = timed(["train", "--data", TRAIN, "--model-out", model, "--quiet", "--tracking-dir", RUNS],
                3, "oom@1")
expect_failure("train oom@1", p, secs, [model], "out of memory", one_message=False)

# predict and eval with a good model, failing on one rank each.
good = os.path.join(d, "good.json")
run(["train", "--data", TRAIN, "--model-out", good, "--quiet", "--tracking-dir", RUNS], np_=2)
for cmd, flag in (("predict", "--out"), ("eval", "--metrics-out")):
    for fault, says in (("model.load@2", "good.json"), ("model.load@0", "good.json"),
                        ("data.open@1", "test.svm"), ("data.read@2", "read error"),
                        ("output.write@0", "No space left on device")):
        out, = outputs("out.txt")
        p, secs = timed([cmd, "--model", good, "--data", TEST, flag, out], 3, fault)
        expect_failure(f"{cmd} {fault}", p, secs, [out], says)
    out, = outputs("out.txt")
    p, secs = timed([cmd, "--model", good, "--data", TEST, flag, out], 3, "oom@2")
    expect_failure(f"{cmd} oom@2", p, secs, [out], "out of memory", one_message=False)

# A journal that cannot be written: one warning, training goes on.
model = os.path.join(d, "journal-fault.json")
p, secs = timed(["train", "--data", TRAIN, "--model-out", model, "--quiet", "--tracking-dir", RUNS],
                2, "journal.write@0")
warns = [l for l in p.stderr.splitlines() if "warning" in l]
check(p.returncode == 0 and os.path.exists(model), f"journal fault: training stopped: {p.stderr}")
check(len(warns) == 1 and "cannot write" in warns[0], f"journal fault: warnings {warns}")

# kill -9 of one rank mid-training.
big = os.path.join(d, "big.svm")
with open(big, "w") as f:
    for _ in range(60):
        with open(TRAIN) as t:
            f.write(t.read())
model = os.path.join(d, "killed.json")
cmd = [MPIRUN, "--oversubscribe", "-np", "3", BIN, "train", "--data", big, "--optimizer", "sgd",
       "--epochs", "100000", "--batch-size", "1", "--model-out", model, "--tracking-dir", RUNS]
proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                        env=mpi_env())
line = proc.stdout.readline()  # the journal line: every rank has started
while line and not line.startswith("data "):
    line = proc.stdout.readline()
ranks = []
for _ in range(100):
    ranks = children(proc.pid)
    if len(ranks) >= 3:
        break
    time.sleep(0.05)
check(len(ranks) >= 3, f"kill -9: found rank processes {ranks}")
t0 = time.monotonic()
os.kill(sorted(ranks)[1], signal.SIGKILL)
try:
    proc.communicate(timeout=30)
except subprocess.TimeoutExpired:
    proc.kill()
    proc.communicate()
secs = time.monotonic() - t0
print(f"kill -9 of one rank: the job ended in {secs:.1f}s with exit {proc.returncode}", flush=True)
check(secs < 10, f"kill -9: the job took {secs:.1f}s to end")
check(proc.returncode != 0, "kill -9: exit status 0")
check(not os.path.exists(model), "kill -9: a model file was written")
finish()
