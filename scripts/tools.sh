#!/usr/bin/env bash
# Installs pinned Python-registry tools into the git-ignored .tools/venv.
#
# Usage: scripts/tools.sh GROUP...      (groups: see scripts/tools.lock, or `all`)
#        scripts/tools.sh --list
#
# For each GROUP, prints the absolute path of its executable on stdout (one per
# line, in argument order). A group already installed at its pinned version is
# skipped without calling pip, so rerunning is a fast no-op and every Makefile
# target may call this script. Progress and errors go to stderr.
#
# Pins live in scripts/tools.lock. Environment:
#   PYTHON   interpreter used to create the venv (default: python3)
#
# Example: MOTO=$(scripts/tools.sh moto) && "$MOTO" -H 127.0.0.1 -p 5000
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCK_FILE="$ROOT/scripts/tools.lock"
TOOLS_DIR="$ROOT/.tools"
VENV="$TOOLS_DIR/venv"
STAMPS="$TOOLS_DIR/stamps"
PIP_LOG="$TOOLS_DIR/pip.log"
PYTHON=${PYTHON:-python3}

say() { printf 'tools.sh: %s\n' "$*" >&2; }
die() {
    printf 'tools.sh: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    cat >&2 <<EOF
usage: scripts/tools.sh GROUP...   install (if needed) and print tool paths
       scripts/tools.sh all        every group
       scripts/tools.sh --list     show groups and pins
groups: ${ORDER[*]}
EOF
}

[[ -r $LOCK_FILE ]] || die "missing pin file $LOCK_FILE"

# Parse the pin file: <group> <executable> <requirement>...
declare -A BIN=() REQS=()
ORDER=()
while read -r group bin reqs; do
    [[ -z ${group:-} || $group == \#* ]] && continue
    [[ -n ${bin:-} && -n ${reqs:-} ]] || die "malformed line for '$group' in $LOCK_FILE"
    BIN[$group]=$bin
    REQS[$group]=$reqs
    ORDER+=("$group")
done <"$LOCK_FILE"

# True when GROUP is installed at exactly the pinned requirements.
is_current() {
    local group=$1 stamp="$STAMPS/$1"
    [[ -x "$VENV/bin/${BIN[$group]}" && -f $stamp ]] || return 1
    [[ "$(<"$stamp")" == "${REQS[$group]}" ]]
}

if [[ $# -eq 0 ]]; then
    usage
    exit 2
fi

requested=()
for arg in "$@"; do
    case $arg in
    -h | --help)
        usage
        exit 0
        ;;
    --list)
        for g in "${ORDER[@]}"; do
            state=missing
            is_current "$g" && state=installed
            printf '%-14s %-10s %s\n' "$g" "$state" "${REQS[$g]}"
        done
        exit 0
        ;;
    all) requested+=("${ORDER[@]}") ;;
    *)
        [[ -n ${REQS[$arg]+x} ]] || {
            usage
            die "unknown group '$arg'"
        }
        requested+=("$arg")
        ;;
    esac
done

missing_groups() {
    local g
    for g in "${requested[@]}"; do
        is_current "$g" || printf '%s\n' "$g"
    done | sort -u
}

mapfile -t todo < <(missing_groups)

if [[ ${#todo[@]} -gt 0 ]]; then
    mkdir -p "$TOOLS_DIR" "$STAMPS"
    # Serialise concurrent installs (e.g. `make -j`); recheck once locked.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$TOOLS_DIR/.install.lock"
        flock 9
        mapfile -t todo < <(missing_groups)
    fi
fi

if [[ ${#todo[@]} -gt 0 ]]; then
    if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c '' 2>/dev/null; then
        command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found (set PYTHON=...)"
        say "creating venv $VENV"
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed (is the venv/ensurepip module installed?)"
    fi

    # Install the requested groups together with the groups already present,
    # constrained by every pin, so one group can never silently break another.
    reqs=()
    for g in "${ORDER[@]}"; do
        if [[ " ${todo[*]} " == *" $g "* || -f "$STAMPS/$g" ]]; then
            read -r -a parts <<<"${REQS[$g]}"
            reqs+=("${parts[@]}")
        fi
    done
    constraints="$TOOLS_DIR/constraints.txt"
    for g in "${ORDER[@]}"; do
        for r in ${REQS[$g]}; do
            # pip rejects extras in constraints: moto[server]==x -> moto==x
            [[ $r == *\[*\]* ]] && r="${r%%\[*}${r#*\]}"
            printf '%s\n' "$r"
        done
    done >"$constraints"

    say "installing ${todo[*]} (pip log: $PIP_LOG)"
    if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        --constraint "$constraints" "${reqs[@]}" >"$PIP_LOG" 2>&1; then
        tail -n 25 "$PIP_LOG" >&2 || true
        die "pip install failed for: ${todo[*]} (full log: $PIP_LOG)"
    fi

    for g in "${todo[@]}"; do
        [[ -x "$VENV/bin/${BIN[$g]}" ]] ||
            die "group '$g' installed but $VENV/bin/${BIN[$g]} is missing"
        printf '%s\n' "${REQS[$g]}" >"$STAMPS/$g"
    done
fi

for g in "${requested[@]}"; do
    printf '%s\n' "$VENV/bin/${BIN[$g]}"
done
