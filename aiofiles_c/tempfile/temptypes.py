"""The spooled temporary file and the temporary directory objects."""
from __future__ import annotations

import asyncio
import sys
from asyncio import AbstractEventLoop
from concurrent.futures import Executor
from typing import Any, Callable

from .._backend import NATIVE
from .._open import _closing_on_failure
from ..base import AsyncBase
from ..threadpool.utils import run_in_turn

__all__ = ["AsyncSpooledTemporaryFile", "AsyncTemporaryDirectory"]


class AsyncSpooledTemporaryFile(AsyncBase):
    """Async version of tempfile.SpooledTemporaryFile.

    ``_file`` is tempfile's own object. Until it rolls over, every call is
    answered in memory on the loop thread. Then it rolls over onto a
    native ``TemporaryFile`` (``_file._rolled`` becomes true, as in
    tempfile), binary or text; calls go to that file from then on.
    """

    # After rollover tempfile's __exit__ would call the native file's
    # close() without awaiting it: ours closes through close().
    _exit_in_executor = False

    def __init__(self, file: Any, loop: AbstractEventLoop | None,
                 executor: Executor | None) -> None:
        super().__init__(file, loop, executor)
        self._native: Any = None
        # While a rollover copies the data (it awaits), other calls wait
        # for it: a write to the memory file meanwhile would be lost, a
        # second rollover would copy twice.
        self._rolling: asyncio.Future[None] | None = None

    async def _wait_rollover(self) -> None:
        r = self._rolling
        if r is None:
            return
        if r.get_loop() is not asyncio.get_running_loop():
            raise RuntimeError(
                f"{self!r} is rolling over to disk in another event loop; "
                "wait for that before using it from this one")
        await asyncio.shield(r)

    async def _check(self) -> None:
        if self._file._rolled:
            return
        max_size = self._file._max_size
        if max_size and self._file._file.tell() > max_size:
            await self.rollover()

    async def rollover(self) -> None:
        """Move the data to a file on disk (tempfile's rollover())."""
        await self._wait_rollover()
        if self._file._rolled:
            return
        self._rolling = asyncio.get_running_loop().create_future()
        try:
            await self._rollover()
        finally:
            self._rolling.set_result(None)
            self._rolling = None

    async def _rollover(self) -> None:
        f = self._file
        if not NATIVE:
            # Pure-Python backend: tempfile's own rollover, in the executor.
            await self._run(f.rollover)
            return
        from . import _temporary_file

        args = f._TemporaryFileArgs
        newfile = await _temporary_file(loop=asyncio.get_running_loop(),
                                        executor=self._executor, **args)
        mem = f._file

        async def copy() -> None:
            # As tempfile's rollover(): the bytes, then the position (a
            # text file's tell() cookie), on the new file.
            pos = mem.tell()
            if "b" in args["mode"]:
                await newfile.write(mem.getvalue())
            else:
                mem.flush()
                await newfile.buffer.write(mem.buffer.getvalue())
            await newfile.seek(pos, 0)

        await _closing_on_failure(copy(), newfile)
        self._native = newfile
        f._rolled = True
        del f._TemporaryFileArgs
        mem.close()
        # As in aiofiles, f._file._file is the file on disk from now on
        # (the native file; tempfile's object is not called any more).
        f._file = newfile

    async def fileno(self) -> int:
        """Roll over and return the file descriptor."""
        await self.rollover()
        if self._native is not None:
            result: int = self._native.fileno()
            return result
        return await self._run(self._file.fileno)

    async def _run(self, fn: Callable[..., Any], *args: Any,
                   **kwargs: Any) -> Any:
        return await run_in_turn(self, fn, *args, **kwargs)

    async def write(self, s: Any) -> int:
        """Write, rolling over once past ``max_size``."""
        await self._wait_rollover()
        if self._native is not None:
            return await self._native.write(s)  # type: ignore[no-any-return]
        if self._file._rolled:
            return await self._run(self._file.write, s)  # type: ignore
        rv: int = self._file._file.write(s)
        await self._check()
        return rv

    async def writelines(self, iterable: Any) -> None:
        """Write the lines, rolling over once past ``max_size``."""
        await self._wait_rollover()
        if self._native is not None:
            return await self._native.writelines(iterable)  # type: ignore
        if self._file._rolled:
            return await self._run(self._file.writelines, iterable)  # type: ignore
        self._file._file.writelines(iterable)
        await self._check()

    async def truncate(self, size: int | None = None) -> int:
        """Resize; a size past ``max_size`` rolls over first."""
        await self._wait_rollover()
        f = self._file
        if (self._native is None and not f._rolled and size is not None
                and size > f._max_size):
            await self.rollover()
        if self._native is not None:
            size = await self._native.truncate(size)
            # tempfile's truncate returns None before Python 3.11.
            return None if sys.version_info < (3, 11) else size  # type: ignore
        if f._rolled:
            return await self._run(f.truncate, size)  # type: ignore
        return f.truncate(size)  # type: ignore[no-any-return]


def _spooled_method(name: str) -> Callable[..., Any]:
    async def method(self: AsyncSpooledTemporaryFile, *args: Any,
                     **kwargs: Any) -> Any:
        await self._wait_rollover()
        if self._native is not None:
            return await getattr(self._native, name)(*args, **kwargs)
        if self._file._rolled:
            return await self._run(getattr(self._file, name), *args,
                                   **kwargs)
        return getattr(self._file, name)(*args, **kwargs)

    method.__name__ = name
    return method


def _spooled_property(name: str) -> property:
    def get(self: AsyncSpooledTemporaryFile) -> Any:
        if self._native is not None:
            return getattr(self._native, name)
        return getattr(self._file, name)

    return property(get)


for _name in ("close", "flush", "isatty", "read", "readline", "readlines",
              "seek", "tell"):
    setattr(AsyncSpooledTemporaryFile, _name, _spooled_method(_name))
for _name in ("closed", "encoding", "mode", "name", "newlines"):
    setattr(AsyncSpooledTemporaryFile, _name, _spooled_property(_name))
del _name


class AsyncTemporaryDirectory:
    """Async version of tempfile.TemporaryDirectory."""

    def __init__(self, file: Any, loop: AbstractEventLoop,
                 executor: Executor | None) -> None:
        self._file = file
        self._loop = loop
        self._executor = executor

    @property
    def name(self) -> Any:
        """The directory's path."""
        return self._file.name

    async def cleanup(self) -> None:
        """Remove the directory and everything in it."""
        await self._loop.run_in_executor(self._executor, self._file.cleanup)

    async def close(self) -> None:
        """The same as cleanup()."""
        await self.cleanup()
