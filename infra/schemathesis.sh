#!/usr/bin/env bash
# Schemathesis against docs/openapi.json on `billrun-local serve`: cases generated from
# the OpenAPI document (valid and invalid), sent to a server on a free loopback port,
# behind a bearer token. Fails on any 5xx and on the other checks below. Run alone or
# from infra/test.sh.
#
#   ./infra/schemathesis.sh                       # the bounded run the test script does
#   MAX_EXAMPLES=200 SEED=7 ./infra/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."

version="4.32.5"
venv=".venv-schema"
max_examples="${MAX_EXAMPLES:-50}"
seed="${SEED:-20240201}"
report_dir="target/schemathesis"
# Every check but two: no 5xx, responses of the declared content type, headers and
# shape, schema-violating data rejected, undocumented methods refused, required headers,
# use after free, resource availability. Left out: positive_data_acceptance (the schema
# cannot say every rule of docs/book-format.md, e.g. a subscription's account must exist, so
# schema-valid requests are rightly refused with 400) and status_code_conformance (the
# document lists the typical statuses of each route, not every 404 / 409 / 413 / 415).
checks="${CHECKS:-all}"
exclude_checks="${EXCLUDE_CHECKS-positive_data_acceptance,status_code_conformance}"

if ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('schemathesis') == '$version'" >/dev/null 2>&1; then
  echo "== installing schemathesis $version into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

cargo build --quiet --locked -p billrun-local
mkdir -p "$report_dir"
log="$report_dir/serve.log"
token="st-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

# --port 0: the server picks a free port and prints it. Its data (SQLite, the default
# store) starts empty in a folder of its own.
data="$report_dir/data"
rm -rf "$data"
BILLRUN_TOKEN="$token" target/debug/billrun-local serve --port 0 --tick-seconds 0 \
  --data "$data" --book infra/local/tests/fixtures/book.json >"$log" 2>&1 &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true' EXIT

base=""
for _ in $(seq 1 200); do
  base="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -n1 || true)"
  [ -n "$base" ] && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$log" >&2; echo "billrun-local serve did not start" >&2; exit 1; }
  sleep 0.05
done
[ -n "$base" ] || { cat "$log" >&2; echo "billrun-local serve printed no address" >&2; exit 1; }
# Without the token the server must refuse.
status="$("$venv/bin/python" - "$base/v1/health" <<'PY'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=10).status)
except urllib.error.HTTPError as e:
    print(e.code)
PY
)"
[ "$status" = "401" ] || { echo "expected 401 without the token, got $status" >&2; exit 1; }

echo "== schemathesis $version: docs/openapi.json against $base (max $max_examples examples per operation, seed $seed)"
"$venv/bin/schemathesis" --no-color run docs/openapi.json \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks "$checks" ${exclude_checks:+--exclude-checks "$exclude_checks"} \
  --max-examples "$max_examples" \
  --seed "$seed" \
  --workers 2 \
  --request-timeout 30 \
  --suppress-health-check all \
  --report junit --report-dir "$report_dir" \
  --output-truncate true

if ! kill -0 "$serve_pid" 2>/dev/null; then
  echo "billrun-local serve died during the run:" >&2
  cat "$log" >&2
  exit 1
fi
