import sys
from asyncio import AbstractEventLoop
from concurrent.futures import Executor
from typing import Any, AnyStr, Literal, overload

from _typeshed import (BytesPath, OpenBinaryMode, OpenBinaryModeReading,
                       OpenBinaryModeUpdating, OpenBinaryModeWriting,
                       OpenTextMode, StrPath)

from ..base import AiofilesContextManager
from ..threadpool.binary import (AsyncBufferedIOBase, AsyncBufferedReader,
                                 AsyncFileIO)
from ..threadpool.text import AsyncTextIOWrapper
from .temptypes import AsyncSpooledTemporaryFile, AsyncTemporaryDirectory

__all__ = ["NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile",
           "TemporaryDirectory"]

_Dir = StrPath | BytesPath | None
_Loop = AbstractEventLoop | None
_Ex = Executor | None

@overload
def TemporaryFile(mode: OpenTextMode, buffering: int = -1,
                  encoding: str | None = None, newline: str | None = None,
                  suffix: AnyStr | None = None, prefix: AnyStr | None = None,
                  dir: _Dir = None, loop: _Loop = None, executor: _Ex = None
                  ) -> AiofilesContextManager[AsyncTextIOWrapper]: ...
@overload
def TemporaryFile(mode: OpenBinaryMode, buffering: Literal[0],
                  encoding: None = None, newline: None = None,
                  suffix: AnyStr | None = None, prefix: AnyStr | None = None,
                  dir: _Dir = None, loop: _Loop = None, executor: _Ex = None
                  ) -> AiofilesContextManager[AsyncFileIO]: ...
@overload
def TemporaryFile(mode: OpenBinaryModeReading | OpenBinaryModeUpdating = "w+b",
                  buffering: Literal[-1, 1] = -1, encoding: None = None,
                  newline: None = None, suffix: AnyStr | None = None,
                  prefix: AnyStr | None = None, dir: _Dir = None,
                  loop: _Loop = None, executor: _Ex = None
                  ) -> AiofilesContextManager[AsyncBufferedReader]: ...
@overload
def TemporaryFile(mode: OpenBinaryModeWriting,
                  buffering: Literal[-1, 1] = -1, encoding: None = None,
                  newline: None = None, suffix: AnyStr | None = None,
                  prefix: AnyStr | None = None, dir: _Dir = None,
                  loop: _Loop = None, executor: _Ex = None
                  ) -> AiofilesContextManager[AsyncBufferedIOBase]: ...

if sys.version_info >= (3, 12):
    @overload
    def NamedTemporaryFile(
        mode: OpenTextMode, buffering: int = -1, encoding: str | None = None,
        newline: str | None = None, suffix: AnyStr | None = None,
        prefix: AnyStr | None = None, dir: _Dir = None, delete: bool = True,
        delete_on_close: bool = True, loop: _Loop = None,
        executor: _Ex = None
    ) -> AiofilesContextManager[AsyncTextIOWrapper]: ...
    @overload
    def NamedTemporaryFile(
        mode: OpenBinaryMode, buffering: Literal[0], encoding: None = None,
        newline: None = None, suffix: AnyStr | None = None,
        prefix: AnyStr | None = None, dir: _Dir = None, delete: bool = True,
        delete_on_close: bool = True, loop: _Loop = None,
        executor: _Ex = None
    ) -> AiofilesContextManager[AsyncFileIO]: ...
    @overload
    def NamedTemporaryFile(
        mode: OpenBinaryModeReading | OpenBinaryModeUpdating = "w+b",
        buffering: Literal[-1, 1] = -1, encoding: None = None,
        newline: None = None, suffix: AnyStr | None = None,
        prefix: AnyStr | None = None, dir: _Dir = None, delete: bool = True,
        delete_on_close: bool = True, loop: _Loop = None,
        executor: _Ex = None
    ) -> AiofilesContextManager[AsyncBufferedReader]: ...
    @overload
    def NamedTemporaryFile(
        mode: OpenBinaryModeWriting, buffering: Literal[-1, 1] = -1,
        encoding: None = None, newline: None = None,
        suffix: AnyStr | None = None, prefix: AnyStr | None = None,
        dir: _Dir = None, delete: bool = True, delete_on_close: bool = True,
        loop: _Loop = None, executor: _Ex = None
    ) -> AiofilesContextManager[AsyncBufferedIOBase]: ...
else:
    @overload
    def NamedTemporaryFile(
        mode: OpenTextMode, buffering: int = -1, encoding: str | None = None,
        newline: str | None = None, suffix: AnyStr | None = None,
        prefix: AnyStr | None = None, dir: _Dir = None, delete: bool = True,
        loop: _Loop = None, executor: _Ex = None
    ) -> AiofilesContextManager[AsyncTextIOWrapper]: ...
    @overload
    def NamedTemporaryFile(
        mode: OpenBinaryMode, buffering: Literal[0], encoding: None = None,
        newline: None = None, suffix: AnyStr | None = None,
        prefix: AnyStr | None = None, dir: _Dir = None, delete: bool = True,
        loop: _Loop = None, executor: _Ex = None
    ) -> AiofilesContextManager[AsyncFileIO]: ...
    @overload
    def NamedTemporaryFile(
        mode: OpenBinaryModeReading | OpenBinaryModeUpdating = "w+b",
        buffering: Literal[-1, 1] = -1, encoding: None = None,
        newline: None = None, suffix: AnyStr | None = None,
        prefix: AnyStr | None = None, dir: _Dir = None, delete: bool = True,
        loop: _Loop = None, executor: _Ex = None
    ) -> AiofilesContextManager[AsyncBufferedReader]: ...
    @overload
    def NamedTemporaryFile(
        mode: OpenBinaryModeWriting, buffering: Literal[-1, 1] = -1,
        encoding: None = None, newline: None = None,
        suffix: AnyStr | None = None, prefix: AnyStr | None = None,
        dir: _Dir = None, delete: bool = True, loop: _Loop = None,
        executor: _Ex = None
    ) -> AiofilesContextManager[AsyncBufferedIOBase]: ...

def SpooledTemporaryFile(
    max_size: int = 0, mode: str = "w+b", buffering: int = -1,
    encoding: str | None = None, newline: str | None = None,
    suffix: AnyStr | None = None, prefix: AnyStr | None = None,
    dir: _Dir = None, loop: _Loop = None, executor: _Ex = None
) -> AiofilesContextManager[AsyncSpooledTemporaryFile]: ...

def TemporaryDirectory(
    suffix: AnyStr | None = None, prefix: AnyStr | None = None,
    dir: _Dir = None, loop: _Loop = None, executor: _Ex = None
) -> AiofilesContextManagerTempDir: ...

class AiofilesContextManagerTempDir(
        AiofilesContextManager[AsyncTemporaryDirectory]):
    async def __aenter__(self) -> Any: ...
