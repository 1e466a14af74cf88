"""The benchmark tool (python -m aiofiles_c.bench), run in a subprocess with
tiny workloads: the report's shape, the peers' columns, --busy's processes
(started, named in the header, stopped however the run ends), --plot. No
timing is asserted: the figures of a smoke run mean nothing."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import aiofiles_c
from aiofiles_c.bench._peers import PEERS
from aiofiles_c.bench._scenarios import MiB, SCENARIOS, Sizes

ROOT = Path(aiofiles_c.__file__).resolve().parent.parent
TIMEOUT = 300  # a sanitizer build on a loaded machine is slow

RATIO_CELL = re.compile(r"^\d+(\.\d+)?x\*? \(\d+(\.\d+)? ms\)$")
STDLIB_CELL = re.compile(r"^\d+(\.\d+)? m?s \(\d+(\.\d+)? ms\)$")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + old if old else "")
    return env


def _bench(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "aiofiles_c.bench", "--quick",
         "--dir", str(tmp_path / "scratch"), *args],
        capture_output=True, text=True, env=_env(), timeout=TIMEOUT,
        cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return proc


def _table(report: str) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of the report's one table."""
    lines = [ln for ln in report.splitlines() if ln.startswith("|")]
    assert len(lines) >= 3, report
    split = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    header, rule, rows = split[0], split[1], split[2:]
    assert all(set(c) <= set("-:") for c in rule)
    assert len(rule) == len(header)
    for row in rows:
        assert len(row) == len(header), row
    return header, rows


def _installed(peer: str) -> bool:
    cls = PEERS[peer]
    if cls.unavailable():
        return False
    module = cls.distributions[0] if cls.distributions else peer
    return importlib.util.find_spec(module) is not None


def _gone(pid: int) -> bool:
    """The process has ended (its pid is free or reused by another program)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return b"aiofiles_c.bench" not in cmdline and b"getppid" not in cmdline


def test_the_workloads_are_the_issues():
    sizes = Sizes()
    assert sizes.big_file == 64 * MiB
    assert sizes.random_reads == 20_000
    assert sizes.small_files == 2000
    assert sizes.stats == 10_000
    for name in ("random4k", "smallfiles_seq", "smallfiles", "stat10k",
                 "read_bytes", "read1m", "readall64m", "text_for",
                 "write_small", "scandir10k", "copyfile64m", "read_at_64"):
        assert name in SCENARIOS


def test_quick_run_has_every_scenario_and_installed_peer(tmp_path):
    proc = _bench("--json", str(tmp_path / "raw.json"), tmp_path=tmp_path)
    report = proc.stdout
    assert report.startswith("## aiofiles_c benchmark: quiet machine\n")
    header, rows = _table(report)
    expected_peers = [p for p in PEERS if _installed(p)]
    assert header == ["scenario", "stdlib"] + expected_peers
    assert [row[0] for row in rows] == [f"`{name}`" for name in SCENARIOS]
    native = aiofiles_c.backend == "native"
    for row in rows:
        assert STDLIB_CELL.match(row[1]), row
        for peer, cell in zip(expected_peers, row[2:]):
            assert cell == "—" or RATIO_CELL.match(cell), (peer, row)
            if peer == "aiofiles_c" and native:
                assert cell != "—", row  # it has every call
    # A peer without the call shows "—": aiofiles has no read_bytes(path).
    if "aiofiles" in expected_peers:
        by_name = {row[0]: row for row in rows}
        col = header.index("aiofiles")
        assert by_name["`read_bytes`"][col] == "—"
    for name in SCENARIOS:  # every scenario's legend line
        assert f"\n- `{name}`: " in report
    raw = json.loads((tmp_path / "raw.json").read_text())
    assert raw["peers"] == expected_peers
    assert set(raw["scenarios"]) == set(SCENARIOS)
    # Each process measured stdlib itself.
    for name, sc in raw["scenarios"].items():
        for peer in expected_peers:
            assert len(sc["results"][peer]["stdlib"]) == 1, (name, peer)
    # Every peer ran in its own process, and the scratch data is gone.
    pids = re.findall(r"^(\w+): worker process (\d+)$", proc.stderr, re.M)
    assert [p for p, _ in pids] == expected_peers
    assert len({pid for _, pid in pids}) == len(pids)
    assert list((tmp_path / "scratch").iterdir()) == []


def test_busy_loops_run_beside_and_are_stopped(tmp_path):
    proc = _bench("--busy", "2", "--only", "stat10k,random4k", "--peers",
                  "aiofiles_c", tmp_path=tmp_path)
    assert proc.stdout.startswith(
        "## aiofiles_c benchmark: busy machine, 2 busy-loop processes "
        "beside it on ")
    assert "- busy: 2 busy-loop processes" in proc.stdout
    header, rows = _table(proc.stdout)
    assert header == ["scenario", "stdlib", "aiofiles_c"]
    assert len(rows) == 2
    found = re.search(r"busy: 2 busy-loop processes running \(pids (\d+) "
                      r"(\d+)\)", proc.stderr)
    assert found, proc.stderr
    for pid in map(int, found.groups()):
        assert _gone(pid)


def test_ctrl_c_stops_the_busy_loops_and_workers(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiofiles_c.bench", "--quick", "--rounds",
         "1000", "--busy", "2", "--only", "random4k", "--peers",
         "aiofiles_c,aiofiles", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_env(), cwd=tmp_path)
    assert proc.stderr is not None
    pids: list[int] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        for line in proc.stderr:
            busy = re.match(r"busy: 2 busy-loop processes running \(pids "
                            r"(\d+) (\d+)\)", line)
            if busy:
                pids += map(int, busy.groups())
            worker = re.match(r"\w+: worker process (\d+)$", line)
            if worker:
                pids.append(int(worker.group(1)))
            if line.startswith("random4k round 3/"):
                break  # the workers are measuring
            assert time.monotonic() < deadline
        assert len(pids) == 4, pids
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()
    assert "interrupted" in rest
    assert "busy: 2 busy-loop processes stopped" in rest
    for pid in pids:
        assert _gone(pid), pid
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"),
                                           (".svg", b"<?xml")])
def test_plot_writes_the_picture(tmp_path, suffix, magic):
    pytest.importorskip("matplotlib")
    out = tmp_path / f"bench{suffix}"
    proc = _bench("--only", "stat10k,read_bytes", "--peers",
                  "aiofiles_c,aiofiles", "--plot", str(out),
                  tmp_path=tmp_path)
    assert out.read_bytes().startswith(magic)
    assert f"plot written to {out}" in proc.stderr


def test_plot_without_matplotlib_says_how_to_get_it(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None; "
            "from aiofiles_c.bench import main; "
            "main(['--quick', '--plot', 'x.png'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, env=_env(), timeout=TIMEOUT, cwd=tmp_path)
    assert proc.returncode == 2
    assert "--plot needs matplotlib" in proc.stderr
    assert "pip install 'aiofiles_c[plot]'" in proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_bad_options_are_refused(tmp_path):
    for args, message in ((["--only", "nope"], "unknown scenario(s) nope"),
                          (["--peers", "nope"], "unknown peer(s) nope"),
                          (["--plot", "x.pdf"], "must end in .png or .svg"),
                          (["--rounds", "0"], "--rounds must be at least 1"),
                          (["--busy", "-1"], "--busy must be 0 or more")):
        proc = subprocess.run(
            [sys.executable, "-m", "aiofiles_c.bench", *args],
            capture_output=True, text=True, env=_env(), timeout=TIMEOUT,
            cwd=tmp_path)
        assert proc.returncode == 2, args
        assert message in proc.stderr, (args, proc.stderr)


def test_list_names_every_scenario_and_peer(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "aiofiles_c.bench", "--list"],
        capture_output=True, text=True, env=_env(), timeout=TIMEOUT,
        cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in list(SCENARIOS) + list(PEERS):
        assert f"\n  {name}: " in proc.stdout
