"""A cluster on one machine, for the tests in tests/cluster: a bridge in a
network namespace of its own, and "hosts", each a namespace joined to the
bridge by a veth pair, with an address on a private /24 that exists only
inside these namespaces. A command run in a host (in_host) also gets the
host's name as its host name (a UTS namespace). Open MPI reaches the hosts
through tests/cluster/netns-rsh, which reads SL_NETNS_MAP (env()).

Namespaces are named PREFIX<pid>-<host>: cleanup() removes this process's,
cleanup_stale() those of an earlier run killed with SIGKILL (its pid is
gone). Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN), `ip` and `unshare`;
require() exits 77 (skipped) without them."""
import atexit
import os
import re
import shutil
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RSH = os.path.join(HERE, "netns-rsh")


def ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True, check=check)


def skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(77)


def namespaces():
    out = ip("netns", "list", check=False).stdout
    return [l.split()[0] for l in out.splitlines() if l.split()]


def leave_on_signals():
    """A stop signal leaves through `finally` (and atexit) all the same."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))


def hold_signals():
    """Clean-up runs to its end: a stop signal that arrives now waits."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


def stop(child, timeout=30):
    """Asks a child to stop, then kills it."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


class Cluster:
    """hosts: {name: address on subnet}, e.g. {"hostA": "10.211.7.1"}."""

    def __init__(self, prefix, subnet, hosts):
        self.prefix = prefix
        self.subnet = subnet
        self.hosts = dict(hosts)
        self.tag = f"{prefix}{os.getpid()}"
        self.ns = {h: f"{self.tag}-{h}" for h in self.hosts}
        self.bridge_ns = f"{self.tag}-bridge"

    def require(self):
        """Exits 77 where namespaces cannot be made here."""
        if os.geteuid() != 0:
            skip("needs root to create network namespaces")
        for tool in ("ip", "unshare"):
            if not shutil.which(tool):
                skip(f"`{tool}` not found")
        try:
            ip("netns", "add", self.bridge_ns)
            ip("netns", "del", self.bridge_ns)
        except subprocess.CalledProcessError as e:
            skip(f"cannot create a network namespace: {e.stderr.strip()}")

    def ours(self):
        return [ns for ns in namespaces() if ns.startswith(self.tag + "-")]

    def stale(self):
        """Namespaces of an earlier run of the same test that was killed
        (SIGKILL leaves no chance to clean up): the pid in their name is gone."""
        names = set(self.hosts) | {"bridge"}
        found = []
        for ns in namespaces():
            m = re.fullmatch(re.escape(self.prefix) + r"(\d+)-(\w+)", ns)
            if m and m.group(2) in names and not os.path.exists(f"/proc/{m.group(1)}"):
                found.append(ns)
        return found

    def cleanup(self, which=None):
        """Kills what still runs in the namespaces, then deletes them: the
        veths and the bridge go with them. Safe to call twice."""
        for ns in (which if which is not None else self.ours()):
            for pid in ip("netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            ip("netns", "del", ns, check=False)

    def cleanup_stale(self):
        self.cleanup(self.stale())

    def build(self):
        """Raises CalledProcessError naming the `ip` command that failed."""
        bits = self.subnet.split("/")[1]
        ip("netns", "add", self.bridge_ns)
        for h in self.hosts:
            ip("netns", "add", self.ns[h])
        ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        ip("-n", self.bridge_ns, "link", "set", "br0", "up")
        for i, (h, addr) in enumerate(self.hosts.items()):
            # One end (v<i>) on the bridge, the other (eth0) in the host.
            ip("-n", self.bridge_ns, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0",
               "netns", self.ns[h])
            ip("-n", self.bridge_ns, "link", "set", f"v{i}", "master", "br0", "up")
            ip("-n", self.ns[h], "addr", "add", f"{addr}/{bits}", "dev", "eth0")
            ip("-n", self.ns[h], "link", "set", "eth0", "up")
            ip("-n", self.ns[h], "link", "set", "lo", "up")

    def up(self):
        """What a test does before it uses the cluster: skips (exit 77)
        where namespaces cannot be made, cleans up at exit and on a stop
        signal, removes an earlier killed run's namespaces and builds it;
        an `ip` command that fails fails the test, named."""
        self.require()
        leave_on_signals()
        atexit.register(self.cleanup)
        self.cleanup_stale()
        try:
            self.build()
        except subprocess.CalledProcessError as e:
            print(f"FAIL building the cluster: {' '.join(e.cmd)}: {e.stderr.strip()}")
            sys.exit(1)

    def in_host(self, host, cmd):
        """cmd run in host's network namespace, with host as its host name."""
        return ["ip", "netns", "exec", self.ns[host], "unshare", "--uts", "sh", "-c",
                'hostname "$1"; shift; exec "$@"', "in-host", host] + list(cmd)

    def env(self, base=None):
        """base (or os.environ) with SL_NETNS_MAP for tests/cluster/netns-rsh."""
        e = dict(os.environ if base is None else base)
        e["SL_NETNS_MAP"] = " ".join(f"{h}={self.ns[h]}" for h in self.hosts)
        return e
