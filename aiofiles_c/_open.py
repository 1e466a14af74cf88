"""open(): argument handling, done exactly as io.open does it."""
from __future__ import annotations

import asyncio
import builtins
import functools
import io
import os
import pathlib
import sys
import warnings
from concurrent.futures import Executor
from collections.abc import Awaitable
from typing import Any, Callable, TypeVar, Union

from ._backend import NATIVE
from .base import AiofilesContextManager

if NATIVE:
    from . import _cext
    from ._text import _NativeTextIOWrapper

_T = TypeVar("_T")
# aiofiles_c.threadpool, set when it is imported: open() consults its
# sync_open (see _aiofiles_route).
_threadpool: Any = None
_FileT = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]", int]


class _Captured(Exception):
    """Raised by the capturing opener to stop io.open after validation."""

    def __init__(self, flags: int) -> None:
        self.flags = flags


def _capture(path: Any, flags: int) -> int:
    raise _Captured(flags)


def _open_flags(file: Any, mode: Any, buffering: Any, encoding: Any,
                errors: Any, newline: Any, closefd: Any) -> int:
    """Validate the arguments with io.open itself and get its open flags.

    io.open checks every argument, computes the flags and calls the opener
    before doing any I/O: an opener that raises gives us the flags with the
    very exceptions and warnings the stdlib produces.
    """
    if isinstance(file, int):
        return _fd_open_flags(mode, buffering, encoding, errors, newline)
    if (type(file) is str and type(buffering) is int and buffering == -1 and
            encoding is None and errors is None and newline is None and
            closefd is True):
        common = _COMMON_MODES.get(mode)
        # An ASCII path with no NUL passes every check io makes on it.
        if common is not None and file.isascii() and "\0" not in file:
            sys.audit("open", file, common[0], common[1])
            return common[1]
    try:
        io.open(file, mode, buffering, encoding, errors, newline, closefd,
                opener=_capture)
    except _Captured as c:
        return c.flags
    raise AssertionError("io.open did not call the opener")  # pragma: no cover


def _fd_open_flags(mode: Any, buffering: Any, encoding: Any, errors: Any,
                   newline: Any) -> int:
    """The flags io.open computes for a descriptor, its arguments checked.

    The descriptor itself cannot be the probe: io.open would wrap it for
    real. A path would do, but io.FileIO raises the "open" audit event
    before it calls the opener, and that event would name the stand-in path.
    A path with a NUL is refused by io.FileIO before its audit event and
    after io.open's own checks, so that probe raises io's errors and
    warnings and no event; the flags are then io.FileIO's for the mode.
    """
    try:
        io.open("\0", mode, buffering, encoding, errors, newline, True,
                opener=_capture)
    except ValueError as e:
        if e.args != ("embedded null byte",):
            raise
    else:  # pragma: no cover
        raise AssertionError("io.open took a path with a NUL")
    return _raw_flags(_raw_mode(mode))


def _raw_flags(raw: str) -> int:
    """The flags io.FileIO opens with for its mode ``raw``."""
    if "+" in raw:
        flags = os.O_RDWR
    elif raw == "r":
        flags = os.O_RDONLY
    else:
        flags = os.O_WRONLY
    flags |= {"x": os.O_EXCL | os.O_CREAT, "w": os.O_CREAT | os.O_TRUNC,
              "a": os.O_APPEND | os.O_CREAT, "r": 0}[raw[0]]
    return flags | getattr(os, "O_CLOEXEC", 0)


def _raw_mode(mode: str) -> str:
    """The mode io.open gives io.FileIO (and its "open" audit event)."""
    for c in "xwa":
        if c in mode:
            return c + "+" if "+" in mode else c
    return "r+" if "+" in mode else "r"  # 'U' alone (Python < 3.11) reads


def _fd_argument(file: int) -> int:
    """An int ``file`` checked as io.FileIO checks it: one that does not fit
    a C int is not taken as a descriptor at all (io then fails to convert
    it to a path), a negative one is refused; a bool is its own name."""
    if not -2 ** 31 <= file < 2 ** 31:
        raise TypeError("expected str, bytes or os.PathLike object, not "
                        f"{type(file).__name__}")
    if file < 0:
        raise ValueError("negative file descriptor")
    if isinstance(file, bool) and sys.version_info >= (3, 13):
        warnings.warn("bool is used as a file descriptor", RuntimeWarning,
                      stacklevel=4)
    return file


# The modes most programs pass: (the mode io.FileIO names in its "open"
# audit event, its flags). With a str path and every other argument left
# at its default, io.open has nothing else to check, so open() raises the
# event itself instead of asking io.open (a probe that costs as much as a
# cached open).
_COMMON_MODES = {m: (_raw_mode(m), _raw_flags(_raw_mode(m))) for m in (
    "r", "rt", "rb", "w", "wt", "wb", "a", "at", "ab", "x", "xt", "xb",
    "r+", "r+t", "r+b", "rb+", "w+", "w+t", "w+b", "wb+", "a+", "a+t",
    "a+b", "ab+", "x+", "x+b", "xb+")}


def _binary_open_args(mode: str) -> tuple[Any, ...]:
    """For a binary mode of _COMMON_MODES: its _COMMON_MODES entry, then
    the class, the io.FileIO mode and the readable, writable and appending
    flags _open_buffered works out for it (default buffering): the
    arguments of _cext.open_call after the path."""
    readable = "r" in mode or "+" in mode
    cls = (_cext.AsyncBufferedReader if readable
           else _cext.AsyncBufferedIOBase)
    return (*_COMMON_MODES[mode], cls, _fileio_mode(mode), readable,
            "r" not in mode or "+" in mode, "a" in mode)


def _fileio_mode(mode: str) -> str:
    plus = "+" in mode
    if "x" in mode:
        return "xb+" if plus else "xb"
    if "a" in mode:
        return "ab+" if plus else "ab"
    if plus:
        return "rb+"
    return "rb" if "r" in mode else "wb"


_BINARY_MODES = ({m: _binary_open_args(m) for m in _COMMON_MODES if "b" in m}
                 if NATIVE else {})


async def _open(file: Any, mode: str, buffering: int, encoding: Any,
                errors: Any, newline: Any, closefd: bool,
                opener: Callable[[Any, int], int] | None,
                loop: asyncio.AbstractEventLoop | None,
                executor: Executor | None) -> Any:
    flags = _open_flags(file, mode, buffering, encoding, errors, newline,
                        closefd)
    text = "b" not in mode
    line_buffering = False
    if text and buffering == 1:
        line_buffering, buffering = True, -1
    f = await _open_buffered(file, mode, buffering, flags, closefd, opener,
                             loop, executor)
    if not text:
        return f
    return await _text_over(f, mode, buffering, encoding, errors, newline,
                            line_buffering)


async def _closing_on_failure(make: Awaitable[_T], f: Any) -> _T:
    """Await ``make``; if it fails, close ``f`` and raise. Not when the
    coroutine is being destroyed (GeneratorExit): it may not await then."""
    try:
        return await make
    except GeneratorExit:
        raise
    except BaseException:
        await f.close()
        raise


async def _text_over(f: Any, mode: str, buffering: int, encoding: Any,
                     errors: Any, newline: Any, line_buffering: bool) -> Any:
    """The native text layer over the buffered file ``f``, as io.open puts
    a TextIOWrapper over its buffer; ``f`` is closed if that fails."""
    if buffering == 0:
        # io.open finds this only after opening the file.
        await f.close()
        raise ValueError("can't have unbuffered text I/O")
    return await _closing_on_failure(_NativeTextIOWrapper._create(
        f, mode, encoding, errors, newline, line_buffering), f)


async def _open_buffered(file: Any, mode: str, buffering: int, flags: int,
                         closefd: Any,
                         opener: Callable[[Any, int], int] | None,
                         loop: asyncio.AbstractEventLoop | None,
                         executor: Executor | None) -> Any:
    if isinstance(file, int):
        name: Any = _fd_argument(file)
        # io.FileIO's event for a descriptor, raised where it raises it:
        # after the descriptor's checks, before any use of it.
        sys.audit("open", file, _raw_mode(mode), flags)
    else:
        name = os.fspath(file)
    readable = "r" in mode or "+" in mode
    writable = "r" not in mode or "+" in mode
    appending = "a" in mode
    if buffering == 1:
        buffering = -1  # io warned already: binary mode has no line buffering
    cls: type[_cext.AsyncFileIO | _cext.AsyncBufferedIOBase]
    if buffering == 0:
        cls = _cext.AsyncFileIO
    elif readable:
        cls = _cext.AsyncBufferedReader
    else:
        cls = _cext.AsyncBufferedIOBase
    f = cls(name, _fileio_mode(mode), flags, readable, writable, appending,
            bool(closefd), buffering)
    if isinstance(file, int):
        return await f._open(file)
    if opener is not None:
        lp = loop if loop is not None else asyncio.get_running_loop()
        fd = await lp.run_in_executor(executor, opener, name, flags)
        if not isinstance(fd, int):
            raise TypeError("expected integer from opener")
        if not -2 ** 31 <= fd < 2 ** 31:
            raise OverflowError("Python int too large to convert to C int")
        if fd < 0:
            raise ValueError(f"opener returned {fd}")
        return await f._open(fd, True)
    return await f._open(os.fsencode(name))


def open(
    file: _FileT,
    mode: str = "r",
    buffering: int = -1,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    closefd: bool = True,
    opener: Callable[[Any, int], int] | None = None,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    executor: Executor | None = None,
) -> AiofilesContextManager[Any]:
    """Open a file, as io.open does, for use with ``await``/``async with``.

    ``loop`` and ``executor`` are accepted for compatibility with aiofiles;
    file I/O runs on the native pool, and ``executor`` is used only to call
    a Python ``opener``.
    """
    tp = _threadpool
    if not NATIVE or tp.sync_open is not builtins.open:
        return AiofilesContextManager(_aiofiles_route(
            tp, file, mode, buffering, encoding, errors, newline, closefd,
            opener, loop, executor))
    if (type(buffering) is int and buffering == -1 and encoding is None and
            errors is None and newline is None and closefd is True and
            opener is None):
        common = _BINARY_MODES.get(mode)
        name = file if type(file) is str else plain_path_str(file)
        if (common is not None and name is not None and name.isascii() and
                "\0" not in name):
            # the C form of _open_flags and _open_buffered for this call
            return AiofilesContextManager(_cext.open_call(name, *common))
    return AiofilesContextManager(
        _open(file, mode, buffering, encoding, errors, newline, closefd,
              opener, loop, executor)
    )


_PLAIN_PATHS = (pathlib.PosixPath, pathlib.PurePosixPath,
                pathlib.WindowsPath, pathlib.PureWindowsPath)


def plain_path_str(file: Any) -> str | None:
    """os.fspath(file) for one of pathlib's own path classes (whose
    __fspath__ is their str, with no side effects; io.open names the file
    by it); None for anything else."""
    if type(file) in _PLAIN_PATHS:
        return str(file)
    return None


async def _aiofiles_route(tp: Any, file: Any, mode: str, buffering: int,
                          encoding: Any, errors: Any, newline: Any,
                          closefd: bool, opener: Any,
                          loop: asyncio.AbstractEventLoop | None,
                          executor: Executor | None) -> Any:
    """aiofiles' own way of opening, taken on the pure-Python backend and
    whenever ``threadpool.sync_open`` was replaced (a test's mock):
    ``sync_open`` called in the executor, and its result made async by
    ``threadpool.wrap`` (so types given to ``wrap.register`` are
    honoured)."""
    if loop is None:
        loop = asyncio.get_running_loop()
    sync_open = tp.sync_open
    f = await loop.run_in_executor(executor, functools.partial(
        sync_open, file, mode=mode, buffering=buffering, encoding=encoding,
        errors=errors, newline=newline, closefd=closefd, opener=opener))
    return tp.wrap(f, loop=loop, executor=executor)
