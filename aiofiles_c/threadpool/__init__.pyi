import builtins
from asyncio import AbstractEventLoop
from collections.abc import Callable
from concurrent.futures import Executor
from io import (BufferedRandom, BufferedReader, BufferedWriter, FileIO,
                TextIOBase)
from typing import Any, Literal, overload

from _typeshed import (FileDescriptorOrPath, OpenBinaryMode,
                       OpenBinaryModeReading, OpenBinaryModeUpdating,
                       OpenBinaryModeWriting, OpenTextMode)

from ..base import AiofilesContextManager
from .binary import (AsyncBufferedIOBase, AsyncBufferedReader, AsyncFileIO,
                     AsyncIndirectBufferedIOBase)
from .text import AsyncTextIndirectIOWrapper, AsyncTextIOWrapper

__all__ = ("open", "stdin", "stdout", "stderr", "stdin_bytes",
           "stdout_bytes", "stderr_bytes")

_Opener = Callable[[str, int], int]

sync_open = builtins.open

@overload
def open(file: FileDescriptorOrPath, mode: OpenTextMode = "r",
         buffering: int = -1, encoding: str | None = None,
         errors: str | None = None, newline: str | None = None,
         closefd: bool = True, opener: _Opener | None = None, *,
         loop: AbstractEventLoop | None = None,
         executor: Executor | None = None
         ) -> AiofilesContextManager[AsyncTextIOWrapper]: ...
@overload
def open(file: FileDescriptorOrPath, mode: OpenBinaryMode,
         buffering: Literal[0], encoding: None = None, errors: None = None,
         newline: None = None, closefd: bool = True,
         opener: _Opener | None = None, *,
         loop: AbstractEventLoop | None = None,
         executor: Executor | None = None
         ) -> AiofilesContextManager[AsyncFileIO]: ...
@overload
def open(file: FileDescriptorOrPath,
         mode: OpenBinaryModeReading | OpenBinaryModeUpdating,
         buffering: Literal[-1, 1] = -1, encoding: None = None,
         errors: None = None, newline: None = None, closefd: bool = True,
         opener: _Opener | None = None, *,
         loop: AbstractEventLoop | None = None,
         executor: Executor | None = None
         ) -> AiofilesContextManager[AsyncBufferedReader]: ...
@overload
def open(file: FileDescriptorOrPath, mode: OpenBinaryModeWriting,
         buffering: Literal[-1, 1] = -1, encoding: None = None,
         errors: None = None, newline: None = None, closefd: bool = True,
         opener: _Opener | None = None, *,
         loop: AbstractEventLoop | None = None,
         executor: Executor | None = None
         ) -> AiofilesContextManager[AsyncBufferedIOBase]: ...
@overload
def open(file: FileDescriptorOrPath, mode: str, buffering: int = -1,
         encoding: str | None = None, errors: str | None = None,
         newline: str | None = None, closefd: bool = True,
         opener: _Opener | None = None, *,
         loop: AbstractEventLoop | None = None,
         executor: Executor | None = None
         ) -> AiofilesContextManager[Any]: ...

@overload
def wrap(file: TextIOBase, *, loop: AbstractEventLoop | None = None,
         executor: Executor | None = None) -> AsyncTextIOWrapper: ...
@overload
def wrap(file: BufferedReader | BufferedRandom, *,
         loop: AbstractEventLoop | None = None,
         executor: Executor | None = None) -> AsyncBufferedReader: ...
@overload
def wrap(file: BufferedWriter, *, loop: AbstractEventLoop | None = None,
         executor: Executor | None = None) -> AsyncBufferedIOBase: ...
@overload
def wrap(file: FileIO, *, loop: AbstractEventLoop | None = None,
         executor: Executor | None = None) -> AsyncFileIO: ...
@overload
def wrap(file: Any, *, loop: AbstractEventLoop | None = None,
         executor: Executor | None = None) -> Any: ...

stdin: AsyncTextIndirectIOWrapper
stdout: AsyncTextIndirectIOWrapper
stderr: AsyncTextIndirectIOWrapper
stdin_bytes: AsyncIndirectBufferedIOBase
stdout_bytes: AsyncIndirectBufferedIOBase
stderr_bytes: AsyncIndirectBufferedIOBase
