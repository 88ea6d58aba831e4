#!/usr/bin/env bash
# `make demo`: `flowlogs analyze` over the bundled sample objects (gzip text and Parquet), sized
# for a 120x40 terminal:
# what was read and the top sources, then the findings, then where the same findings are as JSON
# (the form the alert function publishes). Colour when standard output is a terminal, unless
# NO_COLOR is set. No AWS account needed.
set -euo pipefail
cd "$(dirname "$0")/.."
flowlogs=$(scripts/cargo-bin.sh flowlogs)
json_dir="$(scripts/cargo-bin.sh --target-dir)/demo"
mkdir -p "$json_dir"
# The flood's object and the same VPC's next two minutes as Parquet: one finding across both.
inputs=(events/objects/*.log.gz events/objects/*.parquet)

echo "== flowlogs analyze --top 10 events/objects/*.log.gz events/objects/*.parquet"
"$flowlogs" analyze --top 10 "${inputs[@]}"
"$flowlogs" analyze --output json "${inputs[@]}" >"$json_dir/analysis.json"
echo
echo "The same as JSON (floods as the alert function publishes them): $json_dir/analysis.json"
