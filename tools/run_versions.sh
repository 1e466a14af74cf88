#!/usr/bin/env bash
# Build and run the suite on each CPython found in pyenv: a copy of the tree
# per version, a venv per version (under $VENVS, made if missing).
# usage: tools/run_versions.sh [--smoke|--subset] [--skip-missing] [versions...]
#        (default: 3.9 3.10 3.11 3.12 3.13)
# --smoke: build the extension (warnings are errors) and run tools/smoke.py
# on each version instead of the whole suite.
# --subset: the part of the suite CI runs on the versions other than its
# main one (see SUBSET below).
# --skip-missing: a version pyenv does not have is reported and skipped
# (by default it fails the run).
# PYTEST_ARGS adds pytest arguments. Each version's output goes to
# $VENVS/last-<version>.log; its pass/fail line and time are printed.
set -uo pipefail
# The subset: every test file and every test, on the asyncio event loop
# only, without the C-only pool tests. The uvloop twin of a test runs the
# same library code on another loop (uvloop's Task drives our awaitables
# as asyncio's does), and the pool's C tests use no Python at all: what
# changes from one Python version to the next (compat.h, the awaitable
# without am_send on 3.9, codecs, the os/shutil/io differences, typing)
# is all still run. It takes about 60% of the whole suite's time.
SUBSET=(-k "not uvloop" --ignore=tests/test_pool_c.py)
subset=()
smoke=0
skip_missing=0
while [ $# -gt 0 ]; do
    case "$1" in
    --smoke) smoke=1 ;;
    --subset) subset=("${SUBSET[@]}") ;;
    --skip-missing) skip_missing=1 ;;
    *) break ;;
    esac
    shift
done
root=$(cd "$(dirname "$0")/.." && pwd)
VENVS=${VENVS:-$root/.venvs}
PYENV_ROOT=${PYENV_ROOT:-$HOME/.pyenv}
versions=${*:-3.9 3.10 3.11 3.12 3.13}
status=0
for v in $versions; do
    py=$(ls -d "$PYENV_ROOT"/versions/"$v".*/bin/python 2>/dev/null | sort -V | tail -1)
    if [ -z "$py" ]; then
        if [ $skip_missing = 1 ]; then
            echo "== Python $v: SKIPPED, not found under $PYENV_ROOT/versions"
        else
            echo "== Python $v: NOT FOUND under $PYENV_ROOT/versions (install it with pyenv)"
            status=1
        fi
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
    start=$(date +%s)
    if [ $smoke = 1 ]; then
        (cd "$work" && AIOFILES_C_STRICT=1 "$venv/bin/python" setup.py -q build_ext --inplace >/dev/null &&
            PYTHONPATH=. "$venv/bin/python" "$root"/tools/smoke.py native) || status=1
        echo "== Python $v ($("$venv/bin/python" -V)): $(( $(date +%s) - start )) s"
        rm -rf "$work"
        continue
    fi
    (cd "$work" && AIOFILES_C_STRICT=1 "$venv/bin/python" setup.py -q build_ext --inplace >/dev/null &&
        "$venv/bin/python" -m pytest -q -p no:cacheprovider "${subset[@]}" ${PYTEST_ARGS:-} 2>&1 | tee "$VENVS/last-$v.log" | tail -3) || status=1
    echo "== Python $v ($("$venv/bin/python" -V)): $(( $(date +%s) - start )) s"
    rm -rf "$work"
done
exit $status
