"""The benchmark's path measurement (README: Regularisation paths), on the
benchmark's own data, 2 ranks, newton, no intercept, tol 1e-6:

  one fit at the benchmark's lambda, from w = 0; then a path of 10 values
  from 100 lambda down to lambda (--l2 100L:L:10), each fitted from the fits
  before it (README: Paths). Both read the data once; the cost compared is the time from load
  to exit. The target (issue #16): the path costs at most 3x the one fit at
  its weakest penalty.

Called by run_bench.py as measure_path(bench, args)."""
import json
import os

N_PATH = 10
SPAN = 100.0  # the path's strongest penalty, as a multiple of the weakest


def _fit(b, d, tag, l2):
    metrics = os.path.join(d, tag + ".metrics.json")
    cmd = b.mpirun(2) + [b.bin, "train", "--data", b.svm, "--l2", l2, "--no-intercept",
                         "--optimizer", "newton", "--tol", "1e-6", "--quiet",
                         "--metrics-out", metrics, "--tracking-dir", os.path.join(d, "journal")]
    _, wall = b.run(cmd)
    with open(metrics) as f:
        m = json.load(f)
    out = {"iterations": m["iterations"], "objective": m["objective"],
           "solve_seconds": m["timings"]["total"] - m["timings"]["load"],
           "load_seconds": m["timings"]["load"], "wall": wall}
    if "path" in m:
        out["points"] = [{"l2": p["l2"], "iterations": p["iterations"], "converged": p["converged"],
                          "objective": p["train_objective"]} for p in m["path"]["points"]]
        out["iterations"] = sum(p["iterations"] for p in out["points"])
    return out


def measure_path(b, a):
    d = str(b.runs / "path")
    os.makedirs(d, exist_ok=True)
    one = _fit(b, d, "one", repr(b.lam))
    path = _fit(b, d, "path", f"{SPAN * b.lam!r}:{b.lam!r}:{N_PATH}")
    last = path["points"][-1]
    return {"rows": int(b.X.shape[0]), "features": int(b.X.shape[1]), "nnz": int(b.X.nnz),
            "lambda": b.lam, "n": N_PATH, "span": SPAN, "one": one, "path": path,
            "ratio": path["solve_seconds"] / one["solve_seconds"],
            "rel_objective_gap": (last["objective"] - one["objective"]) / abs(one["objective"])}


def render(p):
    o, q = p["one"], p["path"]
    its = ", ".join(str(x["iterations"]) for x in q["points"])
    return (f"Regularisation path ({p['rows']} rows x {p['features']} features, {p['nnz']} nonzeros; "
            f"2 ranks, newton, tol 1e-6, no intercept): {p['n']} values of λ from "
            f"{p['span'] * p['lambda']:.3g} down to {p['lambda']:.3g} (`--l2 HI:LO:{p['n']}`, each "
            f"from the fits before it) took {q['solve_seconds']:.2f} s from load to exit "
            f"({q['iterations']} Newton iterations: {its}); one fit at {p['lambda']:.3g} from w = 0 "
            f"took {o['solve_seconds']:.2f} s ({o['iterations']} iterations): {p['ratio']:.2f}x. The "
            f"path's last point and the single fit differ by {p['rel_objective_gap']:.1e} relative "
            f"in objective.")


def targets(p):
    return [{"target": "a path of 10 λ costs <= 3x one fit at its weakest λ",
             "value": f"{p['ratio']:.2f}x ({p['path']['solve_seconds']:.2f} s vs "
                      f"{p['one']['solve_seconds']:.2f} s)",
             "met": p["ratio"] <= 3.0}]
