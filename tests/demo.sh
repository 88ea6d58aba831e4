#!/usr/bin/env bash
# `make demo` as a newcomer sees it, run with CARGO_TARGET_DIR set to a path that is not
# ./target (a link to the real target directory, so nothing is rebuilt): it works there, its
# story fits a 120x40 terminal (the table, then the findings, then one line on where the JSON
# is), it is coloured on a terminal but not with NO_COLOR, and the JSON it names holds the
# findings. Closes with "demo: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
target=$(scripts/cargo-bin.sh --target-dir)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ln -s "$target" "$tmp/target"
export CARGO_TARGET_DIR=$tmp/target
passed=0 failed=0
check() {   # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $what"; fi
}

# On a fresh clone the first run also builds (cargo's own progress, which scrolls by): build
# once, then check the story a newcomer reads.
make --no-print-directory demo >/dev/null 2>&1
out=$(make --no-print-directory demo 2>"$tmp/stderr")
status=$?
check "make demo exits 0 with CARGO_TARGET_DIR=$CARGO_TARGET_DIR" [ "$status" -eq 0 ]
all=$(cat "$tmp/stderr" - <<<"$out")
lines=$(wc -l <<<"$all")
width=$(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' <<<"$all")
check "the demo fits 40 lines (it has $lines)" [ "$lines" -le 40 ]
check "the demo fits 120 columns (its widest line has $width)" [ "$width" -le 120 ]
at() { grep -n -m1 -E -- "$1" <<<"$out" | cut -d: -f1; }
table=$(at '^SOURCE ') floods=$(at '^FLOODS \(1\)$') json_line=$(at '^The same as JSON')
check "the table, then the findings, then where the JSON is, last" \
  [ -n "$table" ] && [ -n "$floods" ] && [ -n "$json_line" ] && [ "$table" -lt "$floods" ] &&
  [ "$floods" -lt "$json_line" ] && [ "$json_line" -eq "$(wc -l <<<"$out")" ]
json=$(tail -1 <<<"$out" | sed 's/.*: //')
check "the JSON is in CARGO_TARGET_DIR ($json)" [ "${json#"$CARGO_TARGET_DIR"/}" != "$json" ]
check "the JSON holds the flood the table shows" python3 - "$json" "$out" <<'PY'
import json, re, sys
doc, table = json.load(open(sys.argv[1])), sys.argv[2]
flood = doc["floods"][0]
skipdata = re.search(r"SKIPDATA ([\d,]+);", table).group(1).replace(",", "")
gaps = re.search(r"Log gaps: (\d+) SKIPDATA records? in the flagged minutes", table).group(1)
assert (flood["source"], flood["rule"]) == ("203.0.113.7", "syn-flood"), flood
assert doc["log_status"]["SKIPDATA"] == int(skipdata), (doc["log_status"], skipdata)
assert flood["skipdata_records"] == int(gaps), (flood["skipdata_records"], gaps)
PY
# On a terminal (script(1) gives it one): colour, and none with NO_COLOR. Cargo's own colours
# are turned off here, as cargo does not read NO_COLOR.
on_tty() { CARGO_TERM_COLOR=never TERM=xterm-256color script -qec "make --no-print-directory demo" /dev/null </dev/null; }
coloured() { grep -qE $'\e\\[[0-9;]*m' <<<"$1"; }
uncoloured() { ! coloured "$1"; }
check "coloured on a terminal" coloured "$(on_tty)"
check "no colour on a terminal with NO_COLOR set" uncoloured "$(NO_COLOR=1 on_tty)"
check "no colour when piped" uncoloured "$out"
[ "$failed" -gt 0 ] && { echo "--- make demo printed:"; echo "$all"; }
echo "demo: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
