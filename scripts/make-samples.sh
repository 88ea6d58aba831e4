#!/usr/bin/env bash
# Regenerates the bundled sample objects in events/objects/ with `flowlogs generate`.
# Deterministic: the same flowlogs version always writes the same bytes (a test checks it).
set -euo pipefail
cd "$(dirname "$0")/.."
flowlogs=${FLOWLOGS:-$(scripts/cargo-bin.sh flowlogs)}
out=${OUT:-events/objects}
mkdir -p "$out"
# START (Unix seconds) moves the records in time, e.g. to recent minutes for a local invoke.
start=()
[ -n "${START:-}" ] && start=(--start "$START")
gen() { "$flowlogs" generate --gzip 6 "${start[@]}" "$@"; }

# Default format (as AWS writes it with a header), mixed traffic, NODATA/SKIPDATA, a few bad lines.
gen -o "$out/default-v2.log.gz" --records 3000 --seed 11 --nodata-every 200 --skipdata-every 900 --malformed-every 1000
# Custom v3-v5 format with header.
gen -o "$out/custom-v5.log.gz" --preset v5 --records 3000 --seed 12 --nodata-every 300
# IPv6 sources, v8 custom format.
gen -o "$out/ipv6-v8.log.gz" --preset v8 --records 2000 --seed 13 --ipv6-share 1.0
# A whole VPC for two minutes (web servers answering thousands of clients, a NAT gateway, a
# load balancer, office NATs, connection pools, a monitor, backups and downloads, scanners) and
# one SYN flood from 203.0.113.7: only the flood is reported.
gen -o "$out/flood.log.gz" --vpc --preset v5 --minutes 2 --seed 14 --attack syn-flood=203.0.113.7
# The same VPC's next two minutes, the flood going on, as flow logs deliver Parquet
# (FileFormat=parquet): one finding across both objects.
next=$(( ${START:-1699999980} + 120 ))
"$flowlogs" generate --parquet --start "$next" -o "$out/flood-next.log.parquet" --vpc --preset v5 --minutes 2 --seed 15 --attack syn-flood=203.0.113.7
