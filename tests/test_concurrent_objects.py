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


# ---------------------------------------------------------------------------
# races between threads, made deterministic: each test stops one thread at
# the point where the interpreter may switch threads and lets another one
# act there.

@pytest.mark.skipif(not IS_C, reason="native engine")
def test_queued_op_finished_while_its_future_is_made(impl):
    """A read queued behind another thread's read, awaited while that one
    finishes: the other loop ran this read too (from the buffer) while
    create_future() was running Python code. Before: nobody resolved the
    future made then, and the awaiting task hung."""
    import threading
    r, w = os.pipe()
    trap, entered, proceed = (threading.Event() for _ in range(3))
    b_started, b_done = threading.Event(), threading.Event()
    out = {}
    tasks = {}

    class Loop(asyncio.SelectorEventLoop):
        def create_future(self):
            if trap.is_set() and threading.current_thread().name == "A":
                trap.clear()
                entered.set()
                proceed.wait(10)  # the GIL is free: thread B runs
            return super().create_future()

    f = asyncio.run(_open(impl, r, "rb", {}))

    def thread_b():
        async def go():
            op = f.read(10)
            b_started.set()
            out["b"] = await op
        asyncio.run(go())
        b_done.set()

    def thread_a():
        loop = Loop()

        async def go():
            op = f.read(5)  # behind B's read, which waits for the pipe
            trap.set()
            out["a"] = await op
        t = loop.create_task(go())
        tasks["a"] = (loop, t)
        try:
            loop.run_until_complete(t)
        except asyncio.CancelledError:
            out["a"] = "hung"
        finally:
            loop.close()

    tb = threading.Thread(target=thread_b)
    tb.start()
    assert b_started.wait(5)
    ta = threading.Thread(target=thread_a, name="A")
    ta.start()
    assert entered.wait(5)
    os.write(w, b"x" * 15)
    assert b_done.wait(5)
    proceed.set()
    ta.join(3)
    if ta.is_alive():
        loop, t = tasks["a"]
        loop.call_soon_threadsafe(t.cancel)
        ta.join(5)
    tb.join()
    os.close(w)
    asyncio.run(_close(f))
    assert out == {"b": b"x" * 10, "a": b"x" * 5}


_trap_codec = {}


def _trap_codec_search(name):
    import codecs
    if name != "afc_test_trap":
        return None
    import threading
    import time

    class Decoder(codecs.BufferedIncrementalDecoder):
        def _buffer_decode(self, data, errors, final):
            ev = _trap_codec.get("trap")
            if (ev is not None and ev.is_set()
                    and threading.current_thread().name == "A"):
                ev.clear()
                _trap_codec["entered"].set()
                time.sleep(0.3)  # another thread runs meanwhile
            return codecs.utf_8_decode(data, errors, final)

    u = codecs.lookup("utf-8")
    return codecs.CodecInfo(u.encode, u.decode,
                            incrementalencoder=u.incrementalencoder,
                            incrementaldecoder=Decoder, name="afc_test_trap")


@pytest.mark.skipif(not IS_C, reason="native engine")
def test_text_call_of_another_thread_waits_for_one_in_progress(impl,
                                                                tmp_path):
    """A text readline() whose codec (Python code) lets the interpreter
    switch threads in the middle of a decode, and a readline() from
    another thread's loop right then. Before: the second ran inside the
    first (its line began mid-line, lines went missing)."""
    import codecs
    import threading
    codecs.register(_trap_codec_search)
    trap, entered = threading.Event(), threading.Event()
    _trap_codec.update(trap=trap, entered=entered)
    try:
        p = tmp_path / "t"
        lines = [f"line {i} " + "y" * 100 + "\n" for i in range(2000)]
        p.write_text("".join(lines))
        f = asyncio.run(_open(impl, p, "r", {"encoding": "afc_test_trap"}))
        out = {}

        def ta():
            async def go():
                trap.set()
                out["a"] = await f.readline()
            asyncio.run(go())

        def tb():
            async def go():
                entered.wait(5)
                out["b"] = await f.readline()
            asyncio.run(go())
        a = threading.Thread(target=ta, name="A")
        b = threading.Thread(target=tb, name="B")
        b.start()
        a.start()
        a.join(20)
        b.join(20)

        async def rest():
            r = [ln async for ln in f]
            await f.close()
            return r
        assert [out["a"], out["b"]] + asyncio.run(rest()) == lines
    finally:
        _trap_codec.clear()
        if hasattr(codecs, "unregister"):  # Python 3.10+
            codecs.unregister(_trap_codec_search)


@pytest.mark.skipif(not IS_C, reason="native engine")
def test_text_read_cancelled_in_another_loop_is_taken_over(impl):
    """A text readline() cancelled in one thread's loop while its read of
    a pipe is in flight; the next readline() comes from another thread's
    loop. Before: it awaited the first loop's future (RuntimeError:
    attached to a different loop). Now it waits for that read and
    returns the line."""
    import threading
    import time
    r, w = os.pipe()
    f = asyncio.run(_open(impl, r, "r", {}))
    a_cancelled, a_stop = threading.Event(), threading.Event()
    out = {}

    def ta():
        async def go():
            t = asyncio.ensure_future(f.readline())
            await asyncio.sleep(0.2)  # its read of the pipe is in the pool
            t.cancel()
            try:
                await t
            except asyncio.CancelledError:
                pass
            a_cancelled.set()
            while not a_stop.is_set():  # this loop keeps running
                await asyncio.sleep(0.01)
        asyncio.run(go())

    def tb():
        async def go():
            try:
                out["b"] = await asyncio.wait_for(f.readline(), 10)
            except BaseException as e:  # noqa: BLE001
                out["b"] = repr(e)
        asyncio.run(go())
    a = threading.Thread(target=ta)
    a.start()
    assert a_cancelled.wait(5)
    b = threading.Thread(target=tb)
    b.start()
    time.sleep(0.2)
    os.write(w, b"hello\nworld\n")
    b.join(15)
    a_stop.set()
    a.join(10)
    os.close(w)

    async def rest():
        got = [ln async for ln in f]
        await f.close()
        return got
    assert out["b"] == "hello\n"
    assert asyncio.run(rest()) == ["world\n"]


@pytest.mark.skipif(not IS_C, reason="native engine")
def test_detach_while_another_thread_writes(impl):
    """detach() flushes 900 KB into a full pipe (without the GIL) while
    another thread's loop writes 2 MB to the same file. Before: that write
    ran during the flush, on the buffer detach() then freed (the pipe got
    its bytes, or a crash). Now it waits, then fails as io's would after
    detach()."""
    import threading
    import time
    r, w = os.pipe()
    f = asyncio.run(_open(impl, w, "wb", {"buffering": 1 << 20}))
    a_ready = threading.Event()
    out = {}

    def ta():
        async def go():
            await f.write(b"a" * 900_000)
            a_ready.set()
            out["raw"] = f.detach()
        asyncio.run(go())

    def tb():
        async def go():
            try:
                out["b"] = await f.write(b"b" * 2_000_000)
            except BaseException as e:  # noqa: BLE001
                out["b"] = e
        asyncio.run(go())
    chunks = []

    def reader():
        while True:
            c = os.read(r, 1 << 16)
            if not c:
                break
            chunks.append(c)
    a = threading.Thread(target=ta)
    a.start()
    assert a_ready.wait(5)
    time.sleep(0.2)
    b = threading.Thread(target=tb)
    b.start()
    time.sleep(0.2)
    rd = threading.Thread(target=reader)
    rd.start()
    a.join(10)
    b.join(10)
    raw = out.get("raw")
    if raw is not None:
        raw.close()
    rd.join(10)
    os.close(r)
    assert isinstance(out["b"], ValueError), out["b"]
    assert str(out["b"]) == "raw stream has been detached"
    assert b"".join(chunks) == b"a" * 900_000


STRESS_ITERS = 100 if os.environ.get("AIOFILES_C_STRESS") == "1" else 2


@pytest.mark.skipif(not IS_C, reason="native engine")
@pytest.mark.parametrize("mode", ["rb", "r+b", "raw", "text"])
def test_file_shared_by_loops_in_threads_stress(impl, tmp_path, mode):
    """Four threads, each with its own loop, on one file: seeks, reads of
    many sizes, readlines, tells, and groups of three concurrent reads of
    which one may be cancelled; the interpreter switches threads every
    microsecond and collections run Python finalisers at any allocation
    (so Python code runs in the middle of the native calls). Every answer
    is one whole slice of the file. AIOFILES_C_STRESS=1: 100 rounds."""
    import random
    import threading
    data = os.urandom(1 << 19)
    if mode == "text":
        hexed = data.hex().encode()
        data = b"\n".join(hexed[i:i + 3000]
                          for i in range(0, len(hexed), 3000))
    p = tmp_path / "f"
    p.write_bytes(data)
    want = data.decode() if mode == "text" else data
    kw = {"buffering": 0} if mode == "raw" else {}
    fmode = "r" if mode == "text" else ("r+b" if mode == "r+b" else "rb")

    class Finalised:
        def __del__(self):
            [i for i in range(3)]

    def body():
        sys.setswitchinterval(1e-6)
        gc.set_threshold(50, 2, 2)
        errors = []
        for it in range(STRESS_ITERS):
            f = asyncio.run(_open(impl, p, fmode, kw))

            def worker(seed):
                async def go():
                    rnd = random.Random(seed)
                    for _ in range(150):
                        junk = [Finalised()]
                        junk.append(junk)
                        await f.seek(rnd.randrange(len(data) - 5000))
                        k = rnd.random()
                        if k < 0.5:
                            got = await f.read(rnd.choice([1, 100, 4000,
                                                           70000]))
                            assert got in want
                        elif k < 0.7:
                            assert await f.readline() in want
                        elif k < 0.8:
                            await f.tell()
                        else:
                            ts = [asyncio.ensure_future(
                                f.read(rnd.randrange(1, 5000)))
                                for _ in range(3)]
                            if rnd.random() < 0.5:
                                await asyncio.sleep(0)
                                ts[rnd.randrange(3)].cancel()
                            for t in ts:
                                try:
                                    assert await t in want
                                except asyncio.CancelledError:
                                    pass
                    # In call order after everything above, so no job of
                    # this loop is left in flight when it ends.
                    await f.tell()
                try:
                    asyncio.run(asyncio.wait_for(go(), 60))
                except BaseException as e:  # noqa: BLE001
                    errors.append(e)
            threads = [threading.Thread(target=worker, args=(it * 10 + i,))
                       for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            asyncio.run(_close(f))
            if errors:
                break
        return errors

    outcome = _in_child(body, timeout=120 + 10 * STRESS_ITERS)
    assert outcome == "ok"


@pytest.mark.skipif(not IS_C, reason="native engine")
@pytest.mark.parametrize("loop_kept", [True, False])
def test_loop_ended_with_read_in_flight_does_not_block_other_loops(
        impl, loop_kept):
    """A read of a pipe in one thread's loop, cancelled, and that loop ends
    (closed, then collected or still referenced) while the read is in the
    pool; then another thread's loop reads the same file. Before: its read
    waited behind the dead loop's read for ever (nobody drained that
    loop's completions). Now it gets the bytes (the cancelled read left
    the position where it was)."""
    import threading
    import time
    r, w = os.pipe()
    f = asyncio.run(_open(impl, r, "rb", {}))
    loops = []

    def ta():
        async def go():
            if loop_kept:
                loops.append(asyncio.get_running_loop())
            t = asyncio.ensure_future(f.read(10))
            await asyncio.sleep(0.1)  # its read of the pipe is in the pool
            t.cancel()
            try:
                await t
            except asyncio.CancelledError:
                pass
        asyncio.run(go())  # ends with the read in flight
    a = threading.Thread(target=ta)
    a.start()
    a.join()
    if not loop_kept:
        gc.collect()
    out = {}

    def tb():
        async def go():
            try:
                out["b"] = await asyncio.wait_for(f.read(3), 10)
            except BaseException as e:  # noqa: BLE001
                out["b"] = repr(e)
        asyncio.run(go())
    b = threading.Thread(target=tb)
    b.start()
    time.sleep(0.3)
    os.write(w, b"0123456789abcdef")
    b.join(15)
    os.close(w)
    asyncio.run(_close(f))
    assert out["b"] == b"012"
