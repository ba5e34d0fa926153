#!/usr/bin/env bash
# Runs a command with ministack (PyPI, MIT; a LocalStack-compatible emulator of DynamoDB,
# S3 and SQS without Java or Docker) as the local AWS endpoint: installs it into
# .venv-ministack when missing (pinned), starts it on a free loopback port, exports the
# environment every AWS client needs (never the EC2 metadata address), runs the command,
# stops the server. The second emulator of the test suite, beside moto (with-moto.sh).
#
#   infra/local/with-ministack.sh cargo test --workspace --test conformance -- aws::
#   infra/local/with-ministack.sh cargo run --profile local -p billrun-local -- demo --backend aws
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv-ministack"
ministack_version="1.5.33"

if ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('ministack') == '$ministack_version'" >/dev/null 2>&1; then
  echo "== installing ministack $ministack_version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "ministack==$ministack_version"
fi

port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$root/target/ministack-$port.log"
mkdir -p "$root/target"
# BIND_HOST: without it ministack listens on every interface.
BIND_HOST=127.0.0.1 GATEWAY_PORT="$port" "$venv/bin/ministack" >"$log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT

ready=""
for _ in $(seq 1 150); do
  if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/_localstack/health', timeout=1)" >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "ministack did not start on 127.0.0.1:$port; its log:" >&2
  cat "$log" >&2
  exit 1
fi
echo "== ministack on 127.0.0.1:$port" >&2

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
"$@"
