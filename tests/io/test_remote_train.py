"""`train --data gs://bucket/prefix` on 2 ranks against fake-gcs-server: the
same model bytes as the same parts (one of them .gz) in a local directory,
also through a proxy that answers 503 and cuts downloads; an object replaced
after listing stops the job with one line. Needs the multi-file reader
(src/data, issue #12 item 1) as well as the remote backend."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402
from test_remote_cli import BUCKET, TRAIN, gcs, shardlearn  # noqa: E402,F401


def test_train_from_gcs_is_bit_identical(gcs, tmp_path):
    """--data gs://bucket/prefix on 2 ranks trains the same model bytes as the
    same parts in a local directory (and with a .gz part, as its local twin)."""
    import gzip
    lines = open(TRAIN, "rb").read().splitlines(keepends=True)
    cut = [0, len(lines) // 3, 2 * len(lines) // 3, len(lines)]
    parts = {f"part-0000{i}": b"".join(lines[cut[i]:cut[i + 1]]) for i in range(3)}
    parts["part-00002.gz"] = gzip.compress(parts.pop("part-00002"))
    local = tmp_path / "train"
    local.mkdir()
    for name, data in {**parts, "_SUCCESS": b""}.items():
        (local / name).write_bytes(data)
        gcs.put(BUCKET, f"train/{name}", data)
    common = ["train", "--quiet", "--tracking-dir", str(tmp_path / "runs")]
    p = shardlearn([*common, "--data", str(local), "--model-out", str(tmp_path / "local.json")],
                   tmp_path)
    assert p.returncode == 0, p.stderr.decode()
    p = shardlearn([*common, "--data", f"gs://{BUCKET}/train", "--model-out",
                    str(tmp_path / "gcs.json")], tmp_path, STORAGE_EMULATOR_HOST=gcs.host)
    assert p.returncode == 0, p.stderr.decode()
    assert (tmp_path / "gcs.json").read_bytes() == (tmp_path / "local.json").read_bytes()

    # Through faults: the listing answered 503 twice, and the first four
    # downloads cut after 10 kB each: the same model.
    def rule(n, method, path, headers):
        if n < 2:
            return ("answer", 503, "{}")
        if "alt=media" in path and sum("alt=media" in e[2] for e in px.log) < 4:
            return ("cut", 10_000)
    with servers.Proxy(gcs.url, rule) as px:
        p = shardlearn([*common, "--data", f"gs://{BUCKET}/train", "--model-out",
                        str(tmp_path / "faults.json")], tmp_path, STORAGE_EMULATOR_HOST=px.host)
    assert p.returncode == 0, p.stderr.decode()
    assert (tmp_path / "faults.json").read_bytes() == (tmp_path / "local.json").read_bytes()
    cuts = [e for e in px.log if e[4] and e[4][0] == "cut"]
    assert len(cuts) == 4 and sum("alt=media" in e[2] for e in px.log) >= 8

    # The object replaced before the ranks read it: a clear error on every rank's behalf.
    def replace(n, method, path, headers):
        if "alt=media" in path and not any("alt=media" in e[2] for e in px2.log):
            return ("call", lambda: gcs.put(BUCKET, "train/part-00000", parts["part-00000"] + b"\n"))
    with servers.Proxy(gcs.url, replace) as px2:
        p = shardlearn([*common, "--data", f"gs://{BUCKET}/train", "--model-out",
                        str(tmp_path / "changed.json")], tmp_path, STORAGE_EMULATOR_HOST=px2.host)
    err = p.stderr.decode()
    assert p.returncode != 0 and "changed since it was listed" in err, err
    assert not (tmp_path / "changed.json").exists()


def test_train_over_https_is_bit_identical(tmp_path):
    """--data https://... (a CA made here, through CURL_CA_BUNDLE) on 2 ranks:
    the same model bytes as the local file."""
    key, cert = servers.self_signed(str(tmp_path))
    common = ["train", "--quiet", "--tracking-dir", str(tmp_path / "runs")]
    p = shardlearn([*common, "--data", TRAIN, "--model-out", str(tmp_path / "local.json")],
                   tmp_path)
    assert p.returncode == 0, p.stderr.decode()
    with servers.FileServer(os.path.dirname(TRAIN), cert, key) as fs:
        p = shardlearn([*common, "--data", f"{fs.url}/train.svm", "--model-out",
                        str(tmp_path / "https.json")], tmp_path, CURL_CA_BUNDLE=cert)
        assert p.returncode == 0, p.stderr.decode()
        gets = [r for r in fs.requests if r[0] == "GET"]
        assert len(gets) >= 2 and all(r[2].get("If-Match") and r[2].get("Range") for r in gets)
    assert (tmp_path / "https.json").read_bytes() == (tmp_path / "local.json").read_bytes()


def test_no_credential_in_output_or_journal(gcs, tmp_path):
    """A service-account key on 2 ranks: the job trains, and neither the
    access token nor the key appears in what it printed or in its run
    journal (the run's params, tags and dataset records)."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    gcs.put(BUCKET, "sa/part-00000", open(TRAIN, "rb").read())
    with servers.TokenServer(key.public_key(), "trainer@p.iam.gserviceaccount.com") as ts:
        key_path, _ = servers.service_account_key(str(tmp_path), ts.url + "/token", key)
        rule = lambda n, m, path, h: None if h.get("Authorization", "").removeprefix(  # noqa: E731
            "Bearer ") in ts.issued else ("answer", 401, "{}")
        with servers.Proxy(gcs.url, rule) as px:
            p = shardlearn(["train", "--quiet", "--data", f"gs://{BUCKET}/sa/", "--tracking-dir",
                            str(tmp_path / "runs"), "--model-out", f"gs://{BUCKET}/sa-out/m.json"],
                           tmp_path, GOOGLE_APPLICATION_CREDENTIALS=key_path,
                           CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE=px.url)
        assert p.returncode == 0, p.stderr.decode()
        assert ts.errors == [] and 1 <= len(ts.issued) <= 2  # one per rank at most
        assert all(e[4] is None for e in px.log)
    assert gcs.get(BUCKET, "sa-out/m.json")
    secrets = [t.encode() for t in ts.issued] + [b"PRIVATE KEY", b"eyJ"]
    journal = b"".join(open(os.path.join(d, f), "rb").read()
                       for d, _, fs in os.walk(tmp_path / "runs") for f in fs)
    assert b"gs://out/sa/" in journal  # the run names its data
    for s in secrets:
        assert s not in p.stdout + p.stderr and s not in journal, s
