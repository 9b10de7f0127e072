"""Hostile input stays handled, on 2 ranks: each case either trains the same
model as its clean twin or fails with one error line naming the file (and the
line, where there is one), a non-zero exit and no output file.
  - CRLF line endings (LIBSVM and CSV) and a UTF-8 byte-order mark before a
    CSV header read as the clean file does;
  - feature indices past 2^31 and 2^32, a value of 1e400, an index above
    --n-features;
  - a 3-million-feature line trains;
  - model files with weights of the wrong length, NaN, a null weight, a huge
    n_features, 100,000 levels of nesting, truncated;
  - a data file that grows, or is cut and rewritten, while the ranks read it."""
import filecmp
import json
import os
import re
import threading
import zlib

from common import check, error_lines, finish, run, workdir

d = workdir()
RUNS = os.path.join(d, "runs")


def write(name, text, mode="w"):
    path = os.path.join(d, name)
    with open(path, mode) as f:
        f.write(text)
    return path


def train(data, model, *extra, check_rc=False):
    return run(["train", "--data", data, "--model-out", model, "--quiet", "--tracking-dir", RUNS,
                "--l2", "1e-2"] + list(extra), np_=2, check_rc=check_rc)


def fails(what, p, says, outputs=()):
    errs = error_lines(p.stderr)
    print(f"{what}: exit {p.returncode}: {errs}", flush=True)
    check(p.returncode != 0, f"{what}: exit status 0")
    said = says.search(errs[0]) if errs and isinstance(says, re.Pattern) else errs and says in errs[0]
    check(len(errs) == 1 and said, f"{what}: errors {errs}, want one with {says!r}")
    for o in outputs:
        check(not os.path.exists(o), f"{what}: {o} written")


# Line endings and a byte-order mark: the same model as the clean file.
svm = "+1 1:0.5 3:1.5\n-1 2:1 3:-1\n+1 1:2\n-1 2:0.25 3:0.5\n"
csv = "label,a,b,c\n1,0.5,0,1.5\n0,0,1,-1\n1,2,0,0\n0,0,0.25,0.5\n"
for name, clean, dirty in (("crlf.svm", svm, svm.replace("\n", "\r\n")),
                           ("crlf.csv", csv, csv.replace("\n", "\r\n")),
                           ("bom.csv", csv, "\ufeff" + csv)):
    a, b = os.path.join(d, "clean.json"), os.path.join(d, "dirty.json")
    train(write("clean" + os.path.splitext(name)[1], clean), a, check_rc=True)
    p = train(write(name, dirty, mode="w"), b)
    check(p.returncode == 0 and filecmp.cmp(a, b, shallow=False), f"{name}: {p.stderr}")

# Indices and values out of range: file:line, one line.
model = os.path.join(d, "m.json")
for name, text, says in (("idx31.svm", "+1 1:1\n-1 2147483649:1\n", "idx31.svm:2: feature index"),
                         ("idx32.svm", "+1 1:1\n-1 4294967297:1\n", "idx32.svm:2: feature index"),
                         ("e400.svm", "+1 1:1\n-1 2:1e400\n", "e400.svm:2: non-finite")):
    fails(name, train(write(name, text), model), says, [model])
fails("--n-features 2", train(write("nf.svm", "+1 1:1\n-1 5:1\n"), model, "--n-features", "2"),
      "nf.svm:2: feature index 5 beyond --n-features 2", [model])

# A 3-million-feature line.
wide = write("wide.svm", "+1 " + " ".join(f"{j}:1" for j in range(1, 3_000_001)) + "\n-1 1:1\n")
p = run(["train", "--data", wide, "--optimizer", "lbfgs", "--max-iter", "2", "--quiet",
         "--tracking-dir", RUNS, "--metrics-out", os.path.join(d, "wide.json")], np_=2, check_rc=False)
check(p.returncode == 0, f"3-million-feature line: {p.stderr}")

# Model files.
good_data = write("good.svm", svm)
head = '{"format": "shardlearn-model", "version": 1, "fit_intercept": true, "intercept": 0'
for name, text, says in (
        ("wlen.json", head + ', "n_features": 3, "weights": [1, 2]}', "malformed model"),
        ("nan.json", head + ', "n_features": 2, "weights": [1, NaN]}', "not a JSON model file"),
        ("null.json", head + ', "n_features": 2, "weights": [1, null]}', "weight 1 is not a"),
        ("huge.json", head + ', "n_features": 1e18, "weights": [1, 2]}', "malformed model"),
        ("huge32.json", head + ', "n_features": 4294967298, "weights": [1, 2]}', "malformed model"),
        ("nest.json", "[" * 100000 + "]" * 100000, "not a JSON model file"),
        ("trunc.json", head + ', "n_features": 3, "weights": [1, 2', "not a JSON model file")):
    path = write(name, text)
    out = os.path.join(d, "pred.txt")
    p = run(["predict", "--model", path, "--data", good_data, "--out", out], np_=2, check_rc=False)
    fails(f"model {name}", p, f"{name}: {says}", [out])


# A file written while the ranks read it: an error, never rows lost or read twice.
def busy(path, stop, grow):
    block = open(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train.svm")).read()
    with open(path, "a") as f:
        while not stop.is_set():
            if grow:
                f.write(block)
            else:
                f.truncate(len(block))
                f.seek(0, os.SEEK_END)
                f.write(block)
            f.flush()


with open(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train.svm")) as f:
    block = f.read()
for grow in (True, False):
    path = write("moving.svm", block * 40)
    stop = threading.Event()
    writer = threading.Thread(target=busy, args=(path, stop, grow))
    writer.start()
    mets = os.path.join(d, "moving-metrics.json")
    try:
        p = train(path, model, "--metrics-out", mets)
    finally:
        stop.set()
        writer.join()
    what = f"a file that {'grows' if grow else 'is cut and rewritten'} while it is read"
    if grow:  # the size changes, which every rank sees
        fails(what, p, "changed while it was being read", [model])
        continue
    # Cut and rewritten, the file has the same size after every cycle and its
    # mtime moves in clock ticks (~4 ms), so stat cannot see a rewrite inside
    # one tick; and a writer stalled inside its write() leaves the file at a
    # size between two versions for as long as it stalls. Every content the
    # file ever had is a prefix of the first version (block x 40: each cycle
    # writes block x 2 again), so the ranks may read one such prefix whole (the
    # digest of what they read is that prefix's, and the model is its model),
    # or meet a torn line (an error naming the file). Never rows lost or read
    # twice, which would show in the digest or the model.
    if p.returncode == 0:
        with open(mets) as f:
            data = json.load(f)["data"]
        version = (block * 40)[:data["bytes"]]
        crc = zlib.crc32(version.encode())
        print(f"{what}: exit 0 after reading {data['bytes']} bytes (crc {data['crc32']}, "
              f"the prefix's {crc:08x})", flush=True)
        check(data["crc32"] == f"{crc:08x}", f"{what}: the ranks read bytes the file never held")
        ref = os.path.join(d, "moving-ref.json")
        check(train(write("moving-ref.svm", version), ref).returncode == 0, "the prefix: training failed")
        with open(model, "rb") as f, open(ref, "rb") as g:
            check(f.read() == g.read(), f"{what}: exit 0 with a model that is not the model of what was read")
    else:
        fails(what, p, re.compile(r"changed while it was being read|moving\.svm:\d+: "), [model])
finish()
