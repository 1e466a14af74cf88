"""Argument conversion for the file-system calls, done as the os module does
it, and the call into the native pool (``_cext.fs``)."""
from __future__ import annotations

import os
from typing import Any

from . import _cext

AT_FDCWD = -100

# Operation codes: enum afc_fs_op in cext/pool.h.
STAT, ACCESS, MKDIR, RMDIR, UNLINK, RENAME, LINK, SYMLINK, READLINK, \
    LISTDIR, STATVFS, SENDFILE, GETCWD = range(13)

_AT_SYMLINK_NOFOLLOW = 0x100
_AT_EACCESS = 0x200
_AT_SYMLINK_FOLLOW = 0x400


def path_arg(func: str, arg: str, value: Any, *, allow_fd: bool = False,
             allow_none: bool = False) -> tuple[bytes | None, int, bool]:
    """(path bytes or None, fd or -1, whether names come back as str)."""
    if allow_none and value is None:
        return b".", -1, True
    if allow_fd and isinstance(value, int):
        return None, _fd_value(value), True
    try:
        p = os.fspath(value)
    except TypeError:
        kinds = "string, bytes, os.PathLike"
        if allow_fd and allow_none:
            kinds += ", integer or None"
        elif allow_fd:
            kinds += " or integer"
        elif allow_none:
            kinds += " or None"
        else:
            kinds = "string, bytes or os.PathLike"
        raise TypeError(f"{func}: {arg} should be {kinds}, "
                        f"not {type(value).__name__}") from None
    if isinstance(p, str):
        b = os.fsencode(p)
        if b"\0" in b:
            raise ValueError("embedded null byte")
        return b, -1, True
    if b"\0" in p:
        raise ValueError(f"{func}: embedded null character in {arg}")
    return p, -1, False


def _fd_value(value: int) -> int:
    if value < -(2 ** 31) or value >= 2 ** 31:
        raise OverflowError("fd is greater than maximum" if value > 0
                            else "fd is less than minimum")
    return int(value)


def dir_fd_arg(value: Any) -> int:
    if value is None:
        return AT_FDCWD
    if not isinstance(value, int):
        raise TypeError("argument should be integer or None, not "
                        f"{type(value).__name__}")
    return _fd_value(value)


def call(op: int, path: bytes | None = None, path2: bytes | None = None, *,
         fd: int = -1, fd2: int = -1, dir_fd: int = AT_FDCWD,
         dir_fd2: int = AT_FDCWD, flags: int = 0, mode: int = 0,
         off: int = -1, length: int = 0, filename: Any = None,
         filename2: Any = None, as_str: bool = True) -> Any:
    """Start one call in the native pool; await the result."""
    return _cext.fs(op, path, path2, fd, fd2, dir_fd, dir_fd2, flags, mode,
                    off, length, filename, filename2, as_str)


def follow_flag(follow_symlinks: bool) -> int:
    return 0 if follow_symlinks else _AT_SYMLINK_NOFOLLOW


async def stat(path: Any, *, dir_fd: Any = None, follow_symlinks: bool = True,
               func: str = "stat") -> os.stat_result:
    p, fd, _ = path_arg(func, "path", path, allow_fd=True)
    dfd = dir_fd_arg(dir_fd)
    if p is None:
        if not follow_symlinks:
            raise ValueError(f"{func}: cannot use fd and follow_symlinks "
                             "together")
        if dfd != AT_FDCWD:
            raise ValueError(f"{func}: can't specify both dir_fd and fd")
    result: os.stat_result = await call(
        STAT, p, fd=fd, dir_fd=dfd, flags=follow_flag(follow_symlinks),
        filename=path)
    return result
