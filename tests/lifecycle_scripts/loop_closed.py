"""An event loop closed while library operations are still pending.

usage: loop_closed.py WORKDIR [asyncio|uvloop]

A fresh loop starts many read/write tasks, runs for ~10 ms, and is closed
with loop.close() while the ops are in flight (tasks neither awaited nor
cancelled).  In-flight ops then finish in the pool with nowhere to deliver
their results.  Afterwards new loops (asyncio.run, and a manually managed
loop) must be able to use the library normally, and the process must exit
cleanly.  This is done twice, the second time also dropping the old loop
and its tasks and collecting them before reusing the library.

Prints "MAIN-DONE" at the end; exit status 0.
"""
import asyncio
import gc
import os
import sys
import time

from _lc_common import (Runner, emit, payload, roundtrip_many, whole_round_trip,
                        CHUNK)

WORKDIR = sys.argv[1]
KIND = sys.argv[2] if len(sys.argv) > 2 else "asyncio"
if KIND == "uvloop":
    import uvloop
    new_loop = uvloop.new_event_loop
else:
    new_loop = asyncio.new_event_loop
DATA = payload("closed", 4 * CHUNK)


async def worker(i, tag):
    path = os.path.join(WORKDIR, f"{tag}-{i}.bin")
    for _ in range(50):
        await whole_round_trip(path, DATA)


def close_with_pending(tag):
    loop = new_loop()
    tasks = [loop.create_task(worker(i, tag)) for i in range(32)]
    loop.run_until_complete(asyncio.sleep(0.01))
    pending = sum(not t.done() for t in tasks)
    if not pending:
        raise AssertionError("test setup: nothing pending at close")
    loop.close()
    return loop, tasks


def reuse(tag):
    with Runner(loop_factory=new_loop) as runner:
        n = runner.run(roundtrip_many(WORKDIR, tag, n=8))
    assert n == 8 * (4 * CHUNK + 4), n
    loop = new_loop()
    try:
        n = loop.run_until_complete(roundtrip_many(WORKDIR, tag + "m", n=8))
        assert n == 8 * (4 * CHUNK + 4), n
    finally:
        loop.close()


# 1st round: keep the closed loop and its pending tasks alive meanwhile.
keep = close_with_pending("a")
reuse("ra")
time.sleep(0.2)          # let the orphaned in-flight ops finish in the pool
reuse("ra2")

# 2nd round: drop the closed loop and its pending tasks and collect them.
old = close_with_pending("b")
del old
gc.collect()
reuse("rb")
time.sleep(0.2)
gc.collect()
reuse("rb2")
emit("MAIN-DONE")
