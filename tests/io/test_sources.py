"""Directories, globs and compressed parts through the real CLI, on 1-3 ranks.

The same rows as one file give the same model, to the bit, where the ranks
split the data the same way:
  - a directory of plain parts (with _SUCCESS, _committed_*, a hidden file
    and an empty part that must be skipped) and a glob over it, on 1, 2, 3
    ranks, against the one file on as many ranks;
  - a directory mixing a plain part that ends without a newline, a .gz from
    gzip, a several-member .gz from Python, a two-frame .zst from zstd, on 1
    rank (and on 3, the same rows, a model within 1e-9);
  - one .gz (or .zst) on 3 (2) ranks: one rank parses it, the others hold no
    rows, and the model is the 1-rank model of the file (within 1e-12: the
    sums over ranks are not the 1-rank sums to the last bit);
  - a directory of CSV parts, each with its header, .csv.gz among them;
  - predict over a directory writes what predict over the file writes;
    eval of one .gz on 3 ranks gives the 1-rank metrics; a directory works
    as --validation (its digest covers the parts' stored bytes).
Bad input: a bad line in part 3 is reported as part 3's name and its own
line number on 1 and 3 ranks (with part 3 split over two ranks), also inside
a .gz part; a truncated .gz and a corrupt .zst are one error naming the
file, a non-zero exit on every rank, no model file.
Side inputs from directories: hashed CSV parts (each with its header), a
--sample-weights directory with a .gz part (and a bad weight named by its
part and line), --weight-column over CSV parts: the same models as from the
single files.
A file changed between listing and reading: tests/test_io.c.
Needs the gzip and zstd tools (scripts/deps.sh)."""
import filecmp
import gzip
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from common import HEART, check, error_lines, finish, model_weights, run, workdir  # noqa: E402

d = workdir()
RUNS = os.path.join(d, "runs")

with open(HEART) as f:
    LINES = f.read().splitlines(keepends=True)
# 810 rows: heart_scale three times, so parts can be large enough to split.
ROWS = LINES * 3


def write(path, text, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(text)
    return path


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True, cwd=d)


def train(data, model, np_, check_rc=True, extra=()):
    return run(["train", "--data", data, "--model-out", model, "--quiet", "--tracking-dir", RUNS,
                "--l2", "1e-2"] + list(extra), np_=np_, check_rc=check_rc)


def same(a, b, what):
    ok = filecmp.cmp(a, b, shallow=False)
    print(f"{what}: {'bit-identical' if ok else 'DIFFERENT'}", flush=True)
    check(ok, f"{what}: the model differs from the one file's")


def close(a, b, what, tol=1e-9):
    with open(a) as f:
        ma = json.load(f)
    with open(b) as f:
        mb = json.load(f)
    wa, wb = list(model_weights(ma)), list(model_weights(mb))  # either form
    diff = max(abs(x - y) for x, y in zip(wa + [ma["intercept"]], wb + [mb["intercept"]]))
    print(f"{what}: max weight difference {diff:.3g}", flush=True)
    check(len(wa) == len(wb) and diff <= tol, f"{what}: differs by {diff}")


def fails(what, p, says, model):
    errs = error_lines(p.stderr)
    print(f"{what}: exit {p.returncode}: {errs}", flush=True)
    check(p.returncode != 0, f"{what}: exit status 0")
    check(len(errs) == 1 and all(s in errs[0] for s in says),
          f"{what}: errors {errs}, want one with {says}")
    check(not os.path.exists(model), f"{what}: a model file was written")
    left = [x for x in os.listdir(d) if ".tmp." in x]
    check(not left, f"{what}: temporary files left: {left}")


# ---- the one file, and the same rows as parts ----
ONE = write(os.path.join(d, "all.svm"), "".join(ROWS))
cuts = [0, 40, 200, 260, 500, 700, len(ROWS)]
PLAIN = os.path.join(d, "plain")
for i in range(6):
    part = "".join(ROWS[cuts[i]:cuts[i + 1]])
    if i == 5:
        part = part.rstrip("\n")  # the last line of the data set without a newline
    write(os.path.join(PLAIN, f"part-{i:05d}"), part)
if True:  # what writers leave beside the parts: all skipped
    write(os.path.join(PLAIN, "_SUCCESS"), "")
    write(os.path.join(PLAIN, "_committed_8837"), "not data\n")
    write(os.path.join(PLAIN, ".part-00000.crc"), "not data\n")
    write(os.path.join(PLAIN, "part-00009"), "")
os.truncate(ONE, os.path.getsize(ONE) - 1)  # the same bytes: no newline at the end

ref = {}
for n in (1, 2, 3):
    ref[n] = os.path.join(d, f"one-{n}.json")
    train(ONE, ref[n], n)
for n in (1, 2, 3):
    m = os.path.join(d, f"plain-{n}.json")
    train(PLAIN, m, n)
    same(m, ref[n], f"directory of 6 plain parts on {n} rank(s)")
m = os.path.join(d, "glob-2.json")
train(os.path.join(PLAIN, "part-0000*"), m, 2)
same(m, ref[2], "glob part-0000* on 2 ranks")

# ---- mixed: plain, gzip, multi-member gzip, multi-frame zstd ----
MIXED = os.path.join(d, "mixed")
parts = ["".join(ROWS[cuts[i]:cuts[i + 1]]) for i in range(6)]
write(os.path.join(MIXED, "part-00000"), parts[0].rstrip("\n"))  # the file's end ends the line
write(os.path.join(d, "p1"), parts[1])
sh(f"gzip -c p1 > {MIXED}/part-00001.gz")
with open(os.path.join(MIXED, "part-00002.gz"), "wb") as f:  # three members
    for k in range(0, len(parts[2]), 700):
        f.write(gzip.compress(parts[2][k:k + 700].encode()))
write(os.path.join(d, "p3a"), parts[3][:1000])
write(os.path.join(d, "p3b"), parts[3][1000:])
sh(f"zstd -q -c p3a > {MIXED}/part-00003.zst && zstd -q -c p3b >> {MIXED}/part-00003.zst")
write(os.path.join(MIXED, "part-00004"), parts[4] + parts[5])
m = os.path.join(d, "mixed-1.json")
train(MIXED, m, 1)
same(m, ref[1], "plain + .gz + 3-member .gz + 2-frame .zst on 1 rank")
m = os.path.join(d, "mixed-3.json")
p = train(MIXED, m, 3)
check(f"{len(ROWS)} rows" in p.stdout + p.stderr, f"mixed on 3 ranks: not {len(ROWS)} rows: {p.stderr}")
close(m, ref[3], "the same parts on 3 ranks, against the one file on 3")

# ---- one compressed file on more ranks than files ----
sh("gzip -c all.svm > all.svm.gz && zstd -q -c all.svm > all.svm.zst")
# All rows on rank 0 and none elsewhere is not the 1-rank layout to the bit:
# the engine's sums over ranks move the last bit (measured: 3e-16).
m = os.path.join(d, "gz-3.json")
p = train(os.path.join(d, "all.svm.gz"), m, 3)
check(f"{len(ROWS)} rows" in p.stdout + p.stderr, f"one .gz on 3 ranks: rows: {p.stderr}")
close(m, ref[1], "one .gz on 3 ranks (two of them without rows), against 1 rank", 1e-12)
m = os.path.join(d, "zst-1.json")
train(os.path.join(d, "all.svm.zst"), m, 1)
same(m, ref[1], "one .zst on 1 rank")
m = os.path.join(d, "zst-2.json")
train(os.path.join(d, "all.svm.zst"), m, 2)
close(m, ref[1], "one .zst on 2 ranks, against 1 rank", 1e-12)

# ---- CSV parts, each with its header; the format from the first part's name ----
CSVD = os.path.join(d, "csv")
header = "label," + ",".join(f"f{j}" for j in range(13)) + "\n"


def csv_row(line):
    tok = line.split()
    v = ["0"] * 13
    for t in tok[1:]:
        j, x = t.split(":")
        v[int(j) - 1] = x
    return ("1" if tok[0] == "+1" else "0") + "," + ",".join(v) + "\n"


csv_rows = [csv_row(l) for l in LINES]
write(os.path.join(d, "all.csv"), header + "".join(csv_rows))
write(os.path.join(CSVD, "a.csv"), header + "".join(csv_rows[:100]))
write(os.path.join(d, "b.csv"), header + "".join(csv_rows[100:]))
sh(f"gzip -c b.csv > {CSVD}/b.csv.gz")
mc1, mc2 = os.path.join(d, "csv-one.json"), os.path.join(d, "csv-dir.json")
train(os.path.join(d, "all.csv"), mc1, 1)
train(CSVD, mc2, 1)
same(mc2, mc1, "CSV parts with headers (.csv, .csv.gz) on 1 rank")

# ---- side inputs from directories: hashed CSV parts, sample weights, a weight column ----
# Each CSV part has its own header: the hashed reader checks every part's, and
# the column layout comes from the first part's.
mh1, mh2 = os.path.join(d, "hash-one.json"), os.path.join(d, "hash-dir.json")
hopt = ["--categorical", "f1,f2,f12", "--hash-bits", "6"]
train(os.path.join(d, "all.csv"), mh1, 1, extra=hopt)
train(CSVD, mh2, 1, extra=hopt)
same(mh2, mh1, "hashed CSV parts with headers (.csv, .csv.gz) on 1 rank")
WTS = os.path.join(d, "weights")
wts = [f"{0.5 + (i % 7) / 4}\n" for i in range(len(csv_rows))]
write(os.path.join(d, "weights.txt"), "".join(wts))
write(os.path.join(WTS, "w-0"), "".join(wts[:100]))
with open(os.path.join(WTS, "w-1.gz"), "wb") as f:
    f.write(gzip.compress("".join(wts[100:]).encode()))
for n in (1, 2):
    mw1, mw2 = os.path.join(d, f"w-one-{n}.json"), os.path.join(d, f"w-dir-{n}.json")
    # The same data on both sides: a .gz data part moves the ranks' split.
    train(CSVD, mw1, n, extra=["--sample-weights", os.path.join(d, "weights.txt")])
    train(CSVD, mw2, n, extra=["--sample-weights", WTS])
    same(mw2, mw1, f"--sample-weights as a directory with a .gz part on {n} rank(s)")
bad_w = wts[:]
bad_w[149] = "-1\n"  # line 50 of w-1.gz
with open(os.path.join(WTS, "w-1.gz"), "wb") as f:
    f.write(gzip.compress("".join(bad_w[100:]).encode()))
m = os.path.join(d, "w-bad.json")
p = train(CSVD, m, 2, check_rc=False, extra=["--sample-weights", WTS])
fails("a negative weight in a .gz weights part", p, ["w-1.gz:50:", "negative weight"], m)
WCOL = os.path.join(d, "wcol")
wheader = header.rstrip("\n") + ",w\n"
wrows = [r.rstrip("\n") + "," + w for r, w in zip(csv_rows, wts)]
write(os.path.join(d, "wcol.csv"), wheader + "".join(wrows))
write(os.path.join(WCOL, "a.csv"), wheader + "".join(wrows[:100]))
write(os.path.join(WCOL, "b.csv"), wheader + "".join(wrows[100:]))
mk1, mk2 = os.path.join(d, "wc-one.json"), os.path.join(d, "wc-dir.json")
train(os.path.join(d, "wcol.csv"), mk1, 1, extra=["--weight-column", "w"])
train(WCOL, mk2, 1, extra=["--weight-column", "w"])
same(mk2, mk1, "--weight-column by name over CSV parts on 1 rank")

# ---- predict over a directory ----
pa, pb = os.path.join(d, "pred-one.txt"), os.path.join(d, "pred-dir.txt")
run(["predict", "--model", ref[1], "--data", ONE, "--out", pa], np_=2)
run(["predict", "--model", ref[1], "--data", MIXED, "--out", pb], np_=3)
check(filecmp.cmp(pa, pb, shallow=False), "predict over the mixed directory differs from the file")
pc = os.path.join(d, "pred-csv.txt")
run(["predict", "--model", mc1, "--data", CSVD, "--out", pc], np_=2)
check(os.path.exists(pc), "predict over CSV parts")

# ---- eval with ranks holding no rows; a directory as --validation ----
ea, eb = os.path.join(d, "eval-one.json"), os.path.join(d, "eval-gz.json")
run(["eval", "--model", ref[1], "--data", ONE, "--metrics-out", ea], np_=1)
run(["eval", "--model", ref[1], "--data", os.path.join(d, "all.svm.gz"), "--metrics-out", eb], np_=3)
with open(ea) as f:
    want = json.load(f)
with open(eb) as f:
    got = json.load(f)
print(f"eval of one .gz on 3 ranks: {got}", flush=True)
check(got == want, f"eval of one .gz on 3 ranks: {got}, the file on 1 rank: {want}")
m, mets = os.path.join(d, "val.json"), os.path.join(d, "val-metrics.json")
train(ONE, m, 2, extra=["--validation", MIXED, "--metrics-out", mets])
with open(mets) as f:
    vd = json.load(f).get("validation_data", {})
stored = sum(os.path.getsize(os.path.join(MIXED, x)) for x in os.listdir(MIXED))
check(vd.get("bytes") == stored, f"--validation directory: digest over {vd}, the parts hold {stored} bytes")

# ---- a bad line in part 3, which 3 ranks split ----
BAD = os.path.join(d, "bad")
small = ["".join(ROWS[k * 10:(k + 1) * 10]) for k in range(3)]
big = ROWS[30:230]
big[169] = "+1 1:0.5 3:x\n"  # line 170 of part-00003
for i in range(3):
    write(os.path.join(BAD, f"part-{i:05d}"), small[i])
write(os.path.join(BAD, "part-00003"), "".join(big))
for n in (1, 3):
    m = os.path.join(d, f"bad-{n}.json")
    p = train(BAD, m, n, check_rc=False)
    fails(f"bad line in part 3 on {n} rank(s)", p, ["part-00003:170:", "non-numeric"], m)

BADGZ = os.path.join(d, "badgz")
write(os.path.join(BADGZ, "part-00000"), "".join(ROWS[:300]))
g = ROWS[300:400]
g[16] = "2 1:1\n"  # line 17 of the .gz part
with open(os.path.join(BADGZ, "part-00001.gz"), "wb") as f:
    f.write(gzip.compress("".join(g).encode()))
m = os.path.join(d, "badgz.json")
p = train(BADGZ, m, 3, check_rc=False)
fails("bad line in a .gz part on 3 ranks", p, ["part-00001.gz:17:", "bad label"], m)

RAG = os.path.join(d, "ragged")
write(os.path.join(RAG, "a.csv"), header + "".join(csv_rows[:50]))
write(os.path.join(RAG, "b.csv"), header + "".join(csv_rows[50:60]) + "1,0.5\n")
m = os.path.join(d, "ragged.json")
p = train(RAG, m, 1, check_rc=False)
fails("a ragged row in the second CSV part", p, ["b.csv:12: ragged row: 2 columns, expected 14",
                                                "(as on " + os.path.join(RAG, "a.csv") + ":2)"], m)

# ---- truncated and corrupt compressed parts ----
TRUNC = os.path.join(d, "trunc")
write(os.path.join(TRUNC, "part-00000"), "".join(ROWS[:300]))
sh(f"gzip -c p1 | head -c 300 > {TRUNC}/part-00001.gz")
write(os.path.join(TRUNC, "part-00002"), "".join(ROWS[300:600]))
m = os.path.join(d, "trunc.json")
p = train(TRUNC, m, 3, check_rc=False)
fails("truncated .gz on 3 ranks", p, ["part-00001.gz", "truncated"], m)

CORRUPT = os.path.join(d, "corrupt")
write(os.path.join(CORRUPT, "part-00000"), "".join(ROWS[:300]))
sh(f"zstd -q -c p1 > {CORRUPT}/part-00001.zst")
with open(os.path.join(CORRUPT, "part-00001.zst"), "r+b") as f:
    f.seek(40)
    f.write(b"\xff\x00\xff\x00\xff\x00")
m = os.path.join(d, "corrupt.json")
p = train(CORRUPT, m, 3, check_rc=False)
fails("corrupt .zst on 3 ranks", p, ["part-00001.zst", "corrupt"], m)

m = os.path.join(d, "empty.json")
os.makedirs(os.path.join(d, "emptydir"))
write(os.path.join(d, "emptydir", "_SUCCESS"), "")
p = train(os.path.join(d, "emptydir"), m, 2, check_rc=False)
fails("a directory of markers only", p, ["emptydir", "no data files"], m)
finish()
