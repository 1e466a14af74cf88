"""Text mode, for now run through the loop's executor exactly as aiofiles
runs it: an io.TextIOWrapper whose every call goes to a thread. (The native
text path, decoding over the C read buffer, is still to come.)"""
from __future__ import annotations

import asyncio
import functools
from concurrent.futures import Executor
from typing import Any


class AsyncTextIOWrapper:
    """The async version of io.TextIOWrapper (aiofiles' class of the same
    name): the same methods and properties, the I/O ones awaitable."""

    def __init__(self, file: Any, loop: asyncio.AbstractEventLoop | None,
                 executor: Executor | None) -> None:
        self._file = file
        self._ref_loop = loop
        self._executor = executor

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        return self._ref_loop or asyncio.get_running_loop()

    def __repr__(self) -> str:
        return super().__repr__() + " wrapping " + repr(self._file)

    def __aiter__(self) -> "AsyncTextIOWrapper":
        return self

    async def __anext__(self) -> str:
        line: str = await self.readline()
        if line:
            return line
        raise StopAsyncIteration

    # plain methods and properties, as aiofiles proxies them
    def detach(self) -> Any:
        return self._file.detach()

    def fileno(self) -> int:
        result: int = self._file.fileno()
        return result


def _delegate(name: str) -> Any:
    async def method(self: AsyncTextIOWrapper, *args: Any,
                     **kwargs: Any) -> Any:
        call = functools.partial(getattr(self._file, name), *args, **kwargs)
        return await self._loop.run_in_executor(self._executor, call)

    method.__name__ = method.__qualname__ = name
    return method


def _proxy(name: str) -> property:
    return property(lambda self: getattr(self._file, name))


for _name in ("close", "flush", "isatty", "read", "readable", "readline",
              "readlines", "seek", "seekable", "tell", "truncate", "write",
              "writable", "writelines"):
    setattr(AsyncTextIOWrapper, _name, _delegate(_name))
for _name in ("buffer", "closed", "encoding", "errors", "line_buffering",
              "newlines", "name", "mode"):
    setattr(AsyncTextIOWrapper, _name, _proxy(_name))
