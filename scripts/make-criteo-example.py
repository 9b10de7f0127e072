#!/usr/bin/env python3
"""Writes examples/criteo/train.tsv and test.tsv: a small synthetic data set in
the Criteo display-advertising layout (tab-separated, no header: a 0/1 label,
13 integer columns I1..I13, 26 categorical columns C1..C26 of 8-digit hex
tokens, many fields empty), for `shardlearn train --format criteo`.

The labels come from a planted logistic model: every categorical value has a
weight (common values and a few columns matter most), and some integer
columns count through log(1 + x). Deterministic: Python's own random.Random
(seeded), no numpy, so the bytes are the same on every machine.

    .venv/bin/python scripts/make-criteo-example.py [OUT_DIR]
"""
import math
import os
import random
import sys

SEED = 12
N_TRAIN, N_TEST = 12000, 3000


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "examples", "criteo")
    rng = random.Random(SEED)
    # Vocabularies: sizes from 3 to 400, Zipf-like frequencies; per column a
    # strength, per value a weight.
    vocab, freq, weight, empty = [], [], [], []
    for j in range(26):
        size = rng.choice([3, 8, 20, 60, 150, 400])
        vocab.append([f"{rng.getrandbits(32):08x}" for _ in range(size)])
        freq.append([1.0 / (k + 1) ** 1.1 for k in range(size)])
        strength = rng.choice([0.0, 0.3, 0.8, 1.5])
        weight.append([rng.gauss(0.0, strength) for _ in range(size)])
        empty.append(rng.choice([0.0, 0.1, 0.4, 0.7]))
    int_w = [rng.choice([0.0, 0.0, 0.4, -0.4, 0.8]) for _ in range(13)]
    int_scale = [rng.choice([2, 5, 20, 100]) for _ in range(13)]
    int_empty = [rng.choice([0.0, 0.1, 0.4]) for _ in range(13)]

    def row():
        margin = -2.0
        ints = []
        for j in range(13):
            if rng.random() < int_empty[j]:
                ints.append("")
                continue
            x = int(rng.expovariate(1.0 / int_scale[j]))
            margin += int_w[j] * (math.log1p(x) - 1.5)
            ints.append(str(x))
        cats = []
        for j in range(26):
            if rng.random() < empty[j]:
                cats.append("")
                continue
            k = rng.choices(range(len(vocab[j])), weights=freq[j])[0]
            margin += weight[j][k]
            cats.append(vocab[j][k])
        y = 1 if rng.random() < 1.0 / (1.0 + math.exp(-margin)) else 0
        return "\t".join([str(y)] + ints + cats) + "\n"

    os.makedirs(out, exist_ok=True)
    for name, n in (("train.tsv", N_TRAIN), ("test.tsv", N_TEST)):
        with open(os.path.join(out, name), "w", newline="\n") as f:
            for _ in range(n):
                f.write(row())


if __name__ == "__main__":
    main()
