"""os.fork() / multiprocessing('fork') while the library's pool is alive.

usage: fork_script.py MODE WORKDIR

MODE:
  inflight         fork several times from inside a running coroutine while
                   many reads/writes are in flight; each child runs a fresh
                   asyncio.run() using the library; the parent keeps going.
  after_run        fork right after asyncio.run() returned (pool started,
                   idle); child and parent both use the library again.
  nolib_inflight   fork with ops in flight; the child never touches the
                   library and leaves with os._exit(0).
  nolib_exit       fork after asyncio.run(); the child never touches the
                   library and exits *normally* (interpreter finalization,
                   atexit hooks) with status 0.
  mp               multiprocessing 'fork' context: a Pool whose workers use
                   the library (after the parent has used it), and a Process
                   started from a coroutine with ops in flight.

A child never resumes the parent's (inherited) event loop: the inherited
loop shares its epoll instance and self-pipe with the parent's, so running
or closing it in the child breaks the parent's loop (a stdlib asyncio
hazard that hangs the parent even with plain aiofiles).  Children that use
asyncio therefore start a fresh asyncio.run() and leave with os._exit().

Prints "PARENT-OK" on success; children print "CHILD-OK <k>".  Exit status
0 on success, 1 on failure (with a message on stderr).
"""
import asyncio
import multiprocessing
import os
import sys
import traceback

from _lc_common import (emit, fail, roundtrip, roundtrip_many,
                        wait_children, CHUNK)

MODE, WORKDIR = sys.argv[1], sys.argv[2]
NFORKS = 4
failures = []


def in_child(body):
    """Run body(k) as a forked child's whole life: report CHILD-OK k, or
    the traceback, and leave with os._exit (never returns)."""
    def run(k):
        code = 1
        try:
            body(k)
            emit(f"CHILD-OK {k}")
            code = 0
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(code)
    return run


@in_child
def child_with_lib(k):
    """Fresh event loop, library work."""
    n = asyncio.run(roundtrip_many(WORKDIR, f"child{k}", n=8))
    if n != 8 * (4 * CHUNK + 4):
        raise AssertionError(f"child {k}: wrong total {n}")


@in_child
def child_without_lib(k):
    """Plain os calls only."""
    path = os.path.join(WORKDIR, f"nolib{k}.txt")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.write(fd, b"x" * 1000)
    os.close(fd)
    if sum(range(10000)) != 49995000:
        raise AssertionError


def start_inflight(prefix, n=24):
    """Start n round trips of 1 MiB each as tasks (many ops per task)."""
    return [asyncio.ensure_future(
                roundtrip(os.path.join(WORKDIR, f"{prefix}-{i}.bin"),
                          f"{prefix}{i}", size=16 * CHUNK))
            for i in range(n)]


async def fork_inflight(child):
    tasks = start_inflight("par")
    pids = []
    for k in range(NFORKS):
        await asyncio.sleep(0)          # let the ops be submitted / run
        if all(t.done() for t in tasks):
            raise AssertionError("test setup: nothing in flight at fork")
        pid = os.fork()
        if pid == 0:
            child(k)                    # never returns
        pids.append(pid)
    total = sum(await asyncio.gather(*tasks))
    if total != 24 * (16 * CHUNK + 4):
        raise AssertionError(f"parent: wrong total {total}")
    # keep using the library in the same loop after the forks
    await roundtrip_many(WORKDIR, "par-after", n=8)
    return pids


def mp_pool_worker(i):
    n = asyncio.run(roundtrip_many(WORKDIR, f"mp{i}-{os.getpid()}", n=4))
    return (i, n)


def mp_process_target(k):
    n = asyncio.run(roundtrip_many(WORKDIR, f"mpp{k}", n=4))
    if n != 4 * (4 * CHUNK + 4):
        raise SystemExit(1)
    emit(f"CHILD-OK {k}")


async def mp_from_coroutine(ctx):
    tasks = start_inflight("par")
    await asyncio.sleep(0)
    if all(t.done() for t in tasks):
        raise AssertionError("test setup: nothing in flight at fork")
    procs = [ctx.Process(target=mp_process_target, args=(k,))
             for k in range(2)]
    for p in procs:
        p.start()
    total = sum(await asyncio.gather(*tasks))
    if total != 24 * (16 * CHUNK + 4):
        raise AssertionError(f"parent: wrong total {total}")
    for p in procs:
        p.join(30)
        if p.is_alive():
            p.kill()
            p.join()
            failures.append(f"mp process {p.pid} hung")
        elif p.exitcode != 0:
            failures.append(f"mp process {p.pid} exit code {p.exitcode}")


def main():
    pids = []
    if MODE == "inflight":
        pids = asyncio.run(fork_inflight(child_with_lib))
    elif MODE == "nolib_inflight":
        pids = asyncio.run(fork_inflight(child_without_lib))
    elif MODE in ("after_run", "nolib_exit"):
        asyncio.run(roundtrip_many(WORKDIR, "pre", n=8))
        pid = os.fork()
        if pid == 0:
            if MODE == "after_run":
                child_with_lib(0)       # never returns
            emit("CHILD-OK 0")
            raise SystemExit(0)         # normal interpreter exit in child
        pids = [pid]
    elif MODE == "mp":
        asyncio.run(roundtrip_many(WORKDIR, "pre", n=8))
        ctx = multiprocessing.get_context("fork")
        pool = ctx.Pool(2)
        try:
            res = pool.map_async(mp_pool_worker, range(4)).get(timeout=30)
            if sorted(res) != [(i, 4 * (4 * CHUNK + 4)) for i in range(4)]:
                failures.append(f"bad pool results {res}")
            pool.close()
        except multiprocessing.TimeoutError:
            failures.append("multiprocessing pool hung")
        finally:
            pool.terminate()
            pool.join()
        asyncio.run(mp_from_coroutine(ctx))
    else:
        raise SystemExit(f"unknown mode {MODE}")

    # the parent keeps using the library on a fresh loop
    asyncio.run(roundtrip_many(WORKDIR, "post", n=8))
    failures.extend(wait_children(pids))
    if failures:
        for f in failures:
            fail(f)
        raise SystemExit(1)
    emit("PARENT-OK")


if __name__ == "__main__":
    main()
