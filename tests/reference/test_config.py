"""`train --config FILE` end to end (no tracking server; tests/tracking/
test_config_tracking.py has the MLflow side):
  1. a command-line option beats the file (a number and a flag turned off
     with --quiet=false), and the file's own options still apply: the model
     is byte-identical to the same options all given on the command line,
     and differs from the file's alone;
  2. the run's config.json (the journal's copy) hashes to the digest tag and,
     given back as --config, trains the same model bytes;
  3. bad config files on 2 ranks - unknown key, wrong type, out of range,
     YAML and JSON syntax errors, a missing file, an unknown extension:
     a non-zero exit, one error line naming the file, the line and the key,
     and no model, metrics file or run directory left behind;
  4. examples/train.yaml, run from the repository root as the README says,
     trains what scripts/run-example.sh used to spell out on the command line."""
import glob
import hashlib
import json
import os
import subprocess

from common import BIN, MPIRUN, check, error_lines, finish, mpi_env, workdir

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TRAIN = os.path.join(ROOT, "examples", "train.svm")
d = workdir()


def train(args, np_=1, cwd=None):
    cmd = [MPIRUN, "--oversubscribe", "-np", str(np_), BIN, "train"] + [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(), timeout=120, cwd=cwd)


def write(name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def outs(tag):
    """--model-out, --metrics-out and --tracking-dir of a run called tag."""
    return [os.path.join(d, f"{tag}.model.json"), os.path.join(d, f"{tag}.metrics.json"),
            os.path.join(d, f"{tag}-runs")]


def out_args(tag):
    m, x, r = outs(tag)
    return ["--model-out", m, "--metrics-out", x, "--tracking-dir", r]


def data(path):
    with open(path, "rb") as f:
        return f.read()


def ok(p, what):
    check(p.returncode == 0, f"{what}: exit {p.returncode}: {p.stderr[-2000:]}")
    return p.returncode == 0


# 1. The command line wins over the file.
cfg = write("base.yaml", f"data: {TRAIN}\noptimizer: lbfgs\nl2: 0.1\nmax-iter: 40\nquiet: true\n")
a = train(["--config", cfg, "--l2", "0.001", "--quiet=false"] + out_args("a"))
b = train(["--data", TRAIN, "--optimizer", "lbfgs", "--l2", "0.001", "--max-iter", "40"] + out_args("b"))
c = train(["--config", cfg] + out_args("c"))
if ok(a, "config + command line") and ok(b, "command line") and ok(c, "config alone"):
    check(data(outs("a")[0]) == data(outs("b")[0]), "--l2 on the command line: another model than "
          "the same options all on the command line")
    check(data(outs("a")[0]) != data(outs("c")[0]), "--l2 on the command line changed nothing")
    conf = json.loads(data(outs("a")[1]))["config"]
    check(conf["l2"] == 0.001 and conf["max-iter"] == 40 and conf["optimizer"] == "lbfgs"
          and conf["quiet"] is False, f"metrics.json config {conf}")
    check("iter " in a.stdout + a.stderr, "--quiet=false did not override quiet: true")
    check("iter " not in c.stdout + c.stderr, "quiet: true in the file printed progress lines")

    # 2. config.json: its digest, and read back as a config file.
    rd = glob.glob(os.path.join(outs("a")[2], "*"))[0]
    saved = data(os.path.join(rd, "artifacts", "config.json"))
    tags = [json.loads(l) for l in open(os.path.join(rd, "journal.jsonl"))]
    digest = [t["value"] for t in tags if t.get("key") == "shardlearn.config_digest"]
    check(digest == [hashlib.sha256(saved).hexdigest()], f"digest tag {digest}")
    check(json.loads(saved) == conf, "config.json and metrics.json's config differ")
    again = write("again.json", saved.decode())
    p = train(["--config", again] + out_args("again"))
    if ok(p, "config.json as --config"):
        check(data(outs("again")[0]) == data(outs("a")[0]), "config.json trains another model")

# 3. Bad files: one error line naming file, line and key; nothing written.
bad = [
    ("unknown.yaml", f"data: {TRAIN}\nl2: 0.01\nmax_iter: 5\n",
     ["unknown.yaml:3:", "unknown option 'max_iter'", "did you mean 'max-iter'"]),
    ("unknown.json", f'{{"data": "{TRAIN}",\n "l2": 0.01,\n "bogus": true}}', ["unknown.json:3:", "'bogus'"]),
    ("type.yaml", f"data: {TRAIN}\ntol: '0.1'\n", ["type.yaml:2:", "tol: must be a number, not a string"]),
    ("type.json", f'{{"data": "{TRAIN}", "quiet": "yes"}}', ["type.json:1:", "quiet: must be true or false"]),
    ("int.json", f'{{"data": "{TRAIN}",\n"max-iter": 2.5}}', ["int.json:2:", "max-iter", "not an integer"]),
    ("range.yaml", f"data: {TRAIN}\n\ntol: 2\n", ["range.yaml:3:", "tol", "[0, 1]"]),
    ("syntax.yaml", f"data: {TRAIN}\noptimizer: lbfgs\nl2: 0.1: 2\n", ["syntax.yaml:3:", "not valid YAML"]),
    ("quote.yaml", f"data: {TRAIN}\nrun-name: 'abc\nl2: 1\n", ["quote.yaml:4:", "(from line 2)"]),
    ("syntax.json", f'{{"data": "{TRAIN}",\n "l2": 0.1,\n}}', ["syntax.json:3:", "not valid JSON"]),
    ("twice.yml", f"data: {TRAIN}\nl2: 1\nl2: 2\n", ["twice.yml:3:", "l2: given twice"]),
    ("nested.yaml", f"data: {TRAIN}\nconfig: other.yaml\n", ["nested.yaml:2:", "'config'"]),
    ("train.toml", f"data = '{TRAIN}'\n", ["train.toml", "unknown file type"]),
]
for name, text, says in bad + [("missing.yaml", None, ["missing.yaml: No such file"])]:
    path = write(name, text) if text is not None else os.path.join(d, name)
    model, metrics, runs = outs("bad")
    p = train(["--config", path] + out_args("bad"), np_=2)
    errs = error_lines(p.stderr)
    check(p.returncode != 0, f"{name}: exit status 0")
    check(len(errs) == 1 and all(s in errs[0] for s in says), f"{name}: errors {errs}, want {says}")
    check(not any(os.path.exists(x) for x in (model, metrics, runs)), f"{name}: output left behind")

# 4. The example config, from the repository root.
ex = train(["--config", "examples/train.yaml", "--quiet"] + out_args("ex"), np_=2, cwd=ROOT)
cli = train(["--data", "examples/train.svm", "--validation", "examples/test.svm", "--optimizer", "newton",
             "--l2", "1e-3", "--tol", "1e-8", "--quiet"] + out_args("cli"), np_=2, cwd=ROOT)
if ok(ex, "examples/train.yaml") and ok(cli, "run-example's command line"):
    check(data(outs("ex")[0]) == data(outs("cli")[0]), "examples/train.yaml trains another model")
    check(not glob.glob(os.path.join(d, "*.tmp.*")), "temporary files left")

finish()
