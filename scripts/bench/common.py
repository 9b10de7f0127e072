"""Shared by the benchmark's driver and its scikit-learn runner: the data set
as a CSR matrix, the objective computed the same way for every solver, and
reading LIBLINEAR's model file."""
import os

import numpy as np
import scipy.sparse as sp


def load_npz(path):
    """The generator's CSR arrays as (X, y): X (n, d) float64 CSR, y in {-1, +1}."""
    z = np.load(path)
    n, d = (int(v) for v in z["shape"])
    X = sp.csr_matrix((z["values"], z["indices"], z["indptr"]), shape=(n, d))
    return X, z["y"]


def objective(X, y, w, lam, b=0.0):
    """F(w, b) = (1/n) sum_i log(1 + exp(-y_i (w.x_i + b))) + (lam/2) ||w||^2.

    log(1 + exp(-z)) is np.logaddexp(0, -z), which never overflows. Every
    solver's weights go through this one function, so the comparison does not
    depend on how each tool sums its own loss."""
    w = np.asarray(w, dtype=np.float64)
    z = y * (X @ w + b)
    loss = np.logaddexp(0.0, -z)
    return float(np.sum(loss, dtype=np.float64) / X.shape[0] + 0.5 * lam * float(w @ w))


def model_weights(m):
    """The dense weights of a shardlearn model file's JSON: "weights", or
    "weights_sparse" {"indices", "values"} when that was shorter."""
    if "weights_sparse" in m:
        w = np.zeros(int(m["n_features"]))
        w[np.asarray(m["weights_sparse"]["indices"], dtype=int)] = m["weights_sparse"]["values"]
        return w
    return np.asarray(m["weights"], dtype=np.float64)


def read_liblinear_model(path, d):
    """Weights of a LIBLINEAR two-class model as the weight of the +1 class.

    LIBLINEAR orients w towards the first label it met in the file
    ("label 1 -1" or "label -1 1"); nr_feature is the largest index seen,
    which can be below d when the last columns never occur."""
    with open(path) as f:
        head = {}
        for line in f:
            line = line.strip()
            if line == "w":
                break
            key, _, val = line.partition(" ")
            head[key] = val
        w = np.loadtxt(f, dtype=np.float64, ndmin=1)
    if float(head.get("bias", "-1")) >= 0:
        raise ValueError(f"{path}: model has a bias term; the benchmark trains without one")
    labels = [int(float(v)) for v in head["label"].split()]
    nf = int(head["nr_feature"])
    out = np.zeros(d)
    out[:nf] = w[:nf]
    return out if labels[0] == 1 else -out


def shard_rows(path, ranks):
    """Rows [first, last) of each of `ranks` shards, split as shardlearn does:
    rank r owns the lines that start in [size*r/P, size*(r+1)/P) of the file
    (every line of the benchmark's file is a row)."""
    size = os.path.getsize(path)
    firsts = [0]
    with open(path, "rb") as f:
        seen, pos = 0, 0
        for r in range(1, ranks):
            b = size * r // ranks
            # Lines starting in [0, b): the one at 0, and one after each
            # newline in bytes [0, b - 1).
            while pos < b - 1:
                buf = f.read(min(64 << 20, b - 1 - pos))
                if not buf:
                    break
                seen += buf.count(b"\n")
                pos += len(buf)
            firsts.append(seen + 1 if b > 0 else 0)
    return [(firsts[r], firsts[r + 1] if r + 1 < ranks else None) for r in range(ranks)]


def csr_bytes(X, first, last):
    """Bytes of shardlearn's CSR for rows [first, last): int32 column indices,
    float64 values, int64 row offsets (rows + 1) and float64 labels."""
    last = X.shape[0] if last is None else last
    rows = last - first
    nnz = int(X.indptr[last] - X.indptr[first])
    return nnz * (4 + 8) + (rows + 1) * 8 + rows * 8, rows, nnz
