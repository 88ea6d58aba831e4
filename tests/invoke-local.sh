#!/usr/bin/env bash
# Runs `make invoke` (scripts/invoke-local.sh) and checks what it printed: every event shape
# answered, metrics read back from CloudWatch, the flood's lifecycle as exactly one STARTED and
# one ENDED notice.
# Its steps are printed as they start, with the seconds so far; on a terminal a status line on
# standard error shows the latest output (cargo's build, cargo lambda watch), elsewhere a line
# every 30 s: building and invoking take minutes and are never silent.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
watch_log="$(scripts/cargo-bin.sh --target-dir)/local-invoke/watch.log"
scripts/invoke-local.sh >"$log" 2>&1 &
pid=$!
started=$SECONDS
tty=false
[ -t 2 ] && tty=true
cols=$( (tput cols 2>/dev/null || echo 100) | tail -1)
seen=0 last_note=0
latest() {   # the last non-empty line of whichever log was written last
  local file=$log
  [ -f "$watch_log" ] && [ "$watch_log" -nt "$log" ] && file=$watch_log
  tail -c 4000 "$file" | tr '\r' '\n' | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | grep -v '^[[:space:]]*$' | tail -1
}
while kill -0 "$pid" 2>/dev/null; do
  lines=$(wc -l <"$log")
  if [ "$lines" -gt "$seen" ]; then
    steps=$(sed -n "$((seen + 1)),${lines}p" "$log" | grep -E '^(==|--) ' || true)
    if [ -n "$steps" ]; then
      $tty && printf '\r\033[K' >&2
      while IFS= read -r step; do printf '  [%4ds] %s\n' $((SECONDS - started)) "$step"; done <<<"$steps"
    fi
    seen=$lines
  fi
  elapsed=$((SECONDS - started))
  if $tty; then
    printf '\r\033[K  [%4ds] %s' "$elapsed" "$(latest | cut -c1-$((cols - 12)))" >&2
  elif [ $((elapsed - last_note)) -ge 30 ]; then
    printf '  [%4ds] still running: %s\n' "$elapsed" "$(latest | cut -c1-100)"
    last_note=$elapsed
  fi
  sleep 1
done
wait "$pid"
status=$?
$tty && printf '\r\033[K' >&2
out=$(cat "$log")
passed=0 failed=0
check() {
  if grep -qE -- "$2" <<<"$out"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $1 (no line matching: $2)"; fi
}
check_count() {
  local n; n=$(grep -cE -- "$2" <<<"$out")
  if [ "$n" -ge "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $1 ($n lines matching $2, wanted $3)"; fi
}
[ "$status" -eq 0 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAILED: invoke-local.sh exited $status"; }
check "S3 notification with two records" '^\{"objects":2\}$'
check "SQS batch with no failure" '^\{"batchItemFailures":\[\]\}$'
check "s3:TestEvent ignored" '^\{"ignored":'
check "per-source metrics read back" '^  203\.0\.113\.7 +[0-9]+'
# The flood object arrives three times (EventBridge, SQS, SNS): the ledger counts it once.
check "redeliveries counted once" '^  203\.0\.113\.7 +6000 '
check "self-telemetry read back" '^  Records +[1-9][0-9]*'
check "exactly two notices" '^SNS notices received: 2$'
check "STARTED subject" '^  STARTED +subject: +\[FLOOD STARTED\] 203\.0\.113\.7 .* syn-flood'
check "ENDED subject" '^  ENDED +subject: +\[FLOOD ENDED after [0-9]+m\] 203\.0\.113\.7 '
check "one incident" '^ +incident: +203\.0\.113\.7@[0-9]+ notice 2 '
# rate-metrics answers its SQS batch and flood-alert the detect queue's: two such lines.
check_count "a verdict answered the detect queue" '^\{"batchItemFailures":\[\]\}$' 2
# The ENDED itself is checked above: it comes from the schedule's run, or already from the
# detect batch's when a slow cold start leaves the flood's minutes more than 31 minutes old.
check "the schedule's verdict" '^\{"busy":0,"ended":[01],'

if [ "$failed" -gt 0 ]; then echo "$out" | tail -80; fi
echo "invoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
