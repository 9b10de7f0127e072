"""The load rates of the data sources (issue #12): the benchmark's LIBSVM file
read plain, as one .gz / .zst file, and as a directory of two compressed
parts, and as a gs:// object served by a local Cloud Storage emulator, in MB/s
of uncompressed text per rank (read + decompress + parse, best of 3 loads,
build/tests/sl_load_rate). The compressed copies are made
once next to the data (gzip -6, zstd -3: the tools' defaults) and cached.

Used by run_bench.py: in the full run, and alone with --only-sources."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET_MBS = 150.0


def _probe():
    return os.environ.get("SL_LOAD_RATE_BIN", str(ROOT / "build" / "tests" / "sl_load_rate"))


def _compressed_copies(b, log):
    """{name: path}: the one file as .gz and .zst, and a directory of each
    with the file cut in two at a line boundary."""
    src = Path(b.svm)
    d = src.parent / (src.stem + "-sources")
    d.mkdir(exist_ok=True)
    halves = [d / "half-0.svm", d / "half-1.svm"]
    need_parts = not (d / "parts-gz").exists() or not (d / "parts-zst").exists()
    if need_parts and not all(h.exists() for h in halves):
        log(f"cutting {src.name} in two for the directory cases")
        size = src.stat().st_size
        with open(src, "rb") as f:
            f.seek(size // 2)
            f.readline()
            cut = f.tell()
        with open(src, "rb") as f, open(halves[0], "wb") as h0, open(halves[1], "wb") as h1:
            left = cut
            while left > 0:
                buf = f.read(min(left, 64 << 20))
                h0.write(buf)
                left -= len(buf)
            while True:
                buf = f.read(64 << 20)
                if not buf:
                    break
                h1.write(buf)
    out = {"plain": str(src)}
    for codec, ext, cmd in (("gzip", "gz", ["gzip", "-6", "-c"]), ("zstd", "zst", ["zstd", "-q", "-3", "-c"])):
        one = d / f"all.svm.{ext}"
        parts = d / f"parts-{ext}"
        if not one.exists():
            log(f"writing {one.name} ({codec}, cached)")
            with open(str(one) + ".tmp", "wb") as f:
                subprocess.run(cmd + [str(src)], stdout=f, check=True)
            os.replace(str(one) + ".tmp", one)
        if not parts.exists():
            tmp = Path(str(parts) + ".tmp")
            tmp.mkdir(exist_ok=True)
            for i, h in enumerate(halves):
                with open(tmp / f"part-{i:05d}.svm.{ext}", "wb") as f:
                    subprocess.run(cmd + [str(h)], stdout=f, check=True)
            os.replace(tmp, parts)
        out[f"one_{ext}"] = str(one)
        out[f"parts_{ext}"] = str(parts)
    for h in halves:  # only needed to make the parts
        h.unlink(missing_ok=True)
    return out


def _load(b, spec, ranks, env=None):
    p, _ = b.run(b.mpirun(ranks) + [_probe(), spec, "3"], env=env)
    return json.loads(p.stdout.strip().splitlines()[-1])


def _remote_rows(b, text, log):
    """The plain file as a gs:// object on fake-gcs-server (tests/io/servers.py,
    the emulator the tests use, from PyPI), read over loopback HTTP with
    ranged GETs by 1 and 2 ranks. The emulator serves from memory; its own
    cost is in the number, so this is a floor on the client's rate."""
    sys.path.insert(0, str(ROOT / "tests" / "io"))
    import servers  # noqa: E402
    rows = []
    with servers.GcsEmulator() as emu:
        emu.bucket("bench")
        with open(b.svm, "rb") as f:
            emu.put("bench", "data.svm", f.read())
        env = dict(b.env, STORAGE_EMULATOR_HOST=emu.host)
        for ranks in (1, 2):
            r = _load(b, "gs://bench/data.svm", ranks, env)
            rate = text / ranks / r["seconds"] / 1e6
            rows.append({"case": "gs:// object (emulator)", "ranks": ranks,
                         "stored_mb": r["stored_bytes"] / 1e6, "rows": r["rows"],
                         "seconds": r["seconds"], "mbs_per_rank": rate, "busy_ranks": ranks,
                         "crc32": r["crc32"]})
            log(f"  gs:// on {ranks} rank(s): {r['seconds']:.3f} s, {rate:.0f} MB/s of text per rank")
    return rows


def measure_sources(b, a, log=print):
    text = os.path.getsize(b.svm)
    src = _compressed_copies(b, log)
    cases = [("plain file", "plain", 1), ("plain file", "plain", 2),
             ("one .gz", "one_gz", 1), ("one .zst", "one_zst", 1),
             ("2 .gz parts", "parts_gz", 2), ("2 .zst parts", "parts_zst", 2),
             ("one .gz", "one_gz", 2)]
    rows = []
    for what, key, ranks in cases:
        r = _load(b, src[key], ranks)
        # A lone compressed file is parsed by one rank whatever the rank count.
        busy = 1 if key.startswith("one_") else ranks
        rate = text / busy / r["seconds"] / 1e6
        rows.append({"case": what, "ranks": ranks, "stored_mb": r["stored_bytes"] / 1e6,
                     "crc32": r["crc32"],
                     "rows": r["rows"], "seconds": r["seconds"], "mbs_per_rank": rate,
                     "busy_ranks": busy})
        log(f"  {what} on {ranks} rank(s): {r['seconds']:.3f} s, {rate:.0f} MB/s of text per busy rank")
    remote = _remote_rows(b, text, log)
    plain_crc = rows[0]["crc32"]
    if any(r["crc32"] != plain_crc for r in remote):  # the digest of the bytes the ranks read
        raise RuntimeError(f"gs:// read other bytes than the file: {remote} vs {plain_crc}")
    rows += remote
    # The 2-rank rows share the machine's cores with each other (and with
    # whatever else runs): the load average says how much they could have.
    return {"text_mb": text / 1e6, "rows": rows, "loadavg_1min": os.getloadavg()[0],
            "cores": os.cpu_count()}


def render(sv):
    L = [f"Data sources ({sv['text_mb']:.0f} MB of LIBSVM text; read + decompress + parse, best of 3; "
         "MB/s of uncompressed text per rank that parses):", "",
         "| source | ranks | stored MB | load s | MB/s per rank |", "|---|---|---|---|---|"]
    for r in sv["rows"]:
        note = "" if r["busy_ranks"] == r["ranks"] else f" (1 of {r['ranks']} ranks parses it)"
        L.append(f"| {r['case']}{note} | {r['ranks']} | {r['stored_mb']:.0f} | {r['seconds']:.3f} | "
                 f"{r['mbs_per_rank']:.0f} |")
    if "loadavg_1min" in sv:
        L += ["", f"Load average during the run: {sv['loadavg_1min']:.1f} on {sv['cores']} cores "
                  "(the 2-rank rows are slowed by anything else running)."]
    return "\n".join(L)


def targets(sv):
    def rate(case, ranks):
        return next(r["mbs_per_rank"] for r in sv["rows"] if r["case"] == case and r["ranks"] == ranks)

    # Per rank: one rank decoding and parsing alone (1 rank, one file); the
    # 2-rank parts rows show what two ranks sharing the cores get.
    gz, zst = rate("one .gz", 1), rate("one .zst", 1)
    gz2, zst2 = rate("2 .gz parts", 2), rate("2 .zst parts", 2)
    return [{"target": f"decompress-and-parse ≥ {TARGET_MBS:g} MB/s of text per rank",
             "value": f"1 rank: gzip {gz:.0f}, zstd {zst:.0f} MB/s (plain {rate('plain file', 1):.0f}); "
                      f"2 ranks, 2 parts: gzip {gz2:.0f}, zstd {zst2:.0f} MB/s a rank",
             "met": gz >= TARGET_MBS and zst >= TARGET_MBS}]
