#!/usr/bin/env python3
"""What one random 8-byte read costs on this machine, by the size of the array
it falls in: the cost behind a sparse pass, which reads w_j (and updates g_j)
for a column j that jumps around the whole vector at every nonzero.

numpy's take() over 16 M uniformly random indices (independent reads, so the
processor may overlap their misses, as the kernels do), best of 3, against a
sequential take of the same length for the streaming cost. Not part of
bench.sh's table; docs/benchmark.md quotes it to explain the pass rate.

usage: random_access.py [MAX_MB]"""
import sys
import time

import numpy as np


def best(f, reps=3):
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - t0)
    return t


def main():
    max_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    n = 1 << 24
    rng = np.random.default_rng(1)
    out = np.empty(n)
    seq = np.arange(n, dtype=np.int64)
    print("array     ns per random read   ns per sequential read")
    mb = 1
    while mb <= max_mb:
        size = mb * (1 << 20) // 8
        w = np.ones(size)
        idx = rng.integers(0, size, n)
        wrap = seq % size
        t_rand = best(lambda: np.take(w, idx, out=out))
        t_seq = best(lambda: np.take(w, wrap, out=out))
        print(f"{mb:4d} MB   {1e9 * t_rand / n:10.2f}           {1e9 * t_seq / n:10.2f}")
        mb *= 2


if __name__ == "__main__":
    main()
