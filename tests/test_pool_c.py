"""C-level tests of the pool and the completion queues (tests/c/test_pool.c,
no Python), built against cext/pool.c plain and with ThreadSanitizer."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import IS_C

ROOT = Path(__file__).resolve().parent.parent
SRC = [ROOT / "tests" / "c" / "test_pool.c", ROOT / "cext" / "pool.c",
       ROOT / "cext" / "sys.c"]
CFLAGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE",
          "-O1", "-g", f"-I{ROOT / 'cext'}", "-pthread"]
# A job in flight at fork is the point of one test: TSan allows threads in
# a child of a multi-threaded process only when told so.
TSAN_OPTIONS = "die_after_fork=0 halt_on_error=1 exitcode=66 report_bugs=1"

pytestmark = [
    pytest.mark.skipif(not IS_C, reason="aiofiles_c pool"),
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc"),
]


def build(tmp_path, extra, name):
    exe = tmp_path / name
    subprocess.run(["gcc", *CFLAGS, *extra, *map(str, SRC), "-o", str(exe)],
                   check=True)
    return exe


def run(exe, env=None, timeout=300):
    e = dict(os.environ)
    e.pop("LD_PRELOAD", None)   # the sanitizer stage preloads libasan
    e.update(env or {})
    scale = os.environ.get("AIOFILES_C_CTEST_SCALE", "1")
    p = subprocess.run([str(exe), scale], capture_output=True, text=True,
                       env=e, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def test_pool_c_plain(tmp_path):
    rc, out, err = run(build(tmp_path, [], "test_pool"))
    assert rc == 0 and "ALL OK" in out, (rc, out, err)
    assert err == "", err


def _have_tsan(tmp_path):
    probe = tmp_path / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    r = subprocess.run(["gcc", "-fsanitize=thread", str(probe), "-o",
                        str(tmp_path / "probe")], capture_output=True)
    return r.returncode == 0


def test_pool_c_thread_sanitizer(tmp_path):
    if not _have_tsan(tmp_path):
        pytest.skip("gcc has no ThreadSanitizer here")
    exe = build(tmp_path, ["-fsanitize=thread"], "test_pool_tsan")
    rc, out, err = run(exe, {"TSAN_OPTIONS": TSAN_OPTIONS})
    assert "ThreadSanitizer" not in err, err
    assert rc == 0 and "ALL OK" in out, (rc, out, err)
