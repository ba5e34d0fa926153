"""Measures a Lambda binary's cold start on this machine: from process start to the
first event handled (its response posted to the runtime API), and the same event
handled again by the now warm process, so that the start-up overhead (cold − warm) is
visible apart from the event's own work.

A minimal Lambda Runtime API on 127.0.0.1 hands the binary the event twice, records
when each response arrives, and the binary is then stopped. Cold is process start to
the first response; warm is the second event handed out to its response. The
function's AWS endpoint is the caller's environment (a moto server on loopback,
infra/local/with-moto.sh), so nothing leaves the machine. An event with an
`idempotency-key` header gets a fresh key per invocation, so that the second invocation
does the same work as the first (not an idempotent replay); `RUN_ID` placeholders become
a fresh UUID naming no run (see `event_for`).

    python3 infra/lambda/cold-start.py target/lambda/api-queries/bootstrap functions/events/http-get-run.json [runs]
"""

import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid


def event_for(event_bytes, invocation):
    """The event of one invocation: the `RUN_ID` placeholders of the sample events (which
    the handlers' tests fill in) become a fresh UUID that names no run, so that the event
    reads the table and finds nothing instead of failing validation without a request;
    a fresh idempotency key when it carries one."""
    event_bytes = event_bytes.replace(b"RUN_ID", str(uuid.uuid4()).encode())
    try:
        event = json.loads(event_bytes)
    except ValueError:
        return event_bytes
    headers = event.get("headers") if isinstance(event, dict) else None
    if isinstance(headers, dict) and "idempotency-key" in headers:
        headers["idempotency-key"] = f"{headers['idempotency-key']}-{invocation}-{uuid.uuid4().hex[:8]}"
        return json.dumps(event).encode()
    return event_bytes


def measure(binary, event_bytes):
    """One process: (cold ms, warm ms, the responses' paths and bodies)."""
    done = threading.Event()
    served = {}
    responses = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        count = 0
        lock = threading.Lock()

        def log_message(self, *args):
            pass

        def do_GET(self):
            if not self.path.endswith("/invocation/next"):
                self.send_error(404)
                return
            with Handler.lock:
                Handler.count += 1
                n = Handler.count
            if n > 2:
                time.sleep(5)  # no third invocation
                return
            body = event_for(event_bytes, n)
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", f"invocation-{n}")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:cold")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            served[n] = time.perf_counter()
            self.wfile.write(body)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            at = time.perf_counter()
            n = 2 if "/invocation-2/" in self.path else 1
            responses[n] = (at, self.path.rsplit("/", 1)[-1], body[:200])
            self.send_response(202)
            self.end_headers()
            if len(responses) == 2:
                done.set()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{server.server_address[1]}"
    env.setdefault("AWS_LAMBDA_FUNCTION_NAME", "cold")
    env.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
    env.setdefault("AWS_LAMBDA_FUNCTION_VERSION", "1")
    env.setdefault("AWS_LAMBDA_LOG_STREAM_NAME", "cold")
    env.setdefault("AWS_LAMBDA_LOG_GROUP_NAME", "cold")
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok = done.wait(30)
    proc.kill()
    proc.wait()
    server.shutdown()
    if not ok:
        raise SystemExit(f"{binary}: no two responses within 30 s")
    cold = (responses[1][0] - start) * 1000
    warm = (responses[2][0] - served[2]) * 1000
    return cold, warm, responses


def main():
    binary, event = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    with open(event, "rb") as f:
        event_bytes = f.read()
    colds, warms, overheads = [], [], []
    for _ in range(runs):
        cold, warm, responses = measure(binary, event_bytes)
        colds.append(cold)
        warms.append(warm)
        overheads.append(cold - warm)
    name = os.path.basename(os.path.dirname(binary))
    _, kind, body = responses[1]
    print(f"{name:20} {os.path.basename(event)} over {runs} processes (median, min):")
    print(f"  cold: process start to first event handled  {statistics.median(colds):6.1f} ms {min(colds):6.1f} ms")
    print(f"  warm: the same event, second invocation      {statistics.median(warms):6.1f} ms {min(warms):6.1f} ms")
    print(f"  start-up overhead: cold - warm (per process)  {statistics.median(overheads):6.1f} ms {min(overheads):6.1f} ms")
    print(f"  first response ({kind}): {body.decode(errors='replace')}")


if __name__ == "__main__":
    main()
