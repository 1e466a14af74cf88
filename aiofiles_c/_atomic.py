"""Atomic, durable whole-file writes.

``async with atomic_write(path, "w") as f:`` gives a native file on a new
temporary file in the target's directory. On a clean exit the temporary is
flushed, fsync'ed, renamed over the target, and the directory is fsync'ed:
after a crash at any moment the target is either its complete old content
or its complete new content. On an exception in the block the temporary is
removed and the target is not touched.

Temporary names are ``.<name>.afc-tmp-<pid>-<random>``. A writer killed
before its rename leaves its temporary behind; the next atomic write to the
same target removes the temporaries whose writer process no longer exists
(or, since a pid may be reused, that are older than STALE_AFTER seconds). A
live writer's temporary is never removed, so concurrent writers to one
target are safe (the last rename wins). Writers in other pid namespaces
(containers sharing the directory) cannot be told apart by pid: there only
the age rule applies.
"""
from __future__ import annotations

import asyncio
import errno
import os
import secrets
import stat as _stat
import time
from types import TracebackType
from typing import Any, Union

from . import os as _aos
from ._open import open as _afc_open

StrPath = Union[str, "os.PathLike[str]"]

TMP_MARK = ".afc-tmp-"
STALE_AFTER = 24 * 3600.0
_MODES = {"w": "x", "wt": "xt", "tw": "xt", "wb": "xb", "bw": "xb",
          "w+": "x+", "w+b": "xb+", "wb+": "xb+", "w+t": "x+t"}
_NAME_ROOM = 180   # of a 255-byte name, leaves room for the marks


def _tmp_prefix(name: str) -> str:
    return "." + name[:_NAME_ROOM] + TMP_MARK


def _writer_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True   # exists, another user's
    except OverflowError:
        return False
    return True


def _is_stale(entry: str, prefix: str, directory: str, now: float) -> bool:
    tail = entry[len(prefix):]
    pid_text, _, token = tail.partition("-")
    if not pid_text.isdigit() or not token:
        return False
    pid = int(pid_text)
    if pid != os.getpid() and not _writer_alive(pid):
        return True
    try:
        age = now - os.lstat(os.path.join(directory, entry)).st_mtime
    except OSError:
        return False
    return age > STALE_AFTER


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def clean_stale(path: StrPath) -> list[str]:
    """Remove the temporaries left by killed atomic writes to ``path``;
    returns their paths."""
    target = os.fspath(path)
    directory, name = os.path.split(target)
    directory = directory or os.curdir
    prefix = _tmp_prefix(name)
    try:
        names = await _aos.listdir(directory)
    except OSError:
        return []
    candidates = [n for n in names if n.startswith(prefix)]
    if not candidates:
        return []
    loop = asyncio.get_running_loop()
    now = time.time()
    removed = []
    for n in candidates:
        if await loop.run_in_executor(None, _is_stale, n, prefix, directory,
                                      now):
            p = os.path.join(directory, n)
            try:
                await _aos.unlink(p)
            except FileNotFoundError:
                continue
            removed.append(p)
    return removed


class atomic_write:
    """``async with atomic_write(path, mode="w", ...) as f``: write the
    whole new content of ``path`` through ``f`` (a native aiofiles_c file);
    it replaces the target atomically and durably when the block exits
    without an exception.

    ``mode`` is "w" or "wb" (optionally with "+" or "t"); ``buffering``,
    ``encoding``, ``errors`` and ``newline`` are open()'s. The target's
    permission bits are kept when it exists; a new file gets open()'s
    (0o666 less the umask). A symlink as target is followed: the file it
    points to is replaced and the link stays. ``durable=False`` skips the
    two fsyncs (still atomic, not crash-safe).
    """

    def __init__(self, path: StrPath, mode: str = "w", buffering: int = -1,
                 encoding: str | None = None, errors: str | None = None,
                 newline: str | None = None, *,
                 durable: bool = True) -> None:
        if not isinstance(mode, str):
            raise TypeError(f"mode must be str, not {type(mode).__name__}")
        if mode not in _MODES:
            raise ValueError(f"atomic_write: mode must be one of "
                             f"{sorted(_MODES)}, not {mode!r}")
        self._path = os.fspath(path)
        if not isinstance(self._path, str):
            self._path = os.fsdecode(self._path)
        self._mode = _MODES[mode]
        self._args = (buffering, encoding, errors, newline)
        self._durable = durable
        self._file: Any = None
        self._tmp: str | None = None
        self._target = self._path

    @property
    def tmp_path(self) -> str | None:
        """The temporary file's path while the block runs."""
        return self._tmp

    async def __aenter__(self) -> Any:
        if self._file is not None:
            raise RuntimeError("atomic_write is not reentrant")
        target = self._path
        try:
            lst = await _aos.lstat(target)
        except FileNotFoundError:
            lst = None
        if lst is not None and _stat.S_ISLNK(lst.st_mode):
            loop = asyncio.get_running_loop()
            target = await loop.run_in_executor(None, os.path.realpath,
                                                target)
        try:
            st: os.stat_result | None = await _aos.stat(target)
        except FileNotFoundError:
            st = None
        if st is not None and _stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR),
                                    self._path)
        self._target = target
        await clean_stale(target)
        directory, name = os.path.split(target)
        tmp = os.path.join(directory, _tmp_prefix(name) + "%d-%s" % (
            os.getpid(), secrets.token_hex(6)))
        buffering, encoding, errors, newline = self._args
        f = await _afc_open(tmp, self._mode, buffering, encoding, errors,
                            newline)
        self._tmp = tmp
        try:
            if st is not None:
                await _aos.chmod(f.fileno(), _stat.S_IMODE(st.st_mode))
        except BaseException:
            await self._discard(f)
            raise
        self._file = f
        return f

    async def _discard(self, f: Any) -> None:
        tmp, self._tmp, self._file = self._tmp, None, None
        try:
            await f.close()
        finally:
            if tmp is not None:
                try:
                    await _aos.unlink(tmp)
                except FileNotFoundError:
                    pass

    async def __aexit__(self, typ: type[BaseException] | None,
                        exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        f = self._file
        if f is None:
            return
        if typ is not None:
            await self._discard(f)
            return
        renamed = False
        try:
            await f.flush()
            if self._durable:
                await _aos.fsync(f.fileno())
            await f.close()
            assert self._tmp is not None
            await _aos.replace(self._tmp, self._target)
            renamed = True
            self._tmp = None
            self._file = None
            if self._durable:
                directory = os.path.dirname(self._target) or os.curdir
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, _fsync_dir, directory)
        finally:
            if not renamed:
                await self._discard(f)


__all__ = ["atomic_write", "clean_stale"]
