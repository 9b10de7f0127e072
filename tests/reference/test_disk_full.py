"""Full disks, for real: outputs on a small tmpfs that the test mounts (and
unmounts, whatever happens). Writing the model, the metrics, predictions or
an evaluation to a full filesystem gives one clear error and a non-zero
exit, leaves no temporary file, and the file that was at the path before
stays as it was (the rule for every output: a failed run keeps the previous
file). A journal on a full filesystem is one warning: tracking stops, the
journal keeps whole records only, training goes on."""
import json
import os
import subprocess
import sys

from common import check, error_lines, finish, run, workdir

d = workdir()
EX = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
TRAIN, TEST = os.path.join(EX, "train.svm"), os.path.join(EX, "test.svm")
RUNS = os.path.join(d, "runs")
PREVIOUS = "the previous file\n"
small = os.path.join(d, "small")
os.mkdir(small)
m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", small],
                   capture_output=True, text=True)
if m.returncode != 0:
    print(f"SKIP: cannot mount a tmpfs ({m.stderr.strip()}): this test needs root", flush=True)
    sys.exit(77)


def fill(keep_free=0):
    """Fills the tmpfs but for about keep_free bytes."""
    st = os.statvfs(small)
    free = st.f_bavail * st.f_frsize - keep_free
    if free > 0:
        with open(os.path.join(small, "filler"), "wb") as f:
            f.write(b"\0" * free)


def previous(path):
    with open(path, "w") as f:
        f.write(PREVIOUS)
    return path


def expect_full(what, p, paths):
    errs = error_lines(p.stderr)
    print(f"{what}: exit {p.returncode}: {errs}", flush=True)
    check(p.returncode != 0, f"{what}: exit status 0")
    check(len(errs) == 1 and "No space left on device" in errs[0], f"{what}: errors {errs}")
    for path in paths:
        with open(path) as f:
            check(f.read() == PREVIOUS, f"{what}: {path} was replaced")
    left = [f for f in os.listdir(small) + os.listdir(d) if ".tmp." in f]
    check(not left, f"{what}: temporary files left: {left}")


try:
    model = os.path.join(d, "model.json")
    run(["train", "--data", TRAIN, "--model-out", model, "--quiet", "--tracking-dir", RUNS], np_=2)

    # The model (45 kB) does not fit in 16 kB.
    out = previous(os.path.join(small, "model.json"))
    p = run(["train", "--data", TRAIN, "--model-out", out, "--quiet", "--tracking-dir", RUNS],
            np_=2, check_rc=False)
    expect_full("train --model-out on a full disk", p, [out])
    os.remove(out)

    # The model fits elsewhere, the metrics do not: neither replaces its file.
    m_out, x_out = previous(os.path.join(d, "m.json")), previous(os.path.join(small, "x.json"))
    pred = previous(os.path.join(small, "pred.txt"))
    fill(keep_free=1024)
    p = run(["train", "--data", TRAIN, "--model-out", m_out, "--metrics-out", x_out, "--quiet",
             "--tracking-dir", RUNS], np_=2, check_rc=False)
    expect_full("train --metrics-out on a full disk", p, [m_out, x_out])

    # Predictions (20 kB) and an evaluation (100 bytes, on a disk with no room).
    p = run(["predict", "--model", model, "--data", TEST, "--proba", "--out", pred], np_=2,
            check_rc=False)
    expect_full("predict --out on a full disk", p, [pred])
    os.remove(os.path.join(small, "filler"))
    fill(keep_free=0)
    ev = os.path.join(small, "eval.json")
    p = run(["eval", "--model", model, "--data", TEST, "--metrics-out", ev], np_=2, check_rc=False)
    expect_full("eval --metrics-out on a full disk", p, [])
    check(not os.path.exists(ev), "eval: a partial file")
    for f in os.listdir(small):
        os.remove(os.path.join(small, f))

    # The disk fills with the run's first artifact (config.json, written at
    # the start): the same, one warning naming it, training goes on.
    fill(keep_free=4 * 1024)
    out = os.path.join(d, "config-full.json")
    p = run(["train", "--data", TRAIN, "--optimizer", "sgd", "--epochs", "5", "--quiet",
             "--model-out", out, "--tracking-dir", os.path.join(small, "runs")], np_=2,
            check_rc=False)
    warns = [l for l in p.stderr.splitlines() if "warning" in l]
    print(f"config.json on a full disk: exit {p.returncode}, warnings {warns}", flush=True)
    check(p.returncode == 0 and os.path.exists(out), f"config full: training failed: {p.stderr}")
    check(len(warns) == 1 and "artifacts/config.json: No space left on device" in warns[0]
          and "tracking stops here" in warns[0], f"config full: {warns}")
    for f in os.listdir(small):
        subprocess.run(["rm", "-rf", os.path.join(small, f)])

    # The journal fills the disk mid-run: one warning, training goes on.
    # (Room for config.json's page first.)
    fill(keep_free=10 * 1024)
    out = os.path.join(d, "journal-full.json")
    p = run(["train", "--data", TRAIN, "--optimizer", "sgd", "--epochs", "40", "--quiet",
             "--model-out", out, "--tracking-dir", os.path.join(small, "runs")], np_=2,
            check_rc=False)
    warns = [l for l in p.stderr.splitlines() if "warning" in l]
    print(f"journal on a full disk: exit {p.returncode}, warnings {warns}", flush=True)
    check(p.returncode == 0 and os.path.exists(out), f"journal full: training failed: {p.stderr}")
    check(len(warns) == 1 and "No space left on device" in warns[0], f"journal full: {warns}")
    runs = os.listdir(os.path.join(small, "runs"))
    with open(os.path.join(small, "runs", runs[0], "journal.jsonl")) as f:
        text = f.read()
    lines = text.split("\n")
    check(text.endswith("\n") and len(lines) > 3, f"journal full: {len(lines)} lines, torn end")
    try:
        recs = [json.loads(l) for l in lines if l]
        check([r["seq"] for r in recs] == list(range(1, len(recs) + 1)), "journal: seq has gaps")
        check(any(r["type"] == "metric" for r in recs), "journal full: no metric before the disk filled")
    except ValueError as e:
        check(False, f"journal full: a line is not JSON: {e}")
finally:
    subprocess.run(["umount", "-l", small])
finish()
