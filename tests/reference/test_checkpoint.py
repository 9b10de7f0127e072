"""Checkpoints and stop signals (README: Checkpoints and stop signals).

For newton, lbfgs and sgd on 2 ranks:
  1. an uninterrupted run;
  2. the same command with --checkpoint-dir, stopped mid-run by SIGUSR1 sent
     to mpirun: exit 75, one complete checkpoint in the directory;
  3. run again: the model file is the uninterrupted run's, byte for byte;
  4. the checkpoint of 2 continued on 3 ranks: weights within 1e-6 (newton,
     lbfgs; SGD's trajectory depends on the rank count, so only that it
     finishes);
then, on copies of a checkpoint: another job's (--l2) is refused naming l2;
an incomplete newer checkpoint (no manifest) is ignored; a truncated slice is
refused naming the file; and --checkpoint-every writes periodic checkpoints,
keeps only the newest complete one, and after kill -9 of a rank the rerun
resumes from it and still ends with the uninterrupted model; SIGTERM to
mpirun (best effort) never leaves a checkpoint that breaks the rerun."""
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

from common import BIN, MPIRUN, check, children, finish, load_model, mpi_env, workdir

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tracking"))
from track_common import long_data  # noqa: E402

EXIT_CHECKPOINTED = 75
d = workdir()
DATA = os.path.join(d, "data.svm")
long_data(DATA)
RUNS = os.path.join(d, "runs")

# Each optimiser: its options, and the progress line after which to stop it.
CASES = {
    "newton": (["--tol", "1e-12", "--l2", "1e-7"], "iter      3 "),
    # The explicit Hessian's factor, kept over iterations as CG's
    # preconditioner, is formed again at its point on resuming.
    "newton-direct": (["--tol", "1e-12", "--l2", "1e-7", "--newton-solver", "direct"],
                      "iter      3 "),
    "lbfgs": (["--tol", "1e-12", "--l2", "1e-3", "--max-iter", "1000"], "iter     10 "),
    "sgd": (["--batch-size", "8", "--epochs", "8", "--l2", "1e-5"], "epoch     2 "),
}


# The periodic checkpoints' run: long enough (about 2 s) for several.
LONG = ["--tol", "1e-12", "--l2", "1e-5", "--max-iter", "1000"]


def cmd(np_, opt, model, extra):
    base = LONG if opt == "lbfgs-long" else CASES[opt][0]
    return [MPIRUN, "--oversubscribe", "-np", str(np_), BIN, "train", "--data", DATA, "--optimizer",
            opt.split("-")[0], "--model-out", model, "--tracking-dir", RUNS] + base + extra


def run(np_, opt, model, extra=()):
    return subprocess.run(cmd(np_, opt, model, list(extra)), capture_output=True, text=True,
                          env=mpi_env(), timeout=120)


def start(np_, opt, model, extra):
    """The job in the background, its output in a file we can watch."""
    log = open(os.path.join(d, f"{opt}-{time.monotonic_ns()}.log"), "w+")
    p = subprocess.Popen(cmd(np_, opt, model, list(extra)), stdout=log, stderr=subprocess.STDOUT,
                         env=mpi_env())
    return p, log


def wait_for(log, p, marker, timeout=60):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        log.seek(0)
        if marker in log.read():
            return True
        if p.poll() is not None:
            return False
        time.sleep(0.005)
    return False


def ckpts(cdir):
    """seq of every checkpoint directory, and of the complete ones."""
    all_ = sorted(glob.glob(os.path.join(cdir, "ckpt-*")))
    return all_, [c for c in all_ if os.path.exists(os.path.join(c, "manifest.json"))]


def stop_with_usr1(opt, cdir, model):
    p, log = start(2, opt, model, ["--checkpoint-dir", cdir])
    seen = wait_for(log, p, CASES[opt][1])
    check(seen, f"{opt}: never reached {CASES[opt][1]!r} before the end")
    p.send_signal(signal.SIGUSR1)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        check(False, f"{opt}: SIGUSR1: the job hung")
    log.seek(0)
    out = log.read()
    check(p.returncode == EXIT_CHECKPOINTED,
          f"{opt}: SIGUSR1: exit {p.returncode}, want {EXIT_CHECKPOINTED}\n{out[-2000:]}")
    check("checkpoint written" in out, f"{opt}: SIGUSR1: no 'checkpoint written' line")
    check(not os.path.exists(model), f"{opt}: SIGUSR1: a model file was written")
    all_, done = ckpts(cdir)
    check(len(all_) == 1 and len(done) == 1, f"{opt}: after the stop the directory holds {all_}")
    if done:
        ranks = sorted(os.path.basename(f) for f in glob.glob(os.path.join(done[0], "*")))
        check(ranks == ["manifest.json", "rank-00000.bin", "rank-00001.bin"],
              f"{opt}: the checkpoint holds {ranks}")


def same_bytes(a, b):
    with open(a, "rb") as f, open(b, "rb") as g:
        return f.read() == g.read()


for opt in CASES:
    full = os.path.join(d, f"{opt}-full.json")
    r = run(2, opt, full)
    check(r.returncode == 0, f"{opt}: uninterrupted run failed: {r.stderr[-2000:]}")

    cdir = os.path.join(d, f"{opt}-ckpt")
    model = os.path.join(d, f"{opt}-resumed.json")
    stop_with_usr1(opt, cdir, model)
    copy = cdir + "-copy"
    shutil.copytree(cdir, copy)

    if opt == "lbfgs":
        # A newer checkpoint that was never completed (no manifest) is ignored.
        _, done = ckpts(cdir)
        partial = os.path.join(cdir, "ckpt-000009")
        shutil.copytree(done[0], partial)
        os.remove(os.path.join(partial, "manifest.json"))

    r = run(2, opt, model, ["--checkpoint-dir", cdir])
    check(r.returncode == 0, f"{opt}: resumed run failed: {r.stderr[-2000:]}")
    check("resuming from" in r.stdout, f"{opt}: the rerun did not resume:\n{r.stdout[-1500:]}")
    check(os.path.exists(model) and same_bytes(model, full),
          f"{opt}: the resumed model differs from the uninterrupted one")
    check(ckpts(cdir)[0] == [], f"{opt}: checkpoints left after the job finished: {ckpts(cdir)[0]}")

    # On another rank count: the slices are redistributed.
    model3 = os.path.join(d, f"{opt}-resumed3.json")
    r = run(3, opt, model3, ["--checkpoint-dir", shutil.copytree(copy, copy + "-3")])
    check(r.returncode == 0, f"{opt}: resumed on 3 ranks failed: {r.stderr[-2000:]}")
    check("written on 2 rank(s)" in r.stdout, f"{opt}: 3 ranks did not resume the 2-rank checkpoint")
    if r.returncode == 0 and opt != "sgd":
        w2, b2, _ = load_model(full)
        w3, b3, _ = load_model(model3)
        err = max(np.max(np.abs(w2 - w3)), abs(b2 - b3))
        print(f"{opt}: 2 -> 3 ranks: max |w - w_full| = {err:.3g}", flush=True)
        check(err <= 1e-6, f"{opt}: resumed on 3 ranks: weights differ by {err:.3g} > 1e-6")

# Another job's checkpoint: refused, naming what differs.
bad = os.path.join(d, "bad.json")
r = run(2, "newton", bad, ["--checkpoint-dir", os.path.join(d, "newton-ckpt-copy"), "--l2", "1e-3"])
errs = [l for l in r.stderr.splitlines() if "error" in l]
check(r.returncode == 1 and any("another job: l2 is 0.001 here, 1e-07 there" in l for l in errs),
      f"another job: exit {r.returncode}, errors {errs}")
check(not os.path.exists(bad), "another job: a model file was written")

# --checkpoint-every alone is a usage error.
r = run(2, "newton", bad, ["--checkpoint-every", "5"])
errs = [l for l in r.stderr.splitlines() if "error" in l]
check(r.returncode == 2 and any("--checkpoint-every needs --checkpoint-dir" in l for l in errs),
      f"--checkpoint-every alone: exit {r.returncode}, errors {errs}")

# A truncated slice: refused, naming the file.
tdir = shutil.copytree(os.path.join(d, "newton-ckpt-copy"), os.path.join(d, "trunc"))
slice1 = glob.glob(os.path.join(tdir, "ckpt-*", "rank-00001.bin"))[0]
os.truncate(slice1, os.path.getsize(slice1) // 2)
r = run(2, "newton", bad, ["--checkpoint-dir", tdir])
errs = [l for l in r.stderr.splitlines() if "error" in l]
check(r.returncode == 1 and len(errs) == 1 and "rank-00001.bin" in errs[0] and "damaged" in errs[0],
      f"truncated slice: exit {r.returncode}, errors {errs}")

# Periodic checkpoints, then kill -9 of a rank, then the same command again.
opt = "lbfgs-long"
full = os.path.join(d, "periodic-full.json")
r = run(2, opt, full)
check(r.returncode == 0, f"periodic: uninterrupted run failed: {r.stderr[-2000:]}")
pdir = os.path.join(d, "periodic")
model = os.path.join(d, "periodic.json")
p, log = start(2, opt, model, ["--checkpoint-dir", pdir, "--checkpoint-every", "0"])
most = 0
t0 = time.monotonic()
while p.poll() is None and time.monotonic() - t0 < 60:
    all_, done = ckpts(pdir)
    most = max(most, len(all_))
    if done and int(done[-1][-6:]) >= 2:
        break
    time.sleep(0.005)
all_, done = ckpts(pdir)
check(p.poll() is None and done and int(done[-1][-6:]) >= 2,
      f"periodic: no third checkpoint while running ({all_})")
check(most <= 2, f"periodic: old checkpoints kept: {most} directories at once")
ranks = children(p.pid)
check(len(ranks) == 2, f"periodic: rank processes {ranks}")
if ranks:
    os.kill(sorted(ranks)[1], signal.SIGKILL)
try:
    p.wait(timeout=30)
except subprocess.TimeoutExpired:
    p.kill()
    p.wait()
    check(False, "kill -9: the job hung")
check(p.returncode != 0 and not os.path.exists(model), f"kill -9: exit {p.returncode}")
all_, done = ckpts(pdir)
check(len(done) == 1, f"kill -9: complete checkpoints left: {done}")
r = run(2, opt, model, ["--checkpoint-dir", pdir, "--checkpoint-every", "0"])
check(r.returncode == 0 and "resuming from" in r.stdout, f"after kill -9: {r.stderr[-2000:]}")
check(os.path.exists(model) and same_bytes(model, full),
      "after kill -9: the resumed model differs from the uninterrupted one")

# SIGTERM to mpirun: Open MPI 4.1 passes it on to the ranks a second later
# and kills them a second after that, then exits 1. Best effort: a
# checkpoint when the ranks manage within that second; never a damaged one,
# so the same command continues (or starts afresh) to the same model.
tdir = os.path.join(d, "term")
model = os.path.join(d, "term.json")
p, log = start(2, opt, model, ["--checkpoint-dir", tdir])
check(wait_for(log, p, "iter     30 "), "SIGTERM: the run ended before iteration 30")
p.send_signal(signal.SIGTERM)
try:
    p.wait(timeout=30)
except subprocess.TimeoutExpired:
    p.kill()
    p.wait()
    check(False, "SIGTERM: the job hung")
log.seek(0)
wrote = "checkpoint written" in log.read()
print(f"SIGTERM: mpirun exit {p.returncode}, checkpoint written: {wrote}", flush=True)
check(p.returncode != 0 and not os.path.exists(model), f"SIGTERM: exit {p.returncode}")
r = run(2, opt, model, ["--checkpoint-dir", tdir])
check(r.returncode == 0, f"after SIGTERM: {r.stderr[-2000:]}")
check(not wrote or "resuming from" in r.stdout, "after SIGTERM: the checkpoint was not used")
check(os.path.exists(model) and same_bytes(model, full),
      "after SIGTERM: the model differs from the uninterrupted one")

shutil.rmtree(d, ignore_errors=True)
finish()
