"""The binary cache of data it once refused (README: A binary cache): hashed
categorical columns (the Criteo example, and a CSV with a header and
--categorical) and real labels (--loss squared). Converted on 2 ranks, a
cache trains the same model bytes as the text on 1 and 2 ranks, the model
carries the hashing spec so that predict on raw rows gives the text model's
bytes, --cache is reused while the spec is the same and rebuilt when
--hash-bits or the labels' kind change, and a cache read for the wrong kind
(another spec, -1/+1 labels for a squared loss) is one clear error. A
version 1 cache (before real labels and specs) still reads."""
import os
import shutil
import struct
import zlib

import numpy as np
from sklearn.datasets import load_diabetes

from common import check, error_lines, finish, run, workdir

d = workdir()
runs = os.path.join(d, "runs")
here = os.path.dirname(os.path.abspath(__file__))
criteo = os.path.join(here, "..", "..", "examples", "criteo")
ctrain, ctest = os.path.join(criteo, "train.tsv"), os.path.join(criteo, "test.tsv")
CRITEO = ["--format", "criteo", "--hash-bits", "18"]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def train(data, model, np_, extra=(), check_rc=True):
    return run(["train", "--data", data, "--l2", "1e-3", "--quiet", "--model-out", model,
                "--tracking-dir", runs, *extra], np_=np_, check_rc=check_rc, timeout=90)


def one_error(p, words, what):
    errs = error_lines(p.stderr)
    check(p.returncode == 1 and len(errs) == 1 and all(w in errs[0] for w in words),
          f"{what}: want exit 1 and one error naming {words}, got {p.returncode} {errs}")


# A CSV with a header, categorical columns by name (one quoted with a comma,
# some empty), numeric ones with missing values.
rng = np.random.default_rng(11)
shops = os.path.join(d, "shops.csv")
shops_test = os.path.join(d, "shops-test.csv")
cities = ["Zürich", "\"Bern, BE\"", "Basel", "", "Genève"]
for path, n in ((shops, 4000), (shops_test, 500)):
    with open(path, "w") as f:
        f.write("label,city,n1,colour,n2,shop\n")
        for i in range(n):
            c, col, s = rng.integers(5), rng.integers(7), rng.integers(300)
            x1, x2 = rng.normal(), rng.normal()
            z = 0.8 * (c == 2) - 0.6 * (col == 3) + 0.5 * x1 - 0.3 * x2 + 0.002 * s
            y = int(z + rng.logistic() > 0)
            f.write(f"{y},{cities[c]},{x1:.17g},c{col},{'' if i % 13 == 0 else f'{x2:.17g}'},s{s}\n")
SHOPS = ["--categorical", "city,colour,shop", "--hash-bits", "12"]

for name, src, test, opts in (("criteo", ctrain, ctest, CRITEO), ("shops", shops, shops_test, SHOPS)):
    cdir = os.path.join(d, f"{name}.cache")
    run(["convert", "--data", src, "--out", cdir, "--block-kib", "4", *opts], np_=2)
    for np_ in (1, 2):
        mt, mc = os.path.join(d, f"{name}-t{np_}.json"), os.path.join(d, f"{name}-c{np_}.json")
        train(src, mt, np_, opts)
        train(cdir, mc, np_)  # the cache knows its spec: no options
        check(read(mt) == read(mc), f"{name}: model from the cache on {np_} ranks differs from the text's")
        check(b'"hashing"' in read(mc), f"{name}: the cache's model has no hashing spec")
    check(read(os.path.join(d, f"{name}-t1.json")) != read(os.path.join(d, f"{name}-t2.json")),
          f"{name}: the text's models on 1 and 2 ranks are the same bits (the test could not tell)")
    # Raw rows scored with the cache's model: the text model's bytes.
    outs = []
    for m in ("t2", "c2"):
        o = os.path.join(d, f"{name}-{m}.pred")
        run(["predict", "--model", os.path.join(d, f"{name}-{m}.json"), "--data", test, "--proba",
             "--out", o], np_=2)
        outs.append(read(o))
    check(outs[0] == outs[1] and len(outs[0]) > 0, f"{name}: predict on raw rows differs with the cache's model")
    # eval of the training data: from the cache as from the text.
    ev = []
    for data in (src, cdir):
        e = os.path.join(d, f"{name}-eval-{len(ev)}.json")
        run(["eval", "--model", os.path.join(d, f"{name}-c2.json"), "--data", data, "--metrics-out", e], np_=2)
        ev.append(read(e))
    check(ev[0] == ev[1], f"{name}: eval from the cache differs from the text's")

# Another spec than the cache's: one clear error, no model.
ccache = os.path.join(d, "criteo.cache")
never = os.path.join(d, "never.json")
one_error(train(ccache, never, 2, ["--hash-bits", "16"], check_rc=False), ["--hash-bits 16", "18 bits"],
          "train --hash-bits 16 on an 18-bit cache")
check(not os.path.exists(never), "a model was written after a spec error")
m16 = os.path.join(d, "criteo16.json")
train(ctrain, m16, 1, ["--format", "criteo", "--hash-bits", "16"])
p = run(["predict", "--model", m16, "--data", ccache], np_=2, check_rc=False)
one_error(p, ["criteo.cache", "--hash-bits 18, not 16"], "predict with a 16-bit model on an 18-bit cache")
p = run(["train", "--data", os.path.join(d, "shops.cache"), "--format", "criteo", "--quiet",
         "--model-out", never, "--tracking-dir", runs], np_=2, check_rc=False)
one_error(p, ["--format criteo", "csv"], "train --format criteo on a csv cache")

# --cache: written, used, rebuilt when --hash-bits changes (then the model
# of the new spec's text).
auto = os.path.join(d, "auto.cache")
m1, m2, m3 = (os.path.join(d, f"auto{i}.json") for i in (1, 2, 3))
p = train(ctrain, m1, 2, [*CRITEO, "--cache", auto])
check("written from" in p.stdout, f"first --cache run: {p.stdout!r} {p.stderr!r}")
p = train(ctrain, m2, 2, [*CRITEO, "--cache", auto])
check("used" in p.stdout and "cache" not in p.stderr, f"second --cache run: {p.stdout!r} {p.stderr!r}")
check(read(m1) == read(m2) == read(os.path.join(d, "criteo-t2.json")), "--cache models differ from the text's")
p = train(ctrain, m3, 2, ["--format", "criteo", "--hash-bits", "16", "--cache", auto])
lines = [l for l in p.stderr.splitlines() if "cache" in l]
check(len(lines) == 1 and "rebuilt" in lines[0] and "--hash-bits" in lines[0],
      f"--hash-bits 16 did not rebuild an 18-bit cache (one line): {p.stderr!r}")
m16b = os.path.join(d, "criteo16-2.json")
train(ctrain, m16b, 2, ["--format", "criteo", "--hash-bits", "16"])
check(read(m3) == read(m16b), "the rebuilt cache's model differs from the 16-bit text's")
p = train(ctrain, m3, 2, ["--format", "criteo", "--hash-bits", "16", "--cache", auto])
check("used" in p.stdout, f"the rebuilt cache was not used: {p.stdout!r}")

# Real labels: sklearn's diabetes as LIBSVM, --loss squared.
X, y = load_diabetes(return_X_y=True)
diab = os.path.join(d, "diabetes.svm")
with open(diab, "w") as f:
    for row, label in zip(X, y):
        f.write(f"{label:.17g}" + "".join(f" {j + 1}:{row[j]:.17g}" for j in np.nonzero(row)[0]) + "\n")
SQ = ["--loss", "squared"]
dcache = os.path.join(d, "diabetes.cache")
run(["convert", "--data", diab, "--out", dcache, "--real-labels", "--block-kib", "4"], np_=2)
for np_ in (1, 2):
    mt, mc = os.path.join(d, f"diab-t{np_}.json"), os.path.join(d, f"diab-c{np_}.json")
    train(diab, mt, np_, SQ)
    train(dcache, mc, np_, SQ)
    check(read(mt) == read(mc), f"diabetes: --loss squared from the cache on {np_} ranks differs from the text's")
outs = []
for data in (diab, dcache):
    o = os.path.join(d, f"diab-{len(outs)}.pred")
    run(["predict", "--model", os.path.join(d, "diab-c2.json"), "--data", data, "--out", o], np_=2)
    outs.append(read(o))
check(outs[0] == outs[1], "diabetes: predict from the cache differs from the text's")
# The wrong kind of labels either way: one clear error.
one_error(train(dcache, never, 2, check_rc=False), ["diabetes.cache", "real labels"],
          "a classifier on a real-label cache")
one_error(train(os.path.join(d, "shops.cache"), never, 2, SQ, check_rc=False),
          ["shops.cache", "-1/+1", "--real-labels"], "--loss squared on a -1/+1 cache")
# --cache keeps the labels' kind in its identity.
dauto = os.path.join(d, "diab-auto.cache")
p = train(diab, m1, 2, [*SQ, "--cache", dauto])
check("written from" in p.stdout, f"--loss squared --cache: {p.stdout!r} {p.stderr!r}")
p = train(diab, m2, 2, [*SQ, "--cache", dauto])
check("used" in p.stdout and read(m1) == read(m2) == read(os.path.join(d, "diab-t2.json")),
      f"--loss squared --cache not used, or another model: {p.stdout!r}")
sauto = os.path.join(d, "shops-auto.cache")
train(shops, m1, 2, [*SHOPS, "--cache", sauto])
p = train(shops, m2, 2, [*SHOPS, *SQ, "--cache", sauto])
check("rebuilt" in p.stderr and "labels" in p.stderr, f"--loss squared reused a -1/+1 cache: {p.stderr!r}")
mt = os.path.join(d, "shops-sq.json")
train(shops, mt, 2, [*SHOPS, *SQ])
check(read(m2) == read(mt), "shops: --loss squared from the rebuilt cache differs from the text's")

# --weight-column on a dense cache: its values are copied, not changed in
# the mapping; by number only (a cache keeps no header row).
wcsv = os.path.join(d, "weighted.csv")
with open(wcsv, "w") as f:
    f.write("label,w,f1,f2,f3\n")
    for i in range(3000):
        f.write(f"{int(rng.random() < 0.5)},{rng.uniform(0.1, 3):.17g},"
                + ",".join(f"{v:.17g}" for v in rng.normal(size=3)) + "\n")
wcache = os.path.join(d, "weighted.cache")
run(["convert", "--data", wcsv, "--out", wcache], np_=2)
for np_ in (1, 2):
    mt, mc = os.path.join(d, f"w-t{np_}.json"), os.path.join(d, f"w-c{np_}.json")
    train(wcsv, mt, np_, ["--weight-column", "w"])
    train(wcache, mc, np_, ["--weight-column", "1", "--validation", wcache])
    check(read(mt) == read(mc), f"--weight-column: the cache's model on {np_} ranks differs from the text's")
    check(b'"n_features": 3' in read(mc), "--weight-column on a cache left the column among the features")
# The cache itself is unchanged (a later run without the column sees it).
mc4 = os.path.join(d, "w-c4.json")
train(wcache, mc4, 2)
mt4 = os.path.join(d, "w-t4.json")
train(wcsv, mt4, 2)
check(read(mc4) == read(mt4) and b'"n_features": 4' in read(mc4), "--weight-column changed the cache's values")
one_error(train(wcache, never, 2, ["--weight-column", "w"], check_rc=False),
          ["--weight-column w", "no header", "number"], "--weight-column by name on a cache")
one_error(train(wcache, never, 2, ["--weight-column", "2"], check_rc=False),
          ["weighted.cache: row ", "negative weight"], "a negative weight in a cache's column")

# A version 1 cache (written before real labels and specs: its fixed header
# part is 16 bytes shorter) still reads, as the same model. A version 0 one
# is a clear error.
H = "shardlearn.cache"
plain = os.path.join(d, "plain.svm")
with open(plain, "w") as f:
    for i in range(2000):
        idx = np.sort(rng.choice(30, 5, replace=False))
        f.write(("+1" if rng.random() < 0.5 else "-1") + "".join(f" {j + 1}:{rng.normal():.17g}" for j in idx) + "\n")
v1 = os.path.join(d, "v1.cache")
run(["convert", "--data", plain, "--out", v1], np_=2)
head = bytearray(read(os.path.join(v1, H)))
FIXED_V1 = struct.calcsize("=8sIIIIqiiiiqqqqqqqq5q")
check(struct.unpack_from("=I", head, 12)[0] == 2 and head[FIXED_V1:FIXED_V1 + 16] == bytes(16),
      "a cache of LIBSVM rows is not a version 2 header with no real labels and no spec")


def rewrite_head(h):
    struct.pack_into("=I", h, 16, 0)
    struct.pack_into("=I", h, 16, zlib.crc32(bytes(h)))
    with open(os.path.join(v1, H), "wb") as out:
        out.write(h)


old = head[:FIXED_V1] + head[FIXED_V1 + 16:]
struct.pack_into("=I", old, 12, 1)  # version
struct.pack_into("=q", old, 24, len(old))  # head_bytes
rewrite_head(old)
mt, mc = os.path.join(d, "v1-t.json"), os.path.join(d, "v1-c.json")
train(plain, mt, 2)
train(v1, mc, 2)
check(read(mt) == read(mc), "a version 1 cache gives another model than the text")
struct.pack_into("=I", old, 12, 0)
rewrite_head(old)
one_error(train(v1, never, 2, check_rc=False), [H, "version 0 is not supported"], "a version 0 cache")
# A spec edited in a header with a valid checksum: it no longer gives the
# cache's feature count, and is refused.
forged = bytearray(read(os.path.join(ccache, H)))
at = forged.find(b'"hash_bits":18')
check(at > 0, "the criteo cache's header does not hold its spec as JSON text")
forged[at:at + 14] = b'"hash_bits":17'
shutil.rmtree(v1)
shutil.copytree(ccache, v1)
rewrite_head(forged)
one_error(train(v1, never, 1, check_rc=False), [H, "hashing spec", "feature count"], "a forged spec")
check(not os.path.exists(never), "a model was written from a bad cache")
finish()
