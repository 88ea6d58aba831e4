#!/usr/bin/env bash
# `make test`: every step, whatever the steps before it did (formatting and lints, the template,
# the tests of every crate, the demo, the local invoke), then one summary line: each step passed
# or failed, with its counts and duration. Exit status 1 when any step failed.
# Standard output of the steps is also kept to count their results; standard error stays where
# it was, so cargo's own progress shows on a terminal.
set -uo pipefail
cd "$(dirname "$0")/.."
make=${MAKE:-make}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
summary=() failed_steps=0 started=$SECONDS

duration() { if (($1 >= 60)); then printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); else printf '%ds' "$1"; fi; }

# The counts a step printed: "N passed, M failed" closing lines (summed), or cargo test's
# "test result: ... N passed; M failed; K ignored" lines (summed).
counts() {
  python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
cargo = re.findall(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", text, re.M)
plain = re.findall(r"^\w+: (\d+) passed, (\d+) failed$", text, re.M)
if cargo:
    p, f, i = (sum(int(r[k]) for r in cargo) for k in range(3))
    print(f"{p} passed, {f} failed, {i} ignored")
elif plain:
    p, f = (sum(int(r[k]) for r in plain) for k in range(2))
    print(f"{p} passed, {f} failed")
PY
}

step() {   # step NAME COMMAND...
  local name=$1
  shift
  local t0=$SECONDS
  echo "== make test: $name"
  "$@" | tee "$logs/$name.log"
  local status=${PIPESTATUS[0]} verdict=passed
  if [ "$status" -ne 0 ]; then
    verdict=failed
    failed_steps=$((failed_steps + 1))
  fi
  local found
  found=$(counts "$logs/$name.log")
  summary+=("$name $verdict${found:+ ($found)} in $(duration $((SECONDS - t0)))")
}

step lint "$make" --no-print-directory lint
step template "$make" --no-print-directory template
step unit "$make" --no-print-directory unit
step demo tests/demo.sh
step invoke tests/invoke-local.sh

verdict=PASSED
[ "$failed_steps" -eq 0 ] || verdict="FAILED ($failed_steps of ${#summary[@]} steps)"
line=$(printf '%s; ' "${summary[@]}")
echo "make test $verdict in $(duration $((SECONDS - started))): ${line%; }"
[ "$failed_steps" -eq 0 ]
