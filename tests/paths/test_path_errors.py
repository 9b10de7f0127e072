"""Bad path, cv and early-stop input (README: Regularisation paths): an empty
list or value, a lambda <= 0 in a path (an l1 < 0), a malformed range, a
bad --l1 item, an --l1 list for newton or sgd, a grid over 1000 settings, --cv 1 or more
folds than rows, a --select metric the loss has not, --early-stop without
--validation, --models-dir without a path, a path with --checkpoint-dir:
one error line, a non-zero exit on every rank (2 ranks), no model file."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from common import breast_cancer_split, check, error_lines, finish, run, workdir  # noqa: E402

d = workdir()
tr, va, Xt, yt, Xv, yv = breast_cancer_split(d)
runs = os.path.join(d, "runs")

# Bad input.
out = os.path.join(d, "bad.json")
for args, want in [
        (["--l2", ""], "--l2: empty value"),
        (["--l2", "1e-3,,1e-4"], "an empty value"),
        (["--l2", "1e-3,0"], "'0': a path's values must be > 0"),
        (["--l2", "1e-3,-1e-4"], "a path's values must be > 0"),
        (["--l2", "-1"], "--l2: '-1' is not a number >= 0"),
        (["--l2", "1e-2:1e-6:1"], "N must be an integer in [2, 1000]"),
        (["--l2", "1e-2:1e-6"], "a range is HI:LO:N"),
        (["--l2", "1e-2:x:3"], "'x' is not a number"),
        (["--cv", "1"], "--cv: '1' is not an integer in [2,"),
        (["--cv", "401"], "cv: more folds than data rows"),
        (["--l2", "1e-2,1e-3", "--validation", va, "--select", "val_rmse"],
         "--select: val_rmse is a metric of the squared loss only"),
        (["--l2", "1e-2,1e-3", "--loss", "squared-hinge", "--validation", va, "--select", "val_logloss"],
         "val_logloss is a metric of the logistic and multinomial losses only"),
        (["--l2", "1e-2,1e-3", "--validation", va, "--select", "val_auc_ovr"],
         "val_auc_ovr is a metric of the multinomial loss only (use val_auc)"),
        (["--early-stop", "3"], "--early-stop needs --validation FILE"),
        (["--models-dir", d], "--models-dir needs a path of --l2 or --l1 values"),
        (["--l1", "1e-2,abc"], "--l1: 'abc' is not a number"),
        (["--l1", "1e-2,-1e-3"], "--l1: '-1e-3': a path's values must be >= 0"),
        (["--l1", "-1"], "--l1: '-1' is not a number >= 0"),
        (["--l1", "1e-2,,1e-3"], "--l1: an empty value in '1e-2,,1e-3'"),
        (["--l1", "1e-2:0:3"], "--l1: '0': a range's ends must be > 0"),
        (["--l1", "1e-2,1e-3", "--optimizer", "newton"],
         "--l1 needs --optimizer lbfgs (OWL-QN); newton takes no L1 penalty"),
        (["--l1", "1e-2,0", "--optimizer", "sgd"],
         "--l1 needs --optimizer lbfgs (OWL-QN); sgd takes no L1 penalty"),
        (["--l2", "1e-1:1e-5:100", "--l1", "1e-1:1e-5:20"], "--l2 x --l1: 100 x 20 settings, more than 1000"),
        (["--l1", "1e-2,1e-3", "--checkpoint-dir", os.path.join(d, "ck")], "not with an --l2 or --l1 path"),
        (["--l2", "1e-2,1e-3", "--checkpoint-dir", os.path.join(d, "ck")], "not with an --l2 or --l1 path or --cv")]:
    for np_ in (2,):  # every rank must exit
        p = run(["train", "--data", tr, "--quiet", "--model-out", out, "--tracking-dir", runs] + args,
                np_=np_, check_rc=False)
        lines = error_lines(p.stderr)
        check(p.returncode != 0 and len(lines) == 1 and want in lines[0],
              f"{args} np={np_}: rc {p.returncode}, want '{want}', got {lines}")
        check(not os.path.exists(out), f"{args}: a model was written")

finish()
