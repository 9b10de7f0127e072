"""Bad input and bad options end to end, on 1 and 3 ranks: a non-zero exit
on every rank within the timeout, one error line naming file:line where one
applies, and no model, metrics or prediction file left behind."""
import os
import subprocess

from common import BIN, check, error_lines, finish, run, workdir

d = workdir()
files = {
    "repeat.svm": ("+1 1:1\n-1 2:1\n+1 3:1 3:2\n", "repeat.svm:3:"),
    "label.svm": ("+1 1:1\n-1 1:1\n+1 1:1\n-1 1:1\n2 1:1\n", "label.svm:5:"),
    "order.svm": ("+1 1:1\n+1 5:1 2:1\n", "order.svm:2:"),
    "zero.svm": ("+1 1:1\n+1 0:1\n", "zero.svm:2:"),
    "nan.svm": ("+1 1:1\n+1 1:nan\n", "nan.svm:2:"),
    "text.svm": ("+1 1:1\n+1 1:one\n", "text.svm:2:"),
    "ragged.csv": ("y,a,b\n1,1,2\n0,1,2\n1,3\n", "ragged.csv:4:"),
    "empty.svm": ("", "empty.svm: no data rows"),
}
for name, (text, _) in files.items():
    with open(os.path.join(d, name), "w") as f:
        f.write(text)
files["missing.svm"] = (None, "missing.svm: No such file or directory")


for np_ in (1, 3):
    for name, (_, says) in files.items():
        model, metrics = os.path.join(d, "model.json"), os.path.join(d, "metrics.json")
        p = run(["train", "--data", os.path.join(d, name), "--model-out", model,
                 "--metrics-out", metrics, "--tracking-dir", os.path.join(d, "runs")],
                np_=np_, check_rc=False, timeout=60)
        errs = error_lines(p.stderr)
        check(p.returncode != 0, f"{name} on {np_} ranks: exit status 0")
        check(len(errs) == 1 and says in errs[0], f"{name} on {np_} ranks: errors {errs}")
        check(not os.path.exists(model) and not os.path.exists(metrics),
              f"{name} on {np_} ranks: output file left behind")
        leftovers = [f for f in os.listdir(d) if ".tmp." in f]
        check(not leftovers, f"{name}: temporary files left: {leftovers}")
    # predict on bad data leaves no prediction file either.
    good = os.path.join(d, "good.svm")
    with open(good, "w") as f:
        f.write("+1 1:1 2:1\n-1 1:-1\n+1 2:2\n")
    model = os.path.join(d, "ok.json")
    run(["train", "--data", good, "--model-out", model, "--quiet", "--tracking-dir", os.path.join(d, "runs")], np_=np_)
    out = os.path.join(d, "pred.txt")
    p = run(["predict", "--model", model, "--data", os.path.join(d, "repeat.svm"), "--out", out],
            np_=np_, check_rc=False, timeout=60)
    check(p.returncode != 0 and not os.path.exists(out), f"predict on bad data, {np_} ranks")
    p = run(["predict", "--model", os.path.join(d, "label.svm"), "--data", good], np_=np_, check_rc=False, timeout=60)
    check(p.returncode != 0 and len(error_lines(p.stderr)) == 1, f"predict with a non-model file: {p.stderr}")

    # Usage errors: exit status 2, one line, on every rank count.
    for args, says in ((["train", "--data", good, "--bogus"], "unknown option '--bogus'"),
                       (["train", "--data", good, "--l2", "abc"], "--l2"),
                       (["train", "--data", good, "--optimizer", "adam"], "--optimizer"),
                       (["train", "--data", good, "--max-iter", "0"], "--max-iter"),
                       (["train"], "--data"),
                       (["frobnicate"], "unknown command")):
        p = run(args, np_=np_, check_rc=False, timeout=60)
        errs = error_lines(p.stderr)
        check(p.returncode != 0 and len(errs) == 1 and says in errs[0], f"{args} on {np_} ranks: {p.returncode} {errs}")

# An output that cannot be written is refused before the data is read, not
# after the training: one line, every rank non-zero, no iteration run.
good = os.path.join(d, "good.svm")
model = os.path.join(d, "ok.json")
for dest, says in ((os.path.join(d, "no-such-dir", "m.json"), "no-such-dir: No such file"),
                   (d, "is a directory"),
                   (os.path.join(good, "m.json"), "good.svm is not a directory")):
    for cmd in (["train", "--data", good, "--model-out", dest],
                ["train", "--data", good, "--metrics-out", dest],
                ["predict", "--model", model, "--data", good, "--out", dest],
                ["eval", "--model", model, "--data", good, "--metrics-out", dest]):
        p = run(cmd + ["--tracking-dir", os.path.join(d, "runs")] * (cmd[0] == "train"),
                np_=2, check_rc=False, timeout=60)
        errs = error_lines(p.stderr)
        check(p.returncode != 0 and len(errs) == 1 and says in errs[0] and dest in errs[0],
              f"{cmd}: {p.returncode} {errs}")
        check("loaded in" not in p.stdout + p.stderr and "iter " not in p.stdout,
              f"{cmd}: the data was read before the output was checked")

# --help lists every option of the contract.
p = subprocess.run([BIN, "train", "--help"], capture_output=True, text=True)
for opt in ("--data", "--format", "--zero-based", "--n-features", "--optimizer", "--l2",
            "--no-intercept", "--tol", "--max-iter", "--lbfgs-memory", "--batch-size", "--epochs",
            "--lr", "--lr-decay", "--sync-every", "--seed", "--average", "--validation",
            "--model-out", "--metrics-out", "--blas-threads", "--quiet", "--tracking-uri",
            "--experiment", "--run-name", "--tracking-dir", "--tracking-flush-timeout",
            "--register-model"):
    check(opt in p.stdout, f"train --help lacks {opt}")
p = subprocess.run([BIN, "--help"], capture_output=True, text=True)
for cmd in ("train", "predict", "eval", "mlflow-sync"):
    check(cmd in p.stdout and p.returncode == 0, f"--help lacks {cmd}")
finish()
