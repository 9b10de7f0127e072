"""A run tracked live in a real `mlflow server`: the run exists and is
FINISHED with an end time; every param equals what was passed; tags say who,
what and where; each metric's history is exactly the one in metrics.json;
non-finite metrics are stored as NaN; model.json and metrics.json download
byte-identical; --register-model makes a model version from runs:/<id>/model. MLFLOW_RUN_ID
resumes a run; a run that fails is FAILED with its error; https works with
the server's certificate or insecure TLS. Two runs that create the same new
experiment at once share it."""
import json
import os
import shutil
import subprocess

from fault_proxy import FaultProxy
from mlflow_server import MlflowServer
from track_common import (EXAMPLES, check, check_run_matches, finish, run_dir, self_signed_cert, state,
                          train, train_cmd, mpi_env, workdir)

d = workdir()
train_svm = os.path.join(EXAMPLES, "train.svm")
# A validation set with only positive rows: its AUC is undefined (NaN).
one_class = os.path.join(d, "pos.svm")
with open(os.path.join(EXAMPLES, "test.svm")) as f, open(one_class, "w") as g:
    g.writelines(l for l in f if l.startswith("+1"))

with MlflowServer() as srv:
    td = os.path.join(d, "runs")
    model, metrics = os.path.join(d, "model.json"), os.path.join(d, "metrics.json")
    args = ["--data", train_svm, "--validation", one_class, "--l2", "1e-3", "--optimizer", "lbfgs",
            "--tol", "1e-9", "--max-iter", "300", "--tracking-uri", srv.url, "--experiment", "tracking-test",
            "--run-name", "first", "--tracking-dir", td, "--tracking-flush-timeout", "120", "--register-model", "example-model",
            "--model-out", model, "--metrics-out", metrics, "--quiet"]
    p = train(2, args, env={"MLFLOW_TRACKING_URI": ""})
    check(p.returncode == 0, f"train failed: {p.stderr}")
    rd = run_dir(td)
    st = state(rd)
    run = check_run_matches(srv, st["run_id"], metrics, "live run")
    info = run["info"]
    check(info["status"] == "FINISHED" and int(info.get("end_time", 0)) > 0, f"status {info['status']}")
    check(info.get("run_name") == "first", f"run name {info.get('run_name')}")
    exp = srv.get("experiments/get", experiment_id=info["experiment_id"])["experiment"]
    check(exp["name"] == "tracking-test", f"experiment {exp['name']}")
    params = {x["key"]: x["value"] for x in run["data"]["params"]}
    want = {"optimizer": "lbfgs", "l2": "0.001", "tol": "1.0000000000000001e-09", "max_iter": "300",
            "ranks": "2", "data": train_svm, "format": "libsvm", "n_rows": "4000", "loss": "logistic",
            "fit_intercept": "true", "validation": one_class}
    for k, v in want.items():
        check(params.get(k) == v, f"param {k} = {params.get(k)!r}, want {v!r}")
    for k in ("n_features", "nnz", "seed", "batch_size", "lr", "sync_every", "epochs"):
        check(k in params, f"param {k} missing")
    tags = {x["key"]: x["value"] for x in run["data"]["tags"]}
    check(tags.get("mlflow.runName") == "first", "tag mlflow.runName")
    check(tags.get("mlflow.source.type") == "LOCAL" and tags.get("mlflow.source.name", "").endswith("shardlearn"),
          f"source tags {tags}")
    check(tags.get("mlflow.user"), "tag mlflow.user")
    check(tags.get("shardlearn.mpi_ranks") == "2" and tags.get("shardlearn.hosts"), "rank/host tags")
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        check(tags.get("mlflow.source.git.commit") == head.stdout.strip(), f"git commit tag {tags.get('mlflow.source.git.commit')}")
    # A NaN metric (AUC of a one-class validation set) arrives as NaN.
    auc = srv.history(st["run_id"], "val_auc")
    check(len(auc) > 0 and all(str(p["value"]).lower() == "nan" for p in auc), f"val_auc history {auc[:2]}")
    with open(model, "rb") as f:
        check(srv.artifact(run, "model/model.json") == f.read(), "model artifact differs")
    with open(metrics, "rb") as f:
        check(srv.artifact(run, "metrics.json") == f.read(), "metrics artifact differs")
    mv = srv.get("model-versions/search", filter="name='example-model'").get("model_versions", [])
    check(len(mv) == 1 and mv[0]["source"] == f"runs:/{st['run_id']}/model", f"model versions {mv}")
    check("secret" not in open(os.path.join(rd, "journal.jsonl")).read(), "journal")

    # MLFLOW_RUN_ID resumes that run: it is active again, then FINISHED; its
    # name and params stay, a changed param goes in a tag, metrics are appended.
    first_points = len(srv.history(st["run_id"], "objective"))
    m2 = os.path.join(d, "resumed-metrics.json")
    p = train(1, ["--data", train_svm, "--l2", "1e-3", "--optimizer", "lbfgs", "--max-iter", "5",
                  "--tracking-uri", srv.url, "--tracking-dir", os.path.join(d, "resumed"),
                  "--metrics-out", m2, "--tracking-flush-timeout", "120", "--quiet"], env={"MLFLOW_RUN_ID": st["run_id"]})
    check(p.returncode == 0 and "resumed run" in p.stderr, f"resume: {p.returncode} {p.stderr}")
    check(state(run_dir(os.path.join(d, "resumed")))["run_id"] == st["run_id"], "resume: another run id")
    run = srv.run(st["run_id"])
    params = {x["key"]: x["value"] for x in run["data"]["params"]}
    tags = {x["key"]: x["value"] for x in run["data"]["tags"]}
    check(run["info"]["status"] == "FINISHED" and run["info"].get("run_name") == "first",
          f"resume: status {run['info']['status']}, name {run['info'].get('run_name')}")
    check(params.get("max_iter") == "300" and tags.get("shardlearn.resumed.max_iter") == "5",
          f"resume: max_iter param {params.get('max_iter')}, tag {tags.get('shardlearn.resumed.max_iter')}")
    with open(m2) as f:
        second = json.load(f)["history"]
    check(len(srv.history(st["run_id"], "objective")) == first_points + len(second),
          "resume: objective points not appended")

    # A run that fails on its data is recorded as FAILED with the error as a tag.
    bad = os.path.join(d, "bad.svm")
    with open(bad, "w") as f:
        f.write("+1 1:0.5 2:1\n-1 3:1 2:0.5\n")
    p = train(2, ["--data", bad, "--tracking-uri", srv.url, "--tracking-dir", os.path.join(d, "failed"),
                  "--tracking-flush-timeout", "120", "--quiet"])
    st_bad = state(run_dir(os.path.join(d, "failed")))
    run = srv.run(st_bad["run_id"])
    tags = {x["key"]: x["value"] for x in run["data"]["tags"]}
    check(p.returncode != 0 and run["info"]["status"] == "FAILED" and int(run["info"].get("end_time", 0)) > 0,
          f"failed run: exit {p.returncode}, status {run['info']['status']}")
    check("bad.svm:2" in tags.get("shardlearn.error", ""), f"failed run: error tag {tags.get('shardlearn.error')!r}")

    # https: trusted through MLFLOW_TRACKING_SERVER_CERT_PATH or MLFLOW_TRACKING_INSECURE_TLS;
    # an untrusted certificate is one clear error, not a retry loop.
    cert, key = self_signed_cert(d)
    with FaultProxy(srv.url, tls=(cert, key)) as px:
        for name, env in (("cert path", {"MLFLOW_TRACKING_SERVER_CERT_PATH": cert}),
                          ("insecure", {"MLFLOW_TRACKING_INSECURE_TLS": "true"}),
                          ("untrusted", {})):
            td_tls = os.path.join(d, "tls-" + name.replace(" ", "-"))
            p = train(1, ["--data", train_svm, "--tracking-uri", px.url, "--tracking-dir", td_tls,
                          "--tracking-flush-timeout", "120", "--quiet"], env=env)
            sent = state(run_dir(td_tls)).get("finished_sent") if os.path.exists(
                os.path.join(run_dir(td_tls), "state.json")) else False
            if name == "untrusted":
                errs = [l for l in p.stderr.splitlines() if "MLFLOW_TRACKING_SERVER_CERT_PATH" in l]
                check(p.returncode == 0 and not sent and len(errs) == 1, f"tls {name}: {p.stderr!r}")
            else:
                check(p.returncode == 0 and sent, f"tls {name}: not delivered {p.stderr}")

    # Two runs creating one new experiment at the same moment.
    procs = []
    for i in range(2):
        a = ["--data", train_svm, "--tracking-uri", srv.url, "--experiment", "born-twice",
             "--tracking-dir", os.path.join(d, f"twin{i}"), "--tracking-flush-timeout", "120", "--quiet"]
        procs.append(subprocess.Popen(train_cmd(1, a), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=mpi_env()))
    for p in procs:
        out, err = p.communicate(timeout=300)
        check(p.returncode == 0 and err == "", f"twin run: exit {p.returncode}: {err}")
    exps = [state(run_dir(os.path.join(d, f"twin{i}")))["experiment_id"] for i in range(2)]
    check(exps[0] == exps[1], f"twins landed in experiments {exps}")
    found = srv.post("runs/search", {"experiment_ids": [exps[0]]}).get("runs", [])
    check(len(found) == 2 and all(r["info"]["status"] == "FINISHED" for r in found), f"twin runs {len(found)}")
    # Both linked to the one data set, which two inserts at once may have raced to create.
    for r in found:
        names = [i["dataset"]["name"] for i in srv.run(r["info"]["run_id"]).get("inputs", {}).get("dataset_inputs", [])]
        check(names == ["train.svm"], f"twin run {r['info']['run_id']}: data sets {names}")
# The commit tag from a linked worktree (`git worktree add`: .git is a file
# naming the gitdir, the branches are in the main repository's), with its
# branch in a loose ref and then only in packed-refs. No server: the journal.
def git(*a, cwd):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *a], cwd=cwd,
                          capture_output=True, text=True, check=True).stdout.strip()


if shutil.which("git"):
    repo, wt = os.path.join(d, "repo"), os.path.join(d, "wt")
    os.makedirs(os.path.join(repo, "x"))
    git("init", "-q", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "one", cwd=repo)
    git("worktree", "add", "-q", "-b", "side", wt, cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "two", cwd=wt)
    os.makedirs(os.path.join(wt, "sub"))
    for packed in (False, True):
        if packed:
            git("pack-refs", "--all", cwd=repo)
        td = os.path.join(d, f"wt-runs-{packed}")
        p = subprocess.run(train_cmd(1, ["--data", train_svm, "--max-iter", "3", "--quiet", "--tracking-dir", td]),
                           cwd=os.path.join(wt, "sub"), capture_output=True, text=True, env=mpi_env())
        check(p.returncode == 0, f"worktree run: {p.stderr}")
        with open(os.path.join(run_dir(td), "journal.jsonl")) as f:
            tags = {r["key"]: r["value"] for r in map(json.loads, f) if r.get("type") == "tag"}
        want = git("rev-parse", "HEAD", cwd=wt)
        check(tags.get("mlflow.source.git.commit") == want and want != git("rev-parse", "HEAD", cwd=repo),
              f"worktree commit tag {tags.get('mlflow.source.git.commit')}, want {want} (packed refs: {packed})")
else:
    print("skipped the worktree commit tag: no git")
finish()
