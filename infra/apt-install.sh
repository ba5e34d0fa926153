#!/usr/bin/env bash
# Installs Debian packages the tests need, as root or through `sudo -n`; otherwise says
# what to install and fails. WHY is what needs them, for the messages.
#   ./infra/apt-install.sh "the PDF tests" poppler-utils
set -euo pipefail
why="$1"
shift
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo="sudo -n"
else
  sudo="none"
fi
if [ "$sudo" = "none" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "$why need(s) $*: install it (apt-get install -y $*) as root, then run again" >&2
  exit 1
fi
$sudo apt-get install -y -qq "$@" >/dev/null 2>&1 \
  || { $sudo apt-get update -qq >/dev/null 2>&1 && $sudo apt-get install -y -qq "$@" >/dev/null 2>&1; } \
  || { echo "could not install $* (for $why); install it and run again" >&2; exit 1; }
