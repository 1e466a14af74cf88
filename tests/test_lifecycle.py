"""Process / event-loop lifecycle tests.

The implementation under test is the one conftest.py's options choose
(aiofiles_c, or aiofiles as the reference the tests are validated
against).  Most tests run a small script from tests/lifecycle_scripts/ in
a subprocess (so that a crash, a hang or interpreter-exit behaviour can be
observed), with a hard timeout that kills the script's whole process group:
a hang fails the test instead of hanging the suite.  Each asserts the exit
status (a negative one means a signal, i.e. a crash), markers on stdout
that prove the interesting code path ran, and that stderr holds nothing
unexpected.

The refcount / fd / thread / memory leak checks run in-process.
"""
import asyncio
import gc
import importlib
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from tests.helpers import (IMPL_NAME, describe, run_process,
                           unexpected_stderr)

SCRIPTS = Path(__file__).resolve().parent / "lifecycle_scripts"
TIMEOUT = 60  # seconds, per subprocess


def _impl():
    return importlib.import_module(IMPL_NAME)


def run_script(script, *args, pyflags=(), timeout=TIMEOUT):
    """Run a lifecycle script in its own session / process group.  On
    timeout the whole group (including forked grandchildren) is killed and
    the test fails."""
    return run_process([sys.executable, *pyflags, str(SCRIPTS / script),
                        *(str(a) for a in args)], timeout=timeout)


def assert_clean(res, markers=(), allow_pending_task_msgs=False):
    assert res.returncode == 0, describe(res)
    bad = unexpected_stderr(res.stderr, allow_pending_task_msgs)
    assert not bad, "unexpected stderr output:\n" + describe(res)
    for marker in markers:
        assert marker in res.stdout, \
            f"missing {marker!r} on stdout:\n" + describe(res)


# ---------------------------------------------------------------------------
# 1. fork while the pool is running
# ---------------------------------------------------------------------------

FORK_MODES = {
    # mode: child markers expected on stdout
    "inflight": [f"CHILD-OK {k}" for k in range(4)],
    "after_run": ["CHILD-OK 0"],
    "nolib_inflight": [f"CHILD-OK {k}" for k in range(4)],
    "nolib_exit": ["CHILD-OK 0"],
    "mp": ["CHILD-OK 0", "CHILD-OK 1"],
}


@pytest.mark.parametrize("mode", list(FORK_MODES))
def test_fork(mode, tmp_path):
    """fork() with the pool running (and, for the 'inflight' modes, with
    many reads/writes in flight): children either use the library on a
    fresh loop or not at all, must exit 0 within 30 s (the script kills and
    reports a hung child); the parent keeps using the library."""
    res = run_script("fork_script.py", mode, tmp_path)
    assert_clean(res, markers=FORK_MODES[mode] + ["PARENT-OK"])


# ---------------------------------------------------------------------------
# 2. interpreter exit with operations in flight
# ---------------------------------------------------------------------------

# Observed: with AIOFILES_IMPL=aiofiles all four modes exit 0 with an empty
# stderr (checked over many runs; so does the current aiofiles_c).  asyncio's
# own "Task was destroyed but it is pending!" records are nevertheless
# tolerated: whether and when they are printed depends only on when the
# script's pending Tasks get garbage collected (before or during
# finalization), which depends on who holds references to them (the
# executor's work queue for aiofiles, the library's completion queue for
# aiofiles_c) -- that is asyncio reporting the script's own un-awaited
# tasks, not the library misbehaving (test 3 shows aiofiles printing them).
# Anything else on stderr (a traceback, "Exception ignored ...", a fatal
# error) fails, as does any exit status other than 0 or a hang.
@pytest.mark.parametrize("mode", ["stop_return", "stop_sysexit",
                                  "sysexit_in_coro", "daemon_thread"])
def test_exit_with_ops_in_flight(mode, tmp_path):
    # Finalization races are timing-dependent: run each mode a few times.
    for i in range(3):
        workdir = tmp_path / str(i)
        workdir.mkdir()
        res = run_script("exit_script.py", mode, workdir)
        assert_clean(res, markers=["MAIN-DONE"], allow_pending_task_msgs=True)


# ---------------------------------------------------------------------------
# 3. loop closed with operations pending
# ---------------------------------------------------------------------------

# With aiofiles this prints one "Task was destroyed but it is pending!"
# record per abandoned task (64 of them: when the second batch is
# collected and, for the first batch, at exit); as in test 2 these asyncio
# records are allowed, nothing else is.
@pytest.mark.parametrize("kind", ["asyncio", "uvloop"])
def test_loop_closed_with_ops_pending(kind, tmp_path):
    res = run_script("loop_closed.py", tmp_path, kind)
    assert_clean(res, markers=["MAIN-DONE"], allow_pending_task_msgs=True)


# ---------------------------------------------------------------------------
# 4. an unclosed file is collected
# ---------------------------------------------------------------------------

def _resource_warnings(res):
    """(number of 'unclosed' ResourceWarnings printed before the script's
    AFTER-GC marker, stderr lines that are not part of such a warning).  A
    warning is the "file:line: ResourceWarning: ..." line, optionally
    followed by the indented source line and the "ResourceWarning: Enable
    tracemalloc ..." hint line.  Nothing may follow the marker: the warning
    must come when the file is collected, not at interpreter exit."""
    count = 0
    other = []
    prev_was_warning = False
    lines = res.stderr.splitlines()
    if "AFTER-GC" not in lines:
        return 0, lines + ["<no AFTER-GC marker>"]
    marker = lines.index("AFTER-GC")
    other.extend(lines[marker + 1:])
    for line in lines[:marker]:
        if "ResourceWarning" in line:
            if "ResourceWarning: unclosed" in line:
                count += 1
            prev_was_warning = True
            continue
        if prev_was_warning and line.startswith((" ", "\t")):
            prev_was_warning = False
            continue
        prev_was_warning = False
        if line.strip():
            other.append(line)
    return count, other


UNCLOSED_MODES = ["rb", "wb", "r+b", "r", "w"]


@pytest.mark.parametrize("mode", UNCLOSED_MODES)
def test_unclosed_file_resource_warning(mode, tmp_path):
    """Under -W default, an unclosed file that gets collected warns once,
    as the stdlib's own file object does in the same script, and nothing
    else is printed."""
    (tmp_path / "ref").mkdir()
    (tmp_path / "impl").mkdir()
    ref = run_script("unclosed.py", "stdlib", tmp_path / "ref", mode,
                     pyflags=("-W", "default"))
    assert ref.returncode == 0, describe(ref)
    assert _resource_warnings(ref) == (1, []), describe(ref)

    res = run_script("unclosed.py", "impl", tmp_path / "impl", mode,
                     pyflags=("-W", "default"))
    assert res.returncode == 0, describe(res)
    assert "MAIN-DONE" in res.stdout, describe(res)
    count, other = _resource_warnings(res)
    assert not other, "unexpected stderr output:\n" + describe(res)
    assert count == 1, (f"expected 1 'ResourceWarning: unclosed ...' "
                        f"warning, got {count}:\n" + describe(res))


@pytest.mark.parametrize("which", ["stdlib", "impl"])
@pytest.mark.parametrize("mode", ["rb", "wb"])
def test_unclosed_file_silent_by_default(which, mode, tmp_path):
    """With the default warning filters ResourceWarning is ignored, so
    dropping an unclosed file prints nothing at all."""
    res = run_script("unclosed.py", which, tmp_path, mode)
    assert res.returncode == 0, describe(res)
    assert "MAIN-DONE" in res.stdout, describe(res)
    assert res.stderr == "AFTER-GC\n", describe(res)


# ---------------------------------------------------------------------------
# 5. several event loops in several threads at once
# ---------------------------------------------------------------------------

def test_loops_in_several_threads(tmp_path):
    res = run_script("threads_loops.py", tmp_path)
    assert_clean(res, markers=["ALL-OK"])
    assert res.stderr == "", describe(res)


# ---------------------------------------------------------------------------
# 6. a loop without add_reader
# ---------------------------------------------------------------------------

def test_loop_without_add_reader(tmp_path):
    res = run_script("no_add_reader.py", tmp_path)
    assert_clean(res, markers=["ALL-OK"])
    assert res.stderr == "", describe(res)


# ---------------------------------------------------------------------------
# 7. leak checks (in-process)
# ---------------------------------------------------------------------------

CHUNK = 64 * 1024
REF_SLACK = 2
FD_SLACK = 2
THREAD_SLACK = 2
MEM_SLACK = 1024 * 1024  # bytes of tracemalloc-traced memory


def _fd_count():
    return len(os.listdir("/proc/self/fd"))


def _thread_count():
    return len(os.listdir("/proc/self/task"))


def _thread_cap():
    """Threads a process may have once the pool (or aiofiles' executor) has
    started all its workers: they start lazily, one more whenever none is
    idle, so how many a warm-up starts depends on timing. More than this is
    a leak."""
    impl = _impl()
    if hasattr(impl, "pool_size"):
        workers = impl.pool_size()
    else:
        workers = min(32, (os.cpu_count() or 1) + 4)
    return 1 + workers


def _unique(types):
    out = []
    for t in types:
        if all(t is not u for u in out):
            out.append(t)
    return out


def _traced_small_blocks():
    """Traced memory in blocks under 256 KiB. A leak per call is many small
    blocks; one big block is an interpreter table (interned strings, ...)
    doubling, in whichever test happens to cross its threshold."""
    snap = tracemalloc.take_snapshot()
    return sum(t.size for t in snap.traces if t.size < 256 * 1024)


def _snapshot(types):
    gc.collect()
    return {
        "refs": {t.__qualname__: sys.getrefcount(t) for t in types},
        "fds": _fd_count(),
        "threads": _thread_count(),
        "mem": _traced_small_blocks(),
    }


def _growth(before, after):
    """Descriptions of the quantities that grew beyond their slack."""
    bad = []
    for name, n in before["refs"].items():
        if abs(after["refs"][name] - n) > REF_SLACK:
            bad.append(f"refcount of {name}: {n} -> {after['refs'][name]}")
    if abs(after["fds"] - before["fds"]) > FD_SLACK:
        bad.append(f"open fds: {before['fds']} -> {after['fds']}")
    if after["threads"] - max(before["threads"], _thread_cap()) > THREAD_SLACK:
        bad.append(f"threads: {before['threads']} -> {after['threads']}")
    if after["mem"] - before["mem"] > MEM_SLACK:
        bad.append(f"traced memory: {before['mem']} -> {after['mem']} "
                   f"(+{after['mem'] - before['mem']} bytes)")
    return bad


async def _settled_snapshot(types):
    """Snapshot after letting transient objects (callbacks still queued on
    the loop, ops finishing in the pool) go away."""
    for _ in range(3):
        await asyncio.sleep(0.02)
        gc.collect()
    return _snapshot(types)


async def _assert_flat_async(before, types):
    """Compare with `before`, giving in-flight leftovers (cancelled ops
    still finishing in the pool, threads winding down) up to ~3 s."""
    for _ in range(60):
        await asyncio.sleep(0.05)
        bad = _growth(before, _snapshot(types))
        if not bad:
            return
    pytest.fail(f"[{IMPL_NAME}] resources not flat: " + "; ".join(bad))


def _assert_flat_sync(before, types):
    for _ in range(60):
        time.sleep(0.05)
        bad = _growth(before, _snapshot(types))
        if not bad:
            return
    pytest.fail(f"[{IMPL_NAME}] resources not flat: " + "; ".join(bad))


@pytest.fixture
def traced():
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        yield
    finally:
        if started:
            tracemalloc.stop()


@pytest.fixture
def datafile(tmp_path):
    p = tmp_path / "data.bin"
    p.write_bytes(os.urandom(4 * CHUNK))
    return p


async def _types_of(impl, path):
    """The implementation's types that each cycle creates instances of."""
    cm = impl.open(path, "rb")
    f = await cm
    aw = f.read(1)
    types = [type(cm), type(f), type(aw)]
    await aw
    await f.close()
    f = await impl.open(path, "r+b")
    aw = f.write(b"")
    types += [type(f), type(aw)]
    await aw
    await f.close()
    return _unique(types)


async def _cycle(impl, path):
    f = await impl.open(path, "rb")
    data = await f.read(CHUNK)
    assert len(data) == CHUNK
    await f.close()


@pytest.mark.asyncio
async def test_no_leak_open_read_close(datafile, traced):
    """2000 open/read/close cycles (plain and async-with, sequential and
    concurrent) leave refcounts of the implementation's types, open fds,
    threads and traced memory flat."""
    impl = _impl()
    types = await _types_of(impl, datafile)
    # warm-up: start the pool at full width, fill caches / free lists
    for _ in range(4):
        await asyncio.gather(*(_cycle(impl, datafile) for _ in range(50)))
    before = await _settled_snapshot(types)

    for _ in range(500):
        await _cycle(impl, datafile)
    for _ in range(500):
        async with impl.open(datafile, "rb") as f:
            assert len(await f.read(CHUNK)) == CHUNK
    for _ in range(20):
        await asyncio.gather(*(_cycle(impl, datafile) for _ in range(50)))

    await _assert_flat_async(before, types)


@pytest.mark.asyncio
async def test_no_leak_completed_and_cancelled_ops(datafile, traced):
    """2000 completed and 2000 cancelled read ops on one file (cancelled
    before and after being submitted) leave everything flat, and the file
    still works and closes."""
    impl = _impl()
    types = await _types_of(impl, datafile)
    f = await impl.open(datafile, "rb")
    for _ in range(4):
        await asyncio.gather(*(f.read(CHUNK) for _ in range(50)))
    await f.seek(0)
    before = await _settled_snapshot(types)

    for i in range(2000):
        if i % 4 == 0:
            await f.seek(0)
        assert len(await f.read(CHUNK)) == CHUNK
    for i in range(2000):
        t = asyncio.ensure_future(f.read(CHUNK))
        if i % 2:
            await asyncio.sleep(0)  # let it be submitted / start running
        t.cancel()
        try:
            await t
        except asyncio.CancelledError:
            pass
        if i % 100 == 99:
            await f.seek(0)
    # the file is still usable after all that
    await asyncio.sleep(0.05)
    await f.seek(0)
    assert len(await f.read(CHUNK)) == CHUNK
    await f.close()
    del f, t
    await _assert_flat_async(before, types)


# A cancelled open() must not leak the file descriptor it may have opened.
# (With aiofiles the orphaned file object is closed when collected, with a
# ResourceWarning; that warning is not what is tested here.)
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.asyncio
async def test_no_leak_cancelled_open(datafile, traced):
    impl = _impl()
    types = await _types_of(impl, datafile)
    for _ in range(4):
        await asyncio.gather(*(_cycle(impl, datafile) for _ in range(50)))
    before = await _settled_snapshot(types)

    async def opener():
        return await impl.open(datafile, "rb")

    opened = []
    for i in range(2000):
        t = asyncio.ensure_future(opener())
        for _ in range(1 + i % 3):  # submitted, maybe running, maybe done
            await asyncio.sleep(0)
        t.cancel()
        try:
            opened.append(await t)   # the open won the race
        except asyncio.CancelledError:
            pass
    for f in opened:
        await f.close()
    del opened, t
    await _assert_flat_async(before, types)


class _NoReaderLoop(asyncio.SelectorEventLoop):
    def add_reader(self, fd, callback, *args):
        raise NotImplementedError

    def remove_reader(self, fd):
        raise NotImplementedError


def test_no_leak_many_event_loops(datafile, traced):
    """Per-loop state (completion queue, eventfd, reader registration or
    fallback) is released when loops go away: hundreds of short-lived loops
    -- via asyncio.run, manually closed loops, uvloop, loops without
    add_reader, and loops in short-lived threads -- leave fds, threads,
    refcounts and memory flat."""
    import uvloop

    impl = _impl()
    types = asyncio.run(_types_of(impl, datafile))

    async def one():
        await asyncio.gather(_cycle(impl, datafile), _cycle(impl, datafile))

    def manual(factory):
        loop = factory()
        try:
            loop.run_until_complete(one())
        finally:
            loop.close()

    def batch(n):
        for _ in range(n):
            asyncio.run(one())
        for _ in range(n // 2):
            manual(asyncio.new_event_loop)
        for _ in range(n // 2):
            manual(uvloop.new_event_loop)
        for _ in range(n // 10):
            manual(_NoReaderLoop)
        for _ in range(n // 10):
            t = threading.Thread(target=asyncio.run, args=(one(),))
            t.start()
            t.join(30)
            assert not t.is_alive(), "loop thread hung"

    batch(20)  # warm-up
    time.sleep(0.1)  # let the warm-up's executor threads (aiofiles) wind down
    before = _snapshot(types)
    batch(200)
    _assert_flat_sync(before, types)


async def _text_cycle(impl, path, lines):
    async with impl.open(path, "w+", encoding="utf-8") as f:
        for line in lines:
            await f.write(line)
        await f.seek(0)
        assert await f.readline() == lines[0]
        cookie = await f.tell()
        got = [line async for line in f]
        assert got == lines[1:]
        await f.seek(cookie)
        assert await f.read(3) == lines[1][:3]
        try:
            await f.read("x")
        except TypeError:
            pass


@pytest.mark.asyncio
async def test_no_leak_text_files(tmp_path, traced):
    """1000 text files written, read by lines, seeked and told, with an
    error raised on the way: refcounts of the text types, fds, threads and
    traced memory stay flat."""
    impl = _impl()
    path = os.fspath(tmp_path / "t.txt")
    lines = [f"{i} héllo wörld {'x' * (i % 40)}\n" for i in range(60)]
    f = await impl.open(path, "w+", encoding="utf-8")
    aw = f.readline()
    types = _unique([type(f), type(aw)])
    await aw
    await f.close()
    # Paths made before the baseline: making a Path interns its parts, and
    # the interpreter's table of interned strings grows in one big step
    # whenever it is full (nothing to do with the files).
    paths = [os.fspath(tmp_path / f"t{i}.txt") for i in range(50)]

    async def many():
        await asyncio.gather(*(_text_cycle(impl, p, lines) for p in paths))

    for _ in range(20):
        await _text_cycle(impl, path, lines)
    await many()  # warm-up: the pool (or executor) at full width
    before = await _settled_snapshot(types)
    for _ in range(500):
        await _text_cycle(impl, path, lines)
    for _ in range(10):
        await many()
    await _assert_flat_async(before, types)
