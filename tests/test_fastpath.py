"""Work done on the loop thread instead of the pool: the adaptive read-ahead
of the buffered reader, and the opens, stats, closes and read_bytes of
cached paths on local file systems (cext/fastpath.c). Every result is
compared with the stdlib; the counters say whether the fast path ran."""
from __future__ import annotations

import asyncio
import fcntl
import io
import os
import pathlib
import random

import pytest

from tests.helpers import HAS_EXTRAS, IS_C, LoopTurns, in_flight

pytestmark = [
    pytest.mark.native,
    pytest.mark.skipif(not HAS_EXTRAS or not IS_C,
                       reason="aiofiles_c's native engine"),
]

LOCAL_TYPES = {"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "tmpfs",
               "ramfs", "overlay"}


def _fs_type(path):
    best, kind = "", None
    with open("/proc/self/mounts") as m:
        for line in m:
            parts = line.split()
            mnt = parts[1].replace("\\040", " ")
            if (str(path) + "/").startswith(mnt.rstrip("/") + "/") and \
                    len(mnt) >= len(best):
                best, kind = mnt, parts[2]
    return kind


@pytest.fixture
def cext():
    import aiofiles_c
    return aiofiles_c._cext


@pytest.fixture
def fast(cext, tmp_path):
    """The fast path is expected to run here: openat2 with RESOLVE_CACHED
    works and tmp_path is on a local file system."""
    if not os.path.exists("/proc/self/mounts") or \
            _fs_type(tmp_path.resolve()) not in LOCAL_TYPES:
        pytest.skip("tmp_path is not on a local file system")
    if not cext._fast_counts()[3]:
        pytest.skip("no openat2 with RESOLVE_CACHED (or a portable build)")
    return cext


@pytest.fixture(params=["inline", "pool"])
def inline(request, cext):
    cext.set_inline_reads(request.param == "inline")
    try:
        yield request.param == "inline"
    finally:
        cext.set_inline_reads(True)


def counts(cext):
    return cext._fast_counts()[:3]


async def learn(aiofiles_c, path):
    """A first open of a device goes to the pool, which learns its file
    system; the next ones may be inline."""
    async with aiofiles_c.open(path, "rb") as f:
        await f.read(1)


def outcome(fn):
    try:
        return ("ok", fn())
    except OSError as e:
        return (type(e), e.errno, e.filename)


async def aoutcome(coro):
    try:
        return ("ok", await coro)
    except OSError as e:
        return (type(e), e.errno, e.filename)


# ---- adaptive read-ahead ----

def _lines_data(rng, size):
    out = bytearray()
    while len(out) < size:
        out += bytes(rng.randrange(32, 127) for _ in range(rng.choice(
            [0, 3, 40, 200, 5000]))) + b"\n"
    return bytes(out[:size])


@pytest.mark.asyncio
@pytest.mark.parametrize("seed", range(6))
async def test_random_access_matches_io(tmp_path, inline, seed):
    """Seeks, reads of every size, readline, read1 and readinto in random
    order, against io.BufferedReader: the same bytes and positions, inline
    (page-cached) and through the pool."""
    import aiofiles_c
    rng = random.Random(seed)
    data = _lines_data(rng, 600_000)
    p = tmp_path / "f"
    p.write_bytes(data)
    ref = open(p, "rb")
    try:
        async with aiofiles_c.open(p, "rb") as f:
            for _ in range(250):
                op = rng.choice(["seek", "seek", "read", "read", "read",
                                 "readline", "read1", "readinto", "tell"])
                if op == "seek":
                    whence = rng.choice([0, 0, 1, 2])
                    off = {0: rng.randrange(len(data) + 10),
                           1: rng.randrange(-1000, 70000),
                           2: -rng.randrange(70000)}[whence]
                    if whence == 1 and ref.tell() + off < 0:
                        off = 0
                    assert await f.seek(off, whence) == ref.seek(off, whence)
                elif op == "read":
                    n = rng.choice([1, 100, 4096, 4097, 9000, 65536, 200000])
                    assert await f.read(n) == ref.read(n)
                elif op == "readline":
                    assert await f.readline() == ref.readline()
                elif op == "read1":
                    n = rng.choice([10, 4096, 100000])
                    got = await f.read1(n)
                    # read1 returns what one raw read gives: a prefix
                    assert got == data[ref.tell():ref.tell() + len(got)]
                    ref.seek(len(got), 1)
                elif op == "readinto":
                    n = rng.choice([5, 4096, 70000])
                    a, b = bytearray(n), bytearray(n)
                    assert await f.readinto(a) == ref.readinto(b)
                    assert a == b
                assert await f.tell() == ref.tell()
    finally:
        ref.close()


@pytest.mark.asyncio
async def test_refill_small_after_seek_then_growing(tmp_path, inline):
    """After a seek a refill reads about what was asked for (peek shows the
    buffer: a few KiB, not a whole read-ahead buffer); reading on without
    seeking doubles the refill until the buffer is filled whole again."""
    import aiofiles_c
    data = os.urandom(4 << 20)
    p = tmp_path / "f"
    p.write_bytes(data)
    async with aiofiles_c.open(p, "rb") as f:
        # a fresh file reads ahead a whole buffer: sequential is common
        assert await f.read(10) == data[:10]
        full = len(await f.peek(1))
        assert full >= 64 * 1024
        await f.seek(1_000_000)
        assert await f.read(4096) == data[1_000_000:1_004_096]
        small = await f.peek(1)
        assert 1 <= len(small) <= 16 * 1024
        assert small == data[1_004_096:1_004_096 + len(small)]
        pos = 1_004_096
        sizes = []
        for _ in range(12):
            chunk = await f.read(len(await f.peek(1)))
            assert chunk == data[pos:pos + len(chunk)]
            pos += len(chunk)
            sizes.append(len(chunk))
        assert sizes == sorted(sizes)
        assert sizes[-1] >= full
        # a seek inside the buffer keeps it (no refill, no shrink)
        await f.seek(pos)
        assert len(await f.peek(1)) >= full


@pytest.mark.asyncio
async def test_random_4k_reads_readline_after_seek(tmp_path, inline):
    import aiofiles_c
    rng = random.Random(7)
    data = _lines_data(rng, 300_000)
    p = tmp_path / "f"
    p.write_bytes(data)
    with open(p, "rb") as ref:
        async with aiofiles_c.open(p, "rb") as f:
            for _ in range(300):
                at = rng.randrange(len(data))
                await f.seek(at)
                ref.seek(at)
                if rng.random() < 0.5:
                    assert await f.read(4096) == ref.read(4096)
                else:
                    assert await f.readline() == ref.readline()
                    assert await f.readline() == ref.readline()


# ---- opens, stats, closes ----

@pytest.mark.asyncio
async def test_cached_open_read_close_inline(tmp_path, fast):
    import aiofiles_c
    p = tmp_path / "f"
    p.write_bytes(b"hello" * 1000)
    await learn(aiofiles_c, p)
    before = counts(fast)
    for mode in ["rb", "r"]:
        f = await aiofiles_c.open(p, mode)
        fd = f.fileno()
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert os.fstat(fd).st_ino == os.stat(p).st_ino
        got = await f.read()
        assert got == (b"hello" * 1000 if mode == "rb" else "hello" * 1000)
        await f.close()
        assert f.closed
        with pytest.raises(ValueError):
            await f.read()
    after = counts(fast)
    assert after[0] >= before[0] + 1  # opens (the budget may send one off)
    assert after[2] >= before[2] + 1  # closes


@pytest.mark.asyncio
async def test_writable_opens_never_inline(tmp_path, fast):
    import aiofiles_c
    p = tmp_path / "f"
    p.write_bytes(b"x")
    await learn(aiofiles_c, p)
    before = counts(fast)
    for mode in ["r+b", "ab", "wb", "w+b"]:
        async with aiofiles_c.open(p, mode) as f:
            await f.write(b"y")
    assert counts(fast)[0] == before[0]
    assert counts(fast)[2] == before[2]
    assert p.read_bytes() == b"y"


@pytest.mark.asyncio
async def test_open_errors_match_io(tmp_path, inline):
    """Errors always come from the pool's open: same type, errno and
    filename as io.open."""
    import aiofiles_c
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_bytes(b"abc")
    os.symlink("missing", tmp_path / "dangling")
    os.symlink("file", tmp_path / "link")
    for rel in ["missing", "dir", "file/x", "dangling", "link", "file",
                "dir/../file", ""]:
        p = str(tmp_path / rel) if rel else ""
        want = outcome(lambda: _io_read(p))
        got = await aoutcome(_read_all(aiofiles_c, p))
        assert got == want, rel


def _io_read(p):
    with open(p, "rb") as f:
        return f.read()


async def _read_all(aiofiles_c, p):
    async with aiofiles_c.open(p, "rb") as f:
        return await f.read()


def _stat_tuple(s):
    return tuple(s) + (s.st_atime_ns, s.st_mtime_ns, s.st_ctime_ns)


@pytest.mark.asyncio
async def test_stats_match_os(tmp_path, inline, cext):
    import aiofiles_c
    import aiofiles_c.os as aos
    import aiofiles_c.ospath as apath
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_bytes(b"abc")
    os.symlink("missing", tmp_path / "dangling")
    os.symlink("file", tmp_path / "link")
    os.symlink("dir", tmp_path / "dirlink")
    os.mkfifo(tmp_path / "fifo")
    await learn(aiofiles_c, tmp_path / "file")
    before = counts(cext)
    rels = ["file", "dir", "dangling", "link", "dirlink", "fifo", "missing",
            "file/x", "file/", "dir/", "link/", "dir/../file",
            "missing/x", ""]
    for rel in rels:
        p = str(tmp_path / rel) + ("/" if rel.endswith("/") else "") \
            if rel else ""
        for follow in (True, False):
            want = outcome(lambda: _stat_tuple(
                os.stat(p, follow_symlinks=follow)))
            got = await aoutcome(_astat(aos, p, follow))
            assert got == want, (rel, follow)
        assert await apath.exists(p) == os.path.exists(p), rel
        assert await apath.isfile(p) == os.path.isfile(p), rel
        assert await apath.isdir(p) == os.path.isdir(p), rel
        assert await apath.islink(p) == os.path.islink(p), rel
    # relative to a dir_fd
    dfd = os.open(tmp_path, os.O_RDONLY)
    try:
        for rel in ["file", "link", "missing", "dangling"]:
            for follow in (True, False):
                want = outcome(lambda: _stat_tuple(
                    os.stat(rel, dir_fd=dfd, follow_symlinks=follow)))
                got = await aoutcome(_astat(aos, rel, follow, dfd))
                assert got == want, (rel, follow)
    finally:
        os.close(dfd)
    if inline and cext._fast_counts()[3] and \
            _fs_type(tmp_path.resolve()) in LOCAL_TYPES:
        assert counts(cext)[1] > before[1]
    elif not inline:
        assert counts(cext)[1] == before[1]


async def _astat(aos, p, follow, dir_fd=None):
    return _stat_tuple(await aos.stat(p, follow_symlinks=follow,
                                      dir_fd=dir_fd))


@pytest.mark.asyncio
async def test_stat_after_change_sees_the_change(tmp_path, fast):
    """An inline stat is a real stat: a size, a mode, a removal show at
    once."""
    import aiofiles_c.os as aos
    p = tmp_path / "f"
    p.write_bytes(b"1")
    await aos.stat(tmp_path)
    for i in range(20):
        p.write_bytes(b"x" * i)
        os.chmod(p, 0o600 + i % 8)
        assert _stat_tuple(await aos.stat(p)) == _stat_tuple(os.stat(p))
    p.unlink()
    with pytest.raises(FileNotFoundError) as e:
        await aos.stat(p)
    assert e.value.filename == str(p)


@pytest.mark.asyncio
async def test_inline_calls_let_the_loop_run(tmp_path, fast):
    """Thousands of cached stats and opens awaited back to back: the loop
    still runs other tasks in between (the 0.5 ms budget)."""
    import aiofiles_c
    import aiofiles_c.os as aos
    p = tmp_path / "f"
    p.write_bytes(b"x")
    await learn(aiofiles_c, p)
    async with LoopTurns() as turns:
        start = turns.count
        before = counts(fast)
        for _ in range(3000):
            await aos.stat(p)
        for _ in range(300):
            assert await aiofiles_c.read_bytes(p) == b"x"
        turned = turns.count - start
    assert counts(fast)[1] > before[1]
    assert turned >= 2


@pytest.mark.asyncio
@pytest.mark.parametrize("call", ["stat", "open", "read_bytes"])
async def test_many_tasks_share_one_budget_per_iteration(tmp_path, fast, call):
    """64 tasks each making cached calls on the spot: between two turns of
    another task, all of them together do about one budget of work plus
    one call each, not a budget each (a task told to wait an iteration
    must not open a new budget for the next task)."""
    import aiofiles_c
    import aiofiles_c.os as aos
    paths = []
    for i in range(64):
        p = tmp_path / f"f{i}"
        p.write_bytes(b"x" * 100)
        paths.append(p)
    await learn(aiofiles_c, paths[0])
    done = 0
    worst = 0
    stop = False

    async def ticker():
        nonlocal worst
        last = done
        while not stop:
            await asyncio.sleep(0)
            worst = max(worst, done - last)
            last = done

    async def worker(p):
        nonlocal done
        for _ in range(60):
            if call == "stat":
                await aos.stat(p)
            elif call == "open":
                f = await aiofiles_c.open(p, "rb")
                await f.close()
            else:
                await aiofiles_c.read_bytes(p)
            done += 1

    t = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    await asyncio.gather(*(worker(p) for p in paths))
    stop = True
    await t
    # One budget is 0.5 ms; no cached call takes less than ~2 us, so two
    # windows and one call per task stay far below 64 budgets' worth.
    assert worst <= 64 * 10, worst


@pytest.mark.asyncio
async def test_task_woken_as_the_budget_runs_out_goes_first(tmp_path, fast):
    """A task that yields after the inline budget resumes after the tasks
    that timers or I/O woke in the next iteration (a timer's callback runs
    in the iteration after it is due; the task it wakes, one later): so a
    timer waits for one budget of on-the-spot work at most, not two."""
    import aiofiles_c
    import aiofiles_c.os as aos
    p = tmp_path / "f"
    p.write_bytes(b"x")
    await learn(aiofiles_c, p)
    loop = asyncio.get_running_loop()
    iteration = 0
    stop = False
    call_at = None  # the iteration of the stat call in progress
    other = loop.create_future()
    log = []

    def beat():
        nonlocal iteration
        iteration += 1
        # the iteration after the one where the stat loop parked: wake
        # another task, as a timer falling due then would
        if (call_at is not None and iteration == call_at + 1 and
                not other.done()):
            other.set_result(None)
        if not stop:
            loop.call_soon(beat)

    async def woken():
        await other
        log.append("woken task")

    loop.call_soon(beat)
    waiter = asyncio.ensure_future(woken())
    await asyncio.sleep(0)
    before = counts(fast)
    for _ in range(100_000):
        call_at = iteration
        await aos.stat(p)
        if other.done():  # the call parked: the budget ran out
            log.append("stat loop")
            break
    call_at = None
    stop = True
    await waiter
    assert counts(fast)[1] > before[1]
    assert log == ["woken task", "stat loop"], log


@pytest.mark.asyncio
async def test_past_the_budget_one_call_waits_the_others_use_the_pool(
        tmp_path, fast):
    """Past the iteration's budget, the first call of work on the spot is
    still made here (its task waits an iteration); the calls made after it
    in the same iteration go to the pool instead of adding to it. Both give
    the stdlib's answers."""
    import aiofiles_c
    from aiofiles_c import _fs
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    await learn(aiofiles_c, p)
    name = os.fsencode(p)

    def stat_op():
        return _fs.call(_fs.STAT, name, None, -1, -1, _fs.AT_FDCWD,
                        _fs.AT_FDCWD, 0, 0, -1, 0, str(p))

    def read_op():
        return _fs.call(_fs.READFILE, name, None, -1, -1, _fs.AT_FDCWD,
                        _fs.AT_FDCWD, 0, 0, -1, 0, str(p))

    await asyncio.sleep(0)
    fast._budget_spend()
    before = counts(fast)
    ops = [stat_op(), stat_op(), read_op()]  # one iteration, no await
    after = counts(fast)
    assert after[1] - before[1] == 1  # the first stat only
    assert after[0] == before[0]      # the whole-file read: the pool's
    st1, st2, data = [await op for op in ops]
    assert data == b"abc"
    want = os.stat(p)
    for st in (st1, st2):
        assert (st.st_ino, st.st_size, st.st_mtime_ns) == \
            (want.st_ino, want.st_size, want.st_mtime_ns)
    # the next iteration has a budget again
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    before = counts(fast)
    await stat_op()
    assert counts(fast)[1] == before[1] + 1


@pytest.mark.asyncio
async def test_past_the_budget_other_tasks_read_through_the_pool(tmp_path,
                                                                  fast):
    """Past the iteration's budget, the first file read from the page cache
    is still made on the spot (its task waits an iteration after it); the
    reads other tasks start in that iteration go to the pool, whose workers
    run beside the loop, and are not made on the spot later either. Each
    gets its file's bytes."""
    import aiofiles_c
    paths = []
    for i in range(3):
        p = tmp_path / f"f{i}"
        p.write_bytes(bytes([65 + i]) * 5000)
        paths.append(p)
    await learn(aiofiles_c, paths[0])
    files = [await aiofiles_c.open(p, "rb") for p in paths]
    try:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        fast._budget_spend()
        before = fast._fast_counts()[4]
        ops = [f.read() for f in files]  # one iteration, no await
        first = fast._fast_counts()[4]
        assert first > before  # the first read: on the spot
        got = [await op for op in ops]
        assert fast._fast_counts()[4] == first  # the others: the pool's
        assert got == [p.read_bytes() for p in paths]
    finally:
        for f in files:
            await f.close()


@pytest.mark.asyncio
async def test_read_whole_of_a_cached_file_is_one_read(tmp_path, fast):
    """read() of a whole cached file after open(): one page-cache read of
    the size its open saw, none more to see EOF; the bytes are the file's,
    also when it grew after the open (they come with the read)."""
    import aiofiles_c
    p = tmp_path / "f"
    p.write_bytes(b"x" * 3000)
    await learn(aiofiles_c, p)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    async with aiofiles_c.open(p, "rb") as f:
        before = fast._fast_counts()[4]
        assert await f.read() == b"x" * 3000
        assert fast._fast_counts()[4] == before + 1
        assert await f.read() == b""
    async with aiofiles_c.open(p, "rb") as f:
        with open(p, "ab") as g:
            g.write(b"y" * 10)
        assert await f.read() == b"x" * 3000 + b"y" * 10


@pytest.mark.asyncio
async def test_read_whole_again_asks_fstat_on_the_spot(tmp_path, fast):
    """A second whole read (after a seek back) of a cached file on a local
    file system takes the file's size from an fstat made on the loop
    thread: no pool job (a failing submission would show), the file's
    bytes, grown since, as io reads them."""
    import errno
    import aiofiles_c
    p = tmp_path / "f"
    p.write_bytes(b"x" * 3000)
    await learn(aiofiles_c, p)
    async with aiofiles_c.open(p, "rb") as f:
        assert await f.read() == b"x" * 3000
        with open(p, "ab") as g:
            g.write(b"y" * 5000)
        await f.seek(0)
        fast._fail_submits(1, errno.EIO)
        try:
            got = await f.read()
        finally:
            fast._fail_submits(0, 0)
        assert got == b"x" * 3000 + b"y" * 5000


@pytest.mark.asyncio
async def test_seek_from_the_end_on_the_spot(tmp_path, fast):
    """seek(n, SEEK_END) of a file on a local file system is made on the
    loop thread (no pool job: a failing submission would show), with
    io's results and errors, after the file grew too."""
    import errno
    import aiofiles_c
    p = tmp_path / "f"
    p.write_bytes(b"abcdef")
    await learn(aiofiles_c, p)
    with open(p, "rb") as want:
        async with aiofiles_c.open(p, "rb") as f:
            fast._fail_submits(1, errno.EIO)
            try:
                assert await f.seek(-2, os.SEEK_END) == want.seek(-2, 2)
                assert await f.read() == want.read()
                with open(p, "ab") as g:
                    g.write(b"gh")
                assert await f.seek(0, os.SEEK_END) == want.seek(0, 2)
                assert await f.tell() == want.tell() == 8
                with pytest.raises(OSError) as got:
                    await f.seek(-100, os.SEEK_END)
                with pytest.raises(OSError) as io_err:
                    want.seek(-100, 2)
                assert got.value.errno == io_err.value.errno
            finally:
                fast._fail_submits(0, 0)


@pytest.mark.asyncio
async def test_text_calls_share_the_iteration_budget(tmp_path, cext):
    """A text file's calls answered from its buffers count against the one
    budget of the loop iteration: when other work has spent it, the text
    file lets the loop run within a few calls, though it has just been
    opened; the lines are io's."""
    import aiofiles_c
    p = tmp_path / "t.txt"
    p.write_text("".join(f"line {i}\n" for i in range(400)))
    with open(p) as f:
        want = f.readlines()
    loop = asyncio.get_running_loop()
    iteration = 0
    stop = False

    def beat():
        nonlocal iteration
        iteration += 1
        if not stop:
            loop.call_soon(beat)

    async with aiofiles_c.open(p) as f:
        first = await f.readline()  # its buffer is filled
        loop.call_soon(beat)
        await asyncio.sleep(0)
        cext._budget_spend()
        at = iteration
        got = [first]
        for _ in range(100):
            got.append(await f.readline())
        moved = iteration - at
        got += await f.readlines()
    stop = True
    assert got == want
    assert moved >= 1


@pytest.mark.asyncio
async def test_read_bytes_inline_and_pool(tmp_path, inline, cext):
    import aiofiles_c
    small = os.urandom(10_000)
    big = os.urandom(3 << 20)  # past the inline limit: one pool job
    (tmp_path / "small").write_bytes(small)
    (tmp_path / "big").write_bytes(big)
    (tmp_path / "empty").write_bytes(b"")
    await learn(aiofiles_c, tmp_path / "small")
    before = counts(cext)
    for _ in range(3):
        assert await aiofiles_c.read_bytes(tmp_path / "small") == small
        assert await aiofiles_c.read_bytes(str(tmp_path / "big")) == big
        assert await aiofiles_c.read_bytes(tmp_path / "empty") == b""
        assert await aiofiles_c.read_text(tmp_path / "small", "latin-1") \
            == (tmp_path / "small").read_text("latin-1")
    fast_ok = cext._fast_counts()[3] and \
        _fs_type(tmp_path.resolve()) in LOCAL_TYPES
    if inline and fast_ok:
        assert counts(cext)[0] > before[0]
    elif not inline:
        assert counts(cext) == before
    for rel in ["missing", ".", "small/x"]:
        p = tmp_path / rel
        assert await aoutcome(aiofiles_c.read_bytes(p)) == \
            outcome(p.read_bytes)


@pytest.mark.asyncio
async def test_read_bytes_follows_patched_open(tmp_path, monkeypatch):
    """With threadpool.sync_open replaced (a mock), read_bytes goes the
    route open() takes then, through the replacement."""
    import aiofiles_c
    import aiofiles_c.threadpool as tp
    p = tmp_path / "f"
    p.write_bytes(b"real")
    seen = []

    def fake_open(*args, **kwargs):
        seen.append(args[0])
        return io.BytesIO(b"fake")

    monkeypatch.setattr(tp, "sync_open", fake_open)
    assert await aiofiles_c.read_bytes(p) == b"fake"
    assert seen and os.fspath(seen[0]) == str(p)


@pytest.mark.asyncio
async def test_read_bytes_nul_and_types(tmp_path):
    import aiofiles_c
    for bad in [str(tmp_path / "a\0b"), pathlib.Path(str(tmp_path) + "/a\0b")]:
        want = None
        try:
            pathlib.Path(bad).read_bytes()
        except ValueError as e:
            want = (ValueError, str(e))
        with pytest.raises(ValueError) as e:
            await aiofiles_c.read_bytes(bad)
        assert (ValueError, str(e.value)) == want



def _open_outcome(call):
    """(flags or the exception's type and text, the "open" audit events)
    of one argument check, io's or aiofiles_c's."""
    import sys
    events = []
    hook_on = [True]

    def hook(name, args):
        if name == "open" and hook_on[0]:
            events.append(args)
    sys.addaudithook(hook)
    try:
        try:
            out = call()
        except Exception as e:  # noqa: BLE001 -- compared, not hidden
            out = (type(e), str(e))
    finally:
        hook_on[0] = False  # audit hooks cannot be removed
    return out, events


@pytest.mark.skipif(not HAS_EXTRAS, reason="aiofiles_c's argument checks")
@pytest.mark.parametrize("mode", [
    "r", "rt", "rb", "w", "wt", "wb", "a", "at", "ab", "x", "xt", "xb",
    "r+", "r+t", "r+b", "rb+", "w+", "w+t", "w+b", "wb+", "a+", "a+t",
    "a+b", "ab+", "x+", "x+b", "xb+", "br", "rw", "", "U", "rU",
])
@pytest.mark.parametrize("file,buffering,closefd", [
    ("/no/such/dir/f", -1, True), ("", -1, True), ("/no/\0nul", -1, True),
    ("/no/caf\u00e9", -1, True), ("/no/f", -1.0, True), ("/no/f", True, 1),
    ("/no/f", -1, False),
])
def test_open_argument_check_matches_io(mode, file, buffering, closefd):
    """open()'s argument check (a table for the common modes, io.open's own
    check for the rest) gives io.open's flags, errors and audit events."""
    from aiofiles_c import _open

    def ours():
        return _open._open_flags(file, mode, buffering, None, None, None,
                                 closefd)

    def theirs():
        try:
            io.open(file, mode, buffering, None, None, None, closefd,
                    opener=_open._capture)
        except _open._Captured as c:
            return c.flags
        raise AssertionError("io.open did not call the opener")

    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 'U' on 3.9/3.10
        assert _open_outcome(ours) == _open_outcome(theirs)


@pytest.mark.asyncio
async def test_public_switch_sends_everything_to_the_pool(tmp_path, fast):
    """aiofiles_c.set_inline_reads (the README's switch): off, a cached
    open and stat are the pool's; on again, they are inline."""
    import aiofiles_c
    import aiofiles_c.os as aos
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    await learn(aiofiles_c, p)
    aiofiles_c.set_inline_reads(False)
    try:
        before = counts(fast)
        async with aiofiles_c.open(p, "rb") as f:
            assert await f.read() == b"abc"
        assert (await aos.stat(p)).st_size == 3
        assert counts(fast) == before
    finally:
        aiofiles_c.set_inline_reads(True)
    before = counts(fast)
    async with aiofiles_c.open(p, "rb") as f:
        assert await f.read() == b"abc"
    assert counts(fast)[0] > before[0]


@pytest.mark.asyncio
@pytest.mark.parametrize("spender", ["read_at", "stat"])
async def test_positional_and_other_inline_calls_share_one_budget(
        tmp_path, fast, spender):
    """Cached positional reads and the other calls answered on the loop
    thread (here a stat of a cached path) draw on one budget per loop
    iteration: once either kind has spent it, a call of the other kind in
    the same iteration makes its task wait an iteration."""
    import time

    import aiofiles_c
    import aiofiles_c.os as aos
    cx = aiofiles_c._cext
    p = tmp_path / "f"
    p.write_bytes(b"y" * 65536)
    await learn(aiofiles_c, p)

    async def waits_an_iteration(aw):
        before = turns.count
        await aw
        return turns.count != before

    async with LoopTurns() as turns, aiofiles_c.open(p, "rb") as f:
        assert await f.read_at(0, 16) == b"y" * 16
        conclusive = 0
        for _ in range(10):
            if conclusive == 3:
                break
            await asyncio.sleep(0)  # a fresh iteration, no window open:
            # none, even one an earlier test's loop left behind (a window
            # whose tick never ran is closed only once it is 20 ms old,
            # which could happen in the middle of the spending below)
            cx._budget_tick()
            # spend the budget (0.5 ms) and a little more, in this
            # iteration, on calls that are answered at once but not awaited
            # (the window must stay younger than the 20 ms after which a
            # call takes it for stale and opens a new one)
            spent = []
            start = time.perf_counter()
            end = start + 0.001
            while time.perf_counter() < end:
                if spender == "read_at":
                    spent.append(f.read_at(0, 16))
                else:
                    spent.append(cx.fs(cx.FS_STAT, os.fsencode(p),
                                       filename=str(p)))
            checked = time.perf_counter()
            if spender == "read_at":
                waited = await waits_an_iteration(aos.stat(p))
            else:
                waited = await waits_an_iteration(f.read_at(0, 16))
            for op in spent:
                op.close()
            if checked - start > 0.015:
                # the process was descheduled long enough for the window
                # to count as stale by the time of the call: no evidence
                continue
            conclusive += 1
            assert waited
            # and within a fresh budget neither waits, once the calls made
            # past the budget (sent to the pool: they are ahead of it in
            # the file's order) are back
            while in_flight():
                await asyncio.sleep(0.001)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            assert not await waits_an_iteration(f.read_at(0, 16))
        assert conclusive > 0
