"""scripts/ci-regression.sh against a real `mlflow server`, as CI runs it
(from the repository root, the server in $MLFLOW_TRACKING_URI, 2 ranks):

1. a first run bootstraps the champion: exit 0, version 1 is
   shardlearn-example@champion, the run tagged shardlearn.gate=passed;
2. a deliberately worse run (`-- --l2 10`): exit 1, a JUnit file with the
   broken rules as <failure>s, the champion unchanged, nothing registered or
   tagged, the failure appended to $GITHUB_STEP_SUMMARY;
3. a better run (`-- --l2 1e-3`): exit 0, its version 2 is the champion;
   the same with SL_CI_PROMOTE=0 (a merge request) passes and moves nothing;
4. a training that fails (bad data): exit 2, a JUnit <error> naming the
   data line, the champion unchanged.
Everything is read back from the server's REST API and the files written."""
import glob
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tracking"))
from mlflow_server import MlflowServer  # noqa: E402
from track_common import BIN, MPIRUN, check, finish, mpi_env, workdir  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "ci-regression.sh")
MODEL = "shardlearn-example"
d = workdir()
out = os.path.join(d, "ci-out")
step_summary = os.path.join(d, "step-summary.md")
gh_output = os.path.join(d, "github-output")


def ci(srv, *train_opts, promote="1"):
    env = mpi_env({"SL_CI_PROMOTE": promote, "MLFLOW_TRACKING_URI": srv.url, "SHARDLEARN": BIN, "MPIRUN": MPIRUN,
                   "GITHUB_STEP_SUMMARY": step_summary, "GITHUB_OUTPUT": gh_output})
    env.pop("MLFLOW_EXPERIMENT_NAME", None)
    args = [SCRIPT, "--np", "2", "--out", out]
    if train_opts:
        args += ["--", *train_opts]
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def junit(path):
    """{test case name: (verdict, message)} and the root of a JUnit file."""
    root = ET.parse(path).getroot()
    cases = {}
    for tc in root.iter("testcase"):
        v = next(((k, e.get("message", "") + (e.text or "")) for k in ("failure", "error", "skipped")
                  if (e := tc.find(k)) is not None), ("pass", ""))
        cases[tc.get("name")] = v
    return cases, root


def run_id_file():
    with open(os.path.join(out, "run_id")) as f:
        return f.read().strip()


with MlflowServer() as srv:
    def alias():
        return srv.get("registered-models/alias", name=MODEL, alias="champion")["model_version"]

    def versions():
        return srv.get("model-versions/search", filter=f"name='{MODEL}'").get("model_versions", [])

    def tags(run_id):
        return {t["key"]: t["value"] for t in srv.run(run_id)["data"].get("tags", [])}

    def params(run_id):
        return {t["key"]: t["value"] for t in srv.run(run_id)["data"].get("params", [])}

    def metric_keys(run_id):
        return {m["key"] for m in srv.run(run_id)["data"].get("metrics", [])}

    # 1. No champion yet: bootstrapped.
    p = ci(srv)
    check(p.returncode == 0 and "bootstrapping" in p.stdout, f"run 1: exit {p.returncode}\n{p.stdout}{p.stderr}")
    r1 = run_id_file()
    champ = alias()
    check(champ["version"] == "1" and champ["run_id"] == r1 and champ["source"] == f"runs:/{r1}/model",
          f"run 1: alias {champ}, run {r1}")
    check(tags(r1).get("shardlearn.gate") == "passed", f"run 1 not tagged: {tags(r1)}")
    check({"val_auc", "val_logloss"} <= metric_keys(r1), f"run 1: no held-out metrics: {metric_keys(r1)}")
    check(float(params(r1).get("l2", "nan")) == 3e-3,
          f"run 1 did not use the config: {params(r1)}")
    cases, _ = junit(os.path.join(out, "junit.xml"))
    check(cases and all(v == "skipped" for v, _ in cases.values()), f"run 1 junit: {cases}")
    for f in ("model.json", "metrics.json", "summary.md"):
        check(os.path.getsize(os.path.join(out, f)) > 0, f"run 1: no {f}")
    with open(gh_output) as f:
        check(f.read() == f"run_id={r1}\n", "run 1: GITHUB_OUTPUT")

    # 2. Far too large a penalty: the gate fails, nothing moves.
    open(step_summary, "w").close()
    p = ci(srv, "--l2", "10")
    check(p.returncode == 1 and "not promoted" in p.stdout, f"run 2: exit {p.returncode}\n{p.stdout}{p.stderr}")
    r2 = run_id_file()
    check(r2 != r1 and float(params(r2)["l2"]) == 10.0, f"run 2: run {r2}, params {params(r2)}")
    cases, root = junit(os.path.join(out, "junit.xml"))
    check(cases.get("val_logloss <= +2%", ("",))[0] == "failure" and "val_logloss" in cases["val_logloss <= +2%"][1],
          f"run 2 junit: {cases}")
    check(cases.get("val_auc >= -0.005", ("",))[0] == "failure", f"run 2 junit: {cases}")
    check(root.get("failures") == "2", f"run 2 junit failures= {root.get('failures')}")
    champ = alias()
    check(champ["version"] == "1" and champ["run_id"] == r1 and len(versions()) == 1,
          f"run 2 moved the champion: {champ} {versions()}")
    check("shardlearn.gate" not in tags(r2), "run 2 was tagged")
    with open(step_summary) as f:
        ghs = f.read()
    check("FAIL" in ghs and "val_logloss" in ghs, f"run 2: step summary:\n{ghs}")

    # 3. A better penalty: passes, becomes version 2 and the champion.
    p = ci(srv, "--l2", "1e-3")
    check(p.returncode == 0 and "bootstrapping" not in p.stdout, f"run 3: exit {p.returncode}\n{p.stdout}{p.stderr}")
    r3 = run_id_file()
    champ = alias()
    check(champ["version"] == "2" and champ["run_id"] == r3 and champ["source"] == f"runs:/{r3}/model",
          f"run 3: alias {champ}, run {r3}")
    check(tags(r3).get("shardlearn.gate") == "passed", f"run 3 not tagged: {tags(r3)}")
    cases, _ = junit(os.path.join(out, "junit.xml"))
    check(len(cases) == 2 and all(v == "pass" for v, _ in cases.values()), f"run 3 junit: {cases}")

    # A merge request's run (SL_CI_PROMOTE=0): the same options pass the gate,
    # but nothing is registered, moved or tagged.
    p = ci(srv, "--l2", "1e-3", promote="0")
    r = run_id_file()
    check(p.returncode == 0 and "gate passed" in p.stdout and "promoted" not in p.stdout,
          f"no-promote: exit {p.returncode}\n{p.stdout}{p.stderr}")
    check(alias()["run_id"] == r3 and len(versions()) == 2 and "shardlearn.gate" not in tags(r),
          f"no-promote moved something: {alias()} {versions()}")

    # 4. Training fails: exit 2, the JUnit file says why, nothing moves and no
    # report of run 3 is left to be mistaken for this run's.
    bad = os.path.join(d, "bad.svm")
    with open(bad, "w") as f:
        f.write("+1 1:0.5\nnot-a-label 2:1\n")
    p = ci(srv, "--data", bad)
    check(p.returncode == 2 and "training failed" in p.stderr, f"run 4: exit {p.returncode}\n{p.stdout}{p.stderr}")
    cases, _ = junit(os.path.join(out, "junit.xml"))
    check(list(cases) == ["train"] and cases["train"][0] == "error" and f"{bad}:2" in cases["train"][1],
          f"run 4 junit: {cases}")
    check(not os.path.exists(os.path.join(out, "run_id")) and not os.path.exists(os.path.join(out, "model.json")),
          "run 4 left run 3's run_id or model")
    check(alias()["version"] == "2" and len(versions()) == 2, "run 4 changed the registry")
    check(len(glob.glob(os.path.join(out, "runs", "*"))) == 5, "one journal per run")

    # Bad arguments: exit 2 with one line, before anything runs.
    for args, want in ((["--np", "0"], "--np"), (["--rules", os.path.join(d, "none.txt")], "none.txt"),
                       (["--bogus"], "unknown option")):
        q = subprocess.run([SCRIPT, *args], capture_output=True, text=True, cwd=ROOT, timeout=60,
                           env=dict(mpi_env(), MLFLOW_TRACKING_URI=srv.url, SHARDLEARN=BIN))
        check(q.returncode == 2 and want in q.stderr and len(q.stderr.strip().splitlines()) == 1,
              f"{args}: exit {q.returncode} {q.stderr}")
    q = subprocess.run([SCRIPT], capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env={k: v for k, v in mpi_env({"SHARDLEARN": BIN}).items() if k != "MLFLOW_TRACKING_URI"})
    check(q.returncode == 2 and "MLFLOW_TRACKING_URI" in q.stderr, f"no server: {q.returncode} {q.stderr}")

finish()
