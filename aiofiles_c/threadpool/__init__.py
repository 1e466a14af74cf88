"""``aiofiles.threadpool``: open(), wrap() and the stdio objects.

``open`` is ``aiofiles_c.open`` (native files). ``wrap(f)`` makes an async
file of an already-open stdlib file object; that object's position and
buffer are its own, so its methods run in the loop's executor, as aiofiles
runs them.

``sync_open`` is what aiofiles calls in the executor to open a file. While
it is the builtin ``open``, ``open()`` opens natively; once it is replaced
(``mock.patch("aiofiles.threadpool.sync_open", ...)``, aiofiles' mocking
recipe), ``open()`` calls the replacement in the executor and passes its
result to ``wrap()``, as aiofiles does, so ``wrap.register`` is honoured.
"""
from __future__ import annotations

import builtins
import sys
from asyncio import AbstractEventLoop
from concurrent.futures import Executor
from functools import singledispatch
from io import (BufferedIOBase, BufferedRandom, BufferedReader,
                BufferedWriter, FileIO, TextIOBase)
from typing import Any

from .. import _open as _open_module
from .._open import open
from .binary import (AsyncBufferedIOBase, AsyncBufferedReader, AsyncFileIO,
                     AsyncIndirectBufferedIOBase)
from .text import AsyncTextIndirectIOWrapper, AsyncTextIOWrapper

sync_open = builtins.open

__all__ = ("open", "stdin", "stdout", "stderr", "stdin_bytes",
           "stdout_bytes", "stderr_bytes")


@singledispatch
def wrap(file: Any, *, loop: AbstractEventLoop | None = None,
         executor: Executor | None = None) -> Any:
    """Make an async file of an open stdlib file object (TypeError for
    anything else)."""
    msg = f"Unsupported io type: {file}."
    raise TypeError(msg)


@wrap.register(TextIOBase)
def _(file: Any, *, loop: AbstractEventLoop | None = None,
      executor: Executor | None = None) -> Any:
    return AsyncTextIOWrapper(file, loop, executor)


@wrap.register(BufferedWriter)
@wrap.register(BufferedIOBase)
def _(file: Any, *, loop: AbstractEventLoop | None = None,
      executor: Executor | None = None) -> Any:
    return AsyncBufferedIOBase(file, loop=loop, executor=executor)


@wrap.register(BufferedReader)
@wrap.register(BufferedRandom)
def _(file: Any, *, loop: AbstractEventLoop | None = None,
      executor: Executor | None = None) -> Any:
    return AsyncBufferedReader(file, loop=loop, executor=executor)


@wrap.register(FileIO)
def _(file: Any, *, loop: AbstractEventLoop | None = None,
      executor: Executor | None = None) -> Any:
    return AsyncFileIO(file, loop=loop, executor=executor)


# open() looks at sync_open here at each call.
_open_module._threadpool = sys.modules[__name__]

# Looked up in sys at each use: replacing sys.stdout is seen.
stdin = AsyncTextIndirectIOWrapper("sys.stdin", None, None,
                                   indirect=lambda: sys.stdin)
stdout = AsyncTextIndirectIOWrapper("sys.stdout", None, None,
                                    indirect=lambda: sys.stdout)
stderr = AsyncTextIndirectIOWrapper("sys.stderr", None, None,
                                    indirect=lambda: sys.stderr)
stdin_bytes = AsyncIndirectBufferedIOBase(
    "sys.stdin.buffer", None, None, indirect=lambda: sys.stdin.buffer)
stdout_bytes = AsyncIndirectBufferedIOBase(
    "sys.stdout.buffer", None, None, indirect=lambda: sys.stdout.buffer)
stderr_bytes = AsyncIndirectBufferedIOBase(
    "sys.stderr.buffer", None, None, indirect=lambda: sys.stderr.buffer)
