"""(Re)generate the golden outputs that tests/reference/test_golden.py compares
against byte for byte.

    python tests/golden/make_golden.py BINARY [MPIRUN]

The goldens must be made with the PRE-REFACTOR binary, built from commit
2b7c8c4 ("Objective: |w|^2 and |grad F| from the rank's slices, not the whole
vectors"): they pin down that binary's exact results (models, predictions,
metrics) so that a refactor which is meant to change nothing can prove it.
Regenerate them only on purpose, when a change is *meant* to alter results,
and say so in that commit; never regenerate them just to make a failing
test_golden pass.

The script writes tests/golden/heart_scale.csv (the dense CSV version of
Debian's heart_scale: header label,f1..f13, then the label and all 13 values
with 17 significant digits, missing entries as 0) and then runs every case in
tests/golden/cases.py, in order, writing tests/golden/expected/<case><ext>.
Files in expected/ that no case names any more are removed.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases as golden  # noqa: E402

N_HEART_FEATURES = 13


def write_heart_csv(src=golden.HEART, dst=os.path.join(golden.ROOT, golden.HEART_CSV)):
    lines = ["label," + ",".join(f"f{j}" for j in range(1, N_HEART_FEATURES + 1))]
    with open(src) as f:
        for line in f:
            tok = line.split()
            if not tok:
                continue
            row = [0.0] * N_HEART_FEATURES
            for t in tok[1:]:
                k, v = t.split(":")
                row[int(k) - 1] = float(v)
            label = "1" if float(tok[0]) > 0 else "-1"
            lines.append(label + "," + ",".join(f"{v:.17g}" for v in row))
    with open(dst, "w") as f:
        f.write("\n".join(lines) + "\n")
    return len(lines) - 1


def mpirun(mpirun_exe, binary, np_, args, timeout=120):
    """One mpirun with its own Open MPI session directory (4.1 races on the shared
    /tmp/ompi.<host>.<uid> when two jobs start at once)."""
    session = tempfile.mkdtemp(prefix="sl-ompi-")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_mpi_yield_when_idle="1", OMPI_MCA_rmaps_base_oversubscribe="1",
               OMPI_MCA_orte_tmpdir_base=session)
    cmd = [mpirun_exe, "--oversubscribe", "-np", str(np_), binary] + args
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    finally:
        shutil.rmtree(session, ignore_errors=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return p


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    mpirun_exe = sys.argv[2] if len(sys.argv) > 2 else "mpirun"
    rows = write_heart_csv()
    print(f"wrote {golden.HEART_CSV} ({rows} rows)")
    os.makedirs(golden.EXPECTED, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="sl-golden-")
    try:
        for case in golden.CASES:
            out = os.path.join(tmp, case["name"] + case["ext"])
            mpirun(mpirun_exe, binary, case["np"],
                   golden.command(case, out, os.path.join(tmp, "runs")))
            shutil.copyfile(out, golden.golden_path(case))
            print(f"{case['name']}: {os.path.getsize(out)} bytes", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    keep = {os.path.basename(golden.golden_path(c)) for c in golden.CASES}
    for f in sorted(os.listdir(golden.EXPECTED)):
        if f not in keep:
            os.remove(os.path.join(golden.EXPECTED, f))
            print(f"removed stale {f}")
    print(f"{len(golden.CASES)} golden files in {os.path.relpath(golden.EXPECTED, golden.ROOT)}")


if __name__ == "__main__":
    main()
