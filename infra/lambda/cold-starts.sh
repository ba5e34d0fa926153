#!/usr/bin/env bash
# Cold and warm starts of every Lambda function's binary (infra/lambda/cold-start.py),
# each with its sample event, against the local endpoint of infra/local/with-moto.sh:
#
#   PROFILE=release ./infra/lambda-build.sh
#   infra/local/with-moto.sh infra/lambda/cold-starts.sh [runs]
#
# Creates fresh resources for each function with `billrun-local aws-setup` (so reads and
# writes reach real tables and queues, and no function's measurement includes what an
# earlier one left: the runs api-commands creates would otherwise be swept by the
# scheduler's tick); the binaries come from ${CARGO_TARGET_DIR:-target}/lambda.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  echo "AWS_ENDPOINT_URL is not set: run this inside infra/local/with-moto.sh" >&2
  exit 1
fi
runs="${1:-5}"
dir="${CARGO_TARGET_DIR:-target}/lambda"
echo "== load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
# Email delivery on, as deployed with a SenderIdentity (deliver-documents stops at start
# without it); none of the sample events sends an email.
export SENDER="billing@cold.example.com"
for pair in api-commands:http-create-run api-queries:http-get-run \
  execute-schedules:schedule-tick generate-documents:sqs-account \
  plan-run:sqs-account process-account:sqs-account deliver-documents:sqs-account; do
  f="${pair%%:*}"
  eval "$(cargo run -q -p billrun-local -- aws-setup --prefix "cold$$-$f")"
  python3 infra/lambda/cold-start.py "$dir/$f/bootstrap" "functions/events/${pair#*:}.json" "$runs"
done
