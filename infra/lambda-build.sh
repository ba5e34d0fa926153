#!/usr/bin/env bash
# Checks the SAM template (cfn-lint, sam validate --lint) and builds every Lambda function
# in one `cargo lambda build`, printing each binary's size. Tools come from PyPI into
# .venv-tools (pinned). PROFILE=release gives the deployable figures; the test script uses
# the `ci` profile (release with thin LTO).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="$root/.venv-tools"
profile="${PROFILE:-ci}"

if ! "$venv/bin/cfn-lint" --version 2>/dev/null | grep -q "1.53.3" \
  || ! "$venv/bin/sam" --version 2>/dev/null | grep -q "1.170.0" \
  || ! "$venv/bin/cargo-lambda" lambda --version >/dev/null 2>&1; then
  echo "== installing cargo-lambda, aws-sam-cli and cfn-lint into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "cargo-lambda==1.9.2" "aws-sam-cli==1.170.0" "cfn-lint==1.53.3"
fi
export PATH="$venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0

echo "== cfn-lint template.yaml"
cfn-lint template.yaml
echo "== sam validate --lint"
sam validate --lint --region us-east-1

functions=$(ls functions | grep -v -e '^events$' -e '^e2e$')
if [ "$profile" = "ci" ]; then
  # One build of every function: features unify across them, which is fine for checking
  # that they build, and fast.
  args=()
  for f in $functions; do args+=(--bin "$f"); done
  echo "== cargo lambda build --profile $profile --x86-64 (${functions//$'\n'/ })"
  cargo lambda build --profile "$profile" --x86-64 "${args[@]}"
else
  # Each function on its own, as `sam build` builds them, so that each links only the
  # features it uses (the PDF writer is generate-documents' alone).
  for f in $functions; do
    echo "== cargo lambda build --profile $profile --x86-64 --package $f"
    cargo lambda build --profile "$profile" --x86-64 --package "$f"
  done
fi
dir="${CARGO_TARGET_DIR:-target}/lambda"
for f in $functions; do
  bin="$dir/$f/bootstrap"
  [ -f "$bin" ] || { echo "missing $bin" >&2; exit 1; }
  # MB = 10^6 bytes (the unit of the 8 MB target and docs/performance.md), MiB = 2^20.
  awk -v f="$f" -v b="$(stat -c %s "$bin")" \
    'BEGIN { printf "%-22s %10d bytes %6.2f MB %6.2f MiB\n", f, b, b / 1e6, b / 1048576 }'
done
