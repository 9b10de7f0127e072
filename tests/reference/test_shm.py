"""Node-shared reductions (comm.h, issue #17): the models trained with them
(the default) and without (SL_SHM_REDUCE=0: MPI_Allreduce/Allgatherv only)
are the same bytes on 2 ranks, where a sum of two is exact in either order,
for Newton (CG and direct) and L-BFGS; on 3 ranks the shared path gives the
same bytes run after run (its summation order is fixed) and agrees with
MPI's to 1e-9."""
import filecmp
import os
import shutil

import numpy as np

from common import breast_cancer, check, finish, load_model, run, workdir, write_csv

d = workdir()
X, y = breast_cancer()
data = os.path.join(d, "bc.csv")
write_csv(data, X, y)


def train(np_, opt, shm, tag, extra=()):
    model = os.path.join(d, f"{tag}.json")
    run(["train", "--data", data, "--l2", "1e-3", "--optimizer", opt, "--tol", "1e-10",
         "--max-iter", "500", "--quiet", "--model-out", model,
         "--tracking-dir", os.path.join(d, "runs")] + list(extra), np_=np_,
        env=None if shm else {"SL_SHM_REDUCE": "0"})
    return model


for opt, extra in (("newton", ["--newton-solver", "cg"]), ("newton", ["--newton-solver", "direct"]),
                   ("lbfgs", [])):
    tag = f"{opt}{''.join(extra)}"
    on = train(2, opt, True, tag + "-on", extra)
    off = train(2, opt, False, tag + "-off", extra)
    check(filecmp.cmp(on, off, shallow=False), f"{tag}, 2 ranks: shared and MPI sums differ")
    print(f"{tag}, 2 ranks: shared-memory and MPI models are the same bytes", flush=True)

on1 = train(3, "lbfgs", True, "l3-on1")
shutil.copy(on1, os.path.join(d, "l3-first.json"))
on2 = train(3, "lbfgs", True, "l3-on2")
check(filecmp.cmp(os.path.join(d, "l3-first.json"), on2, shallow=False),
      "3 ranks: two runs with shared sums differ")
off = train(3, "lbfgs", False, "l3-off")
w1, b1, _ = load_model(on2)
w0, b0, _ = load_model(off)
diff = max(np.abs(w1 - w0).max(), abs(b1 - b0))
print(f"lbfgs, 3 ranks: shared sums reproducible; max |dw| against MPI's {diff:.1e}", flush=True)
check(diff <= 1e-9, f"3 ranks: shared and MPI models differ by {diff:.3e}")
finish()
