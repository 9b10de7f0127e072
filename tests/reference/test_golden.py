"""Golden outputs: every case in tests/golden/cases.py (train on heart_scale as
LIBSVM and CSV and on examples/train.svm, with newton, lbfgs and sgd on 1-3
ranks; predict and eval of two golden models) must write a file byte-identical
to tests/golden/expected/, made by the pre-refactor binary (commit 2b7c8c4) with
tests/golden/make_golden.py. A refactor that is meant to change nothing must
pass this unchanged; only a change that is meant to alter results regenerates
the goldens (see make_golden.py)."""
import os
import shutil
import sys
import tempfile

from common import check, finish, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "golden"))
import cases as golden  # noqa: E402


def first_difference(got, want):
    """(line number, got line, want line) of the first differing line, 1-based."""
    g, w = got.split(b"\n"), want.split(b"\n")
    for i in range(max(len(g), len(w))):
        a = g[i] if i < len(g) else b"<end of file>"
        b = w[i] if i < len(w) else b"<end of file>"
        if a != b:
            return i + 1, a, b
    return None


def clip(line, n=300):
    s = line.decode("utf-8", "replace")
    return s if len(s) <= n else s[:n] + f"... ({len(s)} chars)"


d = tempfile.mkdtemp(prefix="sl-golden-")
runs = os.path.join(d, "runs")
try:
    for case in golden.CASES:
        name = case["name"]
        want_path = golden.golden_path(case)
        if not os.path.exists(want_path):
            check(False, f"{name}: no golden file {os.path.relpath(want_path, ROOT)}")
            continue
        out = os.path.join(d, name + case["ext"])
        try:
            run(golden.command(case, out, runs, ROOT), np_=case["np"])
        except Exception as e:  # a failed or hung run fails this case, not the rest
            check(False, f"{name}: {e}")
            continue
        with open(out, "rb") as f:
            got = f.read()
        with open(want_path, "rb") as f:
            want = f.read()
        if got == want:
            print(f"{name}: identical ({len(got)} bytes)", flush=True)
            continue
        line, a, b = first_difference(got, want)
        print(f"{name} on {case['np']} rank(s): {case['cmd']} {' '.join(case['args'])}\n"
              f"  first difference at line {line}\n  got:    {clip(a)}\n  golden: {clip(b)}",
              flush=True)
        check(False, f"{name}: output differs from {os.path.relpath(want_path, ROOT)} "
                     f"at line {line}")
finally:
    shutil.rmtree(d, ignore_errors=True)
print(f"{len(golden.CASES)} golden cases")
finish()
