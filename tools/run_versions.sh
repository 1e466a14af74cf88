#!/usr/bin/env bash
# Build and run the suite on each CPython found in pyenv: a copy of the tree
# per version, a venv per version (under $VENVS, made if missing).
# usage: tools/run_versions.sh [--smoke] [versions...]
#        (default: 3.9 3.10 3.11 3.12 3.13)
# --smoke: build the extension (warnings are errors) and run tools/smoke.py
# on each version instead of the whole suite.
set -uo pipefail
smoke=0
if [ "${1:-}" = --smoke ]; then
    smoke=1
    shift
fi
root=$(cd "$(dirname "$0")/.." && pwd)
VENVS=${VENVS:-$root/.venvs}
PYENV_ROOT=${PYENV_ROOT:-$HOME/.pyenv}
versions=${*:-3.9 3.10 3.11 3.12 3.13}
# Known gaps on Python 3.9 (not yet matched; see the README): argument
# errors worded as 3.9's io/os word them ("an integer is required (got
# type str)", the deprecated 'U' mode), tempfile's truncate() returning
# None there, and the lifecycle scripts, which use asyncio.Runner (3.11+).
KNOWN_3_9=(
    tests/test_binary_errors.py::test_bad_arguments_match_stdlib
    tests/test_binary_errors.py::test_invalid_mode_matches_stdlib
    tests/test_os_diff.py::test_bad_arguments
    tests/test_text.py::test_bad_arguments_as_io
    tests/test_compat.py::test_spooled_truncate
    tests/test_binary_concurrency.py::test_gather_equals_sequential_stdlib
    tests/test_lifecycle.py::test_loop_closed_with_ops_pending
    tests/test_lifecycle.py::test_loop_without_add_reader
    tests/test_lifecycle.py::test_loops_in_several_threads
)
# On 3.10 only the 'U' mode, truncate() and asyncio.Runner gaps remain.
KNOWN_3_10=(
    tests/test_binary_errors.py::test_invalid_mode_matches_stdlib
    tests/test_compat.py::test_spooled_truncate
    tests/test_lifecycle.py::test_loop_closed_with_ops_pending
    tests/test_lifecycle.py::test_loop_without_add_reader
    tests/test_lifecycle.py::test_loops_in_several_threads
)
status=0
for v in $versions; do
    py=$(ls -d "$PYENV_ROOT"/versions/"$v".*/bin/python 2>/dev/null | sort -V | tail -1)
    if [ -z "$py" ]; then
        echo "== Python $v: NOT FOUND under $PYENV_ROOT/versions (install it with pyenv)"
        status=1
        continue
    fi
    venv=$VENVS/py$v
    if [ ! -x "$venv/bin/python" ]; then
        "$py" -m venv "$venv" &&
        "$venv/bin/pip" install -q --upgrade pip "setuptools>=77" &&
        "$venv/bin/pip" install -q pytest pytest-asyncio hypothesis \
            "aiofiles==25.1.0" uvloop mypy || { status=1; continue; }
    fi
    work=$(mktemp -d)
    cp -r "$root"/cext "$root"/aiofiles_c "$root"/tests "$root"/setup.py "$root"/LICENSE \
        "$root"/pyproject.toml "$root"/README.md "$work"/
    rm -f "$work"/aiofiles_c/*.so
    known=()
    if [ $smoke = 0 ] && [ "$v" = 3.9 ]; then
        for t in "${KNOWN_3_9[@]}"; do known+=(--deselect "$t"); done
        echo "== Python 3.9: ${#KNOWN_3_9[@]} known-gap tests deselected"
    elif [ $smoke = 0 ] && [ "$v" = 3.10 ]; then
        for t in "${KNOWN_3_10[@]}"; do known+=(--deselect "$t"); done
        echo "== Python 3.10: ${#KNOWN_3_10[@]} known-gap tests deselected"
    fi
    start=$(date +%s)
    if [ $smoke = 1 ]; then
        (cd "$work" && AIOFILES_C_STRICT=1 "$venv/bin/python" setup.py -q build_ext --inplace >/dev/null &&
            PYTHONPATH=. "$venv/bin/python" "$root"/tools/smoke.py native) || status=1
        echo "== Python $v ($("$venv/bin/python" -V)): $(( $(date +%s) - start )) s"
        rm -rf "$work"
        continue
    fi
    (cd "$work" && AIOFILES_C_STRICT=1 "$venv/bin/python" setup.py -q build_ext --inplace >/dev/null &&
        "$venv/bin/python" -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-} "${known[@]}" 2>&1 | tee "$VENVS/last-$v.log" | tail -3) || status=1
    echo "== Python $v ($("$venv/bin/python" -V)): $(( $(date +%s) - start )) s"
    rm -rf "$work"
done
exit $status
