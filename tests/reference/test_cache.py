"""The binary cache (convert, --data DIR, train --cache): models bit-identical
to training from the text on 1, 2 and 3 ranks, predict/eval alike, a cache
reused while its source is unchanged and rebuilt after it changes, and every
kind of damaged or foreign cache a one-line error on every rank, with no
model written."""
import gzip
import os
import shutil
import struct
import subprocess
import zlib

import numpy as np

from common import check, error_lines, finish, run, workdir

d = workdir()
runs = os.path.join(d, "runs")
rng = np.random.default_rng(7)

# LIBSVM with comment and blank lines (rows are not lines), 12000 rows.
svm = os.path.join(d, "a.svm")
with open(svm, "w") as f:
    f.write("# made by test_cache.py\n")
    for i in range(12000):
        idx = np.sort(rng.choice(40, 6, replace=False))
        y = "+1" if rng.random() < 0.5 else "-1"
        f.write(y + "".join(f" {j + 1}:{rng.normal():.17g}" for j in idx) + "\n")
        if i % 997 == 0:
            f.write("\n")
csv = os.path.join(d, "b.csv")
with open(csv, "w") as f:
    f.write("label," + ",".join(f"f{j}" for j in range(5)) + "\n")
    for i in range(3000):
        f.write(f"{int(rng.random() < 0.5)}," + ",".join(f"{v:.17g}" for v in rng.normal(size=5)) + "\n")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def train(data, model, np_, extra=()):
    return run(["train", "--data", data, "--l2", "1e-3", "--quiet", "--model-out", model,
                "--tracking-dir", runs, *extra], np_=np_)


# Small checksum blocks (4 KiB) so that every rank's slice spans many blocks
# and starts and ends inside them.
caches = {}
for name, src in (("svm", svm), ("csv", csv)):
    cdir = os.path.join(d, f"{name}.cache")
    p = run(["convert", "--data", src, "--out", cdir, "--block-kib", "4"], np_=2)
    check(os.path.exists(os.path.join(cdir, "shardlearn.cache")), f"{name}: convert wrote no header")
    caches[name] = cdir
    for np_ in (1, 2, 3):
        mt, mc = os.path.join(d, f"{name}-t{np_}.json"), os.path.join(d, f"{name}-c{np_}.json")
        train(src, mt, np_)
        train(cdir, mc, np_)
        check(read(mt) == read(mc), f"{name}: model from the cache on {np_} ranks differs from the text's")
    # Sums in another order change the last bits: unless the text's models
    # differ between rank counts, the comparison above could not tell a cache
    # that gives a rank other rows.
    check(len({read(os.path.join(d, f"{name}-t{q}.json")) for q in (1, 2, 3)}) > 1,
          f"{name}: the text's models on 1, 2 and 3 ranks are the same bits")
    model = os.path.join(d, f"{name}-t2.json")
    for np_ in (2, 3):
        outs = []
        for data in (src, cdir):
            o = os.path.join(d, f"pred-{np_}-{len(outs)}.txt")
            run(["predict", "--model", model, "--data", data, "--proba", "--out", o], np_=np_)
            outs.append(read(o))
            e = os.path.join(d, f"eval-{np_}-{len(outs)}.json")
            run(["eval", "--model", model, "--data", data, "--metrics-out", e], np_=np_)
            outs.append(read(e))
        check(outs[0] == outs[2] and len(outs[0]) > 0, f"{name}: predict from the cache differs ({np_} ranks)")
        check(outs[1] == outs[3], f"{name}: eval from the cache differs ({np_} ranks)")

# A directory of parts, one gzipped and one zstd-compressed: a compressed
# part goes whole to the rank whose range holds its first stored byte, and
# its rows keep that byte as their key, so the cache splits alike.
parts = os.path.join(d, "parts")
os.makedirs(parts)
with open(svm) as f:
    lines = f.readlines()
chunks = [lines[:3000], lines[3000:5000], lines[5000:9000], lines[9000:]]
with open(os.path.join(parts, "part-0.svm"), "w") as f:
    f.writelines(chunks[0])
with gzip.open(os.path.join(parts, "part-1.svm.gz"), "wt") as f:
    f.writelines(chunks[1])
with open(os.path.join(parts, "part-2.svm"), "w") as f:
    f.writelines(chunks[2])
subprocess.run(["zstd", "-q", "-o", os.path.join(parts, "part-3.svm.zst")], input="".join(chunks[3]),
               text=True, check=True)
open(os.path.join(parts, "_SUCCESS"), "w").close()
pcache = os.path.join(d, "parts.cache")
run(["convert", "--data", parts, "--out", pcache], np_=2)
for np_ in (1, 2, 3):
    mt, mc = os.path.join(d, f"parts-t{np_}.json"), os.path.join(d, f"parts-c{np_}.json")
    train(parts, mt, np_)
    train(pcache, mc, np_)
    check(read(mt) == read(mc), f"parts: model from the cache on {np_} ranks differs from the text's")
m1, m2 = os.path.join(d, "pc1.json"), os.path.join(d, "pc2.json")
p = train(parts, m1, 2, ["--cache", os.path.join(d, "parts-auto.cache")])
p = train(parts, m2, 2, ["--cache", os.path.join(d, "parts-auto.cache")])
check("used" in p.stdout and read(m1) == read(m2), f"parts: --cache not used the second time: {p.stdout!r}")
os.utime(os.path.join(parts, "part-1.svm.gz"), ns=(1, 1))
p = train(parts, m2, 2, ["--cache", os.path.join(d, "parts-auto.cache")])
check("rebuilt" in p.stderr and "part-1.svm.gz changed" in p.stderr, f"parts: a touched part did not rebuild: {p.stderr!r}")

# A dense cache must have the model's width, as a CSV must.
narrow = os.path.join(d, "narrow.csv")
with open(narrow, "w") as f:
    for i in range(50):
        f.write(f"{i % 2}," + ",".join(f"{v:.17g}" for v in rng.normal(size=4)) + "\n")
ncache = os.path.join(d, "narrow.cache")
run(["convert", "--data", narrow, "--out", ncache], np_=1)
for data in (narrow, ncache):
    p = run(["predict", "--model", os.path.join(d, "csv-t2.json"), "--data", data], np_=2, check_rc=False)
    errs = error_lines(p.stderr)
    check(p.returncode != 0 and len(errs) == 1 and "4 features, expected 5" in errs[0],
          f"predict on 4 columns with a 5-feature model ({data}): {p.returncode} {errs}")

# Labels kept as -1/+1 read for a squared loss: one clear error, never a
# crash (test_cache_kinds.py: real labels and --weight-column on a cache).
for args, says in ((["--loss", "squared"], "keeps labels as -1/+1"),):
    model = os.path.join(d, "never.json")
    p = run(["train", "--data", caches["csv"], "--quiet", "--model-out", model, "--tracking-dir", runs, *args],
            np_=2, check_rc=False, timeout=60)
    errs = error_lines(p.stderr)
    check(p.returncode == 1 and len(errs) == 1 and says in errs[0] and not os.path.exists(model),
          f"{args} with a cache: {p.returncode} {errs}")

# A validation set from a cache: the same metrics as from the text.
mv1, mv2 = os.path.join(d, "v1.json"), os.path.join(d, "v2.json")
x1, x2 = os.path.join(d, "x1.json"), os.path.join(d, "x2.json")
train(svm, mv1, 2, ["--validation", svm, "--metrics-out", x1])
train(svm, mv2, 2, ["--validation", caches["svm"], "--metrics-out", x2])
check(read(mv1) == read(mv2), "validation from a cache changed the model")

# train --cache: built, then used without parsing, then rebuilt after a change.
src = os.path.join(d, "src.svm")
shutil.copy(svm, src)
cdir = os.path.join(d, "auto.cache")
head = os.path.join(cdir, "shardlearn.cache")
m1, m2, m3 = (os.path.join(d, f"auto{i}.json") for i in (1, 2, 3))
p = train(src, m1, 2, ["--cache", cdir])
check("written from" in p.stdout and "cache" not in p.stderr, f"first --cache run: {p.stdout!r} {p.stderr!r}")
st1 = os.stat(os.path.join(cdir, "values.bin"))
h1 = os.stat(head)
p = train(src, m2, 2, ["--cache", cdir])
check("used" in p.stdout and "cache" not in p.stderr, f"second --cache run did not use the cache: {p.stdout!r} {p.stderr!r}")
st2 = os.stat(os.path.join(cdir, "values.bin"))
check((st1.st_ino, st1.st_mtime_ns) == (st2.st_ino, st2.st_mtime_ns) and h1.st_mtime_ns == os.stat(head).st_mtime_ns,
      "the second --cache run rewrote the cache")
check(read(m1) == read(m2) == read(os.path.join(d, "svm-t2.json")), "--cache models differ from the text's")
with open(src, "a") as f:
    f.write("+1 3:0.5 7:-1.25\n")
p = train(src, m3, 2, ["--cache", cdir])
lines = [l for l in p.stderr.splitlines() if "cache" in l]
check(len(lines) == 1 and "rebuilt" in lines[0] and "changed" in lines[0], f"a changed source was not rebuilt (one line): {p.stderr!r}")
mt = os.path.join(d, "auto-text.json")
train(src, mt, 2)
check(read(m3) == read(mt), "the rebuilt cache's model differs from the new text's")
p = train(src, m3, 2, ["--cache", cdir, "--zero-based"])
check("other --format/--zero-based/--n-features" in p.stderr, "other parse options reused the cache")


def damaged(how):
    """A copy of the LIBSVM cache damaged by how(dir)."""
    dst = os.path.join(d, "bad.cache")
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(caches["svm"], dst)
    how(dst)
    return dst


def poke(path, off, data):
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(data)


def flip(path, off):
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x40]))


def truncate(path):
    os.truncate(path, os.path.getsize(path) - 100)


def forge(c, sec, off, data):
    """Writes data at off in section sec and fixes its block's CRC and the
    header's, as someone making a cache by hand would (cache_fmt.h's layout)."""
    poke(os.path.join(c, sec), off, data)
    head = bytearray(read(os.path.join(c, H)))
    fixed = "=8sIIIIqiiiiqqqqqqqq5qiiq"
    f = struct.unpack_from(fixed, head)
    block, n_src, counts = f[16], f[17], f[18:23]
    elem = (8, 8, 8, 4, 8)
    names = ("keys.bin", "indptr.bin", "y.bin", "indices.bin", "values.bin")
    blocks = [-(-counts[q] * elem[q] // block) for q in range(5)]
    at = struct.calcsize(fixed) + n_src * (4096 + 128 + 16) + 8 * blocks[0]
    q = names.index(sec)
    at += 4 * sum(blocks[:q]) + 4 * (off // block)
    body = read(os.path.join(c, sec))[off // block * block:(off // block + 1) * block]
    struct.pack_into("=I", head, at, zlib.crc32(body))
    struct.pack_into("=I", head, 16, 0)
    struct.pack_into("=I", head, 16, zlib.crc32(bytes(head)))
    with open(os.path.join(c, H), "wb") as out:
        out.write(head)


H = "shardlearn.cache"
cases = [
    ("corrupt values", lambda c: flip(os.path.join(c, "values.bin"), 100001), ["values.bin", "checksum"]),
    # The last block of keys is read by the last rank for any rank count
    # (a rank reads the blocks of keys that hold its first and last rows).
    ("corrupt keys", lambda c: flip(os.path.join(c, "keys.bin"), os.path.getsize(os.path.join(c, "keys.bin")) - 3),
     ["keys.bin", "checksum"]),
    ("truncated indices", lambda c: truncate(os.path.join(c, "indices.bin")), ["indices.bin", "truncated"]),
    ("truncated header", lambda c: truncate(os.path.join(c, H)), [H, "truncated"]),
    ("missing y", lambda c: os.remove(os.path.join(c, "y.bin")), ["y.bin", "No such file"]),
    ("bad magic", lambda c: poke(os.path.join(c, H), 0, b"PK\x03\x04"), [H, "bad magic"]),
    ("other endian", lambda c: poke(os.path.join(c, H), 8, struct.pack("<I", 0x01020304)[::-1]
                                     if struct.pack("=I", 1) == struct.pack("<I", 1) else struct.pack("<I", 0x01020304)),
     [H, "byte order"]),
    ("newer version", lambda c: poke(os.path.join(c, H), 12, struct.pack("=I", 99)), [H, "version 99 is newer"]),
    ("corrupt header", lambda c: flip(os.path.join(c, H), 200), [H, "corrupt header"]),
    # Valid checksums, impossible contents: still refused.
    ("forged label", lambda c: forge(c, "y.bin", 800, struct.pack("=d", 0.5)), ["y.bin", "a label"]),
    ("forged index", lambda c: forge(c, "indices.bin", 4000, struct.pack("=i", 1 << 30)),
     ["indices.bin", "column index"]),
]
for what, how, words in cases:
    bad = damaged(how)
    for np_ in (1, 3):
        model = os.path.join(d, "never.json")
        if os.path.exists(model):
            os.remove(model)
        p = run(["train", "--data", bad, "--quiet", "--model-out", model, "--tracking-dir", runs],
                np_=np_, check_rc=False, timeout=60)
        errs = error_lines(p.stderr)
        check(p.returncode != 0, f"{what} ({np_} ranks): exit {p.returncode}")
        check(len(errs) == 1 and all(w in errs[0] for w in words),
              f"{what} ({np_} ranks): want one error naming {words}, got {errs}")
        check(not os.path.exists(model), f"{what} ({np_} ranks): a model was written")

# convert never replaces a directory that is not a cache, and a convert
# that fails leaves no cache behind.
keep = os.path.join(d, "keep")
os.makedirs(keep)
with open(os.path.join(keep, "notes.txt"), "w") as f:
    f.write("mine\n")
p = run(["convert", "--data", svm, "--out", keep], np_=2, check_rc=False)
check(p.returncode != 0 and os.listdir(keep) == ["notes.txt"], f"convert over a non-cache directory: {p.stderr!r}")
badsrc = os.path.join(d, "bad.svm")
with open(badsrc, "w") as f:
    f.write("+1 1:0.5\n-1 2:x\n")
out = os.path.join(d, "never.cache")
p = run(["convert", "--data", badsrc, "--out", out], np_=2, check_rc=False)
check(p.returncode != 0 and not os.path.exists(out)
      and not any(n.startswith("never.cache") for n in os.listdir(d)), "a failed convert left a directory")
finish()
