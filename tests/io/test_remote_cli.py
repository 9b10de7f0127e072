"""gs:// outputs through the real command line: `train --model-out
--metrics-out` and `predict --out` / `eval --metrics-out` on 2 ranks, and a
model read back from gs:// by `predict --model`, against
fake-gcs-server. The object holds exactly the bytes the same command writes
to a local file; a refused upload fails the job on every rank with one line
and leaves no object, nor a local trace. `serve` with Vertex AI's
AIP_STORAGE_URI and no --model loads model.json from that gs:// directory."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.abspath(os.environ.get("SL_BIN", os.path.join(ROOT, "build", "shardlearn")))
MPIEXEC = os.environ.get("SL_MPIEXEC", "mpirun")
TRAIN = os.path.join(ROOT, "examples", "train.svm")
TEST = os.path.join(ROOT, "examples", "test.svm")
BUCKET = "out"


def shardlearn(args, tmp_path, np=2, **env_extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GOOGLE_", "CLOUDSDK_", "GCE_", "STORAGE_EMULATOR", "MLFLOW_"))}
    session = tempfile.mkdtemp(dir=tmp_path)  # this job's own Open MPI session directory
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", OMPI_MCA_mpi_yield_when_idle="1",
               OMPI_MCA_orte_tmpdir_base=session, OPENBLAS_NUM_THREADS="1", HOME=str(tmp_path))
    env.update(env_extra)
    try:
        return subprocess.run([MPIEXEC, "--oversubscribe", "-np", str(np), BIN, *args], env=env,
                              capture_output=True, timeout=180, cwd=tmp_path)
    finally:
        shutil.rmtree(session, True)


@pytest.fixture(scope="module")
def gcs():
    with servers.GcsEmulator() as emu:
        emu.bucket(BUCKET)
        yield emu


def test_train_and_predict_outputs_to_gcs(gcs, tmp_path):
    common = ["train", "--data", TRAIN, "--quiet", "--tracking-dir", str(tmp_path / "runs")]
    p = shardlearn([*common, "--model-out", str(tmp_path / "model.json"),
                    "--metrics-out", str(tmp_path / "metrics.json")], tmp_path)
    assert p.returncode == 0, p.stderr.decode()
    p = shardlearn([*common, "--model-out", f"gs://{BUCKET}/run1/model.json",
                    "--metrics-out", f"gs://{BUCKET}/run1/metrics.json"], tmp_path,
                   STORAGE_EMULATOR_HOST=gcs.host)
    assert p.returncode == 0, p.stderr.decode()
    assert gcs.get(BUCKET, "run1/model.json") == (tmp_path / "model.json").read_bytes()
    remote_metrics = json.loads(gcs.get(BUCKET, "run1/metrics.json"))
    local_metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert remote_metrics.keys() == local_metrics.keys()
    for k in ("objective", "iterations", "n_rows", "history"):
        if k == "history":  # each step's numbers, not its timings
            strip = [{f: v for f, v in h.items() if "second" not in f} for h in remote_metrics[k]]
            assert strip == [{f: v for f, v in h.items() if "second" not in f}
                             for h in local_metrics[k]]
        else:
            assert remote_metrics[k] == local_metrics[k]
    # the run's artifacts hold the bytes uploaded
    arts = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "runs") for f in fs
            if f == "model.json"]
    assert arts and all(open(a, "rb").read() == (tmp_path / "model.json").read_bytes()
                        for a in arts)

    model = str(tmp_path / "model.json")
    p = shardlearn(["predict", "--model", model, "--data", TEST, "--out",
                    str(tmp_path / "pred.txt"), "--proba"], tmp_path)
    assert p.returncode == 0, p.stderr.decode()
    p = shardlearn(["predict", "--model", model, "--data", TEST, "--out",
                    f"gs://{BUCKET}/run1/pred.txt", "--proba"], tmp_path,
                   STORAGE_EMULATOR_HOST=gcs.host)
    assert p.returncode == 0, p.stderr.decode()
    assert gcs.get(BUCKET, "run1/pred.txt") == (tmp_path / "pred.txt").read_bytes()
    # the model read back from gs:// by every rank
    p = shardlearn(["predict", "--model", f"gs://{BUCKET}/run1/model.json", "--data", TEST,
                    "--out", str(tmp_path / "pred-gs.txt"), "--proba"], tmp_path,
                   STORAGE_EMULATOR_HOST=gcs.host)
    assert p.returncode == 0, p.stderr.decode()
    assert (tmp_path / "pred-gs.txt").read_bytes() == (tmp_path / "pred.txt").read_bytes()
    p = shardlearn(["predict", "--model", f"gs://{BUCKET}/run1/nothing.json", "--data", TEST],
                   tmp_path, STORAGE_EMULATOR_HOST=gcs.host)
    assert p.returncode != 0 and b"gs://out/run1/nothing.json" in p.stderr, p.stderr.decode()
    p = shardlearn(["eval", "--model", model, "--data", TEST, "--metrics-out",
                    f"gs://{BUCKET}/run1/eval.json"], tmp_path, STORAGE_EMULATOR_HOST=gcs.host)
    assert p.returncode == 0, p.stderr.decode()
    assert json.loads(gcs.get(BUCKET, "run1/eval.json"))["n_rows"] > 0


def test_refused_upload_fails_every_rank(gcs, tmp_path):
    def rule(n, method, path, headers):
        if method == "POST" and "/upload/" in path:
            return ("answer", 403, '{"error": {"message": "caller lacks storage.objects.create"}}')
    with servers.Proxy(gcs.url, rule) as px:
        p = shardlearn(["train", "--data", TRAIN, "--quiet", "--tracking-dir",
                        str(tmp_path / "runs"), "--model-out", f"gs://{BUCKET}/run2/model.json"],
                       tmp_path, STORAGE_EMULATOR_HOST=px.host)
    err = p.stderr.decode()
    assert p.returncode != 0, err
    lines = [ln for ln in err.splitlines() if "gs://out/run2/model.json" in ln]
    assert len(lines) == 1 and "HTTP 403" in lines[0] and "objects.create" in lines[0], err
    assert gcs.get(BUCKET, "run2/model.json") is None
    assert not [f for f in os.listdir(tmp_path) if "model.json" in f]  # no temp file left


def test_output_checked_before_training(gcs, tmp_path):
    """A missing bucket, or credentials that may not create objects (IAM's
    testPermissions, which fake-gcs-server lacks: the proxy answers it as GCS
    does), fail the job before it reads its data; granted, the job runs."""
    runs = ["--tracking-dir", str(tmp_path / "runs")]
    p = shardlearn(["train", "--data", TRAIN, "--model-out", "gs://no-such-bucket/m.json", *runs],
                   tmp_path, STORAGE_EMULATOR_HOST=gcs.host)
    out, err = p.stdout.decode(), p.stderr.decode()
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert p.returncode != 0 and len(lines) == 1, err
    assert "gs://no-such-bucket/m.json" in lines[0] and "no bucket no-such-bucket" in lines[0], err
    assert "loaded in" not in out + err, out

    for granted in ([], ["storage.objects.create"]):
        def rule(n, method, path, headers, granted=granted):
            if "/iam/testPermissions" in path:
                body = {"kind": "storage#testIamPermissionsResponse"}
                if granted:
                    body["permissions"] = granted
                return ("answer", 200, json.dumps(body))
        dest = f"gs://{BUCKET}/perm{len(granted)}/metrics.json"
        with servers.Proxy(gcs.url, rule) as px:
            p = shardlearn(["train", "--data", TRAIN, "--quiet", "--metrics-out", dest, *runs],
                           tmp_path, STORAGE_EMULATOR_HOST=px.host)
            asked = [e for e in px.log if "/iam/testPermissions" in e[2]]
        err = p.stderr.decode()
        assert len(asked) == 1 and "permissions=storage.objects.create" in asked[0][2]
        if granted:
            assert p.returncode == 0, err
            assert json.loads(gcs.get(BUCKET, "perm1/metrics.json"))["iterations"] > 0
        else:
            lines = [ln for ln in err.splitlines() if "error" in ln]
            assert p.returncode != 0 and len(lines) == 1, err
            assert dest in lines[0] and "storage.objects.create" in lines[0], err
            assert "loaded in" not in p.stdout.decode() + err
            assert gcs.get(BUCKET, "perm0/metrics.json") is None


def test_serve_from_aip_storage_uri(gcs, tmp_path):
    """Vertex AI's contract: with no --model, serve loads $AIP_STORAGE_URI/model.json
    (a gs:// directory), listens on $AIP_HTTP_PORT and answers as predict does."""
    import signal
    import urllib.request
    model = tmp_path / "model.json"
    p = shardlearn(["train", "--data", TRAIN, "--quiet", "--tracking-dir", str(tmp_path / "runs"),
                    "--model-out", str(model)], tmp_path)
    assert p.returncode == 0, p.stderr.decode()
    gcs.put(BUCKET, "vertex/artifacts/model.json", model.read_bytes())
    p = shardlearn(["predict", "--model", str(model), "--data", TEST, "--out",
                    str(tmp_path / "pred.txt"), "--proba"], tmp_path, np=1)
    assert p.returncode == 0, p.stderr.decode()
    want = [float(x) for x in (tmp_path / "pred.txt").read_text().split()[:20]]
    rows = [" ".join(line.split()[1:]) for line in open(TEST)][:20]
    port = servers.free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GOOGLE_", "CLOUDSDK_", "GCE_", "MLFLOW_", "AIP_"))}
    env.update(STORAGE_EMULATOR_HOST=gcs.host, AIP_STORAGE_URI=f"gs://{BUCKET}/vertex/artifacts/",
               AIP_HTTP_PORT=str(port), AIP_PREDICT_ROUTE="/v1/predict", HOME=str(tmp_path),
               OMPI_MCA_ess_singleton_isolated="1")
    proc = subprocess.Popen([BIN, "serve", "--threads", "2", "--host", "127.0.0.1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        servers.wait_port(port, proc)
        body = json.dumps({"instances": rows}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/predict", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            got = json.loads(r.read())["predictions"]
        assert got == want, (got[:3], want[:3])
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert f"gs://{BUCKET}/vertex/artifacts/model.json".encode() in out + err
    # and a missing model there is one clear error
    env["AIP_STORAGE_URI"] = f"gs://{BUCKET}/vertex/none"
    p = subprocess.run([BIN, "serve", "--host", "127.0.0.1"], env=env, capture_output=True,
                       timeout=60)
    assert p.returncode != 0 and b"gs://out/vertex/none/model.json" in p.stderr, p.stderr.decode()
