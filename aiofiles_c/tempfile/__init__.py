"""``aiofiles.tempfile``: temporary files and directories.

The file is created in the executor, by the stdlib's own code (the same
names, flags and ``O_TMPFILE`` use), and then served by the native engine:

- ``TemporaryFile``: a native file on the descriptor of an unnamed file, as
  ``open(fd, mode)`` gives it (``name`` is the descriptor, as in tempfile).
- ``NamedTemporaryFile`` in a binary mode: a native file (a subclass of the
  native type) whose ``name`` is the path; ``close()`` closes the
  descriptor and then removes the file when ``delete`` is true, as
  tempfile's wrapper does, and so does collecting an unclosed one.
  A text mode puts the native text layer over that file.
- ``SpooledTemporaryFile``: tempfile's in-memory object until it rolls over;
  a binary one then continues on a native ``TemporaryFile``.
- ``TemporaryDirectory``: tempfile's object; ``cleanup()`` runs in the
  executor.
"""
from __future__ import annotations

import asyncio
import os
import sys
import tempfile as _tempfile
import threading
import weakref
from asyncio import AbstractEventLoop
from concurrent.futures import Executor
from functools import partial
from types import TracebackType
from typing import Any, Callable, TypeVar

from .._backend import NATIVE
from .._open import _fileio_mode, _open_flags, _text_over
from .._open import open as _aopen
from ..base import AiofilesContextManager
from .temptypes import AsyncSpooledTemporaryFile, AsyncTemporaryDirectory

__all__ = ["NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile",
           "TemporaryDirectory"]

_T = TypeVar("_T")

# tempfile's wrapper ignores a file already gone from 3.12 on.
_IGNORE_MISSING = sys.version_info >= (3, 12)


async def _create(loop: AbstractEventLoop, executor: Executor | None,
                  make: Callable[[], _T], discard: Callable[[_T], None]) -> _T:
    """Run ``make()`` in the executor; if the awaiting task is cancelled,
    ``discard`` what it made (now or when it finishes), so that no
    descriptor or file is left behind."""
    lock = threading.Lock()
    state: dict[str, Any] = {}

    def run() -> _T:
        made = make()
        with lock:
            if state.get("abandoned"):
                discard(made)
            else:
                state["made"] = made
        return made

    try:
        return await loop.run_in_executor(executor, run)
    except asyncio.CancelledError:
        with lock:
            state["abandoned"] = True
            made = state.pop("made", None)
        if made is not None:
            discard(made)
        raise


# ---- TemporaryFile ---------------------------------------------------------

def _unnamed_fd(suffix: Any, prefix: Any, dir: Any) -> int:
    # tempfile's own creation (O_TMPFILE where it works); the descriptor is
    # duplicated so that ours does not belong to tempfile's FileIO.
    with _tempfile.TemporaryFile("w+b", 0, suffix=suffix, prefix=prefix,
                                 dir=dir) as raw:
        return os.dup(raw.fileno())


async def _temporary_file(mode: str = "w+b", buffering: int = -1,
                          encoding: str | None = None,
                          newline: str | None = None, suffix: Any = None,
                          prefix: Any = None, dir: Any = None,
                          errors: str | None = None,
                          loop: AbstractEventLoop | None = None,
                          executor: Executor | None = None) -> Any:
    if loop is None:
        loop = asyncio.get_running_loop()
    fd = await _create(loop, executor,
                       partial(_unnamed_fd, suffix, prefix, dir), os.close)
    try:
        return await _aopen(fd, mode, buffering, encoding, errors, newline,
                            loop=loop, executor=executor)
    except BaseException:
        _close_quietly(fd)
        raise


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


# ---- NamedTemporaryFile ----------------------------------------------------

def _cleanup(fd: int, path: Any, delete: bool) -> None:
    """An unclosed named file was collected: close it and remove it, as
    tempfile's wrapper does (silently)."""
    _close_quietly(fd)
    if delete:
        try:
            os.unlink(path)
        except OSError:
            pass


class _Named:
    """What the native named temporary files add to the native type: the
    descriptor is ours (the native file has ``closefd=False``), closed after
    the native close has flushed, and the file removed after that."""

    delete: bool
    _tmp_fin: weakref.finalize  # type: ignore[type-arg]
    _tmp_delete_on_close: bool

    async def close(self) -> None:
        """Flush and close the file, then remove it if ``delete``."""
        native_close = super().close()  # type: ignore[misc]
        if not self._tmp_fin.alive:
            await native_close
            return
        # The clean-up runs in a task of its own, shielded: a cancelled
        # close() must not close the descriptor while the native close is
        # still flushing through it.
        await asyncio.shield(asyncio.ensure_future(
            self._tmp_close(native_close)))

    async def _tmp_close(self, native_close: Any) -> None:
        try:
            await native_close
        finally:
            info = self._tmp_fin.detach()
            if info is not None:
                fd, path, delete = info[2]
                os.close(fd)
                if delete and self._tmp_delete_on_close:
                    await _unlink(path)

    async def _tmp_exit(self) -> None:
        """Leaving ``async with``: close, and remove the file when
        ``delete`` even with ``delete_on_close=False`` (Python 3.12+)."""
        await self.close()
        if self.delete and not self._tmp_delete_on_close:
            await _unlink(self.name)  # type: ignore[attr-defined]


async def _unlink(path: Any) -> None:
    from .. import os as aos

    try:
        await aos.unlink(path)
    except FileNotFoundError:
        if not _IGNORE_MISSING:
            raise


if NATIVE:
    from .. import _cext
    from .._text import _NativeTextIOWrapper

    class _NamedFileIO(_Named, _cext.AsyncFileIO):
        """A named temporary file opened with ``buffering=0``."""

    class _NamedBufferedIOBase(_Named, _cext.AsyncBufferedIOBase):
        """A named temporary file opened write-only."""

    class _NamedBufferedReader(_Named, _cext.AsyncBufferedReader):
        """A named temporary file opened for reading (or reading and
        writing)."""


class _NamedContextManager(AiofilesContextManager[_T]):
    """``async with`` a named temporary file: leaving the block closes it
    and removes it when ``delete`` is true (also with
    ``delete_on_close=False``), as tempfile's ``__exit__`` does."""

    __slots__ = ()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc_val: BaseException | None,
                        exc_tb: TracebackType | None) -> None:
        obj, self._obj = self._obj, None
        if obj is None:
            return
        if isinstance(obj, _NativeTextIOWrapper):
            await obj.close()  # text first, then the named file under it
            obj = obj.buffer
        await obj._tmp_exit()


async def _named_file(mode: str, buffering: int, encoding: str | None,
                      newline: str | None, suffix: Any, prefix: Any, dir: Any,
                      delete: bool, delete_on_close: bool,
                      errors: str | None, loop: AbstractEventLoop | None,
                      executor: Executor | None) -> Any:
    if loop is None:
        loop = asyncio.get_running_loop()
    text = "b" not in mode
    line_buffering = text and buffering == 1
    fd, path = await _create(loop, executor, partial(
        _tempfile.mkstemp, suffix, prefix, dir),
        lambda made: _cleanup(made[0], made[1], True))
    try:
        # io.open's own checks, on the arguments as given.
        flags = _open_flags(fd, mode, buffering, encoding, errors, newline,
                            True)
        readable = "r" in mode or "+" in mode
        writable = "r" not in mode or "+" in mode
        if buffering == 1:
            buffering = -1
        cls: type[_Named]
        if buffering == 0:
            cls = _NamedFileIO
        elif readable:
            cls = _NamedBufferedReader
        else:
            cls = _NamedBufferedIOBase
        f = cls(path, _fileio_mode(mode), flags, readable,  # type: ignore
                writable, "a" in mode, False, buffering)
        f._tmp_fin = weakref.finalize(f, _cleanup, fd, path, delete)
        f._tmp_fin.atexit = False
        f._tmp_delete_on_close = delete_on_close
        f.delete = delete
    except BaseException:
        _cleanup(fd, path, True)
        raise
    try:
        await f._open(fd)  # type: ignore[attr-defined]
    except BaseException:
        f._tmp_fin()
        raise
    if not text:
        return f
    # Text: the native text layer over the named binary file, whose close()
    # removes the file.
    t = await _text_over(f, mode, buffering, encoding, errors, newline,
                         line_buffering)
    t.delete = delete
    return t


def TemporaryFile(mode: str = "w+b", buffering: int = -1,
                  encoding: str | None = None, newline: str | None = None,
                  suffix: Any = None, prefix: Any = None, dir: Any = None,
                  loop: AbstractEventLoop | None = None,
                  executor: Executor | None = None) -> Any:
    """Async open an unnamed temporary file (tempfile.TemporaryFile)."""
    return AiofilesContextManager(_temporary_file(
        mode, buffering, encoding, newline, suffix, prefix, dir, None, loop,
        executor))


if sys.version_info >= (3, 12):
    def NamedTemporaryFile(mode: str = "w+b", buffering: int = -1,
                           encoding: str | None = None,
                           newline: str | None = None, suffix: Any = None,
                           prefix: Any = None, dir: Any = None,
                           delete: bool = True, delete_on_close: bool = True,
                           loop: AbstractEventLoop | None = None,
                           executor: Executor | None = None) -> Any:
        """Async open a named temporary file (tempfile.NamedTemporaryFile)."""
        return _NamedContextManager(_named_file(
            mode, buffering, encoding, newline, suffix, prefix, dir, delete,
            delete_on_close, None, loop, executor))
else:
    def NamedTemporaryFile(mode: str = "w+b", buffering: int = -1,
                           encoding: str | None = None,
                           newline: str | None = None, suffix: Any = None,
                           prefix: Any = None, dir: Any = None,
                           delete: bool = True,
                           loop: AbstractEventLoop | None = None,
                           executor: Executor | None = None) -> Any:
        """Async open a named temporary file (tempfile.NamedTemporaryFile)."""
        return _NamedContextManager(_named_file(
            mode, buffering, encoding, newline, suffix, prefix, dir, delete,
            True, None, loop, executor))


def SpooledTemporaryFile(max_size: int = 0, mode: str = "w+b",
                         buffering: int = -1, encoding: str | None = None,
                         newline: str | None = None, suffix: Any = None,
                         prefix: Any = None, dir: Any = None,
                         loop: AbstractEventLoop | None = None,
                         executor: Executor | None = None) -> Any:
    """Async open a spooled temporary file (tempfile.SpooledTemporaryFile):
    in memory until it grows past ``max_size`` or ``fileno()`` is asked."""
    return AiofilesContextManager(_spooled_temporary_file(
        max_size, mode, buffering, encoding, newline, suffix, prefix, dir,
        loop, executor))


async def _spooled_temporary_file(max_size: int, mode: str, buffering: int,
                                  encoding: str | None, newline: str | None,
                                  suffix: Any, prefix: Any, dir: Any,
                                  loop: AbstractEventLoop | None,
                                  executor: Executor | None) -> Any:
    if loop is None:
        loop = asyncio.get_running_loop()
    # In memory: nothing blocks, no executor needed.
    f = _tempfile.SpooledTemporaryFile(max_size, mode, buffering, encoding,
                                       newline, suffix, prefix, dir)
    return AsyncSpooledTemporaryFile(f, loop=loop, executor=executor)


def TemporaryDirectory(suffix: Any = None, prefix: Any = None, dir: Any = None,
                       loop: AbstractEventLoop | None = None,
                       executor: Executor | None = None) -> Any:
    """Async create a temporary directory: ``async with`` gives its path,
    ``await`` an object with ``name`` and an async ``cleanup()``."""
    return AiofilesContextManagerTempDir(_temporary_directory(
        suffix=suffix, prefix=prefix, dir=dir, loop=loop, executor=executor))


async def _temporary_directory(suffix: Any = None, prefix: Any = None,
                               dir: Any = None,
                               loop: AbstractEventLoop | None = None,
                               executor: Executor | None = None
                               ) -> AsyncTemporaryDirectory:
    if loop is None:
        loop = asyncio.get_running_loop()
    f = await _create(loop, executor, partial(
        _tempfile.TemporaryDirectory, suffix, prefix, dir),
        lambda d: d.cleanup())
    return AsyncTemporaryDirectory(f, loop=loop, executor=executor)


class AiofilesContextManagerTempDir(
        AiofilesContextManager[AsyncTemporaryDirectory]):
    """``async with`` gives the directory's path (as tempfile's does)."""

    __slots__ = ()

    async def __aenter__(self) -> Any:  # type: ignore[override]
        self._obj = await self._coro
        return self._obj.name

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc_val: BaseException | None,
                        exc_tb: TracebackType | None) -> None:
        obj, self._obj = self._obj, None
        if obj is not None:
            await obj.cleanup()


if not NATIVE:
    # The pure-Python backend: aiofiles' way (tempfile in the executor).
    from ._pure import NamedTemporaryFile, TemporaryFile  # noqa: F401,F811
