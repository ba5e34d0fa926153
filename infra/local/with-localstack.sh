#!/usr/bin/env bash
# Runs a command against LocalStack in Docker, for users who have a container runtime:
# starts the LocalStack image on a loopback port, waits until DynamoDB, S3 and SQS are
# ready, creates billrun's table, bucket and queues (`billrun-local aws-setup`), exports
# their names and the endpoint, runs the command, then stops and removes the container.
#
#   infra/local/with-localstack.sh cargo run --profile local -p billrun-local -- serve --backend aws
#   infra/local/with-localstack.sh cargo run --profile local -p billrun-local -- demo --backend aws
#   infra/local/with-localstack.sh sam local invoke ProcessAccountFunction -e functions/events/sqs-account.json
#
# Environment: LOCALSTACK_IMAGE (default below), LOCALSTACK_PORT (default 4566),
# BILLRUN_PREFIX (resource name prefix, default billrun-dev).
# Not run by infra/test.sh: the machines the suite runs on have no container runtime
# (the suite uses moto and ministack, which run without one).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
image="${LOCALSTACK_IMAGE:-localstack/localstack:4.4}"
port="${LOCALSTACK_PORT:-4566}"
prefix="${BILLRUN_PREFIX:-billrun-dev}"
dry_run="${DRY_RUN:-}"

run() {
  if [ -n "$dry_run" ]; then
    echo "+ $*"
  else
    "$@"
  fi
}

if [ -z "$dry_run" ] && ! docker info >/dev/null 2>&1; then
  echo "error: no container runtime answers 'docker info': LocalStack runs as a container." >&2
  echo "Without Docker, use infra/local/with-moto.sh or infra/local/with-ministack.sh." >&2
  exit 1
fi

name="billrun-localstack-$$"
# SQS_ENDPOINT_STRATEGY=path: queue URLs on the endpoint itself
# (http://localhost:4566/000000000000/<queue>) instead of a *.localstack.cloud host name
# that needs DNS; billrun never derives the endpoint from a queue URL, but tools do.
run docker run -d --rm --name "$name" -p "127.0.0.1:$port:4566" \
  -e SERVICES=dynamodb,s3,sqs -e SQS_ENDPOINT_STRATEGY=path "$image" >/dev/null
trap 'run docker stop "$name" >/dev/null 2>&1 || true' EXIT

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true

if [ -z "$dry_run" ]; then
  ready=""
  for _ in $(seq 1 120); do
    # LocalStack's health endpoint lists each service as "available" or "running".
    if curl -fs "$AWS_ENDPOINT_URL/_localstack/health" 2>/dev/null \
      | python3 -c 'import json,sys; s=json.load(sys.stdin)["services"]; sys.exit(0 if all(s.get(k) in ("available","running") for k in ("dynamodb","s3","sqs")) else 1)'; then
      ready=1
      break
    fi
    sleep 1
  done
  if [ -z "$ready" ]; then
    echo "LocalStack did not become ready on $AWS_ENDPOINT_URL; its log:" >&2
    docker logs "$name" >&2 || true
    exit 1
  fi
fi
echo "== LocalStack ($image) on $AWS_ENDPOINT_URL" >&2

# The resource names every billrun process reads (TABLE_NAME, BUCKET_NAME, *_QUEUE_URL).
if [ -n "$dry_run" ]; then
  echo "+ cargo run -q -p billrun-local -- aws-setup --prefix $prefix"
else
  eval "$(cd "$root" && cargo run -q -p billrun-local -- aws-setup --prefix "$prefix")"
fi
run "$@"
