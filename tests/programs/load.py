"""Load and limits, one scenario per run (a process of its own, so that its
RSS and descriptors are its own):

    python load.py SCENARIO IMPL N

Prints one JSON object: what was checked and the figures (RSS in KiB from
/proc/self/status: VmRSS now, VmHWM the peak). Exits non-zero on a wrong
result.
"""
import asyncio
import gc
import hashlib
import importlib
import json
import os
import resource
import sys
import tempfile
import threading

SCENARIO, IMPL, N = sys.argv[1], sys.argv[2], int(sys.argv[3])
impl = importlib.import_module(IMPL)
impl_os = importlib.import_module(IMPL + ".os")
# aiofiles' executor runs calls on one file in several threads at once, so
# their order is not the call order there: only aiofiles_c's is checked (the
# aiofiles runs are for the memory figures).
CHECK_ORDER = IMPL == "aiofiles_c"
tmp = tempfile.mkdtemp()


def status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def fds():
    return len(os.listdir("/proc/self/fd"))


def threads():
    return threading.active_count(), len(os.listdir("/proc/self/task"))


async def tasks_one_file():
    """N tasks on one file: each reads a 512-byte slice, then N tasks each
    write one record; results in call order."""
    data = os.urandom(512 * N)
    p = os.path.join(tmp, "one")
    with open(p, "wb") as fh:
        fh.write(data)
    f = await impl.open(p, "rb")
    parts = await asyncio.gather(
        *(asyncio.ensure_future(f.read(512)) for _ in range(N)))
    await f.close()
    assert b"".join(parts) == data or not CHECK_ORDER
    f = await impl.open(p + ".w", "wb")
    recs = [b"%07d:" % i + b"x" * 56 for i in range(N)]

    async def put(r):
        await f.write(r)
    await asyncio.gather(*(put(r) for r in recs))
    await f.close()
    with open(p + ".w", "rb") as fh:
        assert fh.read() == b"".join(recs) or not CHECK_ORDER
    return {"tasks": N, "sha256": hashlib.sha256(data).hexdigest()[:16]}


async def awaits_in_flight():
    """N reads in flight at once over 100 files (N/100 per file, each 64 bytes),
    all started before any is awaited; per-file checksums."""
    nfiles = 100
    per = max(1, N // nfiles)
    sums = []
    files = []
    for i in range(nfiles):
        data = os.urandom(64 * per)
        p = os.path.join(tmp, "m%d" % i)
        with open(p, "wb") as fh:
            fh.write(data)
        sums.append(hashlib.sha256(data).digest())
        files.append(await impl.open(p, "rb"))
    gc.collect()
    base = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # VmHWM from here on: the peak of the awaits
    pending = [[asyncio.ensure_future(f.read(64)) for _ in range(per)]
               for f in files]
    inflight = sum(not t.done() for ts in pending for t in ts)
    peak_during = status("VmRSS")
    for f, ts, want in zip(files, pending, sums):
        got = hashlib.sha256(b"".join(await asyncio.gather(*ts))).digest()
        assert got == want or not CHECK_ORDER
    peak = status("VmHWM")
    for f in files:
        await f.close()
    return {"awaits": nfiles * per, "not_done_at_start": inflight,
            "rss_before_kib": base, "rss_all_started_kib": peak_during,
            "rss_peak_kib": peak, "growth_kib": peak - base}


def open_close_cycles():
    p = os.path.join(tmp, "oc")
    with open(p, "wb") as fh:
        fh.write(b"x" * 100)

    async def cycles(n):
        for _ in range(n):
            f = await impl.open(p, "rb")
            assert await f.read(10) == b"x" * 10
            await f.close()

    async def main():
        await cycles(min(1000, N))  # warm-up: pool threads, caches
        gc.collect()
        before = (fds(), threads(), status("VmRSS"))
        await cycles(N)
        gc.collect()
        return before, (fds(), threads(), status("VmRSS"))
    before, after = asyncio.run(main())
    return {"cycles": N, "fds": [before[0], after[0]],
            "threads": [before[1], after[1]],
            "rss_kib": [before[2], after[2]]}


def run_cycles():
    p = os.path.join(tmp, "rc")
    with open(p, "wb") as fh:
        fh.write(b"y" * 100)

    async def once():
        f = await impl.open(p, "rb")
        assert await f.read() == b"y" * 100
        await f.close()
        await impl_os.stat(p)

    for _ in range(min(50, N)):
        asyncio.run(once())
    gc.collect()
    before = (fds(), threads(), status("VmRSS"))
    for _ in range(N):
        asyncio.run(once())
    gc.collect()
    after = (fds(), threads(), status("VmRSS"))
    return {"runs": N, "fds": [before[0], after[0]],
            "threads": [before[1], after[1]],
            "rss_kib": [before[2], after[2]]}


def emfile():
    """With RLIMIT_NOFILE lowered, open() until EMFILE: a clean OSError,
    every descriptor given back, open() works again afterwards."""
    p = os.path.join(tmp, "e")
    with open(p, "wb") as fh:
        fh.write(b"z")

    async def main():
        await impl_os.stat(p)  # the loop's completion queue exists
        base = fds()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (base + 40, hard))
        errors = []
        opened = []
        try:
            # One at a time, then many at once.
            while True:
                try:
                    opened.append(await impl.open(p, "rb"))
                except OSError as e:
                    errors.append(e)
                    break
            for f in opened:
                await f.close()
            opened.clear()
            res = await asyncio.gather(
                *(impl.open(p, "rb") for _ in range(200)),
                return_exceptions=True)
            for r in res:
                if isinstance(r, BaseException):
                    errors.append(r)
                else:
                    opened.append(r)
            n_ok = len(opened)
            for f in opened:
                await f.close()
            opened.clear()
            gc.collect()
            await asyncio.sleep(0.05)
            after = fds()
            f = await impl.open(p, "rb")
            assert await f.read() == b"z"
            await f.close()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        import errno
        kinds = sorted({(type(e).__name__, getattr(e, "errno", None))
                        for e in errors})
        assert all(isinstance(e, OSError) and e.errno == errno.EMFILE
                   for e in errors), kinds
        assert errors
        assert after == base, (base, after)
        return {"errors": len(errors), "kinds": kinds, "gathered_ok": n_ok,
                "fds": [base, after], "filename": errors[0].filename == p}
    return asyncio.run(main())


SCENARIOS = {
    "tasks_one_file": lambda: asyncio.run(tasks_one_file()),
    "awaits_in_flight": lambda: asyncio.run(awaits_in_flight()),
    "open_close_cycles": open_close_cycles,
    "run_cycles": run_cycles,
    "emfile": emfile,
}

if __name__ == "__main__":
    out = SCENARIOS[SCENARIO]()
    out["impl"] = IMPL
    out["peak_rss_kib"] = status("VmHWM")
    print(json.dumps(out))
