"""Credentials never leave the process except in the Authorization header.
With MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME/PASSWORD and a tracking
URI carrying user:password@ set, no file a run writes (the tracking
directory: journal, state.json, artifact copies; the model and metrics
files) and no line any process prints contains a secret - raw, URL-encoded,
or base64 as "user:password" (what Basic auth sends) - in success and in
every failure mode:
  1. success against a real `mlflow server`: everything set, direct; then
     through auth-checking proxies that accept only the token, only the
     URI's user:password, only MLFLOW_TRACKING_USERNAME/PASSWORD (so each is
     shown to have been sent); also over https with a trusted certificate;
  2. the server down for the whole run, then mlflow-sync (to a dead server,
     then to the live one) with the secrets still in the environment;
  3. a 401 from an auth-checking proxy, for the token and for Basic auth,
     and mlflow-sync meeting the same 401;
  4. bad data (FAILED), SIGTERM mid-run (KILLED), an unwritable
     --model-out (FAILED), an unwritable --tracking-dir;
  5. https with an untrusted certificate;
  6. URIs a user may well type: a password with a raw '/' or '@' (not
     percent-encoded), a URI without a scheme; all answered 401.
At the end, everything the runs sent the server (its database, artifacts
and log) is searched too."""
import base64
import json
import os
import signal
import subprocess
import time
import urllib.parse

from fault_proxy import FaultProxy
from mlflow_server import MlflowServer, free_port
from track_common import (BIN, EXAMPLES, Watched, check, finish, long_data, mpi_env, run_dir,
                          self_signed_cert, state, train, workdir)

d = workdir()
TRAIN = os.path.join(EXAMPLES, "train.svm")
QUICK = ["--data", TRAIN, "--optimizer", "lbfgs", "--max-iter", "20", "--quiet"]

# Distinctive secrets. Each is two long random-looking halves, so a leak of
# only part of one (cut at a '/' or an '@') is still found; the passwords
# hold '@', ':' and '/', which a URI must percent-encode.
TOKEN = "tokK7Qx2Lp9Vm-tokR4Hs8Kd3Wn"
ENV_USER, ENV_PASS = "envuser", "envA5Tg7Jw2@:/envB3Rk9Yc6"
URI_USER, URI_PASS = "uriuser", "uriA8Mz4Pd1@:/uriB6Fv2Xs7"
# Typed into a URI unencoded (case 6).
SLASH_PASS = "slhA1Cq5Gh3/slhB9Lt2Ub8"
AT_PASS = "atsA4Ne6Bj9@atsB2Wy7Oi5"
BARE_PASS = "bareA3Dk8Ex1bareB7Pz5Mf4"
SECRETS = [("the token", TOKEN), ("MLFLOW_TRACKING_PASSWORD", ENV_PASS), ("the URI's password", URI_PASS),
           ("a password with a raw '/'", SLASH_PASS), ("a password with a raw '@'", AT_PASS),
           ("the password of a URI without scheme", BARE_PASS)]
PAIRS = [(ENV_USER, ENV_PASS), (URI_USER, URI_PASS), ("rawuser", SLASH_PASS), ("rawuser", AT_PASS),
         ("rawuser", BARE_PASS)]


def b64(s):
    return base64.b64encode(s.encode()).decode()


def forms():
    """(what, text) for every form of every secret that must never appear."""
    out = []
    for name, secret in SECRETS:
        out.append((name, secret))
        for enc in {urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret)} - {secret}:
            out.append((f"{name}, URL-encoded", enc))
        for part in secret.replace("@", "/").replace(":", "/").split("/"):
            if len(part) >= 10:
                out.append((f"{name}, part", part))
        out.append((f"{name}, base64", b64(secret)))
    for u, p in PAIRS:
        out.append((f"{u}:password, base64 (Basic auth)", b64(f"{u}:{p}")))
    seen, unique = set(), []
    for what, text in out:
        if text not in seen:
            seen.add(text)
            unique.append((what, text.encode()))
    return unique


FORMS = forms()


def uri_with(url, user=URI_USER, password=URI_PASS):
    """url with user:password@ in its authority, percent-encoded."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}@{rest}"


def env_of(token=True, basic=True, uri=""):
    """The credential variables, each set or empty (empty counts as unset)."""
    return {"MLFLOW_TRACKING_TOKEN": TOKEN if token else "",
            "MLFLOW_TRACKING_USERNAME": ENV_USER if basic else "",
            "MLFLOW_TRACKING_PASSWORD": ENV_PASS if basic else "",
            "MLFLOW_TRACKING_URI": uri, "MLFLOW_RUN_ID": ""}


ALL = env_of()
scanned_cases = 0


def scan(case, outputs, paths, want=()):
    """Every form of every secret, in each captured output and in every file
    under paths. want: names of files that must be among those searched (so
    the search cannot pass by finding nothing)."""
    global scanned_cases
    blobs = [(f"output of {label}", (text or "").encode()) for label, text in outputs]
    for path in paths:
        files = [path] if os.path.isfile(path) else [
            os.path.join(root, fn) for root, _, names in os.walk(path) for fn in names]
        for file in files:
            with open(file, "rb") as f:
                blobs.append((file, f.read()))
    names = {os.path.basename(where) for where, _ in blobs}
    missing = [w for w in want if w not in names]
    check(not missing, f"{case}: nothing to search: {missing} not written (files: {sorted(names)})")
    for where, data in blobs:
        hits = [(what, data.find(form)) for what, form in FORMS if form in data]
        if hits:
            at = hits[0][1]
            line = data[data.rfind(b"\n", 0, at) + 1:].split(b"\n", 1)[0]
            check(False, f"{case}: {'; '.join(sorted({w for w, _ in hits}))} in {where}: "
                         f"{line.decode(errors='replace')[:400]!r}")
    scanned_cases += 1


def outputs_of(tag):
    return os.path.join(d, f"{tag}-model.json"), os.path.join(d, f"{tag}-metrics.json")


def run(tag, np_, args, env, tracking_uri=None, timeout=300):
    """A training run with its own tracking dir, model and metrics files."""
    td = os.path.join(d, tag)
    model, metrics = outputs_of(tag)
    uri = ["--tracking-uri", tracking_uri] if tracking_uri else []
    p = train(np_, args + uri + ["--tracking-dir", td, "--model-out", model, "--metrics-out", metrics],
              env=env, timeout=timeout)
    return p, td, model, metrics


def mlflow_sync(rd, env, uri=None, timeout=60):
    """mlflow-sync on one process; uri None: from MLFLOW_TRACKING_URI."""
    cmd = [BIN, "mlflow-sync", rd, "--timeout", str(timeout)] + (["--tracking-uri", uri] if uri else [])
    return subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(env), timeout=timeout + 120)


def sent(td):
    return bool(state(run_dir(td)).get("finished_sent"))


T0 = time.time()


def lap(what):
    print(f"{what}: done at {time.time() - T0:.1f}s", flush=True)


with MlflowServer() as srv:
    # 1. Success, direct to the server: every credential set, the URI given
    # both ways (--tracking-uri, MLFLOW_TRACKING_URI), model registered.
    for how in ("flag", "env"):
        live = uri_with(srv.url)
        env = dict(ALL, MLFLOW_TRACKING_URI=live if how == "env" else "")
        p, td, model, metrics = run(f"live-{how}", 2, QUICK + ["--tracking-flush-timeout", "120",
                                                              "--register-model", "secret-model"],
                                    env, tracking_uri=live if how == "flag" else None)
        check(p.returncode == 0 and sent(td), f"live ({how}): {p.returncode} {p.stderr}")
        run_json = json.dumps(srv.run(state(run_dir(td))["run_id"]))
        scan(f"live ({how})", [("train", p.stdout + p.stderr), ("the server's run", run_json)],
             [td, model, metrics], want=("journal.jsonl", "state.json", "model.json", f"live-{how}-model.json"))

    # Each credential on its own, through a proxy that accepts only it: each
    # reaches the server, so the secrets the runs held were real ones.
    cert, key = self_signed_cert(d)
    cases = [("token", f"Bearer {TOKEN}", ALL, uri_with, None),
             ("URI user:password", "Basic " + b64(f"{URI_USER}:{URI_PASS}"), env_of(False, False), uri_with, None),
             ("MLFLOW_TRACKING_USERNAME", "Basic " + b64(f"{ENV_USER}:{ENV_PASS}"), env_of(False, True),
              lambda u: u, None),
             ("https, trusted", "Basic " + b64(f"{URI_USER}:{URI_PASS}"),
              dict(env_of(False, False), MLFLOW_TRACKING_SERVER_CERT_PATH=cert), uri_with, (cert, key))]
    for name, header, env, make_uri, tls in cases:
        with FaultProxy(srv.url, require_auth=header, tls=tls) as px:
            tag = "only-" + name.split()[0].split(",")[0].lower()
            p, td, model, metrics = run(tag, 1, QUICK + ["--tracking-flush-timeout", "120"], env,
                                        tracking_uri=make_uri(px.url))
            check(p.returncode == 0 and sent(td) and header in px.seen_auth,
                  f"{name}: not delivered with the credential: {p.stderr}")
            scan(name, [("train", p.stdout + p.stderr)], [td, model, metrics], want=("journal.jsonl",))
    lap("1 success")

    # 2. The server down for the whole run; mlflow-sync to a dead server,
    # then to the live one, the secrets still in the environment.
    dead = uri_with(f"http://127.0.0.1:{free_port()}")
    p, td, model, metrics = run("down", 2, QUICK + ["--tracking-flush-timeout", "1"], ALL, tracking_uri=dead)
    check(p.returncode == 0 and "mlflow-sync" in p.stderr, f"server down: {p.returncode} {p.stderr}")
    rd = run_dir(td)
    s_dead = mlflow_sync(rd, dict(ALL, MLFLOW_TRACKING_URI=dead), timeout=3)
    check(s_dead.returncode != 0, f"mlflow-sync to a dead server: exit 0 {s_dead.stderr}")
    s_live = mlflow_sync(rd, ALL, uri=uri_with(srv.url))
    check(s_live.returncode == 0 and sent(td), f"mlflow-sync to the server: {s_live.stderr}")
    scan("server down, then mlflow-sync",
         [("train", p.stdout + p.stderr), ("mlflow-sync (dead)", s_dead.stdout + s_dead.stderr),
          ("mlflow-sync (live)", s_live.stdout + s_live.stderr)],
         [td, model, metrics], want=("journal.jsonl", "state.json"))
    lap("2 server down")

    # 3. 401: the proxy wants credentials other than the ones sent - a token,
    # then Basic auth from the URI; mlflow-sync meets the same 401.
    for name, env in (("token", ALL), ("Basic", env_of(False, False))):
        with FaultProxy(srv.url, require_auth="Bearer another-token-entirely") as px:
            p, td, model, metrics = run(f"401-{name}", 2, QUICK, env, tracking_uri=uri_with(px.url))
            errs = [l for l in p.stderr.splitlines() if "401" in l]
            check(p.returncode == 0 and len(errs) == 1 and px.seen_auth, f"401 ({name}): {p.stderr!r}")
            s = mlflow_sync(run_dir(td), env, uri=uri_with(px.url), timeout=10)
            check(s.returncode != 0 and "401" in s.stderr, f"mlflow-sync 401 ({name}): {s.stderr!r}")
            scan(f"401 ({name})", [("train", p.stdout + p.stderr), ("mlflow-sync", s.stdout + s.stderr)],
                 [td, model, metrics], want=("journal.jsonl",))
    lap("3 401")

    # 4. Failed and killed runs, tracked live.
    live = uri_with(srv.url)
    bad = os.path.join(d, "bad.svm")
    with open(bad, "w") as f:
        f.write("+1 1:0.5 2:1\n-1 3:1 2:0.5\n")
    p, td, model, metrics = run("bad-data", 2, ["--data", bad, "--quiet", "--tracking-flush-timeout", "120"],
                                ALL, tracking_uri=live)
    check(p.returncode != 0 and "bad.svm:2" in p.stderr, f"bad data: {p.returncode} {p.stderr}")
    check(srv.run(state(run_dir(td))["run_id"])["info"]["status"] == "FAILED", "bad data: not FAILED")
    scan("bad data", [("train", p.stdout + p.stderr)], [td, model, metrics], want=("journal.jsonl",))

    # An output path under a regular file: no one, root included, can write it.
    blocker = os.path.join(d, "not-a-directory")
    with open(blocker, "w") as f:
        f.write("x")
    td = os.path.join(d, "unwritable-model")
    model, metrics = os.path.join(blocker, "model.json"), os.path.join(d, "unwritable-metrics.json")
    p = train(2, QUICK + ["--tracking-uri", live, "--tracking-dir", td, "--tracking-flush-timeout", "120",
                          "--model-out", model, "--metrics-out", metrics], env=ALL)
    check(p.returncode != 0, f"unwritable --model-out: exit 0 {p.stderr}")
    check(srv.run(state(run_dir(td))["run_id"])["info"]["status"] == "FAILED", "unwritable --model-out: not FAILED")
    scan("unwritable --model-out", [("train", p.stdout + p.stderr)], [td, metrics], want=("journal.jsonl",))

    p = train(2, QUICK + ["--tracking-uri", live, "--tracking-dir", os.path.join(blocker, "runs")], env=ALL)
    check(p.returncode == 0 and "tracking" in p.stderr, f"unwritable --tracking-dir: {p.returncode} {p.stderr}")
    scan("unwritable --tracking-dir", [("train", p.stdout + p.stderr)], [])

    data = os.path.join(d, "long.svm")
    long_data(data, n=20000)
    td = os.path.join(d, "term")
    model, metrics = outputs_of("term")
    w = Watched(2, ["--data", data, "--optimizer", "sgd", "--batch-size", "64", "--lr", "0.5",
                    "--epochs", "100000", "--tracking-uri", live, "--tracking-dir", td,
                    "--model-out", model, "--metrics-out", metrics], env=ALL)
    check(w.wait_epochs(3), "SIGTERM: no progress")
    w.proc.send_signal(signal.SIGTERM)
    code, err = w.wait(timeout=120)
    check(code != 0, "SIGTERM: exit status 0")
    rd = run_dir(td)
    s = mlflow_sync(rd, ALL, uri=live)
    check(s.returncode == 0 and srv.run(state(rd)["run_id"])["info"]["status"] == "KILLED",
          f"SIGTERM: not KILLED {s.stderr}")
    scan("SIGTERM", [("train", "".join(w.lines) + err), ("mlflow-sync", s.stdout + s.stderr)],
         [td, model, metrics], want=("journal.jsonl",))
    lap("4 failed and killed")

    # 5. https with a certificate nobody trusts: one error line.
    with FaultProxy(srv.url, tls=(cert, key)) as px:
        p, td, model, metrics = run("untrusted", 1, QUICK + ["--tracking-flush-timeout", "120"], ALL,
                                    tracking_uri=uri_with(px.url))
        errs = [l for l in p.stderr.splitlines() if "MLFLOW_TRACKING_SERVER_CERT_PATH" in l]
        check(p.returncode == 0 and len(errs) == 1, f"untrusted certificate: {p.stderr!r}")
        scan("untrusted certificate", [("train", p.stdout + p.stderr)], [td, model, metrics],
             want=("journal.jsonl",))
    lap("5 untrusted certificate")

    # 6. URIs as typed: the password not percent-encoded, or no scheme. The
    # proxy answers 401, whose message names the server.
    with FaultProxy(srv.url, require_auth="Bearer another-token-entirely") as px:
        hostport = px.url.split("://", 1)[1]
        for i, (name, uri) in enumerate((("raw '/' in the password", f"http://rawuser:{SLASH_PASS}@{hostport}"),
                                         ("raw '@' in the password", f"http://rawuser:{AT_PASS}@{hostport}"),
                                         ("no scheme", f"rawuser:{BARE_PASS}@{hostport}"))):
            tag = f"typed-{i}"
            p, td, model, metrics = run(tag, 1, QUICK + ["--tracking-flush-timeout", "5"], env_of(False, False),
                                        tracking_uri=uri)
            check(p.returncode == 0, f"{name}: training failed {p.stderr}")
            s = mlflow_sync(run_dir(td), env_of(False, False), uri=uri, timeout=5)
            scan(f"URI with {name}", [("train", p.stdout + p.stderr), ("mlflow-sync", s.stdout + s.stderr)],
                 [td, model, metrics], want=("journal.jsonl",))
    lap("6 typed URIs")

    # What the runs sent the server: its database, artifacts and log.
    scan("the server's store", [], [srv.dir], want=("mlflow.db",))
check(scanned_cases >= 18, f"only {scanned_cases} cases searched")
finish()
