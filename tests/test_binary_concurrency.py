"""Concurrency, awaitable protocol and cancellation.

aiofiles_c documents that operations on one file take effect in call order,
even when many are in flight at once (asyncio.gather).  Real aiofiles only
gets that from its executor when the executor has a single worker (with the
default multi-thread executor, reads race), so when validating these tests
against aiofiles the file is opened with ``executor=<1-thread pool>``; the
aiofiles_c run uses no executor argument (``open_kw`` fixture).

Cancellation semantics that only aiofiles_c documents are guarded with
``if IS_C``.
"""
import asyncio
import threading
import os
import concurrent.futures

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import IS_C, Outcome, assert_same_outcome, call_async, \
    call_sync, examples, gen_bytes, READ_OPS

MiB = 1 << 20
BIG_SIZE = 16 * MiB


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    data = gen_bytes(BIG_SIZE, 1234)
    p = d / "big.bin"
    with open(p, "wb") as fh:
        fh.write(data)
    return str(p), data


@pytest.fixture
def open_kw():
    """Extra open() kwargs: a single-worker executor for real aiofiles (so
    that its operations are FIFO, which aiofiles_c guarantees by itself)."""
    if IS_C:
        yield {}
        return
    ex = concurrent.futures.ThreadPoolExecutor(1)
    try:
        yield {"executor": ex}
    finally:
        ex.shutdown(wait=True)


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


# ---------------------------------------------------------------------------
# call order


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, 7, 64, -1])
@pytest.mark.parametrize("mode", ["wb", "ab", "w+b", "r+b", "xb"])
async def test_gather_writes_take_effect_in_call_order(impl, tmp_path,
                                                       open_kw, mode,
                                                       buffering):
    p = tmp_path / "f.bin"
    if "x" not in mode:
        with open(p, "wb") as fh:
            fh.write(b"#" * 10)
    records = [(b"%03d:" % i) * (1 + (i * 37) % 50) for i in range(50)]
    records[10] = gen_bytes(20000, 10)   # larger than any buffer
    records[20] = b""
    f = await impl.open(p, mode, buffering=buffering, **open_kw)
    try:
        res = await asyncio.gather(*(f.write(r) for r in records))
        assert res == [len(r) for r in records]
        total = sum(map(len, records))
        assert await f.tell() == total + (10 if mode == "ab" else 0)
    finally:
        await f.close()
    expected = b"".join(records)
    if mode == "ab":
        expected = b"#" * 10 + expected
    elif mode == "r+b":
        pass  # overwrites the 10 '#' bytes; expected is longer than them
    assert _read(p) == expected


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, 7, -1])
async def test_gather_reads_return_consecutive_slices(impl, tmp_path,
                                                      open_kw, buffering):
    data = gen_bytes(1000, 5)
    p = tmp_path / "f.bin"
    with open(p, "wb") as fh:
        fh.write(data)
    f = await impl.open(p, "rb", buffering=buffering, **open_kw)
    try:
        res = await asyncio.gather(*(f.read(10) for _ in range(100)))
        assert res == [data[i:i + 10] for i in range(0, 1000, 10)]
        assert await f.read(10) == b""
        assert await f.tell() == 1000
        await f.seek(0)
        bufs = [bytearray(7) for _ in range(150)]
        ns = await asyncio.gather(*(f.readinto(b) for b in bufs))
        got = b"".join(bytes(b[:n]) for b, n in zip(bufs, ns))
        assert got == data
        assert ns[:142] == [7] * 142 and ns[142] == 6 and ns[143:] == [0] * 7
    finally:
        await f.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
async def test_gather_readlines_in_order(impl, tmp_path, open_kw, buffering):
    lines = [b"line %d %s\n" % (i, b"x" * (i % 13)) for i in range(200)]
    p = tmp_path / "f.bin"
    with open(p, "wb") as fh:
        fh.writelines(lines)
    f = await impl.open(p, "rb", buffering=buffering, **open_kw)
    try:
        res = await asyncio.gather(*(f.readline() for _ in range(210)))
        assert res == lines + [b""] * 10
    finally:
        await f.close()


@pytest.mark.asyncio
async def test_gather_mixed_ops_in_call_order(impl, tmp_path, open_kw):
    p = tmp_path / "f.bin"
    with open(p, "wb") as fh:
        fh.write(b"0123456789")
    f = await impl.open(p, "r+b", **open_kw)
    res = await asyncio.gather(
        f.read(3), f.tell(), f.write(b"abc"), f.tell(), f.seek(0),
        f.read(), f.seek(-2, 2), f.truncate(), f.tell(), f.read(5),
        f.close(), f.read(1), f.tell(),
        return_exceptions=True)
    assert res[:11] == [b"012", 3, 3, 6, 0, b"012abc6789", 8, 8, 8, b"",
                        None]
    assert type(res[11]) is ValueError
    assert str(res[11]) == "read of closed file"
    assert type(res[12]) is ValueError
    assert f.closed
    assert _read(p) == b"012abc67"


OPS = st.one_of(
    st.tuples(st.just("read"), st.tuples(st.integers(-1, 3000))),
    st.tuples(st.just("readline"), st.tuples(st.integers(-1, 100))),
    st.tuples(st.just("readlines"), st.tuples(st.integers(-1, 200))),
    st.tuples(st.just("readinto"), st.tuples(st.integers(0, 3000))),
    st.tuples(st.just("write"), st.tuples(
        st.one_of(st.binary(max_size=40),
                  st.builds(gen_bytes, st.integers(0, 9000),
                            st.integers(0, 99), st.just(50))))),
    st.tuples(st.just("seek"), st.tuples(st.integers(0, 9000))),
    st.tuples(st.just("seek"), st.tuples(st.integers(-500, 500),
                                         st.just(1))),
    st.tuples(st.just("seek"), st.tuples(st.integers(-9000, 0),
                                         st.just(2))),
    st.tuples(st.just("tell"), st.just(())),
    st.tuples(st.just("truncate"), st.tuples(st.integers(0, 9000))),
    st.tuples(st.just("flush"), st.just(())),
)


@pytest.mark.parametrize("mode", ["r+b", "a+b", "rb", "wb"])
@settings(max_examples=examples(40), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(buffering=st.sampled_from([0, 7, 4096, -1]),
       size=st.integers(0, 9000),
       ops=st.lists(OPS, min_size=1, max_size=30))
def test_gather_equals_sequential_stdlib(impl, runner, tmp_path_factory,
                                         mode, buffering, size, ops):
    """All ops started at once with gather() give exactly the results of
    applying them one after another to a stdlib file."""
    d = tmp_path_factory.mktemp("g")
    data = gen_bytes(size, size, 40)
    p_impl, p_twin = d / "impl.bin", d / "twin.bin"
    for p in (p_impl, p_twin):
        with open(p, "wb") as fh:
            fh.write(data)

    def arg(name, args):
        if name == "readinto":
            return (bytearray(args[0]),)
        return args

    # Steer clear of two CPython 3.11 BufferedRandom bugs, as
    # helpers.run_differential does: flush before a write that follows a
    # read in a+ mode, and stop at a failed seek in a buffered + mode.
    buffered_plus = buffering != 0 and "+" in mode
    twin = open(p_twin, mode, buffering=buffering)
    exp_bufs, exp, kept = [], [], []
    read_since_sync = False
    for name, args in ops:
        if (buffered_plus and "a" in mode and name == "write"
                and read_since_sync):
            kept.append(("flush", ()))
            exp_bufs.append(())
            exp.append(call_sync(twin.flush))
            read_since_sync = False
        a = arg(name, args)
        kept.append((name, args))
        exp_bufs.append(a)
        out = call_sync(getattr(twin, name), *a)
        exp.append(out)
        if name in READ_OPS:
            read_since_sync = True
        elif name in ("flush", "truncate"):  # a seek may keep the read-ahead
            read_since_sync = False
        if buffered_plus and name == "seek" and isinstance(out.exc, OSError):
            break
    twin.close()
    ops = kept

    async def go():
        ex = None if IS_C else concurrent.futures.ThreadPoolExecutor(1)
        kw = {} if IS_C else {"executor": ex}
        try:
            f = await impl.open(p_impl, mode, buffering=buffering, **kw)
            try:
                bufs = [arg(n, a) for n, a in ops]
                res = await asyncio.gather(
                    *(getattr(f, n)(*a) for (n, _), a in zip(ops, bufs)),
                    return_exceptions=True)
            finally:
                await f.close()
            return bufs, res
        finally:
            if ex is not None:
                ex.shutdown(wait=True)

    bufs, res = runner.run(go())
    for i, (op, r, e) in enumerate(zip(ops, res, exp)):
        act = Outcome(exc=r) if isinstance(r, BaseException) else \
            Outcome(value=r)
        assert_same_outcome(act, e, f"op #{i} {op}")
        if op[0] == "readinto":
            assert bufs[i] == exp_bufs[i], f"op #{i} {op}: buffer"
    assert _read(p_impl) == _read(p_twin)


@pytest.mark.asyncio
async def test_many_files_concurrently(impl, tmp_path):
    async def worker(i):
        p = tmp_path / f"f{i}.bin"
        payload = gen_bytes(50000 + i * 1000, i, 70)
        async with impl.open(p, "wb") as f:
            for j in range(0, len(payload), 4096):
                await f.write(payload[j:j + 4096])
        async with impl.open(p, "rb") as f:
            got = b"".join([line async for line in f])
        assert got == payload
        async with impl.open(p, "rb", buffering=0) as f:
            assert await f.readall() == payload
        return i

    assert await asyncio.gather(*(worker(i) for i in range(30))) == \
        list(range(30))


# ---------------------------------------------------------------------------
# awaitable protocol


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
async def test_methods_return_coroutines(impl, tmp_path, buffering):
    p = tmp_path / "f.bin"
    with open(p, "wb") as fh:
        fh.write(b"abc\ndef\n")
    f = await impl.open(p, "r+b", buffering=buffering)
    try:
        # (aiofiles_c starts an operation when the method is called; closing
        # the never-awaited object abandons it like a cancellation.  Only
        # ops without a lasting effect here, so both behaviours agree.)
        calls = [f.read(1), f.readinto(bytearray(1)), f.readline(),
                 f.readlines(), f.write(b""), f.writelines([]), f.seek(0),
                 f.tell(), f.flush(), f.isatty(), f.seekable(),
                 f.writable()]
        if buffering:
            calls += [f.read1(1), f.peek(1)]
        else:
            calls += [f.readall()]
        for c in calls:
            assert asyncio.iscoroutine(c), c
            c.close()
        t = f.truncate(4)
        assert asyncio.iscoroutine(t)
        assert await t == 4
        await f.seek(0)
        assert await f.read() == b"abc\n"
        c = f.close()
        assert asyncio.iscoroutine(c)
        await c
    finally:
        await f.close()


@pytest.mark.asyncio
async def test_awaitable_with_asyncio_helpers(impl, tmp_path):
    data = gen_bytes(5000, 3)
    p = tmp_path / "f.bin"
    with open(p, "wb") as fh:
        fh.write(data)
    f = await impl.open(p, "rb")
    try:
        t = asyncio.create_task(f.read(10))
        assert await t == data[:10]
        fut = asyncio.ensure_future(f.read(10))
        assert await fut == data[10:20]
        assert await asyncio.wait_for(f.read(10), timeout=10) == data[20:30]
        assert await asyncio.wait_for(f.tell(), 10) == 30
        a, b = await asyncio.gather(f.read(5), f.read(5))
        assert (a, b) == (data[30:35], data[35:40])
        done, pending = await asyncio.wait(
            [asyncio.ensure_future(f.seek(100))], timeout=10)
        assert not pending and done.pop().result() == 100
        if hasattr(asyncio, "timeout"):  # Python 3.11+
            async with asyncio.timeout(10):
                assert await f.read(3) == data[100:103]
        else:
            assert await f.read(3) == data[100:103]
        # shield works too
        assert await asyncio.shield(f.read(2)) == data[103:105]
    finally:
        await f.close()


# ---------------------------------------------------------------------------
# cancellation

CANCEL_POINTS = [0, 1, 2, 3, 4, 6, 10, 25, ("sleep", 0.0005),
                 ("sleep", 0.003)]


async def _advance(point):
    if isinstance(point, tuple):
        await asyncio.sleep(point[1])
    else:
        for _ in range(point):
            await asyncio.sleep(0)


async def _finish(task):
    try:
        return await task, False
    except asyncio.CancelledError:
        assert task.cancelled()
        return None, True


async def _check_consistent(f, data):
    pos = await f.tell()
    assert 0 <= pos <= len(data)
    chunk = await f.read(1000)
    assert chunk == data[pos:pos + 1000]
    assert await f.tell() == pos + len(chunk)
    return pos


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
@pytest.mark.parametrize("point", CANCEL_POINTS, ids=str)
async def test_cancel_big_read(impl, big_file, open_kw, buffering, point):
    path, data = big_file
    f = await impl.open(path, "rb", buffering=buffering, **open_kw)
    try:
        start = 1000
        await f.seek(start)
        task = asyncio.create_task(f.read(8 * MiB))
        await _advance(point)
        task.cancel()
        res, cancelled = await _finish(task)
        if not cancelled:
            assert res == data[start:start + 8 * MiB]
        pos = await _check_consistent(f, data)
        if IS_C:
            # A read cancelled while in flight consumes nothing; one that had
            # already completed when the cancellation reached its task is
            # consumed (its result was ready), never anything in between.
            allowed = {start, start + 8 * MiB} if cancelled else {start + 8 * MiB}
            assert pos in allowed, (cancelled, pos)
    finally:
        await f.close()
    assert f.closed


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
@pytest.mark.parametrize("point", [0, 1, 2, 3, 5], ids=str)
async def test_cancel_read_right_after_open(impl, big_file, open_kw,
                                            buffering, point):
    path, data = big_file
    f = await impl.open(path, "rb", buffering=buffering, **open_kw)
    try:
        task = asyncio.create_task(f.read(100))
        await _advance(point)
        task.cancel()
        res, cancelled = await _finish(task)
        if not cancelled:
            assert res == data[:100]
        pos = await _check_consistent(f, data)
        if IS_C:
            # cancelled in flight: nothing consumed; cancelled after it had
            # completed (result ready, not yet delivered): consumed.
            assert pos in ({0, 100} if cancelled else {100})
    finally:
        await f.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
@pytest.mark.parametrize("point", CANCEL_POINTS, ids=str)
async def test_cancel_big_readinto(impl, big_file, open_kw, buffering,
                                   point):
    path, data = big_file
    f = await impl.open(path, "rb", buffering=buffering, **open_kw)
    try:
        buf = bytearray(b"\x55" * (8 * MiB))
        task = asyncio.create_task(f.readinto(buf))
        await _advance(point)
        task.cancel()
        n, cancelled = await _finish(task)
        snapshot = bytes(buf)
        if not cancelled:
            assert n == 8 * MiB and buf == data[:8 * MiB]
        pos = await f.tell()
        await asyncio.sleep(0.01)
        if IS_C:
            # readinto delivers the cancellation only after the worker is
            # done with the buffer: once the task is done, nobody writes
            # into it any more
            assert bytes(buf) == snapshot
        else:
            # aiofiles: the executor job may still be filling the buffer
            # after the task was cancelled; with the FIFO executor it is
            # done once tell() returned
            snapshot = bytes(buf)
        # whatever the position says was consumed really landed in buf
        assert 0 <= pos <= 8 * MiB
        assert snapshot[:pos] == data[:pos]
        await _check_consistent(f, data)
    finally:
        await f.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
@pytest.mark.parametrize("point", CANCEL_POINTS, ids=str)
async def test_cancel_big_write(impl, tmp_path, open_kw, buffering, point):
    p = tmp_path / "w.bin"
    payload = gen_bytes(8 * MiB, 77)
    f = await impl.open(p, "wb", buffering=buffering, **open_kw)
    try:
        assert await f.write(b"HEAD") == 4
        task = asyncio.create_task(f.write(payload))
        await _advance(point)
        task.cancel()
        n, cancelled = await _finish(task)
        if not cancelled:
            assert n == len(payload)
        pos = await f.tell()
        assert pos in (4, 4 + len(payload))
        assert await f.write(b"TAIL") == 4
    finally:
        await f.close()
    on_disk = _read(p)
    assert on_disk in (b"HEADTAIL", b"HEAD" + payload + b"TAIL")
    assert on_disk == (b"HEADTAIL" if pos == 4 else
                       b"HEAD" + payload + b"TAIL")
    if IS_C:
        # aiofiles_c starts an operation when the method is called, so the
        # write is in flight (or done) whenever the cancel arrives: it takes
        # effect even though the task was cancelled
        assert on_disk == b"HEAD" + payload + b"TAIL"


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
@pytest.mark.parametrize("sleeps", [0, 2])
async def test_cancel_queued_read(impl, big_file, open_kw, buffering,
                                  sleeps):
    """t2 is queued behind a big read t1 and cancelled: if its task ends
    cancelled, it consumed nothing unless it had completed (aiofiles_c)."""
    path, data = big_file
    f = await impl.open(path, "rb", buffering=buffering, **open_kw)
    try:
        t1 = asyncio.create_task(f.read(8 * MiB))
        t2 = asyncio.create_task(f.read(10))
        t3 = asyncio.create_task(f.read(10))
        for _ in range(sleeps):
            await asyncio.sleep(0)
        t2.cancel()
        r1 = await t1
        r3 = await t3
        r2, cancelled2 = await _finish(t2)
        assert r1 == data[:8 * MiB]
        if sleeps == 0:
            assert cancelled2
        if not cancelled2:
            assert r2 == data[8 * MiB:8 * MiB + 10]
        if IS_C:
            # t2 cancelled before it started or in flight consumed nothing;
            # cancelled after it completed, its 10 bytes were consumed. Even
            # with sleeps=0 it may have completed first: operations start
            # when called, and t1's completion can be handled before t2's
            # first step.
            starts = [8 * MiB, 8 * MiB + 10] if cancelled2 else [8 * MiB + 10]
            assert any(r3 == data[s:s + 10] for s in starts), (
                f"t2 cancelled={cancelled2}: t3 did not read at {starts}")
            assert await f.tell() - 10 in starts
        await _check_consistent(f, data)
    finally:
        await f.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
@pytest.mark.parametrize("sleeps", [0, 2])
async def test_cancel_queued_write(impl, tmp_path, open_kw, buffering,
                                   sleeps):
    """A write queued behind a big write and cancelled: no effect if it had
    not started, the whole write if it had (on a loaded machine the big
    write can finish during the awaiting task's brief on-the-spot wait, and
    the queued one run, before the cancellation reaches its task; the next
    test pins the queued case down deterministically)."""
    p = tmp_path / "q.bin"
    big = gen_bytes(8 * MiB, 3)
    f = await impl.open(p, "wb", buffering=buffering, **open_kw)
    try:
        t1 = asyncio.create_task(f.write(big))
        t2 = asyncio.create_task(f.write(b"CANCELLED"))
        t3 = asyncio.create_task(f.write(b"END"))
        for _ in range(sleeps):
            await asyncio.sleep(0)
        t2.cancel()
        assert await t1 == len(big)
        assert await t3 == 3
        _, cancelled2 = await _finish(t2)
    finally:
        await f.close()
    on_disk = _read(p)
    assert on_disk in (big + b"END", big + b"CANCELLEDEND")
    if not cancelled2:
        assert on_disk == big + b"CANCELLEDEND"


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
@pytest.mark.parametrize("sleeps", [0, 2])
async def test_cancel_write_queued_behind_a_blocked_one(impl, open_kw,
                                                        buffering, sleeps):
    """The write ahead cannot finish (a full pipe nobody reads yet), so the
    one queued behind it is certainly still queued when cancelled: it has
    no effect, and the writes around it land in order."""
    r, w = os.pipe()
    big = gen_bytes(1 * MiB, 4)
    got = []

    def drain():
        chunks = []
        while True:
            b = os.read(r, 1 << 16)
            if not b:
                break
            chunks.append(b)
        got.append(b"".join(chunks))

    reader = threading.Thread(target=drain)
    f = await impl.open(w, "wb", buffering=buffering, **open_kw)
    try:
        t1 = asyncio.create_task(f.write(big))
        t2 = asyncio.create_task(f.write(b"CANCELLED"))
        t3 = asyncio.create_task(f.write(b"END"))
        for _ in range(sleeps):
            await asyncio.sleep(0)
        t2.cancel()
        # Only once the cancellation has reached t2 may the pipe drain.
        _, cancelled2 = await _finish(t2)
        assert cancelled2
        reader.start()
        assert await t1 == len(big)
        assert await t3 == 3
    finally:
        if not reader.is_alive() and not got:
            reader.start()
        await f.close()
        reader.join()
        os.close(r)
    assert got == [big + b"END"]


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
async def test_random_cancellation_storm(impl, big_file, open_kw, buffering):
    """60 reads of varying sizes in flight, every third one cancelled at a
    different moment.  Completed reads, in call order, must be consecutive
    slices, with only whole cancelled reads between them."""
    path, data = big_file
    f = await impl.open(path, "rb", buffering=buffering, **open_kw)
    try:
        sizes = [(i * 7919) % (300 * 1024) + 1 for i in range(60)]
        tasks = [asyncio.create_task(f.read(n)) for n in sizes]
        for i, t in enumerate(tasks):
            if i % 3 == 1:
                await asyncio.sleep(0)
                t.cancel()
        results = []
        for t in tasks:
            r, cancelled = await _finish(t)
            results.append(None if cancelled else r)
        pos = await f.tell()
        if IS_C:
            # Reads take effect in call order. A cancelled read consumed
            # nothing, or all of its bytes when it had already completed
            # before the cancellation reached its task.
            cursors = {0}
            for r, n in zip(results, sizes):
                if r is None:
                    cursors |= {c + n for c in cursors}
                else:
                    cursors = {c + len(r) for c in cursors
                               if data[c:c + len(r)] == r}
                    assert cursors, "a completed read returned torn data"
            assert pos in cursors
        else:
            for r, n in zip(results, sizes):
                if r is not None:
                    assert len(r) == n and r in data
        await _check_consistent(f, data)
    finally:
        await f.close()


@pytest.mark.asyncio
async def test_cancel_then_close_and_reopen(impl, big_file, open_kw):
    path, data = big_file
    for point in (0, 1, 2):
        f = await impl.open(path, "rb", buffering=0, **open_kw)
        task = asyncio.create_task(f.read(8 * MiB))
        await _advance(point)
        task.cancel()
        await _finish(task)
        await f.close()
        assert f.closed
    async with impl.open(path, "rb") as f:
        assert await f.read(10) == data[:10]


# ---------------------------------------------------------------------------
# iteration, readlines, writelines


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, 7, -1])
async def test_async_for_lines(impl, tmp_path, buffering):
    lines = [b"%d:" % i + b"y" * (i * 31 % 9000) + b"\n" for i in range(120)]
    lines.append(b"no newline at end")
    p = tmp_path / "f.bin"
    with open(p, "wb") as fh:
        fh.writelines(lines)
    f = await impl.open(p, "rb", buffering=buffering)
    try:
        got = []
        async for line in f:
            got.append(line)
        assert got == lines
        await f.seek(0)
        assert await f.readlines() == lines
        await f.seek(0)
        assert await f.readlines(1) == lines[:1]
        await f.seek(0)
        hint = len(lines[0]) + len(lines[1]) + 1
        assert await f.readlines(hint) == lines[:3]
        assert await f.readline() == lines[3]
    finally:
        await f.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, 7, -1])
async def test_writelines_generator(impl, tmp_path, buffering):
    p = tmp_path / "f.bin"
    consumed = []

    def gen():
        for i in range(500):
            consumed.append(i)
            yield b"%d," % i * (i % 5 + 1)

    f = await impl.open(p, "wb", buffering=buffering)
    try:
        assert await f.writelines(gen()) is None
        assert consumed == list(range(500))
        assert await f.writelines(iter([bytearray(b"ba"),
                                        memoryview(b"mv")])) is None
    finally:
        await f.close()
    expected = b"".join(b"%d," % i * (i % 5 + 1) for i in range(500))
    assert _read(p) == expected + b"bamv"


@pytest.mark.asyncio
async def test_writelines_generator_error_midway(impl, tmp_path):
    """An item of the wrong type stops writelines with the stdlib's error;
    the items before it were written."""
    items = [b"ok1", b"ok2", "bad", b"never"]
    p_impl, p_twin = tmp_path / "i.bin", tmp_path / "t.bin"
    twin = open(p_twin, "wb")
    exp = call_sync(twin.writelines, iter(items))
    twin.close()
    f = await impl.open(p_impl, "wb")
    act = await call_async(f.writelines, (x for x in items))
    await f.close()
    assert_same_outcome(act, exp, "writelines")
    assert _read(p_impl) == _read(p_twin) == b"ok1ok2"


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
async def test_cancelled_queued_op_has_no_effect(impl, buffering):
    """Deterministic: t1 blocks in a read of an empty pipe, so t2's read is
    certainly still queued behind it when t2 is cancelled; it must never
    run (the bytes it would have read go to the next read)."""
    if not IS_C:
        pytest.skip("call-order queueing is aiofiles_c's semantics")
    rfd, wfd = os.pipe()
    f = await impl.open(rfd, "rb", buffering=buffering)
    try:
        t1 = asyncio.create_task(f.read(3))
        t2 = asyncio.create_task(f.read(4))
        for _ in range(3):
            await asyncio.sleep(0)
        assert not t1.done() and not t2.done()
        t2.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t2
        os.write(wfd, b"abcdefgh")
        assert await t1 == b"abc"
        assert await f.read(4) == b"defg"
    finally:
        os.close(wfd)
        await f.close()
