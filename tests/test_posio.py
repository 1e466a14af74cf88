"""Positional I/O on the native binary files: read_at, readinto_at,
write_at, read_many, write_many, against os.pread/os.pwrite.

The oracle is an unbuffered io.FileIO on a copy of the file: its writes
land at once, and os.pread/os.pwrite on its descriptor give what the
positional calls must give (they see the file's buffered writes first).
"""
from __future__ import annotations

import asyncio
import gc
import io
import os
import random
import time

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import aiofiles_c
from aiofiles_c import _cext
from tests.helpers import LoopTurns, examples

# Positional I/O is the native engine's (the pure-Python backend's files
# are aiofiles' executor-run objects, which have no read_at).
pytestmark = [pytest.mark.filterwarnings("error"), pytest.mark.native]


@pytest.fixture(params=["inline", "pool"])
def inline_mode(request):
    """Cached reads on the loop thread (RWF_NOWAIT) or all in the pool."""
    _cext.set_inline_reads(request.param == "inline")
    yield request.param
    _cext.set_inline_reads(True)


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except Exception as e:  # noqa: BLE001 - compared, not handled
        return ("exc", type(e), str(e))


async def aoutcome(aw):
    try:
        return ("ok", await aw)
    except Exception as e:  # noqa: BLE001
        return ("exc", type(e), str(e))


def done_at_once(op):
    """The value of an awaitable that finishes without suspending (no
    traceback kept: it would hold the file, and its loop's eventfd, in a
    cycle until a later collection)."""
    try:
        op.send(None)
    except StopIteration as e:
        return e.value
    op.close()
    raise AssertionError("the call suspended")


# ---- hand-written edges, each against os ----

@pytest.fixture
def datafile(tmp_path):
    p = tmp_path / "data.bin"
    p.write_bytes(bytes(range(256)) * 40)   # 10240 bytes
    return p


ARGS = [(0, 10), (10230, 100), (10240, 5), (1 << 40, 10), (5, 0),
        (2**63 - 1, 10), (2**63, 10), (-1, 10), (0, -1), (0, 2**63),
        (1.5, 2), ("1", 2), (None, 2), (0, 2.0), (True, 3)]


@pytest.mark.asyncio
@pytest.mark.parametrize("offset,n", ARGS)
async def test_read_at_like_pread(datafile, inline_mode, offset, n):
    fd = os.open(datafile, os.O_RDONLY)
    try:
        # os.pread(fd, n, offset) converts n first; compare cases where at
        # most one argument is refused, or both fail alike.
        want = outcome(os.pread, fd, n, offset)
    finally:
        os.close(fd)
    async with aiofiles_c.open(datafile, "rb") as f:
        got = await aoutcome(f.read_at(offset, n))
        assert await f.tell() == 0
    if want[0] == "exc" and want[1] is TypeError:
        assert got[0] == "exc" and got[1] is TypeError
    else:
        assert got == want


@pytest.mark.asyncio
@pytest.mark.parametrize("offset,data", [
    (0, b"abc"), (10240, b"tail"), (20000, b"gap"), (5, b""),
    (2**63 - 1, b"x"), (2**63, b"x"), (-1, b"x"), (-1, b""),
    (0, "text"), (0, 5), (0, memoryview(b"xyzw")[::2]),
    (3, bytearray(b"ba")), (7, memoryview(b"mv"))])
async def test_write_at_like_pwrite(tmp_path, datafile, offset, data):
    ref = tmp_path / "ref.bin"
    ref.write_bytes(datafile.read_bytes())
    fd = os.open(ref, os.O_RDWR)
    try:
        want = outcome(os.pwrite, fd, data, offset)
    finally:
        os.close(fd)
    async with aiofiles_c.open(datafile, "r+b") as f:
        got = await aoutcome(f.write_at(offset, data))
        assert await f.tell() == 0
    if want[0] == "exc" and want[1] is TypeError:
        assert got[0] == "exc" and got[1] is TypeError
    else:
        assert got == want
    assert datafile.read_bytes() == ref.read_bytes()


@pytest.mark.asyncio
async def test_readinto_at(datafile, inline_mode):
    async with aiofiles_c.open(datafile, "rb") as f:
        buf = bytearray(20)
        assert await f.readinto_at(10230, buf) == 10
        assert buf[:10] == datafile.read_bytes()[10230:]
        mv = memoryview(bytearray(8))
        assert await f.readinto_at(3, mv) == 8
        assert bytes(mv) == bytes(range(3, 11))
        assert await f.readinto_at(99999, bytearray(4)) == 0
        with pytest.raises(TypeError, match="read-write bytes-like"):
            await f.readinto_at(0, b"readonly")
        with pytest.raises(OSError) as e:
            await f.readinto_at(-1, bytearray(2))
        assert e.value.errno == 22


@pytest.mark.asyncio
async def test_many(datafile, inline_mode):
    content = datafile.read_bytes()
    async with aiofiles_c.open(datafile, "r+b") as f:
        ranges = [(0, 10), (10200, 100), (50000, 3), (7, 0), (100, 4096)]
        got = await f.read_many(ranges)
        assert got == [content[o:o + n] for o, n in ranges]
        assert await f.read_many([]) == []
        assert await f.read_many(iter([(1, 2)])) == [content[1:3]]
        assert await f.write_many([(0, b"AB"), (10240, b"END"),
                                   (5, bytearray(b"c"))]) == [2, 3, 1]
        assert await f.write_many([]) == []
        with pytest.raises(OSError) as e:
            await f.read_many([(0, 1), (-5, 1)])
        assert e.value.errno == 22
        with pytest.raises(TypeError):
            await f.read_many([(0, 1, 2)])
        with pytest.raises(TypeError):
            await f.read_many(5)
        with pytest.raises(TypeError):
            await f.write_many([(0, "str")])
        with pytest.raises(OverflowError):
            await f.write_many([(2**63, b"x")])
        assert await f.tell() == 0
    new = bytearray(content)
    new[0:2] = b"AB"
    new[5:6] = b"c"
    new += b"END"
    assert datafile.read_bytes() == bytes(new)


@pytest.mark.asyncio
@pytest.mark.parametrize("mode,buffering", [("rb", -1), ("rb", 0)])
async def test_not_writable(datafile, mode, buffering):
    async with aiofiles_c.open(datafile, mode, buffering) as f:
        for call in (f.write_at(0, b"x"), f.write_many([(0, b"x")])):
            with pytest.raises(io.UnsupportedOperation,
                               match="not open for writing"):
                await call
    assert datafile.read_bytes()[:1] == b"\x00"


@pytest.mark.asyncio
@pytest.mark.parametrize("mode,buffering", [("wb", -1), ("ab", -1),
                                            ("wb", 0)])
async def test_not_readable(tmp_path, mode, buffering):
    async with aiofiles_c.open(tmp_path / "w", mode, buffering) as f:
        for call in (f.read_at(0, 1), f.readinto_at(0, bytearray(1)),
                     f.read_many([(0, 1)])):
            with pytest.raises(io.UnsupportedOperation,
                               match="not open for reading"):
                await call
        assert await f.write_at(0, b"ok") == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [-1, 0])
async def test_closed(datafile, buffering):
    f = await aiofiles_c.open(datafile, "r+b", buffering)
    await f.close()
    for call in (f.read_at(0, 1), f.write_at(0, b"x"),
                 f.readinto_at(0, bytearray(1)), f.read_many([]),
                 f.write_many([])):
        with pytest.raises(ValueError, match="closed file"):
            await call


@pytest.mark.asyncio
async def test_text_files_do_not_offer_it(datafile):
    async with aiofiles_c.open(datafile, "r", encoding="latin-1") as f:
        for name in ("read_at", "readinto_at", "write_at", "read_many",
                     "write_many"):
            assert not hasattr(f, name)


@pytest.mark.asyncio
async def test_bad_arity_raises_when_awaited(datafile):
    async with aiofiles_c.open(datafile, "rb") as f:
        aw = f.read_at(0)
        with pytest.raises(TypeError, match="exactly 2 arguments"):
            await aw
        with pytest.raises(TypeError, match="exactly 1 argument"):
            await f.read_many()


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [-1, 0])
async def test_bad_arguments_as_os_pread_and_pwrite(datafile, buffering):
    """Offsets and lengths are refused as os.pread/os.pwrite refuse them
    (same exception type, same words), in read_at, readinto_at, write_at
    and in each pair of read_many/write_many."""
    def outcome(fn, *args):
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001
            return type(e), str(e)
        return None

    async def outcome_async(aw):
        try:
            await aw
        except Exception as e:  # noqa: BLE001
            return type(e), str(e)
        return None

    fd = os.open(datafile, os.O_RDWR)
    try:
        async with aiofiles_c.open(datafile, "r+b", buffering) as f:
            for n in (-1, -(2 ** 63), 2 ** 63, "x", 1.5, None):
                want = outcome(os.pread, fd, n, 0)
                assert want is not None
                assert await outcome_async(f.read_at(0, n)) == want, n
                assert await outcome_async(f.read_many([(0, n)])) == want, n
            for off in (2 ** 63, -(2 ** 63) - 1, "x", 1.5, None):
                want = outcome(os.pread, fd, 1, off)
                assert await outcome_async(f.read_at(off, 1)) == want, off
                assert await outcome_async(
                    f.readinto_at(off, bytearray(1))) == want, off
                want = outcome(os.pwrite, fd, b"x", off)
                assert await outcome_async(f.write_at(off, b"x")) == want, off
                assert await outcome_async(
                    f.write_many([(off, b"x")])) == want, off
            # the counts: the words of a METH_VARARGS method
            assert await outcome_async(f.read_at(0, 1, 2)) == (
                TypeError, "read_at() takes exactly 2 arguments (3 given)")
            assert await outcome_async(f.write_at()) == (
                TypeError, "write_at() takes exactly 2 arguments (0 given)")
            assert await outcome_async(f.write_many([], [])) == (
                TypeError, "write_many() takes exactly 1 argument (2 given)")
    finally:
        os.close(fd)


# ---- the buffered writes land first; the position is never touched ----

@pytest.mark.asyncio
async def test_sees_buffered_writes(tmp_path, inline_mode):
    p = tmp_path / "f"
    p.write_bytes(b"0123456789")
    async with aiofiles_c.open(p, "r+b") as f:
        await f.seek(2)
        await f.write(b"ab")            # buffered
        assert p.read_bytes() == b"0123456789"
        assert await f.read_at(0, 10) == b"01ab456789"
        await f.write(b"cd")            # buffered, at 4
        assert await f.write_at(5, b"Z") == 1   # lands after "cd"
        assert await f.tell() == 6
        assert await f.read(2) == b"67"
        await f.seek(0)
        assert await f.read() == b"01abcZ6789"


@pytest.mark.asyncio
async def test_write_at_seen_by_later_buffered_reads(tmp_path, inline_mode):
    p = tmp_path / "f"
    p.write_bytes(b"a" * 100)
    async with aiofiles_c.open(p, "r+b") as f:
        assert await f.read(10) == b"a" * 10     # read-ahead holds the rest
        await f.write_at(20, b"XYZ")
        assert await f.read(15) == b"a" * 10 + b"XYZ" + b"aa"


@pytest.mark.asyncio
async def test_many_in_flight_with_other_calls(tmp_path, inline_mode):
    size = 1 << 20
    data = random.Random(5).randbytes(size)
    p = tmp_path / "big"
    p.write_bytes(data)
    rnd = random.Random(7)
    async with aiofiles_c.open(p, "rb") as f:
        async def sequential():
            chunks = []
            while chunk := await f.read(65536):
                chunks.append(chunk)
            return b"".join(chunks)

        offs = [rnd.randrange(size) for _ in range(256)]
        results = await asyncio.gather(
            sequential(), *[f.read_at(o, 4096) for o in offs])
        assert results[0] == data
        for o, r in zip(offs, results[1:]):
            assert r == data[o:o + 4096]
        assert await f.tell() == size


@pytest.mark.asyncio
@pytest.mark.skipif(aiofiles_c.backend == "portable",
                    reason="the portable build has no RWF_NOWAIT: by design "
                    "every positional read goes to the pool (it completes "
                    "without suspending only when a short spin catches it, "
                    "and spinning is off on a loaded machine)")
async def test_cached_read_needs_no_suspension(datafile):
    async with aiofiles_c.open(datafile, "rb") as f:
        await f.read_at(0, 4096)          # pages cached for sure
        assert done_at_once(f.read_at(100, 50)) == \
            datafile.read_bytes()[100:150]


@pytest.mark.asyncio
async def test_close_while_in_flight(tmp_path):
    p = tmp_path / "f"
    data = os.urandom(1 << 20)
    p.write_bytes(data)
    _cext.set_inline_reads(False)
    try:
        f = await aiofiles_c.open(p, "rb")
        ops = [asyncio.ensure_future(f.read_at(i * 4096, 4096))
               for i in range(64)]
        await asyncio.sleep(0)
        await f.close()
        res = await asyncio.gather(*ops)
    finally:
        _cext.set_inline_reads(True)
    assert res == [data[i * 4096:(i + 1) * 4096] for i in range(64)]


@pytest.mark.asyncio
@pytest.mark.parametrize("delay", [0, 1, 2])
async def test_cancel_readinto_at_waits_for_the_worker(tmp_path, delay):
    size = 8 << 20
    data = random.Random(3).randbytes(size)
    p = tmp_path / "f"
    p.write_bytes(data)
    _cext.set_inline_reads(False)
    try:
        async with aiofiles_c.open(p, "rb") as f:
            buf = bytearray(size)
            t = asyncio.ensure_future(f.readinto_at(0, buf))
            for _ in range(delay):
                await asyncio.sleep(0)
            t.cancel()
            try:
                assert await t == size
            except asyncio.CancelledError:
                pass
            # Cancelled or not, the task ended only after the worker was
            # done with buf: it is complete, and stays as it is.
            assert buf == data
            await asyncio.sleep(0.01)
            assert buf == data
    finally:
        _cext.set_inline_reads(True)


@pytest.mark.asyncio
async def test_coroutine_uses(datafile):
    async with aiofiles_c.open(datafile, "rb") as f:
        t = asyncio.create_task(f.read_at(0, 3))
        assert await t == b"\x00\x01\x02"
        assert await asyncio.wait_for(f.read_at(1, 1), 5) == b"\x01"
        op = f.read_at(0, 1)
        assert asyncio.iscoroutine(op)
        assert await op == b"\x00"


# ---- random sequences against the FileIO + os.pread/os.pwrite oracle ----

_op = st.one_of(
    st.tuples(st.just("read_at"), st.integers(-2, 5000),
              st.integers(0, 3000)),
    st.tuples(st.just("write_at"), st.integers(0, 5000),
              st.binary(max_size=300)),
    st.tuples(st.just("read_many"),
              st.lists(st.tuples(st.integers(0, 5000),
                                 st.integers(0, 700)), max_size=4)),
    st.tuples(st.just("write_many"),
              st.lists(st.tuples(st.integers(0, 5000),
                                 st.binary(max_size=100)), max_size=4)),
    st.tuples(st.just("readinto_at"), st.integers(0, 5000),
              st.integers(0, 700)),
    st.tuples(st.just("write"), st.binary(max_size=200)),
    st.tuples(st.just("read"), st.integers(-1, 300)),
    st.tuples(st.just("seek"), st.integers(0, 5000)),
    st.tuples(st.just("flush")),
)


def _ref_apply(ref, op):
    fd = ref.fileno()
    name = op[0]
    if name == "read_at":
        return outcome(os.pread, fd, op[2], op[1])
    if name == "write_at":
        return outcome(os.pwrite, fd, op[2], op[1])
    if name == "read_many":
        return outcome(lambda: [os.pread(fd, n, o) for o, n in op[1]])
    if name == "write_many":
        return outcome(lambda: [os.pwrite(fd, d, o) for o, d in op[1]])
    if name == "readinto_at":
        buf = bytearray(op[2])
        r = outcome(os.preadv, fd, [buf], op[1])
        return (r, bytes(buf))
    if name == "write":
        return outcome(ref.write, op[1])
    if name == "read":
        return outcome(ref.read, op[1])
    if name == "seek":
        return outcome(ref.seek, op[1])
    return ("ok", None)


async def _apply(f, op):
    name = op[0]
    if name == "readinto_at":
        buf = bytearray(op[2])
        r = await aoutcome(f.readinto_at(op[1], buf))
        return (r, bytes(buf))
    if name in ("read_at", "write_at"):
        return await aoutcome(getattr(f, name)(op[1], op[2]))
    if name in ("read_many", "write_many"):
        return await aoutcome(getattr(f, name)(op[1]))
    if name == "write":
        return await aoutcome(f.write(op[1]))
    if name == "read":
        return await aoutcome(f.read(op[1]))
    if name == "seek":
        return await aoutcome(f.seek(op[1]))
    return await aoutcome(f.flush())


@settings(max_examples=examples(60), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_op, max_size=25),
       initial=st.binary(max_size=3000),
       buffering=st.sampled_from([-1, 0, 64]))
def test_random_against_os(tmp_path_factory, runner, ops, initial,
                           buffering):
    d = tmp_path_factory.mktemp("posio")
    mine, ref_path = d / "mine", d / "ref"
    mine.write_bytes(initial)
    ref_path.write_bytes(initial)

    async def run():
        got = []
        async with aiofiles_c.open(mine, "r+b", buffering) as f:
            for op in ops:
                got.append(await _apply(f, op))
            got.append(await f.tell())
        return got

    with io.FileIO(ref_path, "r+") as ref:
        want = [_ref_apply(ref, op) for op in ops] + [ref.tell()]
    got = runner.run(run())
    assert got == want
    assert mine.read_bytes() == ref_path.read_bytes()


# ---- fairness: cached positional reads do not starve the loop ----

@pytest.mark.asyncio
async def test_many_readers_let_the_loop_run(tmp_path):
    size = 4 << 20
    p = tmp_path / "f"
    p.write_bytes(os.urandom(size))
    rnd = random.Random(11)
    async with aiofiles_c.open(p, "rb") as f:
        await f.read_at(0, 1)
        while await f.read(1 << 20):   # cache it
            pass
        offs = [rnd.randrange(size - 4096) for _ in range(64 * 600)]

        async def reader(share):
            for o in share:
                await f.read_at(o, 4096)

        # The loop thread's CPU time, not the wall clock's: on a loaded
        # machine the thread waits for a CPU between iterations, which
        # says nothing about how much work one iteration does.
        async with LoopTurns() as turns:
            start = time.thread_time()
            await asyncio.gather(*[reader(offs[i::64]) for i in range(64)])
            took = time.thread_time() - start
        ticks = turns.count
    # Without a shared budget each of the 64 tasks would take a 0.5 ms
    # slice per loop iteration (32 ms of work between two ticks).
    assert ticks >= took / 0.004, (ticks, took)


def test_budget_survives_a_stopped_loop(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"z" * 65536)

    async def opened():
        return await aiofiles_c.open(p, "rb")

    # Opened on a loop of its own: the loop below never uses the pool.
    f = asyncio.run(opened())

    async def spend():
        asyncio.get_running_loop().stop()  # after this iteration
        ops = [f.read_at(0, 4096) for _ in range(20000)]  # never yields
        for op in ops:
            op.close()

    # The loop stops before it runs the callback that would reopen the
    # budget.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(spend())
    finally:
        loop.close()
        f.detach().close()
    del loop, f
    gc.collect()
    time.sleep(0.03)

    async def later():
        async with aiofiles_c.open(p, "rb") as f:
            await f.read_at(0, 1)
            assert done_at_once(f.read_at(0, 4)) == b"zzzz"

    asyncio.run(later())
