#!/usr/bin/env python3
"""Writes the benchmark's synthetic data set: a high-dimensional sparse
binary problem shaped like text or click data.

  * rows: exactly NNZ distinct columns each, drawn from a power law
    (column rank r is drawn with probability ~ 1/(r + 10)); the ranks are
    spread over the index space by a fixed random permutation, so frequent
    columns are not neighbours in memory;
  * values: uniform on (0, 1], written with 3 decimals ("0.412");
  * labels: y = +1 with probability sigmoid(x . w_true), w_true ~ N(0, s^2)
    on every column with s set so that the margin has a standard deviation
    of about 3: a planted model plus logistic label noise.

Outputs OUT.svm (LIBSVM text, 1-based, labels +1/-1) and OUT.npz (the same
matrix as CSR arrays, bit for bit what a parser reads from the text: each
value is level/1000, the correctly rounded double of its 3-decimal spelling).
Deterministic for a given seed and size. Needs numpy only.

usage: gen_data.py OUT_PREFIX [--rows N] [--features D] [--nnz K] [--seed S]
"""
import argparse
import os
import time

import numpy as np

CHUNK = 50_000  # rows per chunk: keeps the temporaries near 300 MB


def column_sampler(d, rng):
    """Returns draw(shape) -> column ids from the power law, permuted."""
    perm = rng.permutation(d).astype(np.int64)
    top = np.log((d + 10.0) / 10.0)

    def draw(shape):
        # Inverse CDF of the density ~ 1/(x + 10) on [0, d), floored.
        u = rng.random(shape)
        r = np.floor(10.0 * np.exp(u * top) - 10.0).astype(np.int64)
        np.clip(r, 0, d - 1, out=r)
        return perm[r]

    return draw


def distinct_sorted_rows(draw, n, k):
    """(n, k) column ids, distinct and increasing within each row."""
    cols = np.sort(draw((n, k)), axis=1)
    while True:
        dup = np.zeros(cols.shape, dtype=bool)
        dup[:, 1:] = cols[:, 1:] == cols[:, :-1]
        nd = int(dup.sum())
        if nd == 0:
            return cols
        cols[dup] = draw(nd)
        cols.sort(axis=1)


def text_table(strings):
    """Concatenated bytes of strings, with each one's offset and length."""
    enc = [s.encode() for s in strings]
    lens = np.fromiter((len(e) for e in enc), dtype=np.int64, count=len(enc))
    offs = np.zeros(len(enc), dtype=np.int64)
    np.cumsum(lens[:-1], out=offs[1:])
    return b"".join(enc), offs, lens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=1 << 20)
    ap.add_argument("--nnz", type=int, default=40)
    ap.add_argument("--seed", type=int, default=20260101)
    a = ap.parse_args()
    n, d, k = a.rows, a.features, a.nnz
    if not (0 < k <= d):
        raise SystemExit("gen_data.py: need 0 < nnz <= features")
    t0 = time.time()
    rng = np.random.default_rng(a.seed)
    draw = column_sampler(d, rng)
    scale = 3.0 / np.sqrt(k / 3.0)  # E[v^2] = 1/3 for v ~ U(0, 1]
    w_true = rng.normal(0.0, scale, size=d)

    # One byte table for every piece of text: labels, " idx:" and value strings, "\n".
    lab_b, lab_o, lab_l = text_table(["-1", "+1"])
    idx_b, idx_o, idx_l = text_table([f" {j + 1}:" for j in range(d)])
    val_b, val_o, val_l = text_table([f"{q / 1000:.3f}" if q < 1000 else "1" for q in range(1, 1001)])
    table = np.frombuffer(lab_b + idx_b + val_b + b"\n", dtype=np.uint8)
    idx_o = idx_o + len(lab_b)
    val_o = val_o + len(lab_b) + len(idx_b)
    nl_o = len(table) - 1

    tmp_svm, tmp_npz = a.out + ".svm.tmp", a.out + ".npz.tmp.npz"
    indices = np.empty(n * k, dtype=np.int32)
    values = np.empty(n * k, dtype=np.float64)
    labels = np.empty(n, dtype=np.float64)
    with open(tmp_svm, "wb") as f:
        for r0 in range(0, n, CHUNK):
            m = min(CHUNK, n - r0)
            cols = distinct_sorted_rows(draw, m, k)
            q = rng.integers(1, 1001, size=(m, k))  # value = q / 1000
            v = q / 1000.0
            margin = (v * w_true[cols]).sum(axis=1)
            y = (rng.random(m) < 1.0 / (1.0 + np.exp(-margin))).astype(np.int64)
            indices[r0 * k:(r0 + m) * k] = cols.ravel()
            values[r0 * k:(r0 + m) * k] = v.ravel()
            labels[r0:r0 + m] = 2.0 * y - 1.0
            # Pieces of each row: label, then (" idx:", value) k times, then "\n".
            po = np.empty((m, 2 * k + 2), dtype=np.int64)
            pl = np.empty((m, 2 * k + 2), dtype=np.int64)
            po[:, 0], pl[:, 0] = lab_o[y], lab_l[y]
            po[:, 1:-1:2], pl[:, 1:-1:2] = idx_o[cols], idx_l[cols]
            po[:, 2:-1:2], pl[:, 2:-1:2] = val_o[q - 1], val_l[q - 1]
            po[:, -1], pl[:, -1] = nl_o, 1
            po, pl = po.ravel(), pl.ravel()
            # Ragged gather: byte t of piece p is table[po[p] + t].
            starts = np.cumsum(pl) - pl
            src = np.repeat(po - starts, pl) + np.arange(int(pl.sum()), dtype=np.int64)
            f.write(table[src].tobytes())
    indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
    np.savez(tmp_npz, indptr=indptr, indices=indices, values=values, y=labels,
             shape=np.array([n, d], dtype=np.int64))
    os.replace(tmp_svm, a.out + ".svm")
    os.replace(tmp_npz, a.out + ".npz")
    size = os.path.getsize(a.out + ".svm")
    print(f"wrote {a.out}.svm: {n} rows, {d} features, {k} nonzeros a row, "
          f"{size / 1e6:.0f} MB, positives {np.mean(labels > 0):.3f}, "
          f"columns used {np.unique(indices).size}, {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
