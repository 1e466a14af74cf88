"""Every kind of object used from several tasks at once, and from several
threads each running its own event loop: calls take effect one at a time
(every record read or written whole, exactly once) or a worker gets a
RuntimeError naming the conflict; never a crash, a hang or lost data.

The workloads live in tests/programs/concurrent_objects.py and run in a
subprocess with a timeout (a crash or a hang fails the test, not the
suite): among them the scandir regressions (two pool jobs on one DIR*
crashed with "double free or corruption"). One file shared by loops in
threads is also tested in-process below.
"""
import asyncio
import gc
import os
import sys
from pathlib import Path

import pytest

from tests.helpers import (IS_C, describe, run_process, subprocess_env,
                           unexpected_stderr)

SCRIPT = Path(__file__).resolve().parent / "programs" / \
    "concurrent_objects.py"
TIMEOUT = 120

KINDS = [
    "read-rb", "read-r+b", "read-raw", "read-text",
    "write-wb", "write-ab", "write-r+b", "write-raw", "write-text",
    "TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile-memory",
    "SpooledTemporaryFile-rolled", "scandir", "scandir-await",
    "scandir-order", "scandir-close", "scandir-cancel", "scandir-busy",
    "walk",
    "stdout_bytes", "wrap-reader", "wrap-text-reader", "wrap-writer",
]

# Objects that may refuse a second loop (or a second task) with a clear
# RuntimeError, and the words it must contain. Everything else must just
# work.
MAY_REFUSE = {
    "scandir": "scandir iterator",
    "scandir-await": "scandir iterator",
    "walk": "asynchronous generator is already running",
    "SpooledTemporaryFile-rolled": "rolling over to disk in another event "
                                   "loop",
}


def run(kind, tmp_path):
    return run_process([sys.executable, str(SCRIPT), kind], timeout=TIMEOUT,
                       env=subprocess_env(TMPDIR=str(tmp_path)))


@pytest.mark.skipif(not IS_C, reason="aiofiles runs one object's calls in "
                    "parallel executor threads (no call order)")
@pytest.mark.parametrize("kind", KINDS)
def test_object_used_concurrently(kind, tmp_path):
    res = run(kind, tmp_path)
    assert res.returncode == 0, describe(res)
    assert not unexpected_stderr(res.stderr), describe(res)
    lines = res.stdout.splitlines()
    oks = [ln for ln in lines if ln.startswith("OK ")]
    assert len(oks) >= 2, describe(res)  # tasks/threads x two loops
    for ln in lines:
        if ln.startswith("CLEAR "):
            assert kind in MAY_REFUSE and MAY_REFUSE[kind] in ln, \
                describe(res)
    if kind == "stdout_bytes":
        # Every write whole, on a line of its own.
        stdio = [ln for ln in lines if ln.startswith("stdio ")]
        assert len(stdio) == 2 * 8 * 24 + 2 * 3 * 24, describe(res)
        assert all(len(ln.split()) == 3 for ln in stdio), describe(res)


# ---------------------------------------------------------------------------
# one file, loops in several threads

@pytest.fixture(params=["inline", "pool"])
def inline_reads(request, impl):
    if not IS_C:
        yield
        return
    impl._cext.set_inline_reads(request.param == "inline")
    try:
        yield
    finally:
        impl._cext.set_inline_reads(True)


@pytest.mark.parametrize("mode", ["rb", "r+b", "raw", "text"])
def test_file_shared_by_loops_in_threads(impl, tmp_path, mode,
                                         inline_reads):
    """Reads, seeks and tells of one file from three threads, each with its
    own loop: every call completes on its caller's loop (before: the
    completion was resolved on another thread's loop, and the caller's
    loop hung), in call order per thread (each thread's read at a tell()
    gives the bytes there)."""
    import threading
    data = os.urandom(1 << 20)
    if mode == "text":
        data = data.hex().encode()
    p = tmp_path / "f"
    p.write_bytes(data)
    kw = {"buffering": 0} if mode == "raw" else {}
    fmode = "r" if mode == "text" else ("r+b" if mode == "r+b" else "rb")
    f = asyncio.run(_open(impl, p, fmode, kw))
    errors = []
    want = data.decode() if mode == "text" else data

    def worker(seed):
        async def go():
            import random
            rnd = random.Random(seed)
            for _ in range(200):
                off = rnd.randrange(len(data) - 5000)
                await f.seek(off)
                chunk = await f.read(4000)
                # Another thread may have moved the file between the seek
                # and the read: the chunk is still one whole slice (short
                # only at the end of the file).
                assert chunk in want
                assert len(chunk) == 4000 or want.endswith(chunk)
        try:
            asyncio.run(asyncio.wait_for(go(), 60))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def body():
        threads = [threading.Thread(target=worker, args=(i,))
                   for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        asyncio.run(_close(f))
        return errors

    # In a forked child: a crash fails this test instead of the suite.
    outcome = _in_child(body)
    asyncio.run(_close(f))
    gc.collect()
    assert outcome == "ok"


def _in_child(body, timeout=120):
    import signal
    import time
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 1
        try:
            errs = body()
            os.write(w, b"ok" if not errs else repr(errs).encode()[:4000])
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(r)
            return "hung"
        time.sleep(0.02)
    with os.fdopen(r, "rb") as fh:
        out = fh.read().decode(errors="replace")
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return out


async def _open(impl, p, mode, kw):
    return await impl.open(p, mode, **kw)


async def _close(f):
    await f.close()
