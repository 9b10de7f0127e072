"""The benchmark's warm-start measurement (README: Warm starts), on the
benchmark's own data, 2 ranks, newton, no intercept:

  fit at lambda (the benchmark's) and keep the model; then fit at 0.8 lambda
  twice: cold (from w = 0) and warm (--init-model, the lambda model). Both
  stop by the same rule (tol 1e-6 of |grad F(0)|: a warm start measures tol
  against the gradient at 0, as LIBLINEAR does), so they reach the same
  accuracy and the saving is in Newton iterations, CG steps and time.

Called by run_bench.py as measure_warm(bench, args)."""
import json
import os

RATIO = 0.8  # the second lambda, as a fraction of the first


def _fit(b, d, tag, lam, extra):
    metrics, model = os.path.join(d, tag + ".metrics.json"), os.path.join(d, tag + ".model.json")
    cmd = b.mpirun(2) + [b.bin, "train", "--data", b.svm, "--l2", repr(lam), "--no-intercept",
                         "--optimizer", "newton", "--tol", "1e-6", "--quiet",
                         "--metrics-out", metrics, "--model-out", model,
                         "--tracking-dir", os.path.join(d, "journal")] + extra
    _, wall = b.run(cmd)
    with open(metrics) as f:
        m = json.load(f)
    return {"iterations": m["iterations"], "converged": m["converged"], "objective": m["objective"],
            "cg_steps": sum(h["cg_steps"] for h in m["history"]),
            "passes": m["history"][-1]["passes"] if m["history"] else 0,
            "solve_seconds": m["timings"]["total"] - m["timings"]["load"],
            "compute_seconds": m["timings"]["compute"], "allreduce_seconds": m["timings"]["allreduce"],
            "wall": wall,
            "model": model}


def measure_warm(b, a):
    d = str(b.runs / "warm")
    os.makedirs(d, exist_ok=True)
    base = _fit(b, d, "base", b.lam, [])
    lam2 = RATIO * b.lam
    cold = _fit(b, d, "cold", lam2, [])
    warm = _fit(b, d, "warm", lam2, ["--init-model", base["model"]])
    for r in (base, cold, warm):
        os.unlink(r.pop("model"))
    return {"rows": int(b.X.shape[0]), "features": int(b.X.shape[1]), "nnz": int(b.X.nnz),
            "lambda": b.lam, "lambda2": lam2, "base": base, "cold": cold, "warm": warm,
            "rel_objective_gap": (warm["objective"] - cold["objective"]) / abs(cold["objective"])}


def render(w):
    c, h = w["cold"], w["warm"]

    def cost(r):
        return (f"{r['iterations']} Newton iterations, {r['cg_steps']} CG steps, {r['passes']} "
                f"passes, {r['compute_seconds']:.2f} s in the passes, {r['allreduce_seconds']:.2f} s "
                f"in collectives, {r['solve_seconds']:.2f} s from load to exit")
    return (f"Warm start ({w['rows']} rows x {w['features']} features, {w['nnz']} nonzeros; "
            f"2 ranks, newton, tol 1e-6): a fit at λ = {w['lambda2']:.3g} (0.8 of the "
            f"benchmark's λ) took, from w = 0, {cost(c)}; from the model fitted at λ "
            f"(`--init-model`), {cost(h)}. The warm run's time from load to exit includes "
            f"reading the initial model (a JSON file of {w['features']} weights, on every rank) "
            f"and one pass for |∇F(0)|. The two objectives differ by "
            f"{w['rel_objective_gap']:.1e} relative.")


def targets(w):
    c, h = w["cold"], w["warm"]
    met = h["iterations"] < c["iterations"] and h["converged"] and c["converged"]
    return [{"target": "warm start at 0.8 λ: fewer Newton iterations than cold",
             "value": f"{h['iterations']} vs {c['iterations']} iterations, {h['passes']} vs "
                      f"{c['passes']} passes, {h['solve_seconds']:.2f} s vs {c['solve_seconds']:.2f} s",
             "met": met}]
