#!/usr/bin/env bash
# The dependency audit, offline: licences, bans and sources with cargo-deny, and the
# RustSec advisories checked against a local snapshot of the advisory database (CI
# cannot reach the RustSec git remote): ../shared/advisory-db beside the repository, or
# any clone of https://github.com/rustsec/advisory-db named by ADVISORY_DB. Rules and
# their reasons are in deny.toml. Run alone or from infra/test.sh.
#
#   ./infra/deny.sh                          # ../shared/advisory-db beside the repository
#   ADVISORY_DB=/path/to/advisory-db ./infra/deny.sh
set -euo pipefail
cd "$(dirname "$0")/.."

version="0.20.2"
snapshot="${ADVISORY_DB:-../shared/advisory-db}"

if [ ! -d "$snapshot/crates" ]; then
  echo "error: the RustSec advisory snapshot is missing: '$snapshot' (from $(pwd)) has no crates/ folder." >&2
  echo "The dependency audit reads it offline: check out the shared reference folder beside the repository (../shared/advisory-db), or set ADVISORY_DB to a copy of rustsec/advisory-db." >&2
  exit 1
fi

if [ "$(cargo deny --version 2>/dev/null || true)" != "cargo-deny $version" ]; then
  # Built from source, locked (~3 to 5 min on 2 cores). A prebuilt release would be
  # faster but needs a pinned checksum to be trusted.
  echo "== installing cargo-deny $version (cargo install --locked)"
  started=$(date +%s)
  cargo install --locked --quiet cargo-deny --version "$version"
  echo "   installed in $(( $(date +%s) - started )) s"
fi

# The folder name cargo-deny derives from the default advisory-db URL; FETCH_HEAD is its
# "last fetched" time (a snapshot older than 90 days would otherwise be refused as stale).
db="target/advisory-dbs/advisory-db-3157b0e258782691"
rm -rf "$db"
mkdir -p "$db/.git"
cp -r "$snapshot/." "$db/"
touch "$db/.git/FETCH_HEAD"
echo "== cargo deny --offline check ($(head -n1 "$snapshot/SNAPSHOT" 2>/dev/null | cut -c1-120))"
cargo deny --offline check --hide-inclusion-graph
