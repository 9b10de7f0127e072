"""The installed package, as a C program that embeds shardlearn sees it:
`cmake --install` into a temporary prefix; examples/embed built against it
once with find_package(shardlearn) and once with pkg-config; both run under
mpirun on 2 ranks reach the very objective the CLI reports for the same data
and parameters, and so does the example on a 2-rank sub-communicator of a
3-rank job.

argv: BIN MPIRUN BUILD_DIR SOURCE_DIR"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from common import HEART, check, finish, mpi_env, run, workdir  # noqa: E402

BUILD, SRC = sys.argv[3], sys.argv[4]
d = workdir()
prefix = os.path.join(d, "prefix")


def sh(cmd, env=None, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout


sh(["cmake", "--install", BUILD, "--prefix", prefix])
for f in ("include/shardlearn/shardlearn.h", "include/shardlearn/version.h",
          "lib/libshardlearn.a", "lib/cmake/shardlearn/shardlearnConfig.cmake",
          "lib/pkgconfig/shardlearn.pc", "bin/shardlearn"):
    check(os.path.exists(os.path.join(prefix, f)), f"installed {f}")
# No private header leaks into the install.
private = [f for f in os.listdir(os.path.join(prefix, "include", "shardlearn")) if f.endswith(".in")]
check(not private, f"templates installed: {private}")

# 1. find_package(shardlearn), from the example's own CMakeLists.txt.
eb = os.path.join(d, "build-cmake")
sh(["cmake", "-S", os.path.join(SRC, "examples", "embed"), "-B", eb, f"-DCMAKE_PREFIX_PATH={prefix}"])
sh(["cmake", "--build", eb])
exe_cmake = os.path.join(eb, "embed")

# 2. pkg-config, as a Makefile user would (a static library: --static).
exe_pc = os.path.join(d, "embed-pc")
env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
flags = sh(["pkg-config", "--static", "--cflags", "--libs", "shardlearn"], env=env).split()
cc = shutil.which("mpicc") or "cc"
sh([cc, "-std=c11", "-O2", os.path.join(SRC, "examples", "embed", "embed.c"), "-o", exe_pc] + flags)
version = sh(["pkg-config", "--modversion", "shardlearn"], env=env).strip()
# The headers from C++: extern "C" guards, so the symbols link unmangled.
cpp = os.path.join(d, "check.cpp")
with open(cpp, "w") as f:
    f.write('#include <shardlearn/shardlearn.h>\n'
            'int main() { sl_train_params p; sl_train_params_init(&p); p.l2 = -1;\n'
            '  return sl_check_params(&p) != nullptr ? 0 : 1; }\n')
cxx = shutil.which("mpicxx") or "c++"
sh([cxx, "-std=c++17", cpp, "-o", os.path.join(d, "check-cpp")] + flags)
check(subprocess.run([os.path.join(d, "check-cpp")]).returncode == 0, "C++ program: sl_check_params")
check(version.count(".") == 2, f"pkg-config version {version!r}")

# The CLI's objective for the same problem.
metrics = os.path.join(d, "metrics.json")
run(["train", "--data", HEART, "--l2", "1e-3", "--tol", "1e-10", "--quiet",
     "--metrics-out", metrics, "--tracking-dir", os.path.join(d, "runs")], np_=2)
with open(metrics) as f:
    want = json.load(f)["objective"]


def embed(exe, np_, ranks):
    cmd = [sys.argv[2], "--oversubscribe", "-np", str(np_), exe, HEART, str(ranks)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(), timeout=300)
    check(p.returncode == 0, f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr}")
    words = p.stdout.split()
    got = float(words[1]) if len(words) > 1 and words[0] == "objective" else float("nan")
    print(f"{os.path.basename(exe)} -np {np_} on {ranks} ranks: {p.stdout.strip()}", flush=True)
    return got, p.stdout


for exe in (exe_cmake, exe_pc):
    got, out = embed(exe, 2, 0)
    check(got == want, f"{exe}: objective {got!r}, the CLI's {want!r}")
    check(f"shardlearn {version}" in out, f"{exe}: version {version} not in {out!r}")
# A 2-rank sub-communicator of a 3-rank job: the same as the CLI on 2 ranks.
got, _ = embed(exe_cmake, 3, 2)
check(got == want, f"sub-communicator: objective {got!r}, the CLI's {want!r}")
finish()
