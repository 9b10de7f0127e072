"""The CI wrappers in examples/ci/ (GitHub Actions, GitLab CI, Cloud Build):
each is valid YAML with the keys its CI system requires, builds shardlearn
first, calls scripts/ci-regression.sh exactly the same way, and hands the
JUnit file that invocation writes to the CI system's test report (GitHub,
GitLab) or copies it out even when the gate fails (Cloud Build). The
invocation itself parses: the script, given it, stops only for the missing
server."""
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EX = os.path.join(ROOT, "examples", "ci")
SCRIPT = "scripts/ci-regression.sh"
INVOCATION = f"{SCRIPT} --np 2 --out ci-out"
JUNIT = "ci-out/junit.xml"

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL", what, flush=True)


def load(name):
    with open(os.path.join(EX, name)) as f:
        return yaml.safe_load(f)


def strings(node):
    """Every string anywhere in a parsed YAML document."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


def calls(name, doc):
    """The lines that call the script: exactly one, exactly INVOCATION."""
    lines = [ln.strip() for s in strings(doc) for ln in s.splitlines() if SCRIPT in ln]
    check(lines == [INVOCATION], f"{name}: calls {lines}, want [{INVOCATION!r}]")


def builds_first(name, commands):
    """commands: the shell lines in order; scripts/build.sh before the script."""
    text = "\n".join(commands)
    b, r = text.find("scripts/build.sh"), text.find(SCRIPT)
    check(0 <= b < r, f"{name}: does not run scripts/build.sh before {SCRIPT}")


# --- GitHub Actions ------------------------------------------------------------------
gh = load("github-actions.yml")
# PyYAML reads YAML 1.1, where a bare `on` is the boolean true; GitHub reads the key `on`.
on = gh.get("on", gh.get(True))
check(isinstance(gh, dict) and on is not None and isinstance(gh.get("jobs"), dict) and gh["jobs"],
      f"github: needs on and jobs: {list(gh) if isinstance(gh, dict) else gh}")
for jname, job in (gh.get("jobs") or {}).items():
    check("runs-on" in job and isinstance(job.get("steps"), list) and job["steps"], f"github {jname}: runs-on, steps")
    steps = job.get("steps") or []
    for i, st in enumerate(steps):
        check(("uses" in st) != ("run" in st), f"github {jname} step {i}: exactly one of uses/run")
    uses = [st.get("uses", "") for st in steps]
    check(any(u.startswith("actions/checkout@") for u in uses), f"github {jname}: no actions/checkout")
    builds_first("github", [st.get("run", "") for st in steps])
    report = [st for st in steps if st.get("uses", "").startswith("mikepenz/action-junit-report@")]
    check(len(report) == 1 and report[0].get("if") == "always()" and report[0].get("with", {}).get("report_paths") == JUNIT,
          f"github {jname}: JUnit report step {report}")
    keep = [st for st in steps if st.get("uses", "").startswith("actions/upload-artifact@")]
    check(len(keep) == 1 and keep[0].get("if") == "always()", f"github {jname}: upload-artifact step {keep}")
    check("MLFLOW_TRACKING_URI" in job.get("env", {}), f"github {jname}: no MLFLOW_TRACKING_URI")
check(gh.get("permissions", {}).get("checks") == "write", "github: the JUnit check needs permissions: checks: write")
calls("github", gh)

# --- GitLab CI -------------------------------------------------------------------------
gl = load("gitlab-ci.yml")
reserved = {"default", "include", "stages", "variables", "workflow", "image", "services", "cache",
            "before_script", "after_script"}
jobs = {k: v for k, v in gl.items() if k not in reserved and not k.startswith(".")}
check(len(jobs) == 1, f"gitlab: jobs {list(jobs)}")
for jname, job in jobs.items():
    check(isinstance(job.get("script"), list) and job["script"], f"gitlab {jname}: no script")
    check(all(isinstance(s, str) for s in job.get("script", []) + job.get("before_script", [])),
          f"gitlab {jname}: script lines must be strings")
    builds_first("gitlab", job.get("before_script", []) + job.get("script", []))
    art = job.get("artifacts", {})
    check(art.get("reports", {}).get("junit") == JUNIT and art.get("when") == "always",
          f"gitlab {jname}: artifacts {art}")
    for r in job.get("rules", []):
        check("if" in r or "when" in r, f"gitlab {jname}: rule {r}")
calls("gitlab", gl)

# --- Cloud Build ------------------------------------------------------------------------
cb = load("cloudbuild.yaml")
steps = cb.get("steps")
check(isinstance(steps, list) and steps and all(isinstance(s, dict) and s.get("name") for s in steps),
      "cloudbuild: every step needs a name")
builds_first("cloudbuild", [a for s in steps or [] for a in s.get("args", [])])
declared = {e["env"] for e in cb.get("availableSecrets", {}).get("secretManager", [])}
for s in steps or []:
    check(all(isinstance(a, str) for a in s.get("args", [])), f"cloudbuild {s.get('id')}: args must be strings")
    for e in s.get("secretEnv", []):
        check(e in declared, f"cloudbuild {s.get('id')}: secretEnv {e} not in availableSecrets")
# A `$NAME` is a substitution (a shell `$` is `$$`): user ones (`_X`) must be
# declared, any other must be one Cloud Build provides, or the build is refused.
builtin = {"PROJECT_ID", "PROJECT_NUMBER", "BUILD_ID", "LOCATION", "TRIGGER_NAME", "COMMIT_SHA", "SHORT_SHA",
           "REVISION_ID", "REPO_NAME", "REPO_FULL_NAME", "BRANCH_NAME", "TAG_NAME", "REF_NAME",
           "TRIGGER_BUILD_CONFIG_PATH", "SERVICE_ACCOUNT_EMAIL", "SERVICE_ACCOUNT"}
subs = set(cb.get("substitutions", {}))
for text in strings({k: v for k, v in cb.items() if k != "substitutions"}):
    for m in re.finditer(r"\$(\$|\{?([A-Za-z_][A-Za-z0-9_]*))", text):
        if m.group(1) == "$":
            continue
        name = m.group(2)
        check(name in subs if name.startswith("_") else name in builtin,
              f"cloudbuild: ${name} is neither declared nor built in (a shell variable needs $$)")
calls("cloudbuild", cb)
# The reports are copied out even when the regression step's status is not 0.
reg = next((i for i, s in enumerate(steps or []) if any(SCRIPT in a for a in s.get("args", []))), None)
check(reg is not None and "exit-status" in "".join(steps[reg]["args"])
      and any("exit-status" in "".join(s.get("args", [])) for s in steps[reg + 1:]),
      "cloudbuild: the regression step's status must be kept and given back by a later step")

# --- The invocation parses ----------------------------------------------------------------
env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
env["SHARDLEARN"] = sys.executable  # any executable: the script stops before running it
p = subprocess.run(["bash", *INVOCATION.split()], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
check(p.returncode == 2 and "MLFLOW_TRACKING_URI" in p.stderr, f"{INVOCATION}: exit {p.returncode} {p.stderr}")

if failures:
    print(f"FAIL ({len(failures)} failures)")
    sys.exit(1)
print("PASS")
