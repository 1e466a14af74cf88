"""aiofiles_c's own tempfile guarantees, beyond the compatibility suite:
what runs natively, and that nothing is left behind by cancellation."""
from __future__ import annotations

import asyncio
import gc
import os

import pytest

from aiofiles_c import tempfile

pytestmark = pytest.mark.native
_cext = pytest.importorskip("aiofiles_c._cext",
                            reason="no extension: pure-Python backend")


def _fds() -> int:
    # Objects an earlier test dropped may still hold descriptors until the
    # collector runs: collect first, so only this test's count changes.
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def test_temporary_files_are_native(tmp_path):
    async def main():
        async with tempfile.TemporaryFile(dir=tmp_path) as f:
            assert isinstance(f, _cext.AsyncBufferedReader)
        async with tempfile.NamedTemporaryFile(dir=tmp_path) as f:
            assert isinstance(f, _cext.AsyncBufferedReader)
        async with tempfile.NamedTemporaryFile("wb", dir=tmp_path) as f:
            assert type(f).__mro__[2] is _cext.AsyncBufferedIOBase
        async with tempfile.NamedTemporaryFile(buffering=0,
                                               dir=tmp_path) as f:
            assert isinstance(f, _cext.AsyncFileIO)
        async with tempfile.SpooledTemporaryFile(max_size=1,
                                                 dir=tmp_path) as f:
            await f.write(b"ab")
            assert isinstance(f._native, _cext.AsyncBufferedReader)

    asyncio.run(main())


def test_no_descriptor_or_file_left_behind(tmp_path):
    # Earlier tests' garbage (loops and their eventfds) is collected first:
    # a collection during the loop below would close descriptors counted
    # in `before`.
    gc.collect()

    async def main():
        # see test_cancelled_while_creating: earlier loops' queues freed
        from aiofiles_c import os as aos
        await aos.listdir(tmp_path)
        gc.collect()
        before = _fds()
        for _ in range(200):
            async with tempfile.NamedTemporaryFile(dir=tmp_path) as f:
                await f.write(b"x" * 100)
            async with tempfile.TemporaryFile(dir=tmp_path) as f:
                await f.write(b"x")
            async with tempfile.SpooledTemporaryFile(max_size=10) as f:
                await f.write(b"x" * 20)
        assert _fds() == before
        assert os.listdir(tmp_path) == []

    asyncio.run(main())


def test_cancelled_while_creating(tmp_path):
    async def main():
        # a pool call first: its drain frees the completion queues of loops
        # that earlier tests closed (a cached stat, answered on the loop
        # thread, no longer does that for them)
        from aiofiles_c import os as aos
        await aos.listdir(tmp_path)
        gc.collect()
        before = _fds()
        for make in (tempfile.NamedTemporaryFile, tempfile.TemporaryFile,
                     tempfile.TemporaryDirectory):
            for _ in range(20):
                task = asyncio.ensure_future(make(dir=tmp_path).__aenter__())
                await asyncio.sleep(0)
                task.cancel()
                try:
                    f = await task
                except asyncio.CancelledError:
                    continue
                if hasattr(f, "close"):
                    await f.close()
                else:
                    os.rmdir(f)
        # jobs still in the executor discard what they made
        await asyncio.get_running_loop().run_in_executor(None, lambda: None)
        await asyncio.sleep(0.05)
        assert _fds() == before
        assert os.listdir(tmp_path) == []

    asyncio.run(main())


def test_cancelled_close_still_closes_and_removes(tmp_path):
    async def main():
        f = await tempfile.NamedTemporaryFile(dir=tmp_path)
        await f.write(b"x" * 100_000)
        task = asyncio.ensure_future(f.close())
        await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        for _ in range(100):
            if not os.listdir(tmp_path):
                break
            await asyncio.sleep(0.01)
        assert f.closed
        assert os.listdir(tmp_path) == []

    asyncio.run(main())


def test_unclosed_named_file_is_removed_silently(tmp_path):
    async def main():
        f = await tempfile.NamedTemporaryFile(dir=tmp_path)
        await f.write(b"pending")  # still in the buffer
        return f.name

    gc.collect()  # descriptors earlier tests left to the collector go now
    before = _fds()
    name = asyncio.run(main())
    gc.collect()
    assert not os.path.exists(name)
    assert _fds() == before

