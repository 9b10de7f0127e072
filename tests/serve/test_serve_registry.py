"""shardlearn serve from a real `mlflow server`: runs:/RUN_ID,
models:/NAME/VERSION and models:/NAME@ALIAS answer as the local model files
of those runs; with --refresh 1 an alias moved under load swaps to the new
version with no failed request, every answer one model's or the other's and
never the old one's after the first new one."""
import json
import os
import sys
import tempfile
import threading
import time

from serve_common import TEST, TRAIN, Server, check, finish, predict, shardlearn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tracking"))
from mlflow_server import MlflowServer  # noqa: E402

tmp = tempfile.TemporaryDirectory(prefix="sl-serve-reg-")
d = tmp.name
features = [" ".join(l.split()[1:]) for l in open(TEST)][:30]
NAME = "serve-model"


def train_run(srv, l2, tag):
    model = os.path.join(d, f"{tag}.json")
    td = os.path.join(d, f"runs-{tag}")
    p = shardlearn(["train", "--data", TRAIN, "--l2", l2, "--model-out", model, "--quiet",
                    "--tracking-uri", srv.url, "--tracking-dir", td, "--tracking-flush-timeout", "120",
                    "--register-model", NAME], env={"MLFLOW_TRACKING_URI": ""})
    assert p.returncode == 0, p.stderr
    (rd,) = os.listdir(td)
    with open(os.path.join(td, rd, "state.json")) as f:
        return model, json.load(f)["run_id"]


with MlflowServer() as srv:
    env = {"MLFLOW_TRACKING_URI": srv.url}
    a, run_a = train_run(srv, "1e-4", "a")
    b, run_b = train_run(srv, "1e-1", "b")
    want_a, want_b = predict(a, TEST)[:30], predict(b, TEST)[:30]
    check(want_a != want_b, "the two models differ")
    versions = {v["run_id"]: v["version"] for v in
                srv.get("model-versions/search", filter=f"name='{NAME}'")["model_versions"]}
    check(set(versions) == {run_a, run_b}, f"versions {versions}")
    va, vb = versions[run_a], versions[run_b]
    srv.post("registered-models/alias", {"name": NAME, "alias": "champion", "version": va})

    # Each source form answers as its run's model, and /metrics says which.
    for source, want, version in [(f"runs:/{run_a}", want_a, ""), (f"runs:/{run_b}/model", want_b, ""),
                                  (f"models:/{NAME}/{vb}", want_b, vb), (f"models:/{NAME}@champion", want_a, va)]:
        with Server(["--model", source], env=env) as s:
            got = s.predictions("/predict", {"instances": features})
            check(got == want, f"{source}: answers differ from the run's model file")
            info = [k for k in s.metrics() if k.startswith("shardlearn_model_info{")]
            check(len(info) == 1 and f'version="{version}"' in info[0] and f'source="{source}"' in info[0],
                  f"{source}: model info {info}")
            check(any(f"run {run_a if want is want_a else run_b}" in l for l in s.out), f"{source}: {s.out[:1]}")

    # Sources that do not exist: one line, exit 1, the server's message.
    for source, msg in [(f"models:/{NAME}@nobody", "nobody"), (f"models:/{NAME}/99", "99"),
                        ("runs:/0123456789abcdef0123456789abcdef", "0123456789abcdef"),
                        (f"models:/{NAME}", "not models:/NAME/VERSION")]:
        p = shardlearn(["serve", "--model", source, "--port", "0", "--timeout", "20"], env=env)
        lines = [l for l in p.stderr.splitlines() if "error:" in l]
        check(p.returncode == 1 and len(lines) == 1 and msg in lines[0], f"{source}: {p.returncode} {p.stderr!r}")

    # The alias moves under load: --refresh 1 swaps with no failed request.
    with Server(["--model", f"models:/{NAME}@champion", "--refresh", "1", "--threads", "2"], env=env) as s:
        answers, failures, stop = [], [], threading.Event()

        def client():
            import http.client
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
            body = json.dumps({"instances": features})
            while not stop.is_set():
                try:
                    c.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
                    r = c.getresponse()
                    text = r.read()
                    if r.status != 200:
                        failures.append((r.status, text[:200]))
                    else:
                        answers.append(json.loads(text)["predictions"])
                except Exception as e:  # noqa: BLE001 - a failed request is what is counted
                    failures.append(repr(e))
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
            c.close()

        t = threading.Thread(target=client)
        t.start()
        time.sleep(1.5)
        before = len(answers)
        srv.post("registered-models/alias", {"name": NAME, "alias": "champion", "version": vb})
        deadline = time.time() + 30
        while time.time() < deadline and not (answers and answers[-1] == want_b):
            time.sleep(0.1)
        time.sleep(1.0)
        stop.set()
        t.join(30)
        kinds = ["a" if x == want_a else "b" if x == want_b else "?" for x in answers]
        seq = "".join(kinds)
        check(not failures, f"{len(failures)} failed requests during the swap: {failures[:3]}")
        check(before > 0 and "?" not in seq, f"{before} answers before the move; unknown answers: {seq.count('?')}")
        check(seq.startswith("a") and seq.endswith("b") and "ba" not in seq,
              f"answers do not switch once from a to b: {seq[:20]}...{seq[-20:]} ({len(seq)})")
        m = s.metrics()
        info = [k for k in m if k.startswith("shardlearn_model_info{")]
        check(info and f'version="{vb}"' in info[0], f"model info after the swap {info}")
        check(m.get("shardlearn_model_loads_total") == 2, f"loads {m.get('shardlearn_model_loads_total')}")
        check(any(f"now serving {NAME} version {vb}" in l for l in s.out), f"swap line {s.out}")
        print(f"{len(answers)} requests during the swap, {seq.count('a')} on version {va}, "
              f"{seq.count('b')} on version {vb}", flush=True)

        # The server goes: refreshes retry (up to --timeout 60 s) while the
        # model keeps serving, and SIGTERM does not wait for them.
        srv.stop()
        time.sleep(2.5)
        st, _, text = s.call("POST", "/predict", {"instances": features})
        check(st == 200 and json.loads(text)["predictions"] == want_b, f"after the server went: {st}")
        t0 = time.time()
        rc = s.stop()
        check(rc == 0 and time.time() - t0 < 5, f"exit {rc} after {time.time() - t0:.1f} s with a refresh under way")
        check(any("refresh failed, still serving" in l for l in s.err), f"refresh failure not logged {s.err[-3:]}")
finish()
