#!/usr/bin/env bash
# Runs a command with a local AWS endpoint: installs moto server (and the reference
# Standard Webhooks library the webhook tests verify with) into .venv-aws when
# missing (pinned), starts it on a free loopback port, exports the environment every
# AWS client needs (never the EC2 metadata address), runs the command, stops the server.
#
#   infra/local/with-moto.sh cargo test -p billrun-aws
#   infra/local/with-moto.sh cargo run --profile local -p billrun-local -- demo --backend aws
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv-aws"
moto_version="5.2.5"
standardwebhooks_version="1.0.0"

if ! "$venv/bin/python" -c "import moto, flask, flask_cors, jsonpath_ng, standardwebhooks, importlib.metadata as m; assert moto.__version__ == '$moto_version'; assert m.version('standardwebhooks') == '$standardwebhooks_version'" >/dev/null 2>&1; then
  echo "== installing moto $moto_version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[dynamodb,s3,sqs,events]==$moto_version" flask flask-cors \
    "standardwebhooks==$standardwebhooks_version"
fi

port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$root/target/moto-$port.log"
mkdir -p "$root/target"
"$venv/bin/python" "$root/infra/local/moto_server.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT

ready=""
for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "moto server did not start on 127.0.0.1:$port; its log:" >&2
  cat "$log" >&2
  exit 1
fi
echo "== moto server on 127.0.0.1:$port" >&2

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
# The Python with the reference libraries (infra/local/webhook_receiver.py).
export BILLRUN_PYTHON="$venv/bin/python"
"$@"
