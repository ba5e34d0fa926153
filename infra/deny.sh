#!/usr/bin/env bash
# The dependency audit with cargo-deny: licences, bans and sources of every crate of the
# lock file (all targets), and the RustSec advisories. Rules and their reasons are in
# deny.toml. Run alone or from infra/test.sh.
#
# The advisory database comes from, in this order:
#   1. ADVISORY_DB=/path/to/advisory-db   a copy of rustsec/advisory-db (with crates/)
#   2. ../shared/advisory-db              the snapshot beside the repository: this
#                                         project's CI has it and cannot reach the RustSec
#                                         git remote
#   3. neither: cargo-deny fetches it from GitHub (git clone, or fetch when cloned before)
#
#   ./infra/deny.sh
#   ADVISORY_DB=/path/to/advisory-db ./infra/deny.sh
set -euo pipefail
cd "$(dirname "$0")/.."

version="0.20.2"
# The folder cargo-deny derives from the default advisory-db URL under deny.toml's
# db-path (relative to the repository root, where cargo deny runs).
dbs="target/advisory-dbs"
db="$dbs/advisory-db-3157b0e258782691"

if [ -n "${ADVISORY_DB:-}" ]; then
  snapshot="$ADVISORY_DB"
  if [ ! -d "$snapshot/crates" ]; then
    echo "error: ADVISORY_DB='$snapshot' is not a copy of rustsec/advisory-db (no crates/ folder)." >&2
    echo "Unset ADVISORY_DB to use ../shared/advisory-db, or to let cargo-deny fetch the database from GitHub." >&2
    exit 1
  fi
elif [ -d ../shared/advisory-db/crates ]; then
  snapshot="../shared/advisory-db"
else
  snapshot=""
  if ! command -v git >/dev/null 2>&1; then
    echo "error: git is required to fetch the RustSec advisory database (or set ADVISORY_DB to a copy of it)." >&2
    exit 1
  fi
fi

# `cargo deny` finds the binary in $CARGO_HOME/bin or on PATH; any other version is
# replaced in $CARGO_HOME/bin, which cargo searches first.
if [ "$(cargo deny --version 2>/dev/null || true)" != "cargo-deny $version" ]; then
  # Built from source, locked (~3 to 5 min on 2 cores). A prebuilt release would be
  # faster but needs a pinned checksum to be trusted.
  echo "== installing cargo-deny $version (cargo install --locked)"
  started=$(date +%s)
  cargo install --locked --quiet cargo-deny --version "$version"
  echo "   installed in $(( $(date +%s) - started )) s"
fi

# Every crate of the lock file, for every target: the check below runs offline, and its
# `cargo metadata` needs the crates of other targets (wasm-bindgen, windows-sys...) too,
# which an empty cargo cache lacks.
echo "== cargo fetch --locked"
cargo fetch --locked --quiet

if [ -n "$snapshot" ]; then
  # A copy of the snapshot where cargo-deny looks; FETCH_HEAD is its "last fetched" time
  # (a snapshot older than 90 days would otherwise be refused as stale). The marker
  # tells a later online run that this folder is no git clone.
  rm -rf "$db"
  mkdir -p "$db/.git"
  cp -r "$snapshot/." "$db/"
  touch "$db/.git/FETCH_HEAD" "$db/.git/billrun-snapshot-copy"
  source_line="snapshot $snapshot: $(head -n1 "$snapshot/SNAPSHOT" 2>/dev/null | cut -c1-100)"
else
  # A snapshot copied by an earlier run (or a broken clone) is no git repository: git run
  # inside it would find the repository around it, so it goes. The ceiling keeps every
  # git command cargo-deny runs there from walking up into this repository all the same.
  if [ -e "$db" ] && { [ -e "$db/.git/billrun-snapshot-copy" ] || [ ! -f "$db/.git/HEAD" ]; }; then
    rm -rf "$db"
  fi
  echo "== cargo deny fetch db (https://github.com/rustsec/advisory-db)"
  if ! GIT_CEILING_DIRECTORIES="$(pwd)/$dbs" cargo deny fetch db; then
    echo "error: cargo-deny could not fetch the RustSec advisory database from https://github.com/rustsec/advisory-db into $db." >&2
    echo "Without access to GitHub, set ADVISORY_DB to a copy of rustsec/advisory-db (a folder with crates/), or put one at ../shared/advisory-db beside the repository." >&2
    exit 1
  fi
  source_line="rustsec/advisory-db fetched: $(git -C "$db" log -1 --format='%h, %cs' 2>/dev/null || echo '?')"
fi

# Offline in both cases: the crates are fetched and the database is in place, so the
# licences, bans and sources are checked the same way whichever database is read.
echo "== cargo deny --offline check ($source_line)"
cargo deny --offline --locked check --hide-inclusion-graph
