#!/usr/bin/env bash
# The whole test suite, on a fresh machine: formatting, lints, every test.
# Installs and starts whatever the tests need, and stops it again.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# No debug info: a smaller target/ and a faster cold build.
export CARGO_PROFILE_DEV_DEBUG=0
export CARGO_PROFILE_TEST_DEBUG=0

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (https://rustup.rs)" >&2
  exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# The PDF tests read documents back with pdftotext (poppler-utils).
if ! command -v pdftotext >/dev/null 2>&1; then
  echo "== installing poppler-utils (pdftotext, for the PDF tests)"
  ./infra/apt-install.sh "the PDF tests (pdftotext)" poppler-utils
fi

# The dependency audit, offline (licences, bans, sources, RustSec advisories): deny.toml.
echo "== dependency audit (cargo deny)"
./infra/deny.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== SAM template and Lambda builds"
./infra/lambda-build.sh

# The moto fault schedules (tests/tests/faults_moto.rs, about 10 minutes, mostly waiting
# for redeliveries) run beside the rest of the suite, on a moto server of their own: the
# test binaries are built first, that one is started directly (a second `cargo test`
# would wait for the first's lock), and its result is collected at the end.
echo "== building the test binaries"
faults_moto_bin="$(cargo test --workspace --locked --no-run --message-format=json-render-diagnostics \
  | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "faults_moto":
        print(m["executable"])
')"
if [ -z "$faults_moto_bin" ]; then
  echo "the faults_moto test binary was not built" >&2
  exit 1
fi
./infra/local/with-moto.sh true # installs moto once, before two servers start
faults_moto_log="target/faults_moto.log"
echo "== the moto fault schedules, in the background (log: $faults_moto_log)"
(cd tests && ../infra/local/with-moto.sh "$faults_moto_bin" runs_on_the_aws_adapters_under_random_fault_schedules) \
  >"$faults_moto_log" 2>&1 &
faults_moto_pid=$!
trap 'kill "$faults_moto_pid" 2>/dev/null || true' EXIT

echo "== cargo test (with a moto server for the AWS adapters and an SMTP server for email)"
./infra/local/with-moto.sh ./infra/local/with-smtp.sh cargo test --workspace --locked -- \
  --skip runs_on_the_aws_adapters_under_random_fault_schedules

# The operator console in a real browser (docs/console.md): Playwright (playwright-core)
# driving Debian's chromium against the billrun-local binary the cargo tests just built
# (target/debug, nothing more compiles), axe-core on every page.
echo "== the console's browser tests (tests/console, chromium)"
command -v node >/dev/null 2>&1 || { echo "the console's browser tests need Node.js (node, npm)" >&2; exit 1; }
(cd tests/console && npm ci --no-audit --no-fund --silent)
./infra/local/with-chromium.sh node --test --test-concurrency=1 tests/console/

# The AWS adapters again on a second emulator: the port conformance suite and the
# end-to-end handler tests (docs/aws.md "Emulators"; the 2,000-account demo comparison
# runs on moto only, for CI's time). The same `--workspace` selection as above, so
# nothing is rebuilt.
echo "== the AWS adapters on ministack (conformance, end-to-end handlers)"
./infra/local/with-ministack.sh cargo test --workspace --locked --test conformance -- aws::
# The email test reads what SES accepted through moto's own state API
# (/moto-api/data.json), which ministack does not serve: it runs on moto only.
./infra/local/with-ministack.sh cargo test --workspace --locked --test e2e -- \
  --skip a_run_posted_with_auto_email_through_the_handlers_on_moto

# The checked-in OpenAPI document is the served one (a test keeps it current); here it
# is validated against the OpenAPI 3.1 specification.
validator_version="0.7.2"
venv=".venv-aws"
if ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('openapi-spec-validator') == '$validator_version'" >/dev/null 2>&1; then
  echo "== installing openapi-spec-validator $validator_version into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "openapi-spec-validator==$validator_version"
fi
echo "== openapi-spec-validator docs/openapi.json"
"$venv/bin/python" -m openapi_spec_validator docs/openapi.json

# Schemathesis: cases generated from docs/openapi.json against `billrun-local serve`.
echo "== schemathesis against billrun-local serve"
./infra/schemathesis.sh

echo "== the moto fault schedules (started beside the suite)"
faults_moto_rc=0
wait "$faults_moto_pid" || faults_moto_rc=$?
trap - EXIT
cat "$faults_moto_log"
if [ "$faults_moto_rc" -ne 0 ]; then
  echo "the moto fault schedules failed (exit $faults_moto_rc)" >&2
  exit "$faults_moto_rc"
fi
