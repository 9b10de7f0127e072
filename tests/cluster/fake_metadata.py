"""A Compute Engine metadata server for one VM's instance/preempted, for the
Batch task test: FALSE, or TRUE while the file FLAG exists; and the default
service account's access token, for the gs:// tests (tests/io). It speaks the
documented protocol: Metadata-Flavor: Google required, an ETag with each
answer, and wait_for_change=true with a last_etag equal to the current ETag
holds the request until the value changes or timeout_sec passes.

  fake_metadata.py HOST:PORT FLAG     (prints "ready" once listening)"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PATH = "/computeMetadata/v1/instance/preempted"
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    flag = sys.argv[2]

    def value():
        return "TRUE" if os.path.exists(flag) else "FALSE"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, code, body, etag=None):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/text")
            self.send_header("Content-Length", str(len(data)))
            if etag:
                self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            u = urlsplit(self.path)
            q = {k: v[0] for k, v in parse_qs(u.query).items()}
            if u.path not in (PATH, TOKEN_PATH):
                return self.answer(404, "not found")
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.answer(403, "missing Metadata-Flavor")
            if u.path == TOKEN_PATH:
                return self.answer(200, json.dumps({"access_token": f"ya29.metadata-{os.getpid()}",
                                                    "expires_in": 3599, "token_type": "Bearer"}))
            v = value()
            if q.get("wait_for_change") == "true" and q.get("last_etag") == f"etag-{v}":
                deadline = time.monotonic() + float(q.get("timeout_sec", "300"))
                while value() == v and time.monotonic() < deadline:
                    time.sleep(0.05)
                v = value()
            self.answer(200, v, f"etag-{v}")

    srv = ThreadingHTTPServer((host, int(port)), Handler)
    srv.daemon_threads = True
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
