"""The pool never loses a wake-up (issue 9).

A job submitted while a worker spins must be taken by some worker within
bounded time. Pipe and FIFO pairs are the sharp test: one end's job blocks
until the other end's job runs, so if the second job waits for the worker
that runs the first, both wait forever.

Each scenario runs in a subprocess with a hard timeout (a hang fails the
test, never the suite). AIOFILES_C_STRESS_REPS=1000 runs the big version.
"""
import os
import time

import pytest

from tests.helpers import IS_C, run_python

REPS = int(os.environ.get("AIOFILES_C_STRESS_REPS", "0"))

pytestmark = pytest.mark.skipif(not IS_C, reason="aiofiles_c pool")


STRESS = r"""
import asyncio, os, signal, sys, time
import uvloop
import aiofiles_c
from tests._runner import Runner

loop_kind, reps, storm, workdir = sys.argv[1], int(sys.argv[2]), \
    sys.argv[3] == "1", sys.argv[4]

class NoReaderLoop(asyncio.SelectorEventLoop):
    def add_reader(self, fd, callback, *args):
        raise NotImplementedError

    def remove_reader(self, fd):
        raise NotImplementedError

factory = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop,
           "noreader": NoReaderLoop}[loop_kind]
CHUNK = 100_000

async def pipe_pair():
    r, w = os.pipe()
    fr = await aiofiles_c.open(r, "rb")
    fw = await aiofiles_c.open(w, "wb")
    got = 0

    async def consumer():
        nonlocal got
        while chunk := await fr.read(65536):
            got += len(chunk)

    async def producer():
        for i in range(40):
            await fw.write(bytes([i]) * CHUNK)
        await fw.close()

    await asyncio.gather(consumer(), producer())
    await fr.close()
    assert got == 40 * CHUNK, got

async def fifo_pair(i):
    path = os.path.join(workdir, f"fifo{i % 4}")
    if not os.path.exists(path):
        os.mkfifo(path)
    fr, fw = await asyncio.gather(aiofiles_c.open(path, "rb"),
                                  aiofiles_c.open(path, "wb"))
    await fw.write(b"x" * 1000)
    await fw.close()
    assert await fr.read() == b"x" * 1000
    await fr.close()

async def main():
    t0 = time.monotonic()
    for i in range(reps):
        await pipe_pair()
    t1 = time.monotonic()
    for i in range(reps):
        await fifo_pair(i)
    t2 = time.monotonic()
    print(f"pipe pairs {reps} in {t1 - t0:.2f}s, fifo pairs {reps} in "
          f"{t2 - t1:.2f}s")

alarms = 0
if storm:
    def on_alarm(signum, frame):
        global alarms
        alarms += 1
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
with Runner(loop_factory=factory) as runner:
    runner.run(main())
signal.setitimer(signal.ITIMER_REAL, 0, 0)
print("alarms", alarms)
print("OK")
"""


@pytest.mark.parametrize("storm", [False, True], ids=["quiet", "sigalrm"])
@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop", "noreader"])
def test_pipe_and_fifo_pairs_never_hang(loop_kind, storm, tmp_path):
    reps = REPS or (100 if loop_kind != "noreader" else 40)
    t0 = time.monotonic()
    rc, out, err = run_python(STRESS, loop_kind, reps, int(storm), tmp_path,
                          timeout=max(120, reps // 2))
    assert rc == 0 and "OK" in out, (rc, out, err)
    assert err == "", err
    if REPS:
        print(f"\n{loop_kind} storm={storm}: {out.strip()} "
              f"(total {time.monotonic() - t0:.1f}s)")


@pytest.mark.asyncio
async def test_cancelled_jobs_come_back_promptly(tmp_path):
    """A job whose task was cancelled still reaches the loop's drain at
    once when it finishes: nothing sits in the completion queue waiting
    for a later wake-up. Each episode cancels an rmtree at a different
    await and measures how long until every job of the loop is back and
    every descriptor the walk opened is closed (a lost eventfd wake-up
    would leave it until some unrelated completion, i.e. forever here).

    Only a snapshot taken once nothing is in flight says anything: an
    open a worker starts after the task ended opens its descriptor later,
    and the drain closes it (a check that looks at descriptors alone
    races with that job and sees a "leak" that is still on its way)."""
    import asyncio
    import shutil

    import aiofiles_c
    from aiofiles_c import _loop

    loop = asyncio.get_running_loop()
    await aiofiles_c.os.listdir(tmp_path)   # always a pool job: queue made
    cq = _loop.completion_for(loop)

    def fds():
        return set(os.listdir("/proc/self/fd"))

    before = fds()
    episodes = REPS or 40
    worst = 0.0
    for i in range(episodes):
        root = tmp_path / f"t{i}"
        for rel in ("a/b/c", "a/d", "e"):
            (root / rel).mkdir(parents=True)
            (root / rel / "f").write_bytes(b"x")
        task = asyncio.ensure_future(aiofiles_c.os.rmtree(root))
        for _ in range(i % 40):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        t0 = time.monotonic()
        while cq._inflight or not fds() <= before:
            # generous for a loaded machine; a lost wake-up never ends
            assert time.monotonic() - t0 < 10, (i, cq._inflight,
                                                fds() - before)
            await asyncio.sleep(0.001)
        worst = max(worst, time.monotonic() - t0)
        shutil.rmtree(root, ignore_errors=True)
    if REPS:
        print(f"\n{episodes} cancelled rmtrees: slowest return "
              f"{worst * 1000:.1f} ms")
