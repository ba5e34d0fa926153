#!/usr/bin/env bash
# Runs a command with Debian's chromium installed (/usr/bin/chromium), for the console's
# browser tests (tests/console). Playwright's own browser download is not used: the tests
# launch this one (playwright-core, executablePath).
#   ./infra/local/with-chromium.sh node --test tests/console/
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium (Debian's package, for the console's browser tests)" >&2
  if [ "$(id -u)" -eq 0 ]; then
    sudo=""
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    sudo="none"
  fi
  if [ "$sudo" = "none" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "the console's browser tests need /usr/bin/chromium: install Debian's chromium package (apt-get install -y chromium) as root, then run again" >&2
    exit 1
  fi
  $sudo apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { $sudo apt-get update -qq >/dev/null 2>&1 && $sudo apt-get install -y -qq chromium >/dev/null 2>&1; } \
    || { echo "could not install chromium; install it and run again" >&2; exit 1; }
fi
exec "$@"
