"""The Dockerfile, built and run without a Docker engine (none runs on these
machines): each stage's FROM is a Debian 12 root made by debootstrap, its
RUN lines run in that root under chroot, COPY, WORKDIR, ENV and USER do what
Docker does, and the last stage's ENTRYPOINT + CMD then runs as the image
would under Vertex AI's contract (AIP_HTTP_PORT, AIP_HEALTH_ROUTE,
AIP_PREDICT_ROUTE) with a model in /models. The image's answers must equal
the host build's `shardlearn predict --proba` on the same rows, and SIGTERM
must end it with status 0.

What this does not check: the Docker engine's own behaviour (layers,
networking); the instructions the file uses are few and plain.

usage: test_dockerfile.py SHARDLEARN_BIN MPIEXEC SOURCE_DIR"""
import fnmatch
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN, MPIEXEC, SRC = sys.argv[1:4]
MIRROR = os.environ.get("SL_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(0)


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def instructions(path):
    """(KEYWORD, argument) of each instruction, continuations joined."""
    out, cur = [], ""
    for line in open(path):
        s = line.rstrip("\n")
        if not cur and (not s.strip() or s.lstrip().startswith("#")):
            continue
        if cur and s.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        kw, _, arg = cur.strip().partition(" ")
        out.append((kw.upper(), arg.strip()))
        cur = ""
    return out


def ignored(rel, patterns):
    """.dockerignore: the last pattern that matches rel (or a parent) decides."""
    verdict, parts = False, rel.split("/")
    for pat in patterns:
        neg = pat.startswith("!")
        p = pat[1:] if neg else pat
        p = p.rstrip("/")
        if any(fnmatch.fnmatch("/".join(parts[:i]), p) for i in range(1, len(parts) + 1)):
            verdict = not neg
    return verdict


def copy_context(src, dest, patterns):
    rel = os.path.relpath(src, SRC)
    if os.path.isdir(src):
        os.makedirs(dest, exist_ok=True)
        for name in os.listdir(src):
            copy_context(os.path.join(src, name), os.path.join(dest, name), patterns)
    elif not ignored(rel, patterns):
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(src, dest)


class Root:
    """A stage's root file system, with /proc and /dev while RUN lines run."""

    def __init__(self, base, path):
        subprocess.run(["cp", "-a", base, path], check=True)
        shutil.copy("/etc/resolv.conf", os.path.join(path, "etc/resolv.conf"))
        self.path, self.workdir, self.env, self.user = path, "/", {}, None
        self.entrypoint, self.cmd, self.mounts = [], [], []

    def mount(self):
        for what, args in (("proc", ["-t", "proc", "proc"]), ("dev", ["--rbind", "/dev"])):
            target = os.path.join(self.path, what)
            subprocess.run(["mount", *args, target], check=True)
            self.mounts.append(target)

    def umount(self):
        while self.mounts:
            subprocess.run(["umount", "-l", self.mounts.pop()], check=False)

    def inside(self, p):
        p = p if p.startswith("/") else os.path.join(self.workdir, p)
        return os.path.join(self.path, p.lstrip("/"))

    def chroot_cmd(self, argv):
        env = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOME=/root", *[f"{k}={v}" for k, v in self.env.items()]]
        spec = []
        if self.user:
            uid = subprocess.run(["chroot", self.path, "id", "-u", self.user], check=True,
                                 capture_output=True, text=True).stdout.strip()
            spec = [f"--userspec={uid}:{uid}"]
        return ["chroot", *spec, self.path, *env, "sh", "-c",
                f"cd {shlex.quote(self.workdir)} && exec \"$@\"", "sh", *argv]


def build(dockerfile, base, work):
    patterns = [ln.strip() for ln in open(os.path.join(SRC, ".dockerignore"))
                if ln.strip() and not ln.startswith("#")]
    stages, cur = {}, None
    for kw, arg in instructions(dockerfile):
        if kw == "FROM":
            words = arg.split()
            if not words[0].startswith("debian:12"):
                fail(f"FROM {words[0]}: this test knows only debian:12 images")
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            cur = Root(base, os.path.join(work, f"stage-{name}"))
            stages[name] = cur
        elif kw == "RUN":
            cur.mount()
            try:
                t = time.time()
                p = subprocess.run(cur.chroot_cmd(["sh", "-c", arg]), capture_output=True, text=True)
                print(f"RUN ({time.time() - t:.0f} s): {arg[:100]}...")
            finally:
                cur.umount()
            if p.returncode != 0:
                fail(f"RUN {arg}\nexit {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        elif kw == "WORKDIR":
            cur.workdir = os.path.join(cur.workdir, arg)
            os.makedirs(cur.inside(cur.workdir), exist_ok=True)
        elif kw == "COPY":
            words = arg.split()
            frm = [w for w in words if w.startswith("--from=")]
            srcs, dest = [w for w in words if not w.startswith("--")][:-1], words[-1]
            for s in srcs:
                if frm:
                    src = stages[frm[0][7:]].inside(s)
                    subprocess.run(["cp", "-a", src.rstrip("/") + "/.", cur.inside(dest)]
                                   if os.path.isdir(src) else ["cp", "-a", src, cur.inside(dest)],
                                   check=True)
                else:
                    target = cur.inside(dest)
                    if dest.endswith("/") or os.path.isdir(target):
                        target = os.path.join(target, os.path.basename(s))
                    copy_context(os.path.join(SRC, s), target, patterns)
        elif kw == "ENV":
            for kv in shlex.split(arg):
                k, _, v = kv.partition("=")
                cur.env[k] = v
        elif kw == "USER":
            cur.user = arg
        elif kw == "ENTRYPOINT":
            cur.entrypoint = json.loads(arg)
        elif kw == "CMD":
            cur.cmd = json.loads(arg)
        elif kw not in ("EXPOSE", "LABEL"):
            fail(f"{kw}: an instruction this test does not know; teach it")
    return cur


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, body=None):
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


def main():
    if os.geteuid() != 0:
        skip("chroot and mount need root")
    if not shutil.which("debootstrap"):
        skip("debootstrap is not installed (scripts/deps.sh installs it)")
    if os.environ.get("SL_DOCKERFILE_NS") != "1":
        # A mount namespace of its own: the roots' /proc and /dev mounts can
        # neither reach the host's nor outlive the test.
        os.environ["SL_DOCKERFILE_NS"] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable,
                              *sys.argv])
    work = tempfile.mkdtemp(prefix="sl-dockerfile-")
    final, server = None, None
    try:
        base = os.path.join(work, "base")
        t = time.time()
        p = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", base, MIRROR],
                           capture_output=True, text=True)
        if p.returncode != 0:
            fail(f"debootstrap: {p.stdout[-2000:]}{p.stderr[-2000:]}")
        print(f"debootstrap: {time.time() - t:.0f} s")
        final = build(os.path.join(SRC, "Dockerfile"), base, work)

        # A model and rows to score, from the host's build.
        data = os.path.join(SRC, "examples", "test.svm")
        host = os.path.join(work, "host")
        os.makedirs(host)
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                   OMPI_MCA_orte_tmpdir_base=host)
        model = os.path.join(host, "model.json")
        subprocess.run([MPIEXEC, "--oversubscribe", "-np", "1", BIN, "train", "--data", data,
                        "--model-out", model, "--quiet", "--tracking-dir",
                        os.path.join(host, "runs")], check=True, env=env, capture_output=True)
        rows = [ln for ln in open(data).read().splitlines() if ln.strip()][:50]
        part = os.path.join(host, "rows.svm")
        open(part, "w").write("\n".join(rows) + "\n")
        want = subprocess.run([MPIEXEC, "--oversubscribe", "-np", "1", BIN, "predict", "--model",
                               model, "--data", part, "--proba"], check=True, env=env,
                              capture_output=True, text=True).stdout.split()
        shutil.copy(model, final.inside("/models/model.json"))

        port = free_port()
        final.env.update(AIP_HTTP_PORT=str(port), AIP_HEALTH_ROUTE="/v1/health",
                         AIP_PREDICT_ROUTE="/v1/models/m:predict")
        argv = final.entrypoint + final.cmd + ["--model", "/models/model.json"]
        final.mount()  # as Docker gives a container /proc and /dev
        server = subprocess.Popen(final.chroot_cmd(argv), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, start_new_session=True)
        deadline = time.time() + 60
        while True:
            try:
                if call(f"http://127.0.0.1:{port}/v1/health")[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.time() > deadline:
                fail(f"the image's server did not come up: {server.communicate()[0][-3000:]}")
            time.sleep(0.2)
        instances = [" ".join(r.split()[1:]) for r in rows]
        status, body = call(f"http://127.0.0.1:{port}/v1/models/m:predict",
                            json.dumps({"instances": instances}).encode())
        got = json.loads(body)["predictions"]
        if status != 200 or len(got) != len(want):
            fail(f"predict: {status} {body[:300]}")
        worst = max(abs(float(g) - float(w)) for g, w in zip(got, want))
        if worst > 1e-12:
            fail(f"the image's predictions differ from shardlearn predict by {worst}")
        server.send_signal(signal.SIGTERM)
        out = server.communicate(timeout=30)[0]
        if server.returncode != 0:
            fail(f"SIGTERM: exit {server.returncode}\n{out[-2000:]}")
        server = None
        print(f"the image answers {len(got)} rows as shardlearn predict does (worst {worst:.1e}); "
              "SIGTERM exits 0")
    finally:
        if server and server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        if final:
            final.umount()
        for d in os.listdir(work):
            root = os.path.join(work, d)
            for m in ("proc", "dev"):
                subprocess.run(["umount", "-l", os.path.join(root, m)], capture_output=True)
        subprocess.run(["rm", "-rf", "--one-file-system", work], check=False)


main()
