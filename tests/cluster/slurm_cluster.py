"""A real single-machine Slurm for the tests: munged, slurmctld and slurmd from
Debian's munge and slurm-wlm, with a munge key, a slurm.conf and state, spool
and log directories in a temporary directory /tmp/sl-slurm-<test pid>-*, on
ports picked at start. Nothing in /etc is read or written.

Every process it starts, and everything they start (slurmstepd, the batch
script, mpirun, the ranks), carries SL_SLURM_TEST=<that directory> in its
environment: stop() kills them all by that mark, and stop_stale() those of an
earlier test that was killed with SIGKILL (its pid in the directory name is
gone).

Every client command runs with a timeout: with a wrong SLURM_CONF, they wait
minutes for a controller that is not there."""
import glob
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "scancel", "sinfo")
PREFIX = "sl-slurm-"
MARK = "SL_SLURM_TEST"


# The daemons are in /usr/sbin, which a PATH may lack.
PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def missing_tools():
    return [t for t in TOOLS if not shutil.which(t, path=PATH)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _marked(value_re):
    """Pids (not ours) whose environment has MARK=<value matching value_re>."""
    want = re.compile(rb"(?:^|\0)" + MARK.encode() + rb"=(" + value_re + rb")(?:\0|$)")
    found = {}
    for x in os.listdir("/proc"):
        if not x.isdigit() or int(x) == os.getpid():
            continue
        try:
            with open(f"/proc/{x}/environ", "rb") as f:
                m = want.search(f.read())
        except OSError:
            continue
        if m:
            found[int(x)] = m.group(1).decode()
    return found


def _kill(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _test_alive(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"python" in f.read()
    except OSError:
        return False


def stop_stale():
    """Kills the processes of clusters whose test is gone and removes their
    directories."""
    tmp = re.escape(tempfile.gettempdir().encode())
    stale = {pid: d for pid, d in _marked(tmp + rb"/" + PREFIX.encode() + rb"[^\0]*").items()
             if not _test_alive(int(re.search(r"sl-slurm-(\d+)-", d).group(1)))}
    _kill(stale)
    for d in glob.glob(os.path.join(tempfile.gettempdir(), PREFIX + "*")):
        m = re.match(r"sl-slurm-(\d+)-", os.path.basename(d))
        if m and not _test_alive(int(m.group(1))):
            shutil.rmtree(d, ignore_errors=True)
    return sorted(stale)


class SlurmCluster:
    """One node (this machine, as `hostname -s`) with `cpus` CPUs, in one
    partition `test`."""

    def __init__(self, cpus=2):
        self.dir = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
        # munged refuses a socket directory that others cannot enter (0700).
        os.chmod(self.dir, 0o755)
        self.host = socket.gethostname().split(".")[0]
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.cpus = cpus
        self.procs = []
        for sub in ("munge", "state", "spool", "log", "tmp"):
            os.mkdir(os.path.join(self.dir, sub), 0o755)
        self.socket = os.path.join(self.dir, "munge", "munge.socket")
        self.env = dict(os.environ, SLURM_CONF=self.conf, PATH=PATH, **{MARK: self.dir})

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write_config(self):
        key = self.path("munge", "munge.key")
        with open(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400), "wb") as f:
            f.write(secrets.token_bytes(1024))
        ctld, slurmd = free_port(), free_port()
        d = self.dir
        conf = f"""\
ClusterName=sltest
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={ctld}
SlurmdPort={slurmd}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job waits this long before it may start again (5 is the least).
AuthInfo=socket={self.socket},cred_expire=5
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in this container.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
PropagateResourceLimits=NONE
SlurmdParameters=config_overrides
# Job and PMIx temporary files here: in /tmp they are named by job id, which
# restarts at 1 in every test cluster.
TmpFS={d}/tmp
KillWait=5
MinJobAge=600
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} State=UNKNOWN
PartitionName=test Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
"""
        with open(self.conf, "w") as f:
            f.write(conf)
        # mpi.conf, beside slurm.conf: srun --mpi=pmix's client directories.
        with open(self.path("mpi.conf"), "w") as f:
            f.write(f"PMIxCliTmpDirBase={d}/tmp\n")

    def _daemon(self, name, cmd):
        log = open(self.path("log", f"{name}.out"), "ab")
        p = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=self.env,
                             cwd=self.dir, start_new_session=True)
        self.procs.append((name, p))
        return p

    def start(self, timeout=60):
        """Starts the daemons and waits until the node is idle. Raises
        RuntimeError with the daemons' logs when it is not."""
        self.write_config()
        m = self.path("munge")
        self._daemon("munged", ["munged", "--foreground", f"--socket={self.socket}",
                                f"--key-file={m}/munge.key", f"--pid-file={m}/munged.pid",
                                f"--log-file={self.path('log', 'munged.log')}",
                                f"--seed-file={m}/munged.seed", "--num-threads=2"])
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.socket):
            self._alive_or_raise(deadline, "munged made no socket")
            time.sleep(0.05)
        self._daemon("slurmctld", ["slurmctld", "-D", "-i", "-f", self.conf])
        self._daemon("slurmd", ["slurmd", "-D", "-f", self.conf, "-N", self.host])
        while True:
            r = self.client(["sinfo", "-h", "-n", self.host, "-o", "%T"], check=False, timeout=5)
            if r and r.returncode == 0 and r.stdout.strip() == "idle":
                return self
            self._alive_or_raise(deadline, f"the node is not idle (sinfo: {r and r.stdout.strip()})")
            time.sleep(0.2)

    def _alive_or_raise(self, deadline, what):
        dead = [f"{n} exited {p.returncode}" for n, p in self.procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            raise RuntimeError(f"Slurm did not start: {'; '.join(dead) or what}\n{self.logs()}")

    def logs(self, tail=1500):
        out = []
        for f in sorted(glob.glob(self.path("log", "*.log"))):
            with open(f, errors="replace") as fh:
                text = fh.read()
            if text.strip():
                out.append(f"--- {os.path.basename(f)}\n{text[-tail:]}")
        return "\n".join(out)

    def client(self, cmd, check=True, timeout=15, env=None):
        """A Slurm client command, killed after timeout seconds: its
        CompletedProcess, or None when it timed out (check: RuntimeError)."""
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, env=env or self.env,
                               timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            if check:
                raise RuntimeError(f"{' '.join(cmd)}: no answer in {timeout} s")
            return None
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
        return r

    def job(self, job_id):
        """scontrol show job's fields (JobState, Restarts, ExitCode...), or {}
        when the controller does not answer."""
        r = self.client(["scontrol", "show", "job", "-o", str(job_id)], check=False, timeout=10)
        if not r or r.returncode != 0:
            return {}
        return dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)

    def stop(self):
        """Kills every process of this cluster (daemons, jobs and their
        children) and removes the directory. Safe to call twice."""
        for _ in range(3):
            pids = _marked(re.escape(self.dir.encode()))
            if not pids:
                break
            _kill(pids)
            time.sleep(0.1)
        for _, p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)
