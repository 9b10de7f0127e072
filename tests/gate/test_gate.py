"""`shardlearn gate` against a real `mlflow server`, with runs made by
`shardlearn train` (1 and 3 ranks, and a different --l2):

* every kind of source (metrics.json, runs:/, models:/NAME/VERSION,
  models:/NAME@ALIAS), and a metrics.json that reads exactly as its run on
  the server (same keys, same values);
* every rule form (absolute and relative, >= and <=, optional) on both sides
  of its limit, relative limits with a negative baseline, NaN, a missing
  metric; the verdicts read back from the JUnit XML;
* exit 2 for an unreachable server (the JUnit file holds the error), a
  source that does not exist, a bad rule and a bad rules file (naming
  file:line);
* the Markdown summary, and $GITHUB_STEP_SUMMARY appended to;
* --promote: bootstrapping (no alias; no registered model), a pass that
  registers a new version and moves the alias, a failure that changes
  nothing; alias, versions and tags read back from the server;
* --same-model: 1 and 3 ranks agree at 1e-6, another --l2 does not."""
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tracking"))
from mlflow_server import MlflowServer  # noqa: E402
from track_common import BIN, EXAMPLES, check, finish, mpi_env, run_dir, state, train, workdir  # noqa: E402

d = workdir()
TRAIN, TEST = os.path.join(EXAMPLES, "train.svm"), os.path.join(EXAMPLES, "test.svm")


def gate(*args, env=None, timeout=120):
    e = mpi_env(env)
    e.pop("GITHUB_STEP_SUMMARY", None)
    e.update(env or {})
    return subprocess.run([BIN, "gate"] + [str(a) for a in args], capture_output=True, text=True,
                          env=e, timeout=timeout)


def write_json(name, obj):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


def junit_verdicts(path):
    """{test case name: 'pass' | 'fail' | 'skipped'} from a JUnit file, and its root."""
    root = ET.parse(path).getroot()
    out = {}
    for tc in root.iter("testcase"):
        out[tc.get("name")] = ("fail" if tc.find("failure") is not None else
                               "skipped" if tc.find("skipped") is not None else "pass")
    return out, root


with MlflowServer() as srv:
    common = ["--data", TRAIN, "--validation", TEST, "--tracking-uri", srv.url, "--experiment", "gate",
              "--tracking-flush-timeout", "120", "--quiet"]
    runs = {}
    for name, np_, extra in (("a", 1, ["--register-model", "ctr"]), ("b", 3, []), ("c", 1, ["--l2", "1e-2"])):
        td = os.path.join(d, "runs-" + name)
        p = train(np_, common + extra + ["--tracking-dir", td, "--model-out", os.path.join(d, f"m{name}.json"),
                                         "--metrics-out", os.path.join(d, f"x{name}.json")],
                  env={"MLFLOW_TRACKING_URI": ""})
        if p.returncode != 0:
            check(False, f"train {name} failed: {p.stderr}")
            finish()
        runs[name] = state(run_dir(td))["run_id"]
    xa, xc = os.path.join(d, "xa.json"), os.path.join(d, "xc.json")
    uri = ["--tracking-uri", srv.url]

    # A metrics.json and its own run on the server read the same, key for key:
    # each rule holds with no tolerance either way (timings: metrics.json keeps 6 decimals).
    exact = ["objective", "train_logloss", "grad_norm", "accuracy", "val_logloss", "val_accuracy", "val_auc",
             "final_objective", "final_train_logloss", "final_accuracy", "iterations", "final_val_logloss",
             "final_val_accuracy", "final_val_auc", "seconds_per_iter", "allreduce_seconds"]
    rules = [f"{k} {op} 0" for k in exact for op in (">=", "<=")]
    rules += [f"time_{t}_seconds {op} {s}0.0000006" for t in ("load", "compute", "allreduce", "total")
              for op, s in ((">=", "-"), ("<=", "+"))]
    p = gate("--baseline", xa, "--candidate", f"runs:/{runs['a']}", *uri, *sum((["--rule", r] for r in rules), []))
    check(p.returncode == 0, f"metrics.json vs its run: exit {p.returncode}\n{p.stdout}{p.stderr}")
    # and the other way round, through the registered version (models:/NAME/VERSION).
    p = gate("--baseline", "models:/ctr/1", "--candidate", xa, *uri, "--rule", "val_auc <= 0", "--rule", "val_auc >= 0")
    check(p.returncode == 0 and f"run {runs['a']}" in p.stdout, f"models:/ctr/1 vs metrics.json: {p.returncode}\n{p.stdout}{p.stderr}")

    # Every rule form on both sides of its limit: baseline a, candidate c (--l2 1e-2).
    with open(xa) as f:
        ma = json.load(f)
    with open(xc) as f:
        mc = json.load(f)
    b, c = ma["validation"]["logloss"], mc["validation"]["logloss"]
    ba, ca = ma["validation"]["auc"], mc["validation"]["auc"]
    check(b != c and ba != ca, "runs a and c should differ")
    diff, rel = c - b, 100 * (c - b) / abs(b)
    dauc, rauc = ca - ba, 100 * (ca - ba) / abs(ba)
    want = {}
    for metric, dd, rr in (("final_val_logloss", diff, rel), ("final_val_auc", dauc, rauc)):
        for op in (">=", "<="):
            for kind, v in (("abs", dd), ("rel", rr)):
                for step in (0.999, 1.001):
                    tol = v * step if v > 0 else v / step   # just inside / just outside the change
                    # candidate = baseline + v; the limit is baseline + tol.
                    ok = (v >= tol) if op == ">=" else (v <= tol)
                    rule = f"{metric} {op} {tol:+.9g}{'%' if kind == 'rel' else ''}"
                    want[rule] = "pass" if ok else "fail"
    want["no_such_metric >= 0 optional"] = "skipped"
    junit = os.path.join(d, "forms.xml")
    p = gate("--baseline", xa, "--candidate", xc, "--junit", junit, *sum((["--rule", r] for r in want), []))
    got, root = junit_verdicts(junit)
    check(got == want, f"verdicts {got} want {want}")
    n_fail = sum(v == "fail" for v in want.values())
    check(p.returncode == (1 if n_fail else 0), f"forms: exit {p.returncode}")
    check(root.tag == "testsuites" and root.get("tests") == str(len(want)) and root.get("failures") == str(n_fail)
          and root.get("skipped") == "1", f"junit counts {root.attrib}")
    for tc in root.iter("testcase"):
        fl = tc.find("failure")
        check(fl is None or tc.get("name").split()[0] in fl.get("message", ""), f"failure message {ET.tostring(tc)}")

    # Hand-made sides: a negative baseline, NaN (null), nesting, a missing
    # metric, a name that needs escaping in XML.
    odd = 'a&b <"q">'
    base = write_json("base.json", {"score": -10.0, "nested": {"x": 1.0}, "nan": 1.0, "only_base": 3, odd: 1})
    cand = write_json("cand.json", {"score": -9.95, "nested": {"x": 1.0}, "nan": None, odd: 2})
    cases = {"score <= +1%": "pass",      # limit -10 + 1% of 10 = -9.9
             "score <= +0.4%": "fail",    # limit -9.96
             "score >= -1%": "pass",      # limit -10.1
             "score >= +1%": "fail",      # limit -9.9: the candidate must have risen by 1% of |baseline|
             "nested.x <= 0": "pass",
             "nan <= +100%": "fail",      # NaN breaks a rule
             "nan <= +100% optional": "fail",  # optional forgives missing, not NaN
             "only_base >= 0 optional": "skipped",
             f"{odd} >= +1": "pass"}
    junit = os.path.join(d, "odd.xml")
    p = gate("--baseline", base, "--candidate", cand, "--junit", junit, *sum((["--rule", r] for r in cases), []))
    got, _ = junit_verdicts(junit)
    check(got == cases, f"hand-made verdicts {got}")
    check(p.returncode == 1, f"hand-made: exit {p.returncode}")
    p = gate("--baseline", base, "--candidate", cand, "--rule", "only_base >= 0")
    check(p.returncode == 1 and "missing on the candidate" in p.stdout, f"missing metric: {p.returncode}\n{p.stdout}")

    # Rules file: comments, blank lines; a bad line is file:line, exit 2.
    rf = os.path.join(d, "rules.txt")
    with open(rf, "w") as f:
        f.write("# regression rules\n\nscore >= -1%   # may drop 1%\nnested.x <= 0\n")
    p = gate("--baseline", base, "--candidate", cand, "--rules", rf)
    check(p.returncode == 0 and sum(l.rstrip().endswith(" pass") for l in p.stdout.splitlines()) == 2, f"rules file: {p.returncode}\n{p.stdout}{p.stderr}")
    with open(rf, "a") as f:
        f.write("score => 0\n")
    p = gate("--baseline", base, "--candidate", cand, "--rules", rf)
    check(p.returncode == 2 and f"{rf}:5:" in p.stderr and p.stdout == "", f"bad rules file: {p.returncode} {p.stderr}")
    for bad in ("score >= ", "score >= 1 maybe", ">= 1", "score >= abc", "score >= 1%%", "score == 1"):
        p = gate("--baseline", base, "--candidate", cand, "--rule", bad)
        check(p.returncode == 2 and "--rule" in p.stderr, f"bad rule {bad!r}: {p.returncode} {p.stderr}")
    p = gate("--baseline", base, "--candidate", cand)
    check(p.returncode == 2, f"no rules: {p.returncode}")

    # Sides that cannot be read: exit 2, not 1.
    # The JUnit file still tells CI why (one errored test case).
    t0 = time.time()
    ju = os.path.join(d, "unreachable.xml")
    p = gate("--baseline", f"runs:/{runs['a']}", "--candidate", cand, "--rule", "score >= 0",
             "--tracking-uri", "http://127.0.0.1:9", "--timeout", "3", "--junit", ju)
    check(p.returncode == 2 and "127.0.0.1:9" in p.stderr and time.time() - t0 < 30,
          f"unreachable server: {p.returncode} {p.stderr} after {time.time() - t0:.1f}s")
    root = ET.parse(ju).getroot()
    errs = [e.get("message") for e in root.iter("error")]
    check(root.get("errors") == "1" and len(errs) == 1 and "127.0.0.1:9" in errs[0], f"unreachable junit {errs}")
    for src in ("runs:/0123456789abcdef", "models:/ctr/99", "models:/ctr@nobody", "models:/nobody/1",
                os.path.join(d, "missing.json"), TRAIN):
        p = gate("--baseline", src, "--candidate", xa, "--rule", "val_auc >= 0", *uri)
        check(p.returncode == 2 and p.stderr.count("\n") == 1, f"baseline {src}: {p.returncode} {p.stderr}")

    # Markdown summary, and GitHub's step summary appended to.
    md, gh = os.path.join(d, "summary.md"), os.path.join(d, "step-summary.md")
    with open(gh, "w") as f:
        f.write("earlier step\n")
    for _ in range(2):
        p = gate("--baseline", base, "--candidate", cand, "--rule", "score >= -1%", "--rule", "score <= +0.4%",
                 "--summary", md, env={"GITHUB_STEP_SUMMARY": gh})
        check(p.returncode == 1, f"summary run: {p.returncode} {p.stderr}")
    with open(md) as f:
        text = f.read()
    rows = [l for l in text.splitlines() if l.startswith("| score")]
    check(text.startswith("### shardlearn gate: FAILED (1 of 2") and len(rows) == 2 and "| pass |" in rows[0]
          and "| FAIL |" in rows[1] and "| metric | baseline | candidate | change | rule | verdict |" in text,
          f"summary:\n{text}")
    with open(gh) as f:
        ghs = f.read()
    check(ghs == "earlier step\n" + text + text, f"GITHUB_STEP_SUMMARY:\n{ghs}")

    # --promote. No alias yet: the first candidate becomes the champion
    # (run a is already version 1 of ctr: no second version of it).
    def tags(run_id):
        return {t["key"]: t["value"] for t in srv.run(run_id)["data"].get("tags", [])}

    def versions(name):
        return srv.get("model-versions/search", filter=f"name='{name}'").get("model_versions", [])

    def alias(name, a):
        return srv.get("registered-models/alias", name=name, alias=a)["model_version"]

    champ = ["--baseline", "models:/ctr@champion", "--promote", "ctr@champion", *uri]
    p = gate(*champ, "--candidate", f"runs:/{runs['a']}", "--rule", "val_auc >= -0.002")
    check(p.returncode == 0 and "bootstrapping" in p.stdout, f"bootstrap: {p.returncode}\n{p.stdout}{p.stderr}")
    check(alias("ctr", "champion")["version"] == "1" and len(versions("ctr")) == 1, f"bootstrap alias {versions('ctr')}")
    check(tags(runs["a"]).get("shardlearn.gate") == "passed", "bootstrap: run a not tagged")
    # Run b (3 ranks, the same model): passes against the champion, becomes version 2.
    p = gate(*champ, "--candidate", f"runs:/{runs['b']}", "--rule", "val_auc >= -0.002", "--rule", "val_logloss <= +1%")
    check(p.returncode == 0 and "version 2" in p.stdout and "bootstrapping" not in p.stdout,
          f"promote b: {p.returncode}\n{p.stdout}{p.stderr}")
    mv = alias("ctr", "champion")
    check(mv["version"] == "2" and mv["run_id"] == runs["b"] and mv["source"] == f"runs:/{runs['b']}/model",
          f"alias after b: {mv}")
    check(tags(runs["b"]).get("shardlearn.gate") == "passed", "run b not tagged")
    # Run c breaks a rule: exit 1, nothing moves.
    rule_c = "final_val_logloss <= -100%" if c > b else "final_val_logloss >= +100%"
    p = gate(*champ, "--candidate", f"runs:/{runs['c']}", "--rule", rule_c)
    check(p.returncode == 1 and "not promoted" in p.stdout, f"promote c: {p.returncode}\n{p.stdout}")
    check(alias("ctr", "champion")["version"] == "2" and len(versions("ctr")) == 2, "c moved the alias")
    check("shardlearn.gate" not in tags(runs["c"]), "failed run c was tagged")
    # No registered model at all; the candidate a model version.
    p = gate("--baseline", xa, "--candidate", "models:/ctr/1", "--promote", "fresh@champion", "--rule", "val_auc >= 0", *uri)
    check(p.returncode == 0 and "bootstrapping" in p.stdout, f"fresh: {p.returncode}\n{p.stdout}{p.stderr}")
    fv = alias("fresh", "champion")
    check(fv["version"] == "1" and fv["source"] == f"runs:/{runs['a']}/model", f"fresh alias {fv}")
    p = gate("--baseline", xa, "--candidate", xa, "--promote", "ctr@champion", "--rule", "val_auc >= 0", *uri)
    check(p.returncode == 2 and "--promote" in p.stderr, f"promote a file: {p.returncode} {p.stderr}")

    # --same-model: 1 and 3 ranks agree; another --l2 does not; other n_features does not.
    ma_, mb_, mc_ = (os.path.join(d, f"m{x}.json") for x in "abc")
    p = gate("--same-model", ma_, mb_, "--tol", "1e-6")
    check(p.returncode == 0 and p.stdout.startswith("same model"), f"same-model 1 vs 3 ranks: {p.returncode}\n{p.stdout}{p.stderr}")
    p = gate("--same-model", ma_, mc_, "--tol", "1e-6")
    check(p.returncode == 1 and p.stdout.startswith("models differ"), f"same-model other l2: {p.returncode}\n{p.stdout}")
    with open(ma_) as f:
        short = json.load(f)
    if "weights_sparse" in short:  # either form (README: Model files)
        w = [0.0] * short["n_features"]
        for j, v in zip(short["weights_sparse"]["indices"], short["weights_sparse"]["values"]):
            w[j] = v
        short["weights"] = w
        del short["weights_sparse"]
    short["weights"] = short["weights"][:-1]
    short["n_features"] -= 1
    p = gate("--same-model", ma_, write_json("short.json", short))
    check(p.returncode == 1 and "features" in p.stdout, f"same-model n_features: {p.returncode}\n{p.stdout}")
    p = gate("--same-model", ma_, os.path.join(d, "missing.json"))
    check(p.returncode == 2, f"same-model missing file: {p.returncode}")

finish()
