"""Interpreter exit while library operations are in flight.

usage: exit_script.py MODE WORKDIR

MODE:
  stop_return     main-thread loop: many read/write tasks are started with
                  create_task, the loop runs ~20 ms and is stopped with
                  loop.stop() (tasks neither awaited nor cancelled, loop not
                  closed), then the main module simply returns.
  stop_sysexit    the same, leaving with sys.exit(0).
  sysexit_in_coro asyncio.run(main) where main starts the tasks and calls
                  sys.exit(0) while they are in flight.
  daemon_thread   a daemon thread runs an event loop whose tasks keep issuing
                  reads/writes without pause; the main thread returns while
                  they are running, so finalization happens with ops in
                  flight and new ones being submitted.

Prints "MAIN-DONE" just before leaving; must exit with status 0.
The coroutines deliberately contain no `async with`/try-finally around
awaits, so that the stdlib's destruction of pending coroutines at exit
has nothing to run (no "coroutine ignored GeneratorExit" noise).
"""
import asyncio
import os
import sys
import threading

from _lc_common import emit, payload, whole_round_trip, CHUNK

MODE, WORKDIR = sys.argv[1], sys.argv[2]
DATA = payload("exit", 4 * CHUNK)


async def worker(i, rounds, progress=None):
    path = os.path.join(WORKDIR, f"w{i}.bin")
    for _ in range(rounds):
        await whole_round_trip(path, DATA)
        if progress is not None:
            progress.set()


def start_tasks(loop, rounds=200, progress=None):
    return [loop.create_task(worker(i, rounds, progress)) for i in range(32)]


if MODE in ("stop_return", "stop_sysexit"):
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    tasks = start_tasks(loop)
    loop.call_later(0.02, loop.stop)
    loop.run_forever()
    if all(t.done() for t in tasks):
        raise AssertionError("test setup: nothing in flight at exit")
    emit("MAIN-DONE")
    if MODE == "stop_sysexit":
        sys.exit(0)

elif MODE == "sysexit_in_coro":
    async def main():
        tasks = start_tasks(asyncio.get_running_loop())
        await asyncio.sleep(0.02)
        if all(t.done() for t in tasks):
            raise AssertionError("test setup: nothing in flight at exit")
        emit("MAIN-DONE")
        sys.exit(0)
    asyncio.run(main())

elif MODE == "daemon_thread":
    progress = threading.Event()

    async def forever():
        # rounds is huge: these tasks are still running at exit.
        await asyncio.gather(*start_tasks(asyncio.get_running_loop(),
                                          rounds=10 ** 9, progress=progress))

    def thread_main():
        try:
            asyncio.run(forever())
        except BaseException:
            # Submitting work during interpreter shutdown may legitimately
            # fail (the stdlib executor raises RuntimeError); whatever
            # happens here, do not print from a daemon thread at shutdown.
            pass

    t = threading.Thread(target=thread_main, daemon=True)
    t.start()
    if not progress.wait(30):
        raise AssertionError("daemon loop made no progress")
    emit("MAIN-DONE")

else:
    raise SystemExit(f"unknown mode {MODE}")
