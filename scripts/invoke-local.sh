#!/usr/bin/env bash
# `make invoke`: both functions on the sample events against a local moto server, with no AWS
# account and no Docker. Starts moto and `cargo lambda watch`, uploads fresh sample objects,
# invokes rate-metrics with `cargo lambda invoke --data-file events/...` on every event shape,
# then flood-alert through a flood's whole lifecycle: the detect queue's batch (STARTED), the
# same again (nothing), the schedule 40 minutes on (ENDED). Prints the metrics and the notices
# read back, and stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/tools.sh moto cargo-lambda >/dev/null
venv=$root/.tools/venv/bin
export PATH="$venv:$PATH"
# In cargo's target directory (wherever CARGO_TARGET_DIR puts it), never inside a crate folder:
# `cargo lambda watch` would rebuild.
work=$(scripts/cargo-bin.sh --target-dir)/local-invoke
rm -rf "$work" && mkdir -p "$work"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 "${3:-600}"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.5
  done
  echo "invoke-local: $2 did not start; see $work" >&2; exit 1
}

echo "== build (a compile error stops here rather than inside cargo lambda watch)"
# The workspace's feature set, as `cargo lambda watch` builds them (`cargo run --bin`).
cargo build --locked --workspace --bin rate-metrics --bin flood-alert
flowlogs=$(scripts/cargo-bin.sh flowlogs)

echo "== sample objects with recent timestamps (CloudWatch takes 14 days back at most)"
START=$(( ($(date +%s) - 1800) / 60 * 60 )) OUT="$work/objects" FLOWLOGS=$flowlogs scripts/make-samples.sh

echo "== moto server"
moto_port=$(free_port)
setsid "$venv/moto_server" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
wait_port "$moto_port" "moto" 120
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
read -r topic detect_queue < <("$venv/python" scripts/local_aws.py setup "$work/objects")

echo "== cargo lambda watch (logs: $work/watch.log)"
invoke_port=$(free_port)
namespace=VPCFlowLogsLocal
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
  --env-var "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL,AWS_ACCESS_KEY_ID=testing,AWS_SECRET_ACCESS_KEY=testing" \
  --env-var "AWS_REGION=us-east-1,METRICS_NAMESPACE=$namespace,TOP_N=10,STATE_TABLE=flowlogs-state" \
  --env-var "DETECT_QUEUE_URL=$detect_queue,TOPIC_ARN=$topic" \
  >"$work/watch.log" 2>&1 &
pids+=($!)
wait_port "$invoke_port" "cargo lambda watch"

invoke() {
  echo "-- cargo lambda invoke $1 --data-file $2"
  timeout 300 cargo lambda invoke "$1" --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
    --data-file "$2" || { echo "invoke-local: $1 failed; last watch log lines:" >&2; tail -20 "$work/watch.log" >&2; exit 1; }
  echo
}
for event in s3-notification.json s3-notification-hive-key.json eventbridge-object-created.json \
             sqs-s3-notification.json sns-s3-notification.json s3-test-event.json; do
  invoke rate-metrics "events/$event"
done

echo "== the flood's lifecycle"
"$venv/python" scripts/local_aws.py detect-batch "$work/detect-batch.json"
invoke flood-alert "$work/detect-batch.json"   # the detect queue: STARTED
invoke flood-alert "$work/detect-batch.json"   # the same requests again: nothing new
"$venv/python" scripts/local_aws.py schedule "$work/schedule.json" 2400
invoke flood-alert "$work/schedule.json"       # the schedule, 40 minutes on: ENDED

echo "== read back"
"$venv/python" scripts/local_aws.py metrics "$namespace"
"$venv/python" scripts/local_aws.py alerts
