"""Temporary files on the pure-Python backend, as aiofiles makes them:
tempfile's own function run in the executor, its file wrapped by the
executor-run classes of ``threadpool``. (SpooledTemporaryFile and
TemporaryDirectory are shared with the native backend.)"""
from __future__ import annotations

import asyncio
import sys
import tempfile as _tempfile
from asyncio import AbstractEventLoop
from concurrent.futures import Executor
from functools import partial
from typing import Any

from ..base import AiofilesContextManager
from ..threadpool import wrap
from ..threadpool.binary import (AsyncBufferedIOBase, AsyncBufferedReader,
                                 AsyncFileIO)
from ..threadpool.text import AsyncTextIOWrapper


def _wrap_temp(f: Any, mode: str, buffering: int, loop: AbstractEventLoop,
               executor: Executor | None) -> Any:
    """The async wrapper of what tempfile returned: a plain io object goes
    through wrap(); tempfile's named-file wrapper is classed by the mode."""
    if not isinstance(f, _tempfile._TemporaryFileWrapper):
        return wrap(f, loop=loop, executor=executor)
    cls: type
    if "b" not in mode:
        cls = AsyncTextIOWrapper
    elif buffering == 0:
        cls = AsyncFileIO
    elif "r" in mode or "+" in mode:
        cls = AsyncBufferedReader
    else:
        cls = AsyncBufferedIOBase
    return cls(f, loop=loop, executor=executor)


async def _make(factory: Any, mode: str, buffering: int,
                loop: AbstractEventLoop | None, executor: Executor | None,
                delete: Any = None) -> Any:
    if loop is None:
        loop = asyncio.get_running_loop()
    f = await loop.run_in_executor(executor, factory)
    af = _wrap_temp(f, mode, buffering, loop, executor)
    if delete is not None:
        af.delete = delete  # as the native backend has it on every Python
    return af


def TemporaryFile(mode: str = "w+b", buffering: int = -1,
                  encoding: str | None = None, newline: str | None = None,
                  suffix: Any = None, prefix: Any = None, dir: Any = None,
                  loop: AbstractEventLoop | None = None,
                  executor: Executor | None = None) -> Any:
    """Async open an unnamed temporary file (tempfile.TemporaryFile)."""
    return AiofilesContextManager(_make(partial(
        _tempfile.TemporaryFile, mode, buffering, encoding, newline, suffix,
        prefix, dir), mode, buffering, loop, executor))


if sys.version_info >= (3, 12):
    def NamedTemporaryFile(mode: str = "w+b", buffering: int = -1,
                           encoding: str | None = None,
                           newline: str | None = None, suffix: Any = None,
                           prefix: Any = None, dir: Any = None,
                           delete: bool = True, delete_on_close: bool = True,
                           loop: AbstractEventLoop | None = None,
                           executor: Executor | None = None) -> Any:
        """Async open a named temporary file (tempfile.NamedTemporaryFile)."""
        return AiofilesContextManager(_make(partial(
            _tempfile.NamedTemporaryFile, mode, buffering, encoding,
            newline, suffix, prefix, dir, delete,
            delete_on_close=delete_on_close), mode, buffering, loop,
            executor, delete))
else:
    def NamedTemporaryFile(mode: str = "w+b", buffering: int = -1,
                           encoding: str | None = None,
                           newline: str | None = None, suffix: Any = None,
                           prefix: Any = None, dir: Any = None,
                           delete: bool = True,
                           loop: AbstractEventLoop | None = None,
                           executor: Executor | None = None) -> Any:
        """Async open a named temporary file (tempfile.NamedTemporaryFile)."""
        return AiofilesContextManager(_make(partial(
            _tempfile.NamedTemporaryFile, mode, buffering, encoding,
            newline, suffix, prefix, dir, delete), mode, buffering, loop,
            executor, delete))
