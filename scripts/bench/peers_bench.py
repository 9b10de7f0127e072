"""The multi-core peers (issue 17 item 1): LIBLINEAR multi-core (-m 2) and
Snap ML (n_jobs = 2) on the benchmark's data and objective, each by a
tolerance sequence (peers_fit.py): the first run that reaches F* (1 + 1e-6),
its fit time and its load time. The target compares shardlearn's whole
process on 2 ranks with the faster peer's fit + load.

Called by run_bench.py: measure_peers(bench, args, log), render, targets."""
import json
import sys
from pathlib import Path

import numpy as np

from common import objective

HERE = Path(__file__).resolve().parent
THREADS = 2
SEQ = {"liblinear-mc": [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-8],
       "snapml": [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-8]}
NAMES = {"liblinear-mc": f"LIBLINEAR 2.50 multi-core (-s 0 -m {THREADS})",
         "snapml": f"Snap ML LogisticRegression (n_jobs={THREADS})"}


def _fit(b, peer, tol):
    d = b.runs / "peers"
    d.mkdir(exist_ok=True)
    out = d / f"{peer}.t{tol:g}"
    b.run([sys.executable, HERE / "peers_fit.py", b.svm, b.d, out, peer, repr(b.C), repr(tol),
           THREADS])
    info = json.loads(Path(str(out) + ".json").read_text())
    w = np.load(str(out) + ".npy")
    return {"param": tol, "seconds": info["fit_seconds"], "load": info["load_seconds"],
            "F": objective(b.X, b.y, w, b.lam)}


def measure_peers(b, a, log):
    out = {}
    for peer, seq in SEQ.items():
        log(f"{NAMES[peer]}, tolerance sequence")
        out[peer] = b.sequence(NAMES[peer], seq, lambda t, p=peer: _fit(b, p, t), a.budget, 1.5)
    return out


def first_at(runs, target):
    return next((r for r in runs if r["F"] <= target), None)


def render(pe, target):
    parts = []
    for peer, runs in pe.items():
        r = first_at(runs, target)
        if r:
            parts.append(f"{NAMES[peer]}: tol {r['param']:g}, fit {r['seconds']:.2f} s + load "
                         f"{r['load']:.2f} s")
        elif runs:
            parts.append(f"{NAMES[peer]}: not reached (last tol {runs[-1]['param']:g}: fit "
                         f"{runs[-1]['seconds']:.2f} s, gap {(runs[-1]['F'] - target) / target:.1e})")
    return ("Multi-core peers, time to F*·(1+1e-6) (first run of a tolerance sequence that reaches "
            "it; load: scikit-learn's load_svmlight_file, plus LIBLINEAR's problem): "
            + "; ".join(parts) + ".")


def targets(pe, target, t2):
    """t2: shardlearn's whole process to the target on 2 ranks (None: not reached)."""
    best = [(r["seconds"] + r["load"], peer) for peer, runs in pe.items()
            for r in [first_at(runs, target)] if r]
    name = "2 ranks reach the target >= 4x sooner than the faster multi-core peer (with its load)"
    if not t2:
        return [{"target": name, "value": "shardlearn did not reach the target", "met": False}]
    if not best:
        lb = min((runs[-1]["seconds"] + runs[-1]["load"] for runs in pe.values() if runs),
                 default=0.0)
        return [{"target": name, "value": f"> {lb / t2:.1f}x (no peer reached the target)",
                 "met": None}]
    t, peer = min(best)
    return [{"target": name, "value": f"{t / t2:.1f}x ({t2:.2f} s vs {peer} {t:.2f} s)",
             "met": t / t2 >= 4}]
