"""`train --config FILE` and a real `mlflow server`:
  1. the same options as a YAML and as a JSON file (tracking settings in the
     file too) give the same run: the same model bytes, the same params, the
     same config.json artifact and shardlearn.config_digest tag;
  2. the digest is the SHA-256 of the config.json the server stores, which
     holds every option's final value (a seed beyond 2^53 exactly) and equals
     metrics.json's "config"; the tracking URI's user:password never reaches
     it, nor metrics.json;
  3. with the server down during the run, config.json and the digest wait in
     the journal and arrive with mlflow-sync."""
import glob
import hashlib
import json
import os

from mlflow_server import MlflowServer, free_port
from track_common import EXAMPLES, check, finish, state, sync, train, workdir

d = workdir()
TRAIN, TEST = os.path.join(EXAMPLES, "train.svm"), os.path.join(EXAMPLES, "test.svm")
SECRET = "cfg-Secret-9f3a"
SEED = 9000000000000000001  # beyond 2^53: a double would round it


def runs_in(td):
    return set(glob.glob(os.path.join(td, "*")))


def options(uri, td):
    return {"data": TRAIN, "validation": TEST, "optimizer": "lbfgs", "l2": 0.001, "max-iter": 60,
            "seed": SEED, "quiet": True, "tracking-uri": uri, "experiment": "config-test",
            "tracking-dir": td, "tracking-flush-timeout": 120,
            "model-out": os.path.join(d, "model.json"), "metrics-out": os.path.join(d, "metrics.json")}


def as_yaml(opts):
    """YAML by hand (no YAML library in the test venv): plain numbers and
    booleans, quoted strings."""
    lines = []
    for k, v in opts.items():
        lines.append(f"{k}: {json.dumps(v) if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else v}")
    return "# the same options as run.json\n" + "\n".join(lines) + "\n"


def read(path):
    with open(path, "rb") as f:
        return f.read()


with MlflowServer() as srv:
    td = os.path.join(d, "runs")
    uri = srv.url.replace("http://", f"http://cfguser:{SECRET}@")
    opts = options(uri, td)
    yml, jsn = os.path.join(d, "run.yaml"), os.path.join(d, "run.json")
    with open(yml, "w") as f:
        f.write(as_yaml(opts))
    with open(jsn, "w") as f:
        json.dump(opts, f, indent=2)

    results = []
    for path in (yml, jsn):
        before = runs_in(td)
        p = train(2, ["--config", path], env={"MLFLOW_TRACKING_URI": ""})
        check(p.returncode == 0, f"{path}: exit {p.returncode}: {p.stderr[-2000:]}")
        new = sorted(runs_in(td) - before)
        if p.returncode != 0 or len(new) != 1:
            check(False, f"{path}: run directories {new}")
            continue
        run = srv.run(state(new[0])["run_id"])
        results.append({"run": run, "model": read(opts["model-out"]), "metrics": read(opts["metrics-out"]),
                        "config": srv.artifact(run, "config.json"),
                        "params": {x["key"]: x["value"] for x in run["data"]["params"]},
                        "tags": {x["key"]: x["value"] for x in run["data"]["tags"]}})

    if len(results) == 2:
        y, j = results
        check(y["run"]["info"]["status"] == "FINISHED" and j["run"]["info"]["status"] == "FINISHED", "status")
        check(y["model"] == j["model"], "YAML and JSON configs trained different models")
        check(y["params"] == j["params"], f"params differ: {y['params']} vs {j['params']}")
        check(y["config"] == j["config"], "config.json differs between the YAML and the JSON run")
        for name, r in (("yaml", y), ("json", j)):
            digest = r["tags"].get("shardlearn.config_digest")
            check(digest == hashlib.sha256(r["config"]).hexdigest(),
                  f"{name}: digest tag {digest} is not the sha256 of the stored config.json")
            conf = json.loads(r["config"])
            check(conf == json.loads(r["metrics"])["config"], f"{name}: config.json != metrics.json config")
            check(SECRET.encode() not in r["config"] and SECRET.encode() not in r["metrics"],
                  f"{name}: the URI's password is in config.json or metrics.json")
            want = dict(opts, **{"tracking-uri": srv.url})
            for k, v in want.items():
                check(conf.get(k) == v and type(conf.get(k)) is type(v),
                      f"{name}: config.json {k} = {conf.get(k)!r}, want {v!r}")
            check(conf["no-intercept"] is False and conf["format"] == "auto" and conf["run-name"] is None,
                  f"{name}: defaults in config.json {conf}")
            check(r["params"].get("seed") == str(SEED) and r["params"].get("l2") == "0.001",
                  f"{name}: params {r['params']}")

    # 3. The server down for the run: config.json and the tag wait in the journal.
    dead = f"http://127.0.0.1:{free_port()}"
    td2 = os.path.join(d, "offline")
    p = train(1, ["--config", yml, "--tracking-uri", dead, "--tracking-dir", td2,
                  "--tracking-flush-timeout", "1"], env={"MLFLOW_TRACKING_URI": ""})
    check(p.returncode == 0, f"offline run: exit {p.returncode}: {p.stderr[-2000:]}")
    rd = sorted(runs_in(td2))
    if p.returncode == 0 and len(rd) == 1:
        s = sync(rd[0], srv.url)
        check(s.returncode == 0, f"mlflow-sync: {s.stderr[-2000:]}")
        run = srv.run(state(rd[0])["run_id"])
        conf = srv.artifact(run, "config.json")
        tags = {x["key"]: x["value"] for x in run["data"]["tags"]}
        check(tags.get("shardlearn.config_digest") == hashlib.sha256(conf).hexdigest(),
              "offline run: digest tag and config.json do not match after mlflow-sync")
        check(json.loads(conf).get("tracking-uri") == dead, f"offline run: config.json {conf[:200]}")

finish()
