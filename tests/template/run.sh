#!/usr/bin/env bash
# Offline checks of the SAM template (template.yaml), for `make test` / `make lint`:
#   1. the pinned cfn-lint (scripts/tools.lock): no error and no warning, SAM transform included;
#   2. scripts/check_template.py: least-privilege IAM, encryption, failure destinations, fan-out,
#      and every setting the Rust code reads wired to a parameter.
# One line per check, then a closing "template: N passed, M failed". Exit status 1 on any failure.
# Needs Python 3 (the pinned tools go into the git-ignored .tools/); no AWS account or network
# once the tools are installed. TEMPLATE=path checks another template (default template.yaml).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
TEMPLATE=${TEMPLATE:-template.yaml}

passed=0
failed=0

if ! CFN_LINT=$(scripts/tools.sh cfn-lint); then
    echo "FAIL - cfn-lint: could not install the pinned cfn-lint (see .tools/pip.log)"
    echo "template: 0 passed, 1 failed"
    exit 1
fi
PYTHON=$(dirname "$CFN_LINT")/python

# cfn-lint exits non-zero for errors (2) and warnings (4); informational findings are not
# enabled. No rule is ignored, so there is no .cfnlintrc: add one with a reason per ignore.
lint_out=$("$CFN_LINT" --format parseable -- "$TEMPLATE" 2>&1)
lint_rc=$?
if [[ $lint_rc -eq 0 ]]; then
    echo "ok   - cfn-lint: no errors or warnings"
    passed=$((passed + 1))
else
    echo "FAIL - cfn-lint (exit $lint_rc):"
    printf '%s\n' "$lint_out" | sed 's/^/    /'
    failed=$((failed + 1))
fi

# The checker prints "ok   - ..." / "FAIL - ..." lines and its own summary, which is replaced
# by the closing line below so that log parsers see one count.
check_out=$("$PYTHON" scripts/check_template.py --template "$TEMPLATE" 2>&1)
check_rc=$?
printf '%s\n' "$check_out" | grep -v '^check_template: ' || true
check_passed=$(grep -c '^ok   - ' <<<"$check_out")
check_failed=$(grep -c '^FAIL - ' <<<"$check_out")
if [[ $check_rc -ne 0 && $check_failed -eq 0 ]]; then
    echo "FAIL - check_template.py exited $check_rc without naming a failed check"
    check_failed=1
fi
passed=$((passed + check_passed))
failed=$((failed + check_failed))

echo "template: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
