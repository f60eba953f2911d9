#!/usr/bin/env bash
# Prints where `cargo static --profile PROFILE` (and so `cargo dist`, PROFILE dist) puts the
# trustkeep binary: $CARGO_TARGET_DIR (default: the repository's target/) / host triple /
# PROFILE / trustkeep. The one place that knows it (.cargo/config.toml builds it there).
#
#   packaging/static-binary.sh dist      # e.g. /src/target/x86_64-unknown-linux-gnu/dist/trustkeep
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: packaging/static-binary.sh PROFILE (dist, release, …)" >&2; exit 2; }
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
host="$(rustc -vV | sed -n 's/^host: //p')"
[ -n "$host" ] || { echo "static-binary.sh: rustc -vV names no host triple" >&2; exit 2; }
echo "${CARGO_TARGET_DIR:-$repo/target}/$host/$1/trustkeep"
