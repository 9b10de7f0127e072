"""The golden cases, shared by make_golden.py (which writes the expected files)
and tests/reference/test_golden.py (which compares against them).

Each case is one shardlearn command under mpirun that writes one output file:

    name      unique; the golden file is expected/<name><ext>
    np        number of ranks
    cmd       train | predict | eval
    args      the command's arguments, without the output option
    out       the option that names the output file (--model-out, --out, --metrics-out)
    ext       extension of the golden file

Paths in args are repo-relative (examples/..., tests/golden/...) or the system
heart_scale path, never absolute paths into one checkout: resolve() joins the
value of every path option with the repo root. A predict/eval case reads the
*golden* model of an earlier train case, so it tests predict/eval on its own,
and must come after that case in CASES (make_golden.py writes in order).

train cases also get --quiet and --tracking-dir <temp dir> from command(), so no
run journal lands in the repo.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXPECTED = os.path.join(HERE, "expected")

HEART = "/usr/share/doc/liblinear-tools/examples/heart_scale"
HEART_CSV = "tests/golden/heart_scale.csv"
TRAIN_SVM = "examples/train.svm"
TEST_SVM = "examples/test.svm"

PATH_OPTIONS = ("--data", "--validation", "--model")

TIGHT = ["--l2", "1e-3", "--tol", "1e-10", "--max-iter", "1000"]
SGD = ["--optimizer", "sgd", "--epochs", "20", "--batch-size", "4", "--lr", "0.2", "--seed", "5"]


def _train(name, np_, args):
    return {"name": name, "np": np_, "cmd": "train", "args": args, "out": "--model-out",
            "ext": ".model.json"}


def model_path(case_name):
    """Repo-relative path of a train case's golden model."""
    return f"tests/golden/expected/{case_name}.model.json"


def _scoring(model_case, data, np_=2):
    """predict --proba, predict and eval of a golden model, on 2 ranks."""
    m = model_path(model_case)
    return [
        {"name": f"{model_case}.predict-proba", "np": np_, "cmd": "predict",
         "args": ["--model", m, "--data", data, "--proba"], "out": "--out", "ext": ".txt"},
        {"name": f"{model_case}.predict", "np": np_, "cmd": "predict",
         "args": ["--model", m, "--data", data], "out": "--out", "ext": ".txt"},
        {"name": f"{model_case}.eval", "np": np_, "cmd": "eval",
         "args": ["--model", m, "--data", data], "out": "--metrics-out", "ext": ".json"},
    ]


def _cases():
    cases = []
    # heart_scale (LIBSVM): newton and lbfgs with and without intercept, sgd plain and
    # averaged with local steps; each on 1, 2 and 3 ranks.
    for np_ in (1, 2, 3):
        for opt in ("newton", "lbfgs"):
            cases.append(_train(f"heart-{opt}-np{np_}", np_,
                                ["--data", HEART, "--optimizer", opt] + TIGHT))
            cases.append(_train(f"heart-{opt}-nointercept-np{np_}", np_,
                                ["--data", HEART, "--optimizer", opt, "--no-intercept"] + TIGHT))
        cases.append(_train(f"heart-sgd-np{np_}", np_, ["--data", HEART] + SGD))
        cases.append(_train(f"heart-sgd-average-sync3-np{np_}", np_,
                            ["--data", HEART] + SGD + ["--average", "--sync-every", "3"]))
    # The same data as dense CSV, on 2 ranks.
    cases.append(_train("heartcsv-newton-np2", 2, ["--data", HEART_CSV, "--optimizer", "newton"] + TIGHT))
    cases.append(_train("heartcsv-lbfgs-np2", 2, ["--data", HEART_CSV, "--optimizer", "lbfgs"] + TIGHT))
    cases.append(_train("heartcsv-sgd-np2", 2, ["--data", HEART_CSV] + SGD))
    # examples/train.svm with a validation set, on 2 ranks.
    for opt in ("newton", "lbfgs", "sgd"):
        cases.append(_train(f"trainsvm-{opt}-np2", 2,
                            ["--data", TRAIN_SVM, "--validation", TEST_SVM, "--optimizer", opt,
                             "--l2", "1e-3", "--tol", "1e-8"]))
    # predict/eval bytes for two of the golden models.
    cases += _scoring("trainsvm-newton-np2", TEST_SVM)
    cases += _scoring("heartcsv-lbfgs-np2", HEART_CSV)
    return cases


CASES = _cases()
assert len({c["name"] for c in CASES}) == len(CASES), "duplicate case names"


def golden_path(case):
    return os.path.join(EXPECTED, case["name"] + case["ext"])


def resolve(args, root=ROOT):
    """The case's args with every repo-relative path option value made absolute."""
    out = []
    for i, a in enumerate(args):
        if i > 0 and args[i - 1] in PATH_OPTIONS and not os.path.isabs(a):
            a = os.path.join(root, a)
        out.append(a)
    return out


def command(case, out_file, tracking_dir, root=ROOT):
    """shardlearn arguments (after the binary) for one case, writing to out_file."""
    args = [case["cmd"]] + resolve(case["args"], root) + [case["out"], out_file]
    if case["cmd"] == "train":
        args += ["--quiet", "--tracking-dir", tracking_dir]
    return args
