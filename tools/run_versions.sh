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
    start=$(date +%s)
    if [ $smoke = 1 ]; then
        (cd "$work" && AIOFILES_C_STRICT=1 "$venv/bin/python" setup.py -q build_ext --inplace >/dev/null &&
            PYTHONPATH=. "$venv/bin/python" "$root"/tools/smoke.py native) || status=1
        echo "== Python $v ($("$venv/bin/python" -V)): $(( $(date +%s) - start )) s"
        rm -rf "$work"
        continue
    fi
    (cd "$work" && AIOFILES_C_STRICT=1 "$venv/bin/python" setup.py -q build_ext --inplace >/dev/null &&
        "$venv/bin/python" -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-} 2>&1 | tee "$VENVS/last-$v.log" | tail -3) || status=1
    echo "== Python $v ($("$venv/bin/python" -V)): $(( $(date +%s) - start )) s"
    rm -rf "$work"
done
exit $status
