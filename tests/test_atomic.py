"""atomic_write and write_bytes/write_text(..., atomic=True): all or
nothing, durable, permission bits kept, stale temporaries cleaned."""
from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import stat
import subprocess
import sys
import time

import pytest

import aiofiles_c
from aiofiles_c import _atomic, atomic_write
from tests.helpers import subprocess_env


def temps(d, name="target"):
    return sorted(n for n in os.listdir(d)
                  if n.startswith(f".{name}{_atomic.TMP_MARK}"))


@pytest.mark.asyncio
@pytest.mark.parametrize("mode,data", [("w", "new text"), ("wb", b"new"),
                                       ("wt", "t"), ("w+b", b"rw")])
async def test_replaces_whole_content(tmp_path, mode, data):
    p = tmp_path / "target"
    p.write_bytes(b"old content that is longer")
    async with atomic_write(p, mode) as f:
        assert temps(tmp_path) != []     # written aside, not in place
        assert p.read_bytes() == b"old content that is longer"
        await f.write(data)
    want = data.encode() if isinstance(data, str) else data
    assert p.read_bytes() == want
    assert temps(tmp_path) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("existed", [True, False])
async def test_exception_leaves_target_untouched(tmp_path, existed):
    p = tmp_path / "target"
    if existed:
        p.write_bytes(b"keep me")
    with pytest.raises(KeyError):
        async with atomic_write(p, "wb") as f:
            await f.write(b"half")
            raise KeyError("boom")
    assert temps(tmp_path) == []
    if existed:
        assert p.read_bytes() == b"keep me"
    else:
        assert not p.exists()


@pytest.mark.asyncio
async def test_cancelled_block_leaves_target_untouched(tmp_path):
    p = tmp_path / "target"
    p.write_bytes(b"keep")
    entered = asyncio.Event()

    async def writer():
        async with atomic_write(p, "wb") as f:
            await f.write(b"x")
            entered.set()
            await asyncio.sleep(10)

    t = asyncio.ensure_future(writer())
    await entered.wait()
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    assert p.read_bytes() == b"keep" and temps(tmp_path) == []


@pytest.mark.asyncio
async def test_permission_bits(tmp_path):
    p = tmp_path / "target"
    p.write_bytes(b"")
    os.chmod(p, 0o640)
    await aiofiles_c.write_bytes(p, b"x", atomic=True)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o640
    os.chmod(p, 0o755)
    await aiofiles_c.write_text(p, "y", atomic=True)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o755
    # A new file: what open() gives it (0o666 less the umask).
    old = os.umask(0o027)
    try:
        await aiofiles_c.write_bytes(tmp_path / "new", b"", atomic=True)
        with open(tmp_path / "ref", "wb"):
            pass
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "new").st_mode == \
        os.stat(tmp_path / "ref").st_mode


@pytest.mark.asyncio
async def test_symlink_is_followed(tmp_path):
    real = tmp_path / "real"
    real.write_bytes(b"old")
    link = tmp_path / "link"
    link.symlink_to("real")
    await aiofiles_c.write_bytes(link, b"new", atomic=True)
    assert link.is_symlink() and real.read_bytes() == b"new"
    assert temps(tmp_path, "real") == [] and temps(tmp_path, "link") == []


@pytest.mark.asyncio
async def test_durable_order(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = aiofiles_c.os.fsync, aiofiles_c.os.replace
    real_dir = _atomic._fsync_dir

    async def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        await real_fsync(fd)

    async def replace(a, b):
        events.append(("replace",))
        await real_replace(a, b)

    def fsync_dir(d):
        events.append(("fsync_dir", d))
        real_dir(d)

    monkeypatch.setattr(aiofiles_c.os, "fsync", fsync)
    monkeypatch.setattr(aiofiles_c.os, "replace", replace)
    monkeypatch.setattr(_atomic, "_fsync_dir", fsync_dir)
    p = tmp_path / "target"
    await aiofiles_c.write_text(p, "durable", atomic=True)
    assert [e[0] for e in events] == ["fsync", "replace", "fsync_dir"]
    tmp = events[0][1]
    assert os.path.basename(tmp).startswith(".target" + _atomic.TMP_MARK)
    assert events[2][1] == str(tmp_path)
    events.clear()
    async with atomic_write(p, "w", durable=False) as f:
        await f.write("fast")
    assert events == [("replace",)] and p.read_text() == "fast"


@pytest.mark.asyncio
async def test_write_errors_and_arguments(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        atomic_write(tmp_path / "t", "r")
    with pytest.raises(ValueError, match="mode"):
        atomic_write(tmp_path / "t", "a")
    with pytest.raises(IsADirectoryError):
        async with atomic_write(tmp_path, "w"):
            pass
    with pytest.raises(FileNotFoundError):
        await aiofiles_c.write_bytes(tmp_path / "no" / "t", b"", atomic=True)
    with pytest.raises(TypeError):
        await aiofiles_c.write_bytes(tmp_path / "t", "str", atomic=True)
    with pytest.raises(UnicodeEncodeError):
        await aiofiles_c.write_text(tmp_path / "t", "é", "ascii",
                                    atomic=True)
    assert not (tmp_path / "t").exists()   # atomic: nothing half-done
    async with atomic_write(tmp_path / "t", "w", encoding="utf-16",
                            newline="\r\n") as f:
        await f.write("a\nb")
    assert (tmp_path / "t").read_bytes() == "a\r\nb".encode("utf-16")


@pytest.mark.asyncio
async def test_concurrent_writers(tmp_path):
    p = tmp_path / "target"
    contents = [bytes([i]) * (1000 * (i + 1)) for i in range(16)]
    await asyncio.gather(*[aiofiles_c.write_bytes(p, c, atomic=True)
                           for c in contents])
    assert p.read_bytes() in contents
    assert temps(tmp_path) == []


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.asyncio
async def test_stale_temporaries(tmp_path):
    p = tmp_path / "target"
    p.write_bytes(b"v1")
    prefix = tmp_path / f".target{_atomic.TMP_MARK}"
    dead = f"{prefix}{_dead_pid()}-aaaa"
    live = f"{prefix}{os.getppid()}-bbbb"     # a live process: kept
    mine = f"{prefix}{os.getpid()}-cccc"      # this process's: kept
    old = f"{prefix}{os.getppid()}-dddd"      # live pid, but a day old
    odd = f"{prefix}notapid"                  # not ours: kept
    other = tmp_path / f".other{_atomic.TMP_MARK}{_dead_pid()}-eeee"
    for q in (dead, live, mine, old, odd, other):
        with open(q, "wb"):
            pass
    t = time.time() - _atomic.STALE_AFTER - 10
    os.utime(old, (t, t))
    await aiofiles_c.write_bytes(p, b"v2", atomic=True)
    left = set(temps(tmp_path))
    assert os.path.basename(dead) not in left
    assert os.path.basename(old) not in left
    assert {os.path.basename(q) for q in (live, mine, odd)} <= left
    assert other.exists()
    assert p.read_bytes() == b"v2"


# ---- SIGKILL at random moments ----

CHILD = r"""
import asyncio, hashlib, os, sys
import aiofiles_c

target, start = sys.argv[1], int(sys.argv[2])


def content(i):
    body = hashlib.sha256(str(i).encode()).digest() * (1 + i * 37 % 900)
    head = b"v%d:%d:" % (i, len(body))
    return head + hashlib.sha256(body).hexdigest().encode() + b":" + body


async def main():
    i = start
    print("ready", os.getpid(), flush=True)
    while True:
        data = content(i)
        if i % 2:
            await aiofiles_c.write_bytes(target, data, atomic=True)
        else:
            async with aiofiles_c.atomic_write(target, "wb") as f:
                for k in range(0, len(data), 4096):
                    await f.write(data[k:k + 4096])
        print(i, flush=True)
        i += 1

asyncio.run(main())
"""


def parse(blob):
    """The version a complete file holds; None for anything else."""
    try:
        head, length, digest, body = blob.split(b":", 3)
        if not head.startswith(b"v") or len(body) != int(length):
            return None
        if hashlib.sha256(body).hexdigest().encode() != digest:
            return None
        return int(head[1:])
    except ValueError:
        return None


def test_sigkill_during_rewrites(tmp_path):
    rewrites_wanted = 1000 if os.environ.get("AIOFILES_C_ATOMIC_STRESS") \
        else 40
    target = tmp_path / "target"
    env = subprocess_env()
    rnd = random.Random(2026)
    done = -1             # last rewrite a child reported complete
    kills = torn = 0
    dead_pids = []        # killed writers since the last complete rewrite
    while done + 1 < rewrites_wanted:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(target), str(done + 1)],
            stdout=subprocess.PIPE, env=env, text=True)
        first = child.stdout.readline().split()
        assert first[0] == "ready", first
        pid = int(first[1])
        time.sleep(rnd.uniform(0, 0.08))
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read().split()
        child.wait()
        child.stdout.close()
        kills += 1
        if rest:
            done = int(rest[-1])
            dead_pids = []
        dead_pids.append(pid)
        # The target: the complete old or the complete new content.
        if done >= 0 or target.exists():
            try:
                v = parse(target.read_bytes())
            except FileNotFoundError:
                v = None
            if v not in (done, done + 1):
                torn += 1
        # Temporaries: only the killed writers' since the last complete
        # rewrite (each complete rewrite cleans the earlier ones).
        for name in temps(tmp_path):
            tpid = int(name.rsplit(_atomic.TMP_MARK, 1)[1].split("-")[0])
            assert tpid in dead_pids, (name, dead_pids)
    # One more write cleans what the last killed writer left.
    asyncio.run(aiofiles_c.write_bytes(target, b"v-final:0::", atomic=True))
    assert temps(tmp_path) == []
    print(f"\natomic rewrites {done + 1}, kills {kills}, torn {torn}")
    assert torn == 0
