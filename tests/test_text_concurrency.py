"""Native text files under concurrency: call order across tasks, the
coroutine protocol, cancellation while a refill is in the pool, fairness of
long runs answered from memory, and calls whose coroutine never runs."""
import asyncio
import collections.abc
import random

import pytest

from tests.helpers import IS_C, LoopTurns

pytestmark = pytest.mark.skipif(not IS_C, reason="aiofiles_c internals")


@pytest.fixture
def big_text(tmp_path):
    p = tmp_path / "big.txt"
    with open(p, "w", encoding="utf-8") as fh:
        for i in range(40000):
            fh.write(f"{i} ünïcode line {'x' * (i % 50)}\n")
    with open(p, encoding="utf-8") as fh:
        lines = fh.readlines()
    return p, lines


@pytest.fixture
def pool_reads(impl):
    """Files opened meanwhile refill through the pool only (no inline
    page-cache reads), so every refill is a real await."""
    impl._cext.set_inline_reads(False)
    yield
    impl._cext.set_inline_reads(True)


@pytest.mark.asyncio
async def test_coroutine_protocol(impl, big_text):
    p, lines = big_text
    async with impl.open(p, encoding="utf-8") as f:
        c = f.readline()
        assert asyncio.iscoroutine(c)
        assert isinstance(c, collections.abc.Coroutine)
        assert await asyncio.create_task(c) == lines[0]
        assert await asyncio.ensure_future(f.readline()) == lines[1]
        assert await asyncio.wait_for(f.readline(), 5) == lines[2]
        w = f.write("x")
        assert isinstance(w, collections.abc.Coroutine)
        with pytest.raises(Exception):
            await w  # not writable: the error comes when awaited, as io's
        with pytest.raises(RuntimeError, match="already awaited"):
            await w


@pytest.mark.asyncio
async def test_calls_take_effect_in_call_order(impl, big_text, pool_reads):
    p, lines = big_text
    async with impl.open(p, encoding="utf-8") as f:
        got = []
        for _ in range(50):
            batch = [f.readline() for _ in range(97)]
            got += await asyncio.gather(*batch)
        got += [line async for line in f]
    assert got == lines


@pytest.mark.asyncio
async def test_tasks_interleaving_reads_and_tells(impl, big_text, pool_reads):
    """Several tasks share one file: each call sees the file as io would
    after the calls made before it."""
    p, lines = big_text
    text = "".join(lines)
    async with impl.open(p, encoding="utf-8") as f:
        pieces = []

        async def reader(k):
            for i in range(200):
                if (i + k) % 3 == 0:
                    pieces.append(await f.read(k + 7))
                else:
                    pieces.append(await f.readline())

        await asyncio.gather(*(reader(k) for k in range(4)))
        rest = await f.read()
    # The calls ran one after another: what they returned, in the order
    # they returned it, is the file.
    assert "".join(pieces) + rest == text


@pytest.mark.asyncio
async def test_cancelled_reads_leave_a_working_file(impl, big_text,
                                                    pool_reads):
    p, lines = big_text
    rnd = random.Random(7)
    async with impl.open(p, encoding="utf-8") as f:
        seen = []
        for _ in range(60):
            t = asyncio.ensure_future(f.readline())
            for _ in range(rnd.randrange(3)):
                await asyncio.sleep(0)
            t.cancel()
            try:
                seen.append(await t)
            except asyncio.CancelledError:
                pass
        # Every line that came back is a whole line or the end of one, in
        # file order; the file goes on from a position tell() can name.
        text = "".join(lines)
        pos = 0
        for line in seen:
            idx = text.find(line, pos)
            assert idx >= 0 and line.endswith("\n")
            pos = idx + len(line)
        cookie = await f.tell()
        rest = await f.read()
        with open(p, encoding="utf-8") as twin:
            twin.seek(cookie)
            assert twin.read() == rest
        assert await f.seek(cookie) == cookie
        assert await f.read() == rest


@pytest.mark.asyncio
async def test_long_runs_let_other_tasks_run(impl, big_text):
    p, lines = big_text
    async with LoopTurns() as turns:
        start = turns.count
        async with impl.open(p, encoding="utf-8") as f:
            n = 0
            async for _ in f:
                n += 1
        turned = turns.count - start
    assert n == len(lines)
    # 40k lines take milliseconds; the loop got control many times.
    assert turned >= 3


@pytest.mark.asyncio
async def test_a_call_never_awaited_does_not_block_the_file(impl, big_text):
    if impl.backend != "native":
        pytest.skip("the first readline is answered on the spot only with "
                    "inline page-cache reads (native backend)")
    p, lines = big_text
    async with impl.open(p, "r+", encoding="utf-8") as f:
        c = f.tell()  # a Python-side call: a coroutine that never runs
        c.close()
        del c
        # Nothing waits for it: the next call is answered on the spot.
        d = f.readline()
        assert type(d) is impl._cext.Done
        assert await d == lines[0]
        c = f.readline(5)
        del c  # answered at the call (it consumed its 5 characters)
        assert await f.read(3) == lines[1][5:8]
        assert [line async for line in f] == [lines[1][8:]] + lines[2:]
        assert await f.write("end\n") == 4
        await f.flush()
    with open(p, encoding="utf-8") as fh:
        assert fh.readlines()[-1] == "end\n"
