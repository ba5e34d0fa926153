#!/usr/bin/env bash
# Runs a command with Debian's chromium installed (/usr/bin/chromium), for the console's
# browser tests (tests/console). Playwright's own browser download is not used: the tests
# launch this one (playwright-core, executablePath).
#   ./infra/local/with-chromium.sh node --test tests/console/
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium (Debian's package, for the console's browser tests)" >&2
  "$(dirname "$0")/../apt-install.sh" "the console's browser tests (/usr/bin/chromium)" chromium
fi
exec "$@"
