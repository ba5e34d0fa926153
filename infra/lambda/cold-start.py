"""Measures a Lambda binary's cold start on this machine: from process start to the
first event handled (its response posted to the runtime API).

A minimal Lambda Runtime API on 127.0.0.1 hands the binary one event, records when the
response arrives, and the binary is then stopped. The function's AWS endpoint is the
caller's environment (a moto server on loopback, infra/local/with-moto.sh), so nothing
leaves the machine.

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


def measure(binary, event_bytes):
    done = threading.Event()
    result = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        served = False

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.endswith("/invocation/next") and not Handler.served:
                Handler.served = True
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", "cold-start-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:cold")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(event_bytes)))
                self.end_headers()
                self.wfile.write(event_bytes)
            else:
                time.sleep(5)  # the next invocation never comes

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            result["at"] = time.perf_counter()
            result["path"] = self.path
            result["body"] = body[:300]
            self.send_response(202)
            self.end_headers()
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
        raise SystemExit(f"{binary}: no response within 30 s")
    return (result["at"] - start) * 1000, result


def main():
    binary, event = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    with open(event, "rb") as f:
        event_bytes = f.read()
    times = []
    for _ in range(runs):
        ms, result = measure(binary, event_bytes)
        times.append(ms)
    print(f"{os.path.basename(os.path.dirname(binary)):20} cold start to first event handled: "
          f"median {statistics.median(times):.1f} ms, min {min(times):.1f} ms over {runs} runs "
          f"({result['path'].rsplit('/', 1)[-1]})")


if __name__ == "__main__":
    main()
