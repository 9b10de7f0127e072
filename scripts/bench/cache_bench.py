"""The benchmark's binary-cache measurements (README: A binary cache), on the
benchmark's own data:

  convert: `shardlearn convert` on 2 ranks, wall time of the whole process;

  load: `train --max-iter 1` from the text and from the cache on 1 and 2
  ranks, best of --cache-reps runs each; the load time is rank 0's
  timings.load in metrics.json (the ranks agree at its end, so it is the
  slowest rank's). The rate per rank is the bytes a rank reads (the text's,
  or the cache's sections, over the ranks) over that time. Both are read
  from the page cache: the text was read by earlier runs, the cache was
  just written, so this is the parse and the checked copy, not the disk.

The models from the text and from the cache must be the same bits
(`identical`: the weights of each pair compared).

Called by run_bench.py as measure_cache(bench, args)."""
import json
import os
import shutil

from common import model_weights

ITERS = ["--optimizer", "lbfgs", "--max-iter", "1"]
SECTIONS = ("keys.bin", "indptr.bin", "y.bin", "indices.bin", "values.bin", "shardlearn.cache")


def _load(b, tag, ranks, data, reps):
    """(best load seconds, weights of the last run)."""
    best, weights = None, None
    for i in range(reps):
        r = b.shardlearn(f"{tag}-{i}", ranks, ITERS, with_model=False, data=data)
        t = r["metrics"]["timings"]["load"]
        best = t if best is None else min(best, t)
    # One run with the model, for the bit-identity check.
    d = b.runs / tag
    model = d / "model.json"
    b.run(b.mpirun(ranks) + [b.bin, "train", "--data", data, "--l2", repr(b.lam), "--no-intercept",
                             "--tracking-dir", d / "journal", "--quiet", "--model-out", model] + ITERS)
    weights = list(model_weights(json.loads(model.read_text())))  # either form
    model.unlink()
    return best, weights


def measure_cache(b, a):
    d = b.runs / "cache"
    cdir = d / "data.cache"
    shutil.rmtree(cdir, ignore_errors=True)
    d.mkdir(parents=True, exist_ok=True)
    _, convert_s = b.run(b.mpirun(2) + [b.bin, "convert", "--data", b.svm, "--out", cdir])
    cache_bytes = sum(os.path.getsize(cdir / s) for s in SECTIONS)
    text_bytes = os.path.getsize(b.svm)
    out = {"convert_s": convert_s, "text_bytes": text_bytes, "cache_bytes": cache_bytes,
           "reps": a.cache_reps, "ranks": {}}
    identical = True
    for p in (1, 2):
        t_text, w_text = _load(b, f"cache-text-{p}", p, b.svm, a.cache_reps)
        t_cache, w_cache = _load(b, f"cache-load-{p}", p, str(cdir), a.cache_reps)
        identical = identical and w_text == w_cache
        out["ranks"][str(p)] = {
            "text_load_s": t_text, "cache_load_s": t_cache,
            "text_rate_per_rank": text_bytes / p / t_text,
            "cache_rate_per_rank": cache_bytes / p / t_cache,
            "speedup": t_text / t_cache}
    out["identical"] = identical
    shutil.rmtree(cdir, ignore_errors=True)
    return out


def render(c):
    """The paragraph of bench.md."""
    parts = []
    for p, r in sorted(c["ranks"].items()):
        parts.append(f"{p} rank(s): text {r['text_load_s']:.2f} s ({r['text_rate_per_rank'] / 1e6:.0f} MB/s "
                     f"a rank), cache {r['cache_load_s']:.3f} s ({r['cache_rate_per_rank'] / 1e9:.2f} GB/s a "
                     f"rank), {r['speedup']:.1f}x faster")
    return (f"Binary cache (`convert`, `--data DIR`): {c['text_bytes'] / 1e6:.0f} MB of text became "
            f"{c['cache_bytes'] / 1e6:.0f} MB of cache in {c['convert_s']:.1f} s (convert, 2 ranks). "
            f"Load, best of {c['reps']}, page cache warm: " + "; ".join(parts) + ". Models from the "
            f"cache and from the text {'are' if c['identical'] else '**are not**'} the same bits.")


def targets(c):
    """The issue's cache target, as rows of the targets table."""
    worst = min(r["cache_rate_per_rank"] for r in c["ranks"].values())
    return [{"target": "cache load ≥ 2 GB/s per rank (1 and 2 ranks, page cache warm)",
             "value": f"{worst / 1e9:.2f} GB/s (slowest of 1 and 2 ranks)", "met": worst >= 2e9},
            {"target": "models from the cache bit-identical to the text's (1 and 2 ranks)",
             "value": "identical" if c["identical"] else "different", "met": c["identical"]}]
