#!/usr/bin/env bash
# Writes packaging/dist.order: the functions the CronJob's and the on-call's short runs execute
# (a backup of the sample management cluster, then a verify of that archive), one linker
# symbol per line, most executed first. build.rs hands the file to lld for `cargo dist` (and
# any static x86_64 build), which lays those functions out together at the start of the code:
# a run then faults in a few contiguous pages of code instead of pages spread over 18 MB.
#
#   packaging/order-symbols.sh && cargo dist   # needs valgrind (Debian: valgrind); about 5
#                                              # minutes, then the link with the new order
#
# Run it again when the backup path changes much: a name the file lists that a build no longer
# has is skipped (the layout falls back to the linker's own order for it), so a stale file
# costs speed, never correctness. How: `cargo dist` with TRUSTKEEP_LINK_MAP (build.rs asks lld
# for its map of the binary: every function's address), the sandbox serving
# fixtures/sample/mgmt.yaml, each run under valgrind's lackey, which prints the address of
# every block of code it executes; addresses are matched to the map's functions.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "order-symbols.sh: $*" >&2; exit 2; }
command -v valgrind >/dev/null || die "valgrind is not installed (Debian: apt-get install valgrind)"

work="$(mktemp -d)"
sandbox_pid=""
staged=""
cleanup() {
  if [ -n "$sandbox_pid" ]; then kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true; fi
  if [ -n "$staged" ]; then rm -f "$staged"; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "building with cargo dist and the linker's map" >&2
(cd "$repo" && TRUSTKEEP_LINK_MAP="$work/trustkeep.map" cargo dist >&2)
bin="$("$repo/packaging/static-binary.sh" dist)"
[ -s "$work/trustkeep.map" ] || die "lld wrote no map (is this a static x86_64 Linux build? see build.rs)"

"$bin" sandbox --load "$repo/fixtures/sample/mgmt.yaml" --context mgmt \
  --kubeconfig-out "$work/kubeconfig" >/dev/null 2>"$work/sandbox.log" &
sandbox_pid=$!
for _ in $(seq 100); do [ -s "$work/kubeconfig" ] && break; sleep 0.1; done
[ -s "$work/kubeconfig" ] || die "the sandbox did not start: $(cat "$work/sandbox.log")"

recipient="$(cat "$repo/fixtures/identities/test-only-age-recipient.txt")"
mkdir "$work/archives"
# Each run under lackey: one "SB <hex address>" line per block of code executed.
trace() { valgrind --tool=lackey --trace-superblocks=yes --log-file="$work/trace.$1" "${@:2}" >/dev/null; }
echo "tracing a backup and a verify (valgrind)" >&2
KUBECONFIG="$work/kubeconfig" trace backup "$bin" backup --context mgmt -r "$recipient" -o "$work/archives/"
install -m 0600 "$repo/fixtures/identities/test-only-age-identity.txt" "$work/identity"
trace verify "$bin" verify -i "$work/identity" "$work/archives/"

# valgrind loads the binary at some base: the first block executed is the ELF entry point.
entry="$(readelf -h "$bin" | awk '/Entry point address/ {print $4}')"
out="$repo/packaging/dist.order"
awk -v entry="$entry" -v out="$work/counts" '
  function hex(s,   i, v) {
    sub(/^0x/, "", s); s = tolower(s); v = 0
    for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
    return v
  }
  # The map: input sections of the code ("VMA LMA SIZE ALIGN file:(.text.NAME)"), each
  # followed by the symbols in it ("VMA LMA SIZE ALIGN NAME", mangled); output sections
  # ("VMA LMA SIZE ALIGN .NAME") end the code.
  FNR == NR {
    if (NF != 5) next
    if ($5 ~ /:\(\.text/) { in_text = 1; next }
    if ($5 ~ /:\(/ || $5 ~ /^\./) { in_text = 0; next }
    if (in_text) { n++; addr[n] = hex($1); name[n] = $5 }
    next
  }
  FNR == 1 { if (!checked) { check_order(); checked = 1 } based = 0 }
  $1 == "SB" {
    a = hex($2)
    if (!based) { base = a - hex(entry); based = 1 }
    i = find(a - base)
    if (i) count[name[i]]++
  }
  # lld lists sections, and the symbols in each, in address order: find() relies on it.
  function check_order(   i) {
    for (i = 2; i <= n; i++) if (addr[i] < addr[i-1]) { print "the map is not in address order" > "/dev/stderr"; exit 2 }
  }
  function find(a,   lo, hi, mid) {
    lo = 1; hi = n
    if (n == 0 || a < addr[1]) return 0
    while (lo < hi) { mid = int((lo + hi + 1) / 2); if (addr[mid] <= a) lo = mid; else hi = mid - 1 }
    return lo
  }
  END {
    for (s in count) printf "%d %s\n", count[s], s > out
    # Code valgrind never runs because its CPU lacks the feature the code is chosen for
    # (AVX-512, ADX, SHA-NI; another vendor): the variants of what it did run, last.
    for (i = 1; i <= n; i++) {
      s = name[i]
      if (s in count) continue
      if (s ~ /^__(mem|str|stp|wmem|rawmem|wcs)[a-z0-9]*_(avx|evex|sse)/ ||
          s ~ /^handle_(amd|intel|zhaoxin)$/ ||
          (s ~ /^ring_core_/ && s ~ /(adx|avx|mulx|shaext)/) ||
          s ~ /3x86[0-9]/) {
        count[s] = 0; printf "0 %s\n", s > out
      }
    }
  }
' "$work/trustkeep.map" "$work/trace.backup" "$work/trace.verify"
sort -k1,1nr -k2 "$work/counts" | awk '{print $2}' >"$work/sorted"
lines="$(wc -l <"$work/sorted")"
[ "$lines" -gt 100 ] || die "only $lines functions matched: is the map's format what this script reads?"
{
  echo "# Written by packaging/order-symbols.sh: the functions a backup and a verify execute,"
  echo "# most executed first, then their variants for other CPUs ($lines). lld lays them out"
  echo "# first (build.rs)."
  cat "$work/sorted"
} >"$work/order"
# Into place whole: a temporary file beside it, renamed.
staged="$(mktemp "$out.XXXXXX")"
cat "$work/order" >"$staged"
chmod 0644 "$staged"
mv "$staged" "$out"
echo "$out: $lines functions; \`cargo dist\` links with them" >&2
