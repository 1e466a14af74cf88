"""Workers block every signal and retry EINTR (issue 9, PEP 475).

A SIGALRM every 100 us, with a Python handler, during heavy I/O of every
kind: every result correct, no EINTR (InterruptedError) reaching the user.
AIOFILES_C_STORM_SECONDS sets how long the storm lasts (default 2).
"""
import os

import pytest

from tests.helpers import IS_C, run_python

pytestmark = pytest.mark.skipif(not IS_C, reason="aiofiles_c pool")

SECONDS = float(os.environ.get("AIOFILES_C_STORM_SECONDS", "2"))

STORM = r"""
import asyncio, hashlib, os, shutil, signal, sys, time
import uvloop
import aiofiles_c
from tests._runner import Runner
import aiofiles_c.os as aos

loop_kind, seconds, workdir = sys.argv[1], float(sys.argv[2]), sys.argv[3]
factory = {"asyncio": asyncio.new_event_loop,
           "uvloop": uvloop.new_event_loop}[loop_kind]
counts = {}
alarms = 0

def on_alarm(signum, frame):
    global alarms
    alarms += 1

def bump(kind, n=1):
    counts[kind] = counts.get(kind, 0) + n

async def files(k, deadline):
    i = 0
    while time.monotonic() < deadline:
        data = os.urandom(1000) * (1 + i % 300)
        p = os.path.join(workdir, f"f{k}-{i % 8}")
        async with aiofiles_c.open(p, "wb") as f:
            for j in range(0, len(data), 7000):
                await f.write(data[j:j + 7000])
            await f.flush()
            await aos.fsync(f.fileno())
            await aos.fdatasync(f.fileno())
        bump("write+fsync+fdatasync", 3)
        async with aiofiles_c.open(p, "rb") as f:
            assert await f.read() == data
            await f.seek(0)
            assert await f.read(100) == data[:100]
        bump("open/read/close", 2)
        st = await aos.stat(p)
        assert st.st_size == len(data) == os.stat(p).st_size
        await aos.chmod(p, 0o600 if i % 2 else 0o644)
        assert (os.stat(p).st_mode & 0o777) == (0o600 if i % 2 else 0o644)
        q = p + ".copy"
        await aos.copyfile(p, q)
        with open(q, "rb") as g:
            assert g.read() == data
        bump("stat+chmod+copyfile", 3)
        i += 1

async def listing(deadline):
    names = {f"d{i}" for i in range(50)}
    d = os.path.join(workdir, "dir")
    os.mkdir(d)
    for n in names:
        open(os.path.join(d, n), "w").close()
    while time.monotonic() < deadline:
        got = {e.name async for e in aos.scandir(d)}
        assert got == names
        assert set(await aos.listdir(d)) == names
        bump("scandir+listdir", 2)

async def pipes(deadline):
    while time.monotonic() < deadline:
        r, w = os.pipe()
        fr = await aiofiles_c.open(r, "rb")
        fw = await aiofiles_c.open(w, "wb")
        h = hashlib.sha256()
        async def prod():
            for i in range(20):
                await fw.write(bytes([i]) * 50000)
            await fw.close()
        async def cons():
            while c := await fr.read(65536):
                h.update(c)
        await asyncio.gather(prod(), cons())
        await fr.close()
        want = hashlib.sha256(b"".join(bytes([i]) * 50000 for i in range(20)))
        assert h.digest() == want.digest()
        bump("pipe read/write")

async def main():
    deadline = time.monotonic() + seconds
    t0 = time.monotonic()
    await asyncio.gather(*(files(k, deadline) for k in range(4)),
                         listing(deadline), pipes(deadline))
    return time.monotonic() - t0

signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
try:
    with Runner(loop_factory=factory) as runner:
        took = runner.run(main())
finally:
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
# Every worker blocks every signal a process can block.
blocked = []
for tid in os.listdir("/proc/self/task"):
    with open(f"/proc/self/task/{tid}/comm") as f:
        name = f.read().strip()
    if name != "afc-worker":
        continue
    with open(f"/proc/self/task/{tid}/status") as f:
        mask = int(next(l for l in f if l.startswith("SigBlk:")).split()[1],
                   16)
    for sig in (signal.SIGALRM, signal.SIGINT, signal.SIGTERM,
                signal.SIGUSR1, signal.SIGCHLD, signal.SIGPIPE):
        assert mask & (1 << (sig - 1)), (tid, hex(mask), sig)
    blocked.append(tid)
assert blocked, "no worker threads found"
total = sum(counts.values())
print(f"{total} operations in {took:.2f}s under {alarms} SIGALRM: {counts}")
assert alarms > 1000 * seconds, alarms
print("OK")
"""


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_signal_storm_heavy_io(loop_kind, tmp_path):
    rc, out, err = run_python(STORM, loop_kind, SECONDS, tmp_path,
                          timeout=60 + 3 * SECONDS)
    assert rc == 0 and "OK" in out, (rc, out, err)
    assert err == "", err
    print("\n" + out.splitlines()[0])
