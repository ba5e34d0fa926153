"""A webhook receiver on loopback for billrun's tests, and the check of what it got
with the reference implementation of the Standard Webhooks specification (the
`standardwebhooks` package from PyPI), not billrun's code.

  webhook_receiver.py serve LOG       records each request as a JSON line in LOG and
                                      prints its port; /flaky answers 500 to the first
                                      two requests of each webhook-id, /redirect answers
                                      302 to the metadata address, the rest 200.
  webhook_receiver.py verify LOG PATH=SECRET...
                                      verifies every recorded request of each PATH with
                                      its secret and prints, per path, the requests in
                                      order: {"id", "type", "timestamp", "status",
                                      "documents"} (exit 1 when a
                                      signature does not verify).
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def serve(log_path):
    lock = threading.Lock()
    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length).decode("utf-8")
            headers = {h: self.headers.get(h, "") for h in HEADERS}
            with lock:
                key = (self.path, headers["webhook-id"])
                seen[key] = seen.get(key, 0) + 1
                n = seen[key]
                if self.path == "/flaky" and n <= 2:
                    status = 500
                elif self.path == "/redirect":
                    status = 302
                else:
                    status = 200
                with open(log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"path": self.path, "headers": headers,
                                        "body": body, "status": status}) + "\n")
            self.send_response(status)
            if status == 302:
                self.send_header("location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def verify(log_path, pairs):
    from standardwebhooks.webhooks import Webhook

    secrets = dict(p.split("=", 1) for p in pairs)
    out = {}
    with open(log_path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            secret = secrets.get(r["path"])
            if secret is None:
                out.setdefault(r["path"], []).append({"unverified": True})
                continue
            # Raises WebhookVerificationError on a bad signature or an old timestamp.
            payload = Webhook(secret).verify(r["body"], r["headers"])
            out.setdefault(r["path"], []).append({
                "id": r["headers"]["webhook-id"],
                "type": payload["type"],
                "timestamp": payload["timestamp"],
                "status": r["status"],
                # Per-document events: how many documents the event carried.
                "documents": len(payload.get("data", {}).get("documents", [])),
            })
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif sys.argv[1] == "verify":
        verify(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
