"""Load and limits (tests/programs/load.py, one scenario per subprocess so
that RSS and descriptors are the scenario's own).

CI counts are small (seconds); AIOFILES_C_STRESS=1 runs the full ones:
1,000 tasks on one file, 100,000 awaits in flight over 100 files, 50,000
open/close cycles, 1,000 asyncio.run() cycles.

The memory bound for awaits in flight: RSS grows by at most 16 MiB (the
100 files' read-ahead buffers, 128 KiB each, and allocator slack) plus
2 KiB per await in flight (the operation, its task, the result).
"""
import json
import os
import sys
from pathlib import Path

import pytest

from tests.helpers import IMPL_NAME, IS_C, run_process, subprocess_env

SCRIPT = Path(__file__).resolve().parent / "programs" / "load.py"
STRESS = os.environ.get("AIOFILES_C_STRESS") == "1"
# AddressSanitizer keeps freed memory in quarantine: RSS says nothing there.
SANITIZER = os.environ.get("AIOFILES_C_TEST_PROFILE") == "sanitizer"
COUNTS = {
    "tasks_one_file": 1000,
    "awaits_in_flight": 100_000 if STRESS else 5_000,
    "open_close_cycles": 50_000 if STRESS else 2_000,
    "run_cycles": 1000 if STRESS else 50,
    "emfile": 0,
}
TIMEOUT = 1200 if STRESS else 120


def scenario(name, tmp_path, impl_name=IMPL_NAME):
    cmd = [sys.executable, str(SCRIPT), name, impl_name, str(COUNTS[name])]
    res = run_process(cmd, timeout=TIMEOUT,
                      env=subprocess_env(TMPDIR=str(tmp_path)))
    err = res.stderr
    assert res.returncode == 0, f"{cmd}: rc {res.returncode}\n{err}"
    assert not err.strip(), err
    result = json.loads(res.stdout.strip().splitlines()[-1])
    print(name, impl_name, result)
    return result


def test_thousand_tasks_on_one_file(tmp_path):
    """1,000 tasks reading one file, then 1,000 writing it: the slices and
    the records in call order (checked inside the scenario)."""
    r = scenario("tasks_one_file", tmp_path)
    assert r["tasks"] == COUNTS["tasks_one_file"]


@pytest.mark.skipif(not IS_C, reason="the bound is aiofiles_c's")
def test_awaits_in_flight_memory_bounded(tmp_path):
    r = scenario("awaits_in_flight", tmp_path)
    n = r["awaits"]
    assert n == COUNTS["awaits_in_flight"]
    assert r["not_done_at_start"] > n // 2  # really in flight together
    bound = 16 * 1024 + 2 * n
    assert r["growth_kib"] <= bound or SANITIZER, r
    if STRESS:
        try:
            ref = scenario("awaits_in_flight", tmp_path / "ref", "aiofiles")
        except Exception:  # noqa: BLE001 - aiofiles missing: no comparison
            return
        print("aiofiles_c growth KiB", r["growth_kib"], "aiofiles",
              ref["growth_kib"])


@pytest.mark.parametrize("name", ["open_close_cycles", "run_cycles"])
def test_cycles_leave_resources_flat(tmp_path, name):
    r = scenario(name, tmp_path)
    fds_before, fds_after = r["fds"]
    assert fds_after == fds_before, r
    (py_before, os_before), (py_after, os_after) = r["threads"]
    assert py_after == py_before, r
    # Pool workers start lazily: a few more may have started, no more than
    # the pool's width.
    assert os_after - os_before <= 4, r
    rss_before, rss_after = r["rss_kib"]
    assert rss_after - rss_before <= 4 * 1024 or SANITIZER, r


def test_emfile_is_a_clean_oserror(tmp_path):
    """open() with no descriptor left: OSError(EMFILE) with the file name,
    one at a time and 200 at once; every descriptor given back after the
    files are closed; open() works again."""
    r = scenario("emfile", tmp_path)
    assert r["errors"] > 0
    assert r["kinds"] == [["OSError", 24]]
    assert r["filename"]
    assert r["fds"][0] == r["fds"][1]
