"""A concurrency workload for the ThreadSanitizer build (.ci/run).

Several event loops in threads (asyncio and uvloop) at once: files written
and read back, stats, scandir, pipe producer/consumer pairs, cancelled
reads, a loop without add_reader; and fork() from the main thread with all
of it running (each child uses the library in a fresh loop). Every result
is checked; ThreadSanitizer reports go to stderr and fail the run (the
caller sets TSAN_OPTIONS exitcode and checks stderr).

usage: python tests/c/tsan_workload.py [seconds]
"""
import asyncio
import os
import sys
import tempfile
import threading
import time

import uvloop

import aiofiles_c
import aiofiles_c.os as aos

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
WORKDIR = tempfile.mkdtemp(prefix="afc_tsan_")
errors = []
counts = {}
lock = threading.Lock()


def bump(name, n=1):
    with lock:
        counts[name] = counts.get(name, 0) + n


class NoReaderLoop(asyncio.SelectorEventLoop):
    def add_reader(self, fd, callback, *args):
        raise NotImplementedError

    def remove_reader(self, fd):
        raise NotImplementedError


async def files(tag, deadline):
    i = 0
    while time.monotonic() < deadline:
        data = os.urandom(997) * (1 + i % 40)
        p = os.path.join(WORKDIR, f"{tag}-{i % 4}")
        async with aiofiles_c.open(p, "wb") as f:
            for j in range(0, len(data), 5000):
                await f.write(data[j:j + 5000])
        async with aiofiles_c.open(p, "rb") as f:
            assert await f.read() == data
        assert (await aos.stat(p)).st_size == len(data)
        names = [e.name async for e in aos.scandir(WORKDIR)]
        assert os.path.basename(p) in names
        bump("files")
        i += 1


async def pipes(deadline):
    while time.monotonic() < deadline:
        r, w = os.pipe()
        fr = await aiofiles_c.open(r, "rb")
        fw = await aiofiles_c.open(w, "wb")
        got = 0

        async def consumer():
            nonlocal got
            while chunk := await fr.read(65536):
                got += len(chunk)

        async def producer():
            for _ in range(10):
                await fw.write(b"p" * 30000)
            await fw.close()

        await asyncio.gather(consumer(), producer())
        await fr.close()
        assert got == 300000, got
        bump("pipes")


async def cancels(deadline):
    while time.monotonic() < deadline:
        r, w = os.pipe()
        fr = await aiofiles_c.open(r, "rb", buffering=0)
        t = asyncio.ensure_future(fr.read(10))
        await asyncio.sleep(0.001)
        t.cancel()
        try:
            await t
        except asyncio.CancelledError:
            pass
        os.write(w, b"0123456789")
        await fr.close()
        os.close(w)
        bump("cancels")


async def work(tag, deadline):
    # Pipe pairs in half of the loops: a blocked reader waits for a writer
    # that needs a worker of the slow lane too (the pool size's worth);
    # more pairs than that at once would wait for each other, as they would
    # in any bounded pool.
    jobs = [files(tag, deadline), cancels(deadline)]
    if tag in ("t0", "t1"):
        jobs.append(pipes(deadline))
    await asyncio.gather(*jobs)


def loop_thread(tag, factory, deadline):
    try:
        with asyncio.Runner(loop_factory=factory) as r:
            r.run(work(tag, deadline))
    except BaseException as e:  # reported by the main thread
        errors.append(f"{tag}: {e!r}")


def child(k):
    code = 1
    try:
        async def small():
            p = os.path.join(WORKDIR, f"child{k}")
            async with aiofiles_c.open(p, "wb") as f:
                await f.write(b"c" * 1000)
            assert (await aos.stat(p)).st_size == 1000
        asyncio.run(small())
        code = 0
    finally:
        os._exit(code)


def main():
    deadline = time.monotonic() + SECONDS
    factories = [asyncio.new_event_loop, uvloop.new_event_loop,
                 asyncio.new_event_loop, NoReaderLoop]
    threads = [threading.Thread(target=loop_thread, args=(f"t{i}", f, deadline))
               for i, f in enumerate(factories)]
    for t in threads:
        t.start()
    forks = 0
    while time.monotonic() < deadline - 1:
        time.sleep(SECONDS / 6)
        pid = os.fork()
        if pid == 0:
            child(forks)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            errors.append(f"child {forks}: status {status}")
        forks += 1
    for t in threads:
        t.join()
    if errors:
        print("ERRORS", errors, file=sys.stderr)
        sys.exit(1)
    print(f"tsan workload OK: {counts}, {forks} forks")


main()
