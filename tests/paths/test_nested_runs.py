"""Nested MLflow runs (README: Paths and cross-validation in MLflow), read
back from a real `mlflow server`: a path is a parent run with one child per
setting, a cv job a parent with a child per setting and under each a child
per fold, all tagged mlflow.parentRunId; the parent holds the chosen setting
and path_l2 / path_<metric> with step = the path index. With --l1 values
every setting's run (and fold's) has the l1 param beside l2 and is named by
both, and the parent has selected_l1, path_l1 and path_nnz_weights. The same structure
after an offline run delivered by mlflow-sync, and a second mlflow-sync adds
no run and no metric point."""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tracking"))
from mlflow_server import MlflowServer  # noqa: E402
from track_common import check, finish, run_dir, sync, train, uuid_of, workdir  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from common import breast_cancer_split  # noqa: E402

d = workdir()
tr, va, Xt, yt, Xv, yv = breast_cancer_split(d)
OFFLINE = {"MLFLOW_TRACKING_URI": ""}


def runs_in(srv, exp_name):
    exp = srv.get("experiments/get-by-name", experiment_name=exp_name)["experiment"]["experiment_id"]
    return srv.post("runs/search", {"experiment_ids": [exp], "max_results": 1000,
                                    "run_view_type": "ALL"}).get("runs", [])


def tags(run):
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def params(run):
    return {p["key"]: p["value"] for p in run["data"].get("params", [])}


def metrics(run):
    return {m["key"]: m["value"] for m in run["data"].get("metrics", [])}


def with_l1(met):
    return any(pt["l1"] > 0 for pt in met["path"]["points"])


def name_of(pt, l1):
    """A setting's run name: l2=LAMBDA, and l1=A when the job has an L1 penalty."""
    return f"l2={pt['l2']:.6g}" + (f" l1={pt['l1']:.6g}" if l1 else "")


def check_setting(run, pt, l1, what):
    """The run's l2 and l1 params are the point's (l1 only with an L1 penalty)."""
    pr = params(run)
    got = (float(pr.get("l2", "nan")), float(pr["l1"]) if "l1" in pr else None)
    check(got == (pt["l2"], pt["l1"] if l1 else None), f"{what}: params l2, l1 {got} vs {pt['l2']}, {pt['l1']}")


def check_parent_l1(parent, l1_spec, what):
    """The parent's l1 param: --l1 as given (a list or range), none without --l1."""
    got = params(parent).get("l1")
    check(got == l1_spec, f"{what}: the parent's l1 param {got!r}, want {l1_spec!r}")


def check_path(srv, exp, parent_uuid, met, what, l1_spec=None):
    runs = runs_in(srv, exp)
    pts = met["path"]["points"]
    parent = [r for r in runs if tags(r).get("shardlearn.run_uuid") == parent_uuid]
    check(len(parent) == 1, f"{what}: {len(parent)} parent runs")
    if not parent:
        return
    pid = parent[0]["info"]["run_id"]
    check_parent_l1(parent[0], l1_spec, what)
    kids = [r for r in runs if tags(r).get("mlflow.parentRunId") == pid]
    check(len(runs) == 1 + len(pts), f"{what}: {len(runs)} runs in the experiment, want 1 + {len(pts)}")
    check(sorted(int(params(k)["path_index"]) for k in kids) == list(range(len(pts))),
          f"{what}: children's path_index {[params(k).get('path_index') for k in kids]}")
    l1 = with_l1(met)
    for k in kids:
        i = int(params(k)["path_index"])
        check(k["info"]["status"] == "FINISHED", f"{what}: child {i} is {k['info']['status']}")
        check_setting(k, pts[i], l1, f"{what}: child {i}")
        if l1:
            check(metrics(k).get("nnz_weights") == pts[i]["nnz_weights"],
                  f"{what}: child {i} nnz_weights {metrics(k).get('nnz_weights')} vs {pts[i]['nnz_weights']}")
        check(abs(metrics(k).get("val_logloss", -1) - pts[i]["val_logloss"]) <= 1e-12,
              f"{what}: child {i} val_logloss {metrics(k).get('val_logloss')} vs {pts[i]['val_logloss']}")
        check(tags(k).get("mlflow.runName") == name_of(pts[i], l1), f"{what}: child name {tags(k).get('mlflow.runName')}")
    pp = params(parent[0])
    best = met["path"]["selected"]
    check(float(pp.get("selected_l2", "nan")) == pts[best]["l2"], f"{what}: selected_l2 {pp.get('selected_l2')}")
    check(float(pp.get("selected_l1", "nan")) == pts[best]["l1"] if l1 else "selected_l1" not in pp,
          f"{what}: selected_l1 {pp.get('selected_l1')}")
    keys = [("path_l2", "l2"), ("path_val_logloss", "val_logloss")]
    if l1:
        keys += [("path_l1", "l1"), ("path_nnz_weights", "nnz_weights")]
    for key, field in keys:
        h = sorted((p["step"], p["value"]) for p in srv.history(pid, key))
        check(h == [(i, pt[field]) for i, pt in enumerate(pts)], f"{what}: {key} history {h}")


def check_cv(srv, exp, parent_uuid, met, K, what, l1_spec=None):
    runs = runs_in(srv, exp)
    pts = met["path"]["points"]
    by_id = {r["info"]["run_id"]: r for r in runs}
    parent = [r for r in runs if tags(r).get("shardlearn.run_uuid") == parent_uuid]
    check(len(parent) == 1, f"{what}: {len(parent)} parent runs")
    if not parent:
        return
    pid = parent[0]["info"]["run_id"]
    check_parent_l1(parent[0], l1_spec, what)
    settings = [r for r in runs if tags(r).get("mlflow.parentRunId") == pid]
    check(len(runs) == 1 + len(pts) * (1 + K), f"{what}: {len(runs)} runs, want 1 + {len(pts)} x (1 + {K})")
    check(len(settings) == len(pts), f"{what}: {len(settings)} setting runs")
    l1 = with_l1(met)
    for s in settings:
        i = int(params(s)["path_index"])
        sid = s["info"]["run_id"]
        check_setting(s, pts[i], l1, f"{what}: setting {i}")
        check(tags(s).get("mlflow.runName") == name_of(pts[i], l1), f"{what}: setting name {tags(s).get('mlflow.runName')}")
        folds = [r for r in runs if tags(r).get("mlflow.parentRunId") == sid]
        check(sorted(int(params(f)["fold"]) for f in folds) == list(range(K)),
              f"{what}: setting {i} has folds {[params(f).get('fold') for f in folds]}")
        for f in folds:
            k = int(params(f)["fold"])
            check_setting(f, pts[i], l1, f"{what}: setting {i} fold {k}")
            check(tags(f).get("mlflow.runName") == f"{name_of(pts[i], l1)} fold {k}",
                  f"{what}: fold name {tags(f).get('mlflow.runName')}")
            check(metrics(f).get("val_logloss") == pts[i]["fold_scores"][k],
                  f"{what}: setting {i} fold {k}: {metrics(f).get('val_logloss')} vs {pts[i]['fold_scores'][k]}")
        h = sorted((p["step"], p["value"]) for p in srv.history(sid, "cv_val_logloss"))
        check(h == list(enumerate(pts[i]["fold_scores"])), f"{what}: setting {i} cv_val_logloss {h}")
        check(abs(metrics(s).get("cv_val_logloss_mean", -1) - pts[i]["mean"]) <= 1e-12, f"{what}: mean")
    check(set(by_id) >= {pid}, what)
    h = sorted((p["step"], p["value"]) for p in srv.history(pid, "path_cv_val_logloss"))
    check(h == [(i, pt["mean"]) for i, pt in enumerate(pts)], f"{what}: parent path_cv_val_logloss {h}")
    for key in ("l2", "l1") if l1 else ("l2",):
        h = sorted((p["step"], p["value"]) for p in srv.history(pid, f"path_{key}"))
        check(h == [(i, pt[key]) for i, pt in enumerate(pts)], f"{what}: parent path_{key} {h}")
    pp = params(parent[0])
    best = met["path"]["selected"]
    check(float(pp.get("selected_l2", "nan")) == pts[best]["l2"]
          and (float(pp.get("selected_l1", "nan")) == pts[best]["l1"] if l1 else "selected_l1" not in pp),
          f"{what}: selected_l2/l1 {pp.get('selected_l2')}/{pp.get('selected_l1')}")


with MlflowServer() as srv:
    def job(tag, extra, env=None, uri=True):
        td, mj = os.path.join(d, tag), os.path.join(d, tag + ".metrics.json")
        args = ["--data", tr, "--tracking-dir", td, "--metrics-out", mj, "--experiment", tag,
                "--quiet", "--tol", "1e-8"] + (["--tracking-uri", srv.url] if uri else []) + extra
        p = train(2, args, env=env)
        check(p.returncode == 0, f"{tag}: exit {p.returncode}: {p.stderr[-2000:]}")
        return run_dir(td), json.load(open(mj))

    rd, met = job("path", ["--l2", "1e-1:1e-3:3", "--validation", va, "--models-dir", os.path.join(d, "md")])
    check_path(srv, "path", uuid_of(rd), met, "live path")
    kids = glob.glob(os.path.join(rd, "children", "*"))
    check(len(kids) == 3, f"live path: {len(kids)} child run directories")

    rd, met = job("cv", ["--l2", "1e-1,1e-2", "--cv", "3"])
    check_cv(srv, "cv", uuid_of(rd), met, 3, "live cv")

    # --l1 lists: every run of a setting carries l1 beside l2.
    rd, met = job("l1path", ["--l2", "1e-2", "--l1", "1e-1:1e-3:3", "--validation", va])
    check(len(met["path"]["points"]) == 3, "l1 path: 3 settings")
    check_path(srv, "l1path", uuid_of(rd), met, "live l1 path", l1_spec="1e-1:1e-3:3")
    rd, met = job("l1cv", ["--l2", "1e-1,1e-2", "--l1", "1e-2,1e-3", "--cv", "2"])
    check(len(met["path"]["points"]) == 4, "l1 cv: a 2 x 2 grid")
    check_cv(srv, "l1cv", uuid_of(rd), met, 2, "live l1 cv", l1_spec="1e-2,1e-3")

    # Offline: journals only, then mlflow-sync of the parent's directory, twice.
    rd, met = job("cvoff", ["--l2", "1e-1,1e-2", "--cv", "3"], env=OFFLINE, uri=False)
    srv.post("experiments/create", {"name": "cvoff"})
    for attempt in (1, 2):
        p = sync(rd, srv.url)
        check(p.returncode == 0, f"mlflow-sync {attempt}: exit {p.returncode}: {p.stderr[-2000:]}")
        check_cv(srv, "cvoff", uuid_of(rd), met, 3, f"offline cv, after mlflow-sync {attempt}")

    # A server that is not there: one warning, every child kept in its journal, and
    # mlflow-sync delivers the tree later.
    from mlflow_server import free_port  # noqa: E402
    td, mj = os.path.join(d, "down"), os.path.join(d, "down.metrics.json")
    p = train(2, ["--data", tr, "--validation", va, "--l2", "1e-1:1e-3:3", "--tracking-dir", td,
                  "--metrics-out", mj, "--experiment", "down", "--quiet", "--tol", "1e-8",
                  "--tracking-uri", f"http://127.0.0.1:{free_port()}", "--tracking-flush-timeout", "2"])
    check(p.returncode == 0, f"server down: exit {p.returncode}: {p.stderr[-2000:]}")
    check(p.stderr.count("the remaining child runs stay in their journals") == 1,
          f"server down: one warning for the children: {p.stderr[-2000:]}")
    rd = run_dir(td)
    check(len(glob.glob(os.path.join(rd, "children", "*", "journal.jsonl"))) == 3, "server down: 3 child journals")
    srv.post("experiments/create", {"name": "down"})
    p = sync(rd, srv.url)
    check(p.returncode == 0, f"server down, mlflow-sync: exit {p.returncode}: {p.stderr[-2000:]}")
    check_path(srv, "down", uuid_of(rd), json.load(open(mj)), "server down, then mlflow-sync")

finish()
