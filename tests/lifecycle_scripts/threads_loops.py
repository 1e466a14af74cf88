"""Several event loops in several threads at the same time.

usage: threads_loops.py WORKDIR

Two rounds; in each, 4 threads start together (barrier) and each runs its
own loop -- three stdlib asyncio loops and one uvloop loop -- doing
concurrent round trips on private files plus concurrent reads of one shared
file.  All results are checked.  Prints "ALL-OK"; exit status 0.
"""
import asyncio
import os
import sys
import threading
import traceback

import uvloop

from _lc_common import Runner, emit, fail, impl, payload, roundtrip_many, CHUNK

WORKDIR = sys.argv[1]
SHARED = os.path.join(WORKDIR, "shared.bin")
SHARED_DATA = payload("shared", 16 * CHUNK)
with open(SHARED, "wb") as fh:
    fh.write(SHARED_DATA)

NTHREADS = 4


async def read_shared(k):
    f = await impl.open(SHARED, "rb")
    await f.seek(k * 1000)
    got = await f.read(CHUNK)
    await f.close()
    if got != SHARED_DATA[k * 1000:k * 1000 + CHUNK]:
        raise AssertionError(f"shared read {k} mismatch")
    return len(got)


async def thread_work(name):
    res = await asyncio.gather(
        roundtrip_many(WORKDIR, name, n=8),
        *(read_shared(k) for k in range(16)))
    if res[0] != 8 * (4 * CHUNK + 4) or res[1:] != [CHUNK] * 16:
        raise AssertionError(f"{name}: bad results {res}")
    return name


def run_thread(idx, rnd, barrier, results):
    name = f"r{rnd}t{idx}"
    factory = uvloop.new_event_loop if idx == 0 else asyncio.new_event_loop
    try:
        barrier.wait(30)
        with Runner(loop_factory=factory) as runner:
            results[idx] = (runner.run(thread_work(name)),
                            type(runner.get_loop()).__module__)
    except BaseException:
        results[idx] = traceback.format_exc()


failed = False
for rnd in range(2):
    barrier = threading.Barrier(NTHREADS)
    results = [None] * NTHREADS
    threads = [threading.Thread(target=run_thread,
                                args=(i, rnd, barrier, results))
               for i in range(NTHREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
        if t.is_alive():
            fail(f"round {rnd}: thread {t.name} hung")
            sys.stderr.flush()
            os._exit(2)
    for idx, r in enumerate(results):
        want_mod = "uvloop" if idx == 0 else "asyncio"
        if not (isinstance(r, tuple) and r[0] == f"r{rnd}t{idx}"
                and r[1].split(".")[0] == want_mod):
            fail(f"round {rnd}: thread {idx}: {r}")
            failed = True
if failed:
    raise SystemExit(1)
emit("ALL-OK")
