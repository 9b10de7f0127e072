"""Training across two hosts, on one machine. The test builds a small cluster
out of network namespaces: a bridge in a namespace of its own, and two
"hosts", hostA and hostB, each a namespace joined to the bridge by a veth pair,
with an address on 10.211.7.0/24 (a subnet that exists only inside these
namespaces) and its own host name (a UTS namespace). mpirun runs in hostA and
starts Open MPI's daemon on each host through tests/cluster/netns-rsh (the rsh
agent: it enters the host's namespace where ssh would log in), from a
hostfile, with Open MPI restricted to TCP over the bridge.

Checked: 2 ranks (one per host) and 4 ranks (two per host) give the model of
1 rank on one host within 1e-6 relative on the weights; the MLflow run (a
real `mlflow server` on hostA's own loopback) has the tag shardlearn.hosts
"hostA,hostB"; the namespaces are gone afterwards, also when a check fails,
a run hangs (the test's own timeouts end before ctest's) or the test is
stopped by SIGTERM or SIGINT. Those of an earlier run that was killed with
SIGKILL are removed at the start.

Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN), `ip` and `unshare`; without them
it exits 77 (skipped) and says why.

  test_multihost.py SHARDLEARN MPIRUN            (outer: builds the cluster)
  test_multihost.py --inner SHARDLEARN MPIRUN    (inner: runs in hostA)"""
import os
import shutil
import subprocess
import sys

from netns import RSH, Cluster, hold_signals, leave_on_signals, stop

HERE = os.path.dirname(os.path.abspath(__file__))
SUBNET = "10.211.7.0/24"
HOSTS = {"hostA": "10.211.7.1", "hostB": "10.211.7.2"}
CLUSTER = Cluster("sl", SUBNET, HOSTS)


def outer(bin_, mpirun):
    CLUSTER.up()
    child = None
    try:
        cmd = CLUSTER.in_host("hostA", [sys.executable, os.path.abspath(__file__), "--inner", bin_, mpirun])
        child = subprocess.Popen(cmd, env=CLUSTER.env())
        rc = child.wait(timeout=240)
    finally:
        hold_signals()
        if child:
            stop(child)
        CLUSTER.cleanup()
    left = CLUSTER.ours()
    if left:
        print(f"FAIL namespaces left behind: {left}")
        rc = 1
    sys.exit(rc)


def inner(bin_, mpirun):
    """In hostA: a real MLflow server on this host's loopback, a 1-rank run
    on one host, then runs across hostA and hostB from a hostfile."""
    sys.path.insert(0, os.path.join(HERE, "..", "tracking"))
    import numpy as np
    from mlflow_server import MlflowServer
    from track_common import EXAMPLES, check, finish, mpi_env, run_dir, state, workdir
    from common import load_model

    d = workdir()
    data = os.path.join(os.path.abspath(EXAMPLES), "train.svm")
    base = ["train", "--data", data, "--l2", "1e-3", "--optimizer", "lbfgs", "--tol", "1e-10",
            "--max-iter", "1000", "--quiet"]
    # --bind-to none: each host's daemon binds its first rank to "its" core 0, the same core of
    # this one machine; the two ranks, busy-polling, then take turns (0.1 s per allreduce).
    tcp = ["--bind-to", "none", "--mca", "plm_rsh_agent", RSH, "--mca", "btl", "tcp,self",
           "--mca", "btl_tcp_if_include", SUBNET, "--mca", "oob_tcp_if_include", SUBNET]

    def train(name, np_, launch, extra=()):
        out = os.path.join(d, f"{name}.json")
        cmd = [mpirun, "-np", str(np_)] + launch + [bin_] + base + ["--model-out", out] + list(extra)
        p = subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(), timeout=90)
        check(p.returncode == 0, f"{name}: exit {p.returncode}\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
        if p.returncode != 0:
            return None
        w, b, _ = load_model(out)
        return np.append(w, b)

    # Not `with`: a stop during start() would skip __exit__ and leave the server's files.
    srv = MlflowServer()
    try:
        srv.start()
        one = train("one-host", 1, ["--oversubscribe"], ["--tracking-dir", os.path.join(d, "runs-1")])
        for np_, slots in ((2, 1), (4, 2)):
            hostfile = os.path.join(d, f"hosts{np_}")
            with open(hostfile, "w") as f:
                f.writelines(f"{h} slots={slots}\n" for h in HOSTS)
            td = os.path.join(d, f"runs-{np_}")
            m = train(f"{np_}-ranks-2-hosts", np_, ["--hostfile", hostfile] + tcp,
                      ["--tracking-uri", srv.url, "--experiment", "multihost", "--tracking-dir", td])
            if one is None or m is None:
                continue
            rel = np.abs(m - one).max() / np.abs(one).max()
            print(f"{np_} ranks on 2 hosts vs 1 rank on 1 host: max |dw| / max |w| = {rel:.2e}", flush=True)
            check(rel <= 1e-6, f"{np_} ranks on 2 hosts differ from 1 host by {rel:.3e} (relative)")
            run = srv.get("runs/get", run_id=state(run_dir(td))["run_id"])["run"]
            tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
            check(tags.get("shardlearn.hosts") == "hostA,hostB",
                  f"{np_} ranks: shardlearn.hosts = {tags.get('shardlearn.hosts')!r}")
            check(tags.get("shardlearn.mpi_ranks") == str(np_),
                  f"{np_} ranks: shardlearn.mpi_ranks = {tags.get('shardlearn.mpi_ranks')!r}")
            check(run["info"]["status"] == "FINISHED", f"{np_} ranks: run {run['info']['status']}")
    finally:
        hold_signals()
        srv.close()
        shutil.rmtree(d, ignore_errors=True)
    finish()


if __name__ == "__main__":
    if sys.argv[1] == "--inner":
        leave_on_signals()
        inner(sys.argv[2], sys.argv[3])
    else:
        outer(sys.argv[1], sys.argv[2])
