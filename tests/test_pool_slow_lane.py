"""Slow descriptors hold at most a bounded share of the pool (issue 9).

Pipes, FIFOs, ttys, sockets and character devices can block a worker
forever; so can opening a FIFO. However many of them are stuck, regular
files keep flowing, for every loop.
"""
import pytest

from tests.helpers import IS_C, run_python

pytestmark = pytest.mark.skipif(not IS_C, reason="aiofiles_c pool")

SLOW_LANE = r"""
import asyncio, os, sys, threading, time
import uvloop
import aiofiles_c
from tests._runner import Runner

loop_kind, workdir = sys.argv[1], sys.argv[2]
factory = {"asyncio": asyncio.new_event_loop,
           "uvloop": uvloop.new_event_loop}[loop_kind]
n = aiofiles_c.pool_size()
regular = os.path.join(workdir, "regular")
data = os.urandom(1 << 20)
with open(regular, "wb") as f:
    f.write(data)

async def regular_reads(tag, times=20):
    worst = 0.0
    for i in range(times):
        t0 = time.monotonic()
        async with aiofiles_c.open(regular, "rb") as f:
            assert await f.read() == data
        st = await aiofiles_c.os.stat(regular)
        assert st.st_size == len(data)
        worst = max(worst, time.monotonic() - t0)
    return worst

other = {}

def other_loop():
    with Runner(loop_factory=factory) as r:
        other["worst"] = r.run(asyncio.wait_for(regular_reads("thread"), 10))

async def main():
    keep, files, reads = [], [], []
    # As many blocked FIFO reads as the pool has workers.
    for i in range(n):
        p = os.path.join(workdir, f"fifo{i}")
        os.mkfifo(p)
        keep.append(os.open(p, os.O_RDWR))   # a writer that has not written
        # (Opened here: a FIFO open is slow work too, and would queue
        # behind the blocked reads.)
        f = await aiofiles_c.open(os.open(p, os.O_RDONLY), "rb", buffering=0)
        files.append(f)
        reads.append(asyncio.ensure_future(f.read(10)))
    # And FIFO opens that never get a writer, cancelled.
    lonely, opens = [], []
    for i in range(2):
        p = os.path.join(workdir, f"lonely{i}")
        os.mkfifo(p)
        lonely.append(p)
        opens.append(asyncio.ensure_future(aiofiles_c.open(p, "rb")))
    await asyncio.sleep(0.3)
    for t in opens:
        t.cancel()
    assert not any(t.done() for t in reads)
    # Regular files, from another task and from another loop in a thread.
    th = threading.Thread(target=other_loop)
    th.start()
    worst = await asyncio.wait_for(regular_reads("task"), 10)
    await asyncio.get_running_loop().run_in_executor(None, th.join, 15)
    assert "worst" in other, "the other loop's reads did not complete"
    print(f"slow lane at most {aiofiles_c._cext._slow_limit()} workers, "
          f"{n} blocked reads + 2 blocked opens; "
          f"worst regular open+read(1 MiB)+close+stat: task {worst*1e3:.1f}"
          f" ms, other loop {other['worst']*1e3:.1f} ms")
    assert not any(t.done() for t in reads)
    # Now the writers come: everything completes.
    for k in keep:
        os.write(k, b"0123456789")
    lonely_w = [os.open(p, os.O_RDWR) for p in lonely]
    got = await asyncio.wait_for(asyncio.gather(*reads), 10)
    assert got == [b"0123456789"] * n, got
    for t in opens:
        try:
            await t
        except asyncio.CancelledError:
            pass
    for f in files:
        await f.close()
    for k in keep + lonely_w:
        os.close(k)
    # The cancelled opens finish in the pool and close their descriptors.
    await asyncio.sleep(0.5)

with Runner(loop_factory=factory) as r:
    r.run(main())
print("OK")
"""


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_blocked_fifos_leave_regular_files_flowing(loop_kind, tmp_path):
    rc, out, err = run_python(SLOW_LANE, loop_kind, tmp_path, timeout=60)
    assert rc == 0 and "OK" in out, (rc, out, err)
    assert err == "", err
    print("\n" + out.splitlines()[0])
