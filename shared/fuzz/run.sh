#!/usr/bin/env bash
# Fuzzes flowlog-core's scan() (both visitors and detect) with cargo-fuzz and libFuzzer.
#
#   shared/fuzz/run.sh [SECONDS]                    # default 300, no sanitizer
#   SANITIZER=address shared/fuzz/run.sh [SECONDS]  # with AddressSanitizer (about 6x slower)
#
# The crate's only unsafe code is the SSE2 token splitter, so by default the run goes for
# throughput (panics, overflow checks and the target's assertions still fire: cargo-fuzz builds
# with debug assertions).
# Works on the stable toolchain: RUSTC_BOOTSTRAP=1 lets stable rustc accept the nightly-only
# sanitizer flags cargo-fuzz passes (-Zsanitizer=address). Crashes land in artifacts/scan/;
# replay one with: RUSTC_BOOTSTRAP=1 cargo fuzz run scan artifacts/scan/crash-…
set -euo pipefail

seconds="${1:-300}"
cargo_fuzz_version=0.13.2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! cargo fuzz --version 2>/dev/null | grep -qF "$cargo_fuzz_version"; then
    cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked
fi

cd "$here"
corpus=corpus/scan
mkdir -p "$corpus"
if [ -z "$(ls -A "$corpus")" ]; then
    # Seeds: flags byte, line-limit byte, then the object (see fuzz_targets/scan.rs).
    header='version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status'
    ok='2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK'
    nodata='2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA'
    v3='version vpc-id srcaddr pkt-srcaddr dstaddr dstport protocol packets bytes start end action tcp-flags log-status'
    v3_ok='3 vpc-abcdefab012345678 10.0.0.5 203.0.113.9 10.0.1.7 443 6 1 44 1566848875 1566848933 REJECT 2 OK'
    printf '\000\000%s\n%s\n%s\n' "$header" "$ok" "$nodata" > "$corpus/seed-plain"
    printf '\001\000%s\n%s\r\n\n%s\n' "$header" "$ok" "$ok" > "$corpus/seed-gzip"
    printf '\002\000${srcaddr} ${start} ${packets} ${log-status}\n10.0.0.1 1418530010 5 OK\n2001:db8::1 1418530070000 - SKIPDATA\n' > "$corpus/seed-format"
    printf '\114\040%s\n%s\n%s\n%s\n' "$v3" "$v3_ok" "$v3_ok" "$ok" > "$corpus/seed-v3-pkt"
fi

export RUSTC_BOOTSTRAP=1
exec cargo fuzz run --sanitizer "${SANITIZER:-none}" scan "$corpus" -- \
    -max_total_time="$seconds" -max_len=16384 -len_control=0 -print_final_stats=1
