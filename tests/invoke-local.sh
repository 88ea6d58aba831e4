#!/usr/bin/env bash
# Runs `make invoke` (scripts/invoke-local.sh) and checks what it printed: every event shape
# answered, metrics read back from CloudWatch, exactly one alert for the flood.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(scripts/invoke-local.sh 2>&1)
status=$?
passed=0 failed=0
check() {
  if grep -qE -- "$2" <<<"$out"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $1 (no line matching: $2)"; fi
}
[ "$status" -eq 0 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAILED: invoke-local.sh exited $status"; }
check "S3 notification with two records" '^\{"objects":2\}$'
check "SQS batch with no failure" '^\{"batchItemFailures":\[\]\}$'
check "s3:TestEvent ignored" '^\{"ignored":'
check "per-source metrics read back" '^  203\.0\.113\.7 +[0-9]+'
# The flood object arrives three times (EventBridge, SQS, SNS): the ledger counts it once.
check "redeliveries counted once" '^  203\.0\.113\.7 +6000 '
check "self-telemetry read back" '^  Records +[1-9][0-9]*'
check "exactly one alert" '^SNS alerts received: 1$'
check "alert subject" '^  subject: +\[FLOOD\] 203\.0\.113\.7 .* syn-flood'
if [ "$failed" -gt 0 ]; then echo "$out" | tail -80; fi
echo "invoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
