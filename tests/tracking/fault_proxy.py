"""A fault-injecting HTTP proxy in front of the real MLflow server: answers
some requests itself with 500/503, holds others past the client's timeout
(and then forwards them, so the server applies a request the client gave up
on), or demands credentials and answers 401 without them; optionally over
TLS with a self-signed certificate.

Which requests fail is drawn from a seeded generator, not taken in a fixed
rhythm: a client that sends the same number of requests per attempt would
otherwise meet the fault on the same request every time."""
import http.server
import random
import ssl
import threading
import time
import urllib.error
import urllib.request


class FaultProxy:
    def __init__(self, upstream, fail_rate=0.0, delay_rate=0.0, delay=0.0, require_auth=None, seed=1,
                 tls=None, garbage_rate=0.0, huge_first=0, not_found=(),
                 hold_once=None, reject_once=None):
        self.upstream = upstream
        self.fail_rate = fail_rate        # share of requests answered 500/503 by the proxy itself
        self.delay_rate = delay_rate      # share held `delay` seconds, then forwarded
        self.delay = delay
        self.rng = random.Random(seed)
        self.require_auth = require_auth  # exact Authorization header value, or None
        self.garbage_rate = garbage_rate  # share answered 200 with a body that is not JSON
        self.huge_first = huge_first      # the first this many requests get a 300 MB answer
        self.hold_once = hold_once        # (method, path): the first such request is held `delay` s, then forwarded
        self.reject_once = reject_once    # (method, path): the first such request is answered (status, body) by the proxy
        self.not_found = tuple(not_found)  # path parts answered 404 as a server without them (MLflow 2.x)
        self.count = 0
        self.faults = 0
        self.seen_auth = []
        self.log = []                     # (n, method, path, fault) of every request, for failure messages
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy.lock:
                    proxy.count += 1
                    n = proxy.count
                    fault = proxy.rng.random()
                    fail = fault < proxy.fail_rate
                    hold = not fail and fault < proxy.fail_rate + proxy.delay_rate
                    if proxy.hold_once and (self.command, self.path.split("?")[0]) == proxy.hold_once:
                        hold, proxy.hold_once = True, None
                    reject = None
                    if proxy.reject_once and (self.command, self.path.split("?")[0]) == proxy.reject_once[:2]:
                        reject, proxy.reject_once = proxy.reject_once[2:], None
                    junk = not fail and not hold and \
                        fault < proxy.fail_rate + proxy.delay_rate + proxy.garbage_rate
                    huge = n <= proxy.huge_first
                    proxy.faults += fail or hold
                    proxy.seen_auth.append(self.headers.get("Authorization"))
                    proxy.log.append((n, self.command, self.path.split("?")[0],
                                      "fail" if fail else "hold" if hold else ""))
                if proxy.require_auth is not None and self.headers.get("Authorization") != proxy.require_auth:
                    return self.reply(401, b'{"error_code": "UNAUTHENTICATED", "message": "bad credentials"}')
                if reject:
                    return self.reply(*reject)
                if any(part in self.path for part in proxy.not_found):  # Flask's own 404 page
                    return self.reply(404, b"<!doctype html><title>404 Not Found</title>",
                                      {"Content-Type": "text/html"})
                if huge:  # a body far past what any answer may be, as a broken server sends
                    return self.reply(200, b"[" * (300 << 20))
                if junk:  # a proxy's error page, with a status that claims success
                    return self.reply(200, b"<html><body>502 Bad Gateway</body></html>",
                                      {"Content-Type": "text/html"})
                if fail:
                    return self.reply(503 if n % 2 else 500, b'{"error_code": "TEMPORARILY_UNAVAILABLE"}',
                                      {"Retry-After": "0"} if n % 2 else {})
                if hold:
                    time.sleep(proxy.delay)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "connection", "authorization")}
                req = urllib.request.Request(proxy.upstream + self.path, data=body, method=self.command,
                                             headers=headers)
                try:
                    with urllib.request.urlopen(req, timeout=60) as r:
                        return self.reply(r.status, r.read(), {"Content-Type": r.headers.get("Content-Type", "application/json")})
                except urllib.error.HTTPError as e:
                    return self.reply(e.code, e.read())
                except Exception:
                    return self.reply(502, b'{"error_code": "BAD_GATEWAY"}')

            def reply(self, code, data, headers=None):
                try:
                    self.send_response(code)
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a held request

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls:  # (certfile, keyfile): the proxy speaks https
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
