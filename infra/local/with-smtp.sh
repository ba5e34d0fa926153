#!/usr/bin/env bash
# Runs a command with a real SMTP server on loopback: installs aiosmtpd into .venv-smtp
# when missing (pinned), starts it on a free 127.0.0.1 port with a handler that keeps
# every message it accepts as a file in a maildir, exports BILLRUN_TEST_SMTP
# (smtp://127.0.0.1:<port>) and BILLRUN_TEST_MAILDIR, runs the command, stops the server.
#
#   infra/local/with-smtp.sh cargo test -p billrun-local --test delivery
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv-smtp"
aiosmtpd_version="1.4.6"

if ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('aiosmtpd') == '$aiosmtpd_version'" >/dev/null 2>&1; then
  echo "== installing aiosmtpd $aiosmtpd_version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$aiosmtpd_version"
fi

port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
mkdir -p "$root/target"
# A path that does not exist yet: the handler creates the maildir with its tmp/, new/, cur/.
maildir="$(mktemp -d "$root/target/smtp-$port.XXXX")/maildir"
log="$root/target/smtp-$port.log"
"$venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$maildir" >"$log" 2>&1 &
smtp_pid=$!
trap 'kill "$smtp_pid" 2>/dev/null || true; wait "$smtp_pid" 2>/dev/null || true' EXIT

ready=""
for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import smtplib; smtplib.SMTP('127.0.0.1', $port, timeout=1).quit()" >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "aiosmtpd did not start on 127.0.0.1:$port; its log:" >&2
  cat "$log" >&2
  exit 1
fi
echo "== SMTP server (aiosmtpd) on 127.0.0.1:$port, maildir $maildir" >&2

export BILLRUN_TEST_SMTP="smtp://127.0.0.1:$port"
export BILLRUN_TEST_MAILDIR="$maildir"
"$@"
