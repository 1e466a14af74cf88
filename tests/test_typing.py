"""Shipped typing: ``mypy --strict`` on a user program (tests/typing_sample.py)
that uses every module, aiofiles_c seen as an installed package (errors
inside the package are its own business, as mypy treats site-packages)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import aiofiles_c
from tests.helpers import subprocess_env

HERE = Path(__file__).parent
SAMPLE = HERE / "typing_sample.py"
ROOT = Path(aiofiles_c.__file__).resolve().parent.parent
PACKAGE = ROOT / "aiofiles_c"

pytest.importorskip("mypy")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # The sanitizer run preloads ASan: mypy needs none of it, and is much
    # quicker without.
    for var in ("LD_PRELOAD", "PYTHONMALLOC", "ASAN_OPTIONS", "UBSAN_OPTIONS"):
        env.pop(var, None)
    env["MYPYPATH"] = str(ROOT)
    return env


def _mypy(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n[mypy-aiofiles_c.*]\nfollow_imports = silent\n")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file",
         str(config), "--cache-dir", str(tmp_path / "cache"),
         "--no-error-summary", *args],
        capture_output=True, text=True, env=_env(), timeout=300)


def test_shipped_typing_files():
    assert (PACKAGE / "py.typed").is_file()
    for stub in ("_cext.pyi", "__init__.pyi", "threadpool/__init__.pyi",
                 "threadpool/binary.pyi", "threadpool/text.pyi",
                 "tempfile/__init__.pyi", "tempfile/temptypes.pyi"):
        assert (PACKAGE / stub).is_file(), stub


def test_mypy_strict_on_a_user_program(tmp_path):
    proc = _mypy(tmp_path, str(SAMPLE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_mypy_catches_misuse(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import aiofiles_c\n"
        "async def f() -> None:\n"
        "    async with aiofiles_c.open('x', 'rb') as fh:\n"
        "        s: str = await fh.read()\n"
        "    async with aiofiles_c.open('x') as th:\n"
        "        await th.write(b'bytes')\n")
    proc = _mypy(tmp_path, str(bad))
    assert proc.returncode == 1
    assert 'Incompatible types in assignment (expression has type "bytes"' \
        in proc.stdout
    assert 'Argument 1 to "write" of "_UnknownAsyncTextIO" has incompatible' \
        in proc.stdout


def test_the_sample_program_runs():
    env = subprocess_env()  # a sanitizer build needs its preload here
    proc = subprocess.run([sys.executable, str(SAMPLE)], input=b"",
                          capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"to stdout" in proc.stdout


def test_mypy_strict_on_the_package_itself(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir",
         str(tmp_path / "cache"), "--no-error-summary", str(PACKAGE)],
        capture_output=True, text=True, env=_env(), timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
