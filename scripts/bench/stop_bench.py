"""The benchmark's stop measurements (README: Checkpoints and stop signals),
on the benchmark's own data, 2 ranks, lbfgs:

  signal to exit: `train --checkpoint-dir` started, SIGUSR1 sent to mpirun
  --stop-after seconds after the first iteration's progress line, and the
  time from the signal until mpirun has exited (75, one complete checkpoint);

  what periodic checkpoints cost: --checkpoint-every 0 (one checkpoint at
  every iteration) against no --checkpoint-dir, the same --max-iter; the
  difference in solve time over the iterations is the time one checkpoint
  takes, and that time over 60 s is the share of training that
  --checkpoint-every 60 costs (a run of --max-iter iterations is too short
  to hold several 60 s intervals, so that share is derived, not timed).

Called by run_bench.py as measure_stop(bench, args)."""
import glob
import os
import signal
import subprocess
import time

STOP_ITERS = 20  # the iterations of the periodic-checkpoint comparison
LBFGS = ["--optimizer", "lbfgs", "--tol", "1e-10"]


def signal_to_exit(b, a, d):
    """(seconds from SIGUSR1 to mpirun's exit, the checkpoint's bytes)."""
    cdir = os.path.join(d, "ckpt")
    cmd = b.mpirun(2) + [b.bin, "train", "--data", b.svm, "--l2", repr(b.lam), "--no-intercept",
                         "--tracking-dir", os.path.join(d, "journal"), "--checkpoint-dir", cdir,
                         "--max-iter", "100000"] + LBFGS
    with open(os.path.join(d, "stop.log"), "w+") as log:
        p = subprocess.Popen([str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT,
                             env=b.env)
        try:
            while p.poll() is None:
                log.seek(0)
                if "iter      1 " in log.read():
                    break
                time.sleep(0.05)
            time.sleep(a.stop_after)
            if p.poll() is not None:
                raise RuntimeError(f"signal to exit: the run ended before the signal ({p.returncode})")
            t0 = time.perf_counter()
            p.send_signal(signal.SIGUSR1)
            rc = p.wait(timeout=600)
            seconds = time.perf_counter() - t0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        log.seek(0)
        out = log.read()
    done = glob.glob(os.path.join(cdir, "ckpt-*", "manifest.json"))
    if rc != 75 or len(done) != 1:
        raise RuntimeError(f"signal to exit: exit {rc}, {len(done)} complete checkpoint(s):\n"
                           f"{out[-2000:]}")
    size = sum(os.path.getsize(f) for f in glob.glob(os.path.join(os.path.dirname(done[0]), "*")))
    return seconds, size


def measure_stop(b, a):
    d = str(b.runs / "stop")
    os.makedirs(d, exist_ok=True)
    seconds, size = signal_to_exit(b, a, d)
    fixed = LBFGS + ["--max-iter", str(STOP_ITERS)]
    none = b.shardlearn("stop-none", 2, fixed, with_model=False)
    every = b.shardlearn("stop-every", 2, fixed + ["--checkpoint-dir", os.path.join(d, "every"),
                                                    "--checkpoint-every", "0"], with_model=False)

    def solve(r):
        t = r["metrics"]["timings"]
        return t["total"] - t["load"]

    iters = every["metrics"]["iterations"]
    per = max(0.0, solve(every) - solve(none)) / max(1, iters)
    return {"stop_after_s": a.stop_after, "signal_to_exit_s": seconds, "checkpoint_bytes": size,
            "iterations": iters, "solve_none_s": solve(none), "solve_every_s": solve(every),
            "seconds_per_checkpoint": per, "every_60_pct": 100 * per / 60}


def render(st):
    """The paragraph of bench.md."""
    return (f"Stopping (lbfgs, 2 ranks, `--checkpoint-dir`): SIGUSR1 to `mpirun` "
            f"{st['stop_after_s']:g} s into the solve → exit 75 after {st['signal_to_exit_s']:.2f} s, "
            f"with a checkpoint of {st['checkpoint_bytes'] / 1e6:.1f} MB. A checkpoint at every one of "
            f"{st['iterations']} iterations took the solve from {st['solve_none_s']:.2f} s to "
            f"{st['solve_every_s']:.2f} s: {st['seconds_per_checkpoint']:.3f} s a checkpoint, so "
            f"`--checkpoint-every 60` costs {st['every_60_pct']:.2f}% of training.")


def targets(st):
    """The issue's two stopping targets, as rows of the targets table."""
    v, pct = st["signal_to_exit_s"], st["every_60_pct"]
    return [{"target": "signal to exit < 10 s (SIGUSR1 to mpirun, --checkpoint-dir, 2 ranks)",
             "value": f"{v:.2f} s", "met": v < 10},
            {"target": "--checkpoint-every 60 costs < 2% of training (lbfgs, 2 ranks)",
             "value": f"{pct:.2f}% ({st['seconds_per_checkpoint']:.2f} s a checkpoint)", "met": pct < 2}]
