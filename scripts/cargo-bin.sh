#!/usr/bin/env bash
# Where cargo puts things, asked of cargo itself, so that no Makefile target or script guesses
# target/debug (CARGO_TARGET_DIR, build.target-dir and a build target all move it).
#
# Usage: scripts/cargo-bin.sh BINARY         build the binary (cargo's own progress and errors
#                                           on stderr) and print its path
#        scripts/cargo-bin.sh --target-dir  print the target directory (builds nothing)
#
# The build selects the whole workspace (`--workspace --bin`), so its dependencies get the
# features `cargo test --workspace` and `cargo lambda watch` (`cargo run --bin`) give them and
# are built once: with `-p` they got the package's own feature set and were rebuilt, 2m48s of a
# cold `make test`'s demo and 3m43s of its invoke.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo=${CARGO:-cargo}

if [[ ${1:-} == --target-dir ]]; then
    "$cargo" metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
    exit
fi
[[ $# -eq 1 ]] || { echo "usage: scripts/cargo-bin.sh BINARY | --target-dir" >&2; exit 2; }
bin=$1
"$cargo" build --locked --workspace --bin "$bin" --message-format=json-render-diagnostics |
    python3 -c '
import json, sys
name, path = sys.argv[1], None
for line in sys.stdin:
    try:
        message = json.loads(line)
    except ValueError:
        continue
    target = message.get("target", {})
    if message.get("reason") == "compiler-artifact" and target.get("name") == name and "bin" in target.get("kind", []):
        path = message.get("executable") or path
if path is None:
    sys.exit(f"cargo-bin.sh: cargo reported no binary named {name}")
print(path)
' "$bin"
