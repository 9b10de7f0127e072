"""Hashed categorical columns (README: Categorical columns (hashed)), against
scikit-learn's FeatureHasher as the reference:

1. sl_hash_index == FeatureHasher(n_features=2**B, input_type="string",
   alternate_sign=False) on a few thousand strings (ASCII, non-ASCII UTF-8,
   newlines, long ones) for several B, and abs(murmurhash3_32) mod 2^31 for B=31;
2. train on a hashed CSV (header, names with UTF-8, empty fields, collisions
   in a row) and on the Criteo-shaped example (--format criteo) == train on
   the same rows hashed by FeatureHasher and written as LIBSVM, weight for
   weight; 1 and 2 ranks give the same model;
3. eval/predict on the raw file with the model == train's metrics and the
   LIBSVM model's probabilities;
4. serve answers raw records (instances, dataframe_records, dataframe_split,
   text/csv) with predict's probabilities;
5. bad input: one error line naming file:line, non-zero exit, no model file.

    test_hashing.py SHARDLEARN MPIRUN HASH_INDEX
"""
import atexit
import csv
import json
import math
import os
import random
import shutil
import subprocess
import sys

import numpy as np
from sklearn.feature_extraction import FeatureHasher
from sklearn.utils import murmurhash3_32

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "serve"))
from serve_common import Server  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from common import check, error_lines, finish, load_model, run, workdir  # noqa: E402

HASH_INDEX = sys.argv[3]
EXAMPLES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "criteo"))
CRITEO_NAMES = ["label"] + [f"I{k}" for k in range(1, 14)] + [f"C{k}" for k in range(1, 27)]


def scratch():
    """A work directory, removed when the test ends (the data is a few MB)."""
    wd = workdir()
    atexit.register(shutil.rmtree, wd, True)
    return wd


def test_index():
    rng = random.Random(5)
    alphabet = ("abcXYZ019 =_-\t\n,;" "éüßçø" "日本語中文한국어" "Ωλπ" "😀🚀🎉" "\u0301\u200d")
    strings = ["", "a", "C1=68fd1e64", "name=value", "città=Roma", "x" * 5000]
    while len(strings) < 4000:
        n = rng.choice([1, 2, 5, 11, 16, 33, 100])
        strings.append("".join(rng.choice(alphabet) for _ in range(n)))
    wd = scratch()
    path = os.path.join(wd, "strings.bin")
    with open(path, "wb") as f:
        f.write(b"\0".join(s.encode("utf-8") for s in strings))
    bits = [1, 4, 10, 18, 20, 30]
    out = subprocess.run([HASH_INDEX, path] + [str(b) for b in bits] + ["31"], capture_output=True,
                         text=True, check=True).stdout.split("\n")[:-1]
    got = np.array([[int(x) for x in line.split()] for line in out])
    check(got.shape == (len(strings), len(bits) + 1), f"hash_index printed {got.shape}")
    for k, b in enumerate(bits):
        X = FeatureHasher(n_features=2 ** b, input_type="string",
                          alternate_sign=False).transform([[s] for s in strings])
        want = X.indices  # one feature a row: its index, in row order
        bad = np.nonzero(got[:, k] != want)[0]
        check(len(bad) == 0, f"B={b}: {len(bad)} indices differ from FeatureHasher, e.g. "
                             f"{[strings[i] for i in bad[:3]]}")
    # n_features = 2^31 is beyond FeatureHasher's int32 check: its rule by hand.
    want31 = np.array([abs(murmurhash3_32(s.encode("utf-8"), seed=0)) % 2 ** 31 for s in strings])
    check(np.array_equal(got[:, -1], want31), "B=31 differs from abs(murmurhash3_32) mod 2^31")


def hasher_svm(rows, names, kinds, bits, path):
    """rows of raw text fields -> LIBSVM (1-based) through FeatureHasher: the
    categorical fields "name=value" hashed, numeric columns at 2^B + k."""
    cat = [j for j, k in enumerate(kinds) if k == "c"]
    num = [j for j, k in enumerate(kinds) if k == "n"]
    base = 2 ** bits if cat else 0
    X = FeatureHasher(n_features=2 ** bits, input_type="string", alternate_sign=False).transform(
        [[f"{names[j]}={r[j]}" for j in cat if r[j] != ""] for r in rows]).tocsr()
    X.sort_indices()
    collisions = 0
    with open(path, "w") as f:
        for i, r in enumerate(rows):
            a, b = X.indptr[i], X.indptr[i + 1]
            feats = [(int(j), float(v)) for j, v in zip(X.indices[a:b], X.data[a:b])]
            collisions += any(v > 1 for _, v in feats)
            for k, j in enumerate(num):
                if r[j] != "" and float(r[j]) != 0:
                    feats.append((base + k, float(r[j])))
            f.write(r[0] + "".join(f" {j + 1}:{v!r}" for j, v in feats) + "\n")
    return base + len(num), collisions


def weights_equal(a, b, what, tol=0.0):
    """Exact (tol 0) between two files trained on 1 rank: on more ranks the
    rows split by bytes, which differ between a raw file and its LIBSVM form,
    and the sums' order with them."""
    wa, ba, _ = load_model(a)
    wb, bb, _ = load_model(b)
    ok = wa.shape == wb.shape and (np.max(np.abs(wa - wb), initial=0) <= tol) and abs(ba - bb) <= tol
    check(ok, f"{what}: weights differ (max {np.max(np.abs(wa - wb)) if wa.shape == wb.shape else 'shape'})")


def csv_data(wd):
    """A CSV with a header: UTF-8 names and values, empty fields, numeric
    columns; labels from a planted model."""
    rng = random.Random(9)
    names = ["label", "città", "n1", "colour", "größe", "n2", "shop"]
    kinds = ["l", "c", "n", "c", "c", "n", "c"]
    vocab = {1: ["Roma", "Milano", "Zürich", "東京", ""], 3: ["red", "blue", "grün", ""],
             4: [f"s{k}" for k in range(30)] + [""], 6: [f"shop-{k}" for k in range(200)]}
    wv = {(j, v): rng.gauss(0, 1) for j in vocab for v in vocab[j]}
    rows = []
    for _ in range(3000):
        r = ["0"] * 7
        m = 0.0
        for j, vs in vocab.items():
            r[j] = rng.choice(vs)
            m += wv[(j, r[j])]
        for j in (2, 5):
            x = "" if rng.random() < 0.2 else repr(round(rng.gauss(0, 2), 3))
            r[j] = x
            m += 0.5 * float(x or 0)
        r[0] = "1" if rng.random() < 1 / (1 + math.exp(-m)) else "0"
        rows.append(r)
    path = os.path.join(wd, "shops.csv")
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(names) + "\n")
        for r in rows:
            f.write(",".join(r) + "\n")
    return path, rows, names, kinds


def test_train_equal(wd):
    path, rows, names, kinds = csv_data(wd)
    bits = 7  # 128 bins: collisions within rows happen, and must add up as in FeatureHasher
    svm = os.path.join(wd, "shops.svm")
    d, collisions = hasher_svm(rows, names, kinds, bits, svm)
    check(collisions > 0, "the CSV test data has no collision in a row (test too weak)")
    opts = ["--l2", "1e-3", "--tol", "1e-10", "--quiet", "--tracking-dir", os.path.join(wd, "runs")]
    m_csv = os.path.join(wd, "csv.json")
    run(["train", "--data", path, "--categorical", "città,colour,größe,shop", "--hash-bits", bits,
         "--model-out", m_csv] + opts)
    m_svm = os.path.join(wd, "svm.json")
    run(["train", "--data", svm, "--n-features", d, "--model-out", m_svm] + opts)
    weights_equal(m_csv, m_svm, "hashed CSV vs FeatureHasher LIBSVM")
    m_rng = os.path.join(wd, "csv-ranges.json")
    run(["train", "--data", path, "--categorical", "2,4-5,7", "--hash-bits", bits,
         "--model-out", m_rng] + opts)
    weights_equal(m_csv, m_rng, "--categorical by names vs by column numbers")
    m2 = os.path.join(wd, "csv-2.json")
    run(["train", "--data", path, "--categorical", "città,colour,größe,shop", "--hash-bits", bits,
         "--model-out", m2] + opts, np_=2)
    weights_equal(m_csv, m2, "1 rank vs 2 ranks (CSV)", tol=1e-6)
    # A byte-order mark and CRLF line endings: the same model as the clean file.
    dos = os.path.join(wd, "shops-dos.csv")
    with open(path, encoding="utf-8") as f, open(dos, "w", encoding="utf-8", newline="") as g:
        g.write("\ufeff" + f.read().replace("\n", "\r\n"))
    m_dos = os.path.join(wd, "csv-dos.json")
    run(["train", "--data", dos, "--categorical", "città,colour,größe,shop", "--hash-bits", bits,
         "--model-out", m_dos] + opts, np_=2)
    weights_equal(m2, m_dos, "BOM + CRLF vs clean CSV (2 ranks)")
    spec = load_model(m_csv)[2]["hashing"]
    check(spec["header"] is True and [c["name"] for c in spec["columns"]] == names
          and [c["kind"][0] for c in spec["columns"]] == kinds and spec["hash_bits"] == bits,
          f"the model's hashing spec: {spec}")
    return path, rows, m_csv, m_svm, svm


def test_quoted(wd):
    """RFC 4180 quotes in CSV: values and a header name holding commas and
    quotes, read as Python's csv module reads them (and so pandas)."""
    rng = random.Random(3)
    names = ["label", "shop, town", "n", "note"]
    kinds = ["l", "c", "n", "c"]
    shops = ["Zürich, ZH", 'say "hi"', "plain", " spaced ", "a,b,c", '"', ""]
    notes = ["x", "y, z", '""', "ü"]
    rows = []
    for _ in range(1500):
        r = [rng.choice(["0", "1"]), rng.choice(shops), repr(rng.randint(-3, 3)), rng.choice(notes)]
        if r[1] in ("plain", "a,b,c"):
            r[0] = "1"  # a signal
        rows.append(r)
    path = os.path.join(wd, "quoted.csv")
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(names)
        w.writerows(rows)
    with open(path, encoding="utf-8", newline="") as f:
        back = list(csv.reader(f))
    check(back[0] == names and back[1:] == rows, "csv module round trip")
    # the reader drops spaces around a field, quoted or not: so does the reference
    stripped = [[v.strip() for v in r] for r in rows]
    svm = os.path.join(wd, "quoted.svm")
    d, _ = hasher_svm(stripped, names, kinds, 12, svm)
    opts = ["--l2", "1e-3", "--tol", "1e-10", "--quiet", "--tracking-dir", os.path.join(wd, "runs")]
    mq, ms = os.path.join(wd, "quoted.json"), os.path.join(wd, "quoted-svm.json")
    run(["train", "--data", path, "--categorical", "2,note", "--hash-bits", 12, "--model-out", mq] + opts)
    run(["train", "--data", svm, "--n-features", d, "--model-out", ms] + opts)
    weights_equal(mq, ms, "quoted CSV vs FeatureHasher LIBSVM")
    check(load_model(mq)[2]["hashing"]["columns"][1]["name"] == "shop, town", "a quoted header name")
    bad = os.path.join(wd, "open-quote.csv")
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    with open(bad, "w", encoding="utf-8") as f:
        f.writelines(lines[:700] + ['1,"never closed,1,x\n'] + lines[701:])
    expect_error(wd, ["train", "--data", bad, "--categorical", "2,note"],
                 f"{bad}:701: a quoted field does not end on its line", 2)
    return mq, path


def test_criteo(wd):
    train, test = os.path.join(EXAMPLES, "train.tsv"), os.path.join(EXAMPLES, "test.tsv")
    bits = 18
    kinds = ["l"] + ["n"] * 13 + ["c"] * 26
    svm = {}
    for name, p in (("train", train), ("test", test)):
        with open(p, encoding="utf-8") as f:
            rows = [line.rstrip("\n").split("\t") for line in f]
        svm[name] = os.path.join(wd, f"criteo-{name}.svm")
        d, _ = hasher_svm(rows, CRITEO_NAMES, kinds, bits, svm[name])
    opts = ["--l2", "1e-4", "--tol", "1e-10", "--quiet", "--tracking-dir", os.path.join(wd, "runs")]
    m1, m2, ms = (os.path.join(wd, f"criteo-{k}.json") for k in ("1", "2", "svm"))
    x1 = os.path.join(wd, "criteo-1.metrics.json")
    run(["train", "--data", train, "--format", "criteo", "--hash-bits", bits, "--validation", test,
         "--model-out", m1, "--metrics-out", x1] + opts)
    run(["train", "--data", train, "--format", "criteo", "--hash-bits", bits, "--model-out", m2]
        + opts, np_=2)
    run(["train", "--data", svm["train"], "--n-features", d, "--model-out", ms] + opts)
    weights_equal(m1, ms, "criteo preset vs FeatureHasher LIBSVM")
    # --format tsv without --categorical: numeric columns only, empty fields missing.
    tsv, nsvm = os.path.join(wd, "numeric.tsv"), os.path.join(wd, "numeric.svm")
    with open(train, encoding="utf-8") as f, open(tsv, "w") as g:
        for line in f:
            g.write("\t".join(line.split("\t")[:14]) + "\n")
    with open(tsv) as f:
        hasher_svm([line.rstrip("\n").split("\t") for line in f], CRITEO_NAMES[:14],
                   kinds[:14], bits, nsvm)
    mt, mn = os.path.join(wd, "numeric-tsv.json"), os.path.join(wd, "numeric-svm.json")
    run(["train", "--data", tsv, "--model-out", mt] + opts)  # .tsv: --format tsv
    run(["train", "--data", nsvm, "--n-features", 13, "--model-out", mn] + opts)
    weights_equal(mt, mn, "numeric TSV vs LIBSVM")
    check([c["name"] for c in load_model(mt)[2]["hashing"]["columns"]][:3] == ["C1", "C2", "C3"],
          "a file without a header names its columns C1, C2, ...")
    weights_equal(m1, m2, "criteo 1 rank vs 2 ranks", tol=1e-6)
    metrics = json.load(open(x1))
    # 3. eval on the raw files reproduces train's metrics.
    for data, want, key in ((test, metrics["validation"], "validation"),
                            (train, {"logloss": metrics["train_logloss"],
                                     "accuracy": metrics["accuracy"]}, "training")):
        for np_ in (1, 2):
            ev = os.path.join(wd, f"eval-{key}-{np_}.json")
            run(["eval", "--model", m1, "--data", data, "--metrics-out", ev], np_=np_)
            got = json.load(open(ev))
            for k, v in want.items():
                check(abs(got[k] - v) <= 1e-12 * max(1, abs(v)),
                      f"eval on raw {key} data ({np_} ranks): {k} {got[k]} vs train's {v}")
    # predict on the raw file == predict on FeatureHasher's LIBSVM with the LIBSVM model.
    pr, ps = os.path.join(wd, "raw.proba"), os.path.join(wd, "svm.proba")
    run(["predict", "--model", m1, "--data", test, "--proba", "--out", pr], np_=2)
    run(["predict", "--model", ms, "--data", svm["test"], "--proba", "--out", ps])
    a, b = np.loadtxt(pr), np.loadtxt(ps)
    check(a.shape == (3000,) and np.array_equal(a, b), "predict on raw TSV vs on hashed LIBSVM")
    pl = os.path.join(wd, "hashed-model-on-svm.proba")
    run(["predict", "--model", m1, "--data", svm["test"], "--format", "libsvm", "--proba", "--out", pl])
    check(np.array_equal(np.loadtxt(pl), b), "the hashed model on already-hashed LIBSVM (--format libsvm)")
    return m1, test, a


def test_serve(m_criteo, test_tsv, proba, m_csv, csv_path, m_quoted, quoted_csv):
    with open(test_tsv, encoding="utf-8") as f:
        lines = [line.rstrip("\n").split("\t") for line in f][:40]
    records = []
    for r in lines:
        rec = {}
        for n, v in zip(CRITEO_NAMES[1:], r[1:]):
            if v == "" and n.endswith("3"):
                continue  # a column left out is missing, as an empty field is
            rec[n] = (int(v) if n.startswith("I") and v else (None if v == "" else v))
        records.append(rec)
    want = list(proba[:40])
    with Server(["--model", m_criteo]) as s:
        got = s.predictions("/invocations", {"dataframe_records": records})
        check(got == want, f"serve dataframe_records vs predict: {got[:3]} vs {want[:3]}")
        got = s.predictions("/invocations", {"instances": records})
        check(got == want, "serve instances (raw records) vs predict")
        cols = CRITEO_NAMES[1:]
        split = {"columns": cols, "data": [r[1:] for r in lines]}
        got = s.predictions("/invocations", {"dataframe_split": split})
        check(got == want, "serve dataframe_split (raw strings) vs predict")
        st, _, body = s.call("POST", "/invocations", {"instances": [{"C1": "x", "nope": 1}]})
        check(st == 400 and "no column 'nope'" in body, f"unknown column: {st} {body}")
        st, _, body = s.call("POST", "/invocations", {"instances": [{"I1": "abc"}]})
        check(st == 400 and "non-numeric value 'abc' in column 2 (I1)" in body,
              f"non-numeric I1: {st} {body}")
    # text/csv with a header, for the CSV model: the header's names pick the columns.
    wd = os.path.dirname(m_csv)
    pc = os.path.join(wd, "csv.proba")
    run(["predict", "--model", m_csv, "--data", csv_path, "--proba", "--out", pc])
    want = list(np.loadtxt(pc)[:25])
    with open(csv_path, encoding="utf-8") as f:
        text = "".join(f.readlines()[:26])
    with Server(["--model", m_csv]) as s:
        got = s.predictions("/invocations", text.encode("utf-8"), ctype="text/csv")
        check(got == want, f"serve text/csv (raw, with header) vs predict: {got[:2]} vs {want[:2]}")
    pq = os.path.join(wd, "quoted.proba")
    run(["predict", "--model", m_quoted, "--data", quoted_csv, "--proba", "--out", pq])
    want = list(np.loadtxt(pq)[:30])
    with open(quoted_csv, encoding="utf-8") as f:
        text = "".join(f.readlines()[:31])
    with Server(["--model", m_quoted]) as s:
        got = s.predictions("/invocations", text.encode("utf-8"), ctype="text/csv")
        check(got == want, "serve text/csv with quoted fields vs predict")


def expect_error(wd, args, want, np_=1):
    out = os.path.join(wd, "bad-model.json")
    p = run(list(args) + ["--model-out", out, "--quiet", "--tracking-dir", os.path.join(wd, "runs")]
            if args[0] == "train" else list(args), np_=np_, check_rc=False)
    errs = error_lines(p.stderr)
    check(p.returncode != 0 and len(errs) == 1 and want in errs[0],
          f"{' '.join(map(str, args))} ({np_} ranks): rc {p.returncode}, errors {errs}, want {want!r}")
    check(not os.path.exists(out), f"{args}: a model file was written")


def test_bad_input(wd, csv_path, m_csv):
    with open(csv_path, encoding="utf-8") as f:
        lines = f.readlines()
    def bad(name, k, line):
        p = os.path.join(wd, name)
        with open(p, "w", encoding="utf-8") as f:
            f.writelines(lines[:k] + [line] + lines[k + 1:])
        return p
    cat = ["--categorical", "città,colour,größe,shop"]
    ragged = bad("ragged.csv", 2500, "1,Roma,1.5,red\n")
    for np_ in (1, 2):
        expect_error(wd, ["train", "--data", ragged] + cat, f"{ragged}:2501: ragged row: 4 columns, expected 7", np_)
    nonnum = bad("nonnum.csv", 1700, "1,Roma,abc,red,s1,2,shop-1\n")
    expect_error(wd, ["train", "--data", nonnum] + cat,
                 f"{nonnum}:1701: non-numeric value 'abc' in column 3 (n1)", 2)
    expect_error(wd, ["train", "--data", csv_path, "--categorical", "città,flavour"],
                 f"{csv_path}:1: --categorical: no column 'flavour' in the header", 2)
    expect_error(wd, ["train", "--data", csv_path, "--categorical", "1"], "column 1 is the label")
    expect_error(wd, ["train", "--data", csv_path, "--categorical", "9"], f"'9': {csv_path}:1 has 7 columns")
    expect_error(wd, ["train", "--data", csv_path] + cat + ["--n-features", "50"],
                 "--n-features: not with hashed columns")
    for b in ("0", "32"):
        expect_error(wd, ["train", "--data", csv_path] + cat + ["--hash-bits", b],
                     f"--hash-bits: '{b}' is not an integer in [1, 31]")
    expect_error(wd, ["train", "--data", csv_path] + cat + ["--hash-bits", "31"],
                 "beyond 2^31 - 2 features")
    with open(os.path.join(EXAMPLES, "test.tsv"), encoding="utf-8") as f:
        tsv = f.readlines()[:2000]
    badlabel = os.path.join(wd, "label.tsv")
    with open(badlabel, "w", encoding="utf-8") as f:
        f.writelines(tsv[:1500] + ["2" + "\t" * 39 + "\n"] + tsv[1501:])
    expect_error(wd, ["train", "--data", os.path.join(EXAMPLES, "train.tsv"), "--format", "criteo",
                      "--validation", badlabel], f"{badlabel}:1501: bad label '2'", 2)
    # predict with the model on a file whose header names other columns.
    other = bad("other.csv", 0, lines[0].replace("colour", "color"))
    expect_error(wd, ["predict", "--model", m_csv, "--data", other],
                 f"{other}:1: the header's column 4 is 'color', expected 'colour'")


def main():
    test_index()
    wd = scratch()
    csv_path, _, m_csv, _, _ = test_train_equal(wd)
    m_criteo, test_tsv, proba = test_criteo(wd)
    m_quoted, quoted_csv = test_quoted(wd)
    test_serve(m_criteo, test_tsv, proba, m_csv, csv_path, m_quoted, quoted_csv)
    test_bad_input(wd, csv_path, m_csv)
    finish()


if __name__ == "__main__":
    main()
