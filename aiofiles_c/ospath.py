"""Async versions of os.path functions, as aiofiles.ospath has them.

Each is the os.path function's own logic, with its system calls (stat,
lstat, getcwd, realpath) done in the native pool; where realpath(3) cannot
answer, os.path.realpath runs in the loop's executor.
"""
from __future__ import annotations

import os
import stat as _stat
from typing import Any

from . import _fs
from ._fs import GETCWD, REALPATH, call
from .base import wrap

__all__ = [
    "abspath", "getatime", "getctime", "getmtime", "getsize", "exists",
    "isdir", "isfile", "islink", "ismount", "samefile", "sameopenfile",
    "lexists",
]


async def _stat_or_none(path: Any, follow: bool = True) -> Any:
    try:
        return await _fs.stat(path, "stat" if follow else "lstat")
    except (OSError, ValueError):
        return None


async def exists(path: Any, *, loop: Any = None, executor: Any = None) -> bool:
    """os.path.exists, off the loop."""
    return await _stat_or_none(path) is not None


async def lexists(path: Any, *, loop: Any = None,
                  executor: Any = None) -> bool:
    """os.path.lexists, off the loop."""
    return await _stat_or_none(path, follow=False) is not None


async def isfile(path: Any, *, loop: Any = None, executor: Any = None) -> bool:
    """os.path.isfile, off the loop."""
    st = await _stat_or_none(path)
    return st is not None and _stat.S_ISREG(st.st_mode)


async def isdir(s: Any, *, loop: Any = None, executor: Any = None) -> bool:
    """os.path.isdir, off the loop."""
    st = await _stat_or_none(s)
    return st is not None and _stat.S_ISDIR(st.st_mode)


async def islink(path: Any, *, loop: Any = None, executor: Any = None) -> bool:
    """os.path.islink, off the loop."""
    st = await _stat_or_none(path, follow=False)
    return st is not None and _stat.S_ISLNK(st.st_mode)


async def getsize(filename: Any, *, loop: Any = None,
                  executor: Any = None) -> int:
    """os.path.getsize, off the loop."""
    return (await _fs.stat(filename)).st_size


async def getmtime(filename: Any, *, loop: Any = None,
                   executor: Any = None) -> float:
    """os.path.getmtime, off the loop."""
    return (await _fs.stat(filename)).st_mtime


async def getatime(filename: Any, *, loop: Any = None,
                   executor: Any = None) -> float:
    """os.path.getatime, off the loop."""
    return (await _fs.stat(filename)).st_atime


async def getctime(filename: Any, *, loop: Any = None,
                   executor: Any = None) -> float:
    """os.path.getctime, off the loop."""
    return (await _fs.stat(filename)).st_ctime


async def samefile(f1: Any, f2: Any, *, loop: Any = None,
                   executor: Any = None) -> bool:
    """os.path.samefile, off the loop."""
    s1 = await _fs.stat(f1)
    s2 = await _fs.stat(f2)
    return os.path.samestat(s1, s2)


async def sameopenfile(fp1: int, fp2: int, *, loop: Any = None,
                       executor: Any = None) -> bool:
    """os.path.sameopenfile, off the loop."""
    s1 = await _fs.stat(fp1, "fstat")
    s2 = await _fs.stat(fp2, "fstat")
    return os.path.samestat(s1, s2)


_realpath_in_executor = wrap(os.path.realpath)


async def _realpath(p: Any) -> Any:
    """os.path.realpath of a path that exists: realpath(3) in the pool.
    Where that fails (a component os.path.realpath would step over), the
    os.path function itself runs in the loop's executor."""
    as_str = not isinstance(p, bytes)
    try:
        return await call(REALPATH, os.fsencode(p), as_str=as_str)
    except OSError:
        return await _realpath_in_executor(p)


async def ismount(path: Any, *, loop: Any = None, executor: Any = None) -> bool:
    """os.path.ismount, off the loop (posixpath's steps)."""
    s1 = await _stat_or_none(path, follow=False)
    if s1 is None or _stat.S_ISLNK(s1.st_mode):
        return False
    p = os.fspath(path)
    parent = os.path.join(p, b".." if isinstance(p, bytes) else "..")
    parent = await _realpath(parent)
    s2 = await _stat_or_none(parent, follow=False)
    if s2 is None:
        return False
    return bool(s1.st_dev != s2.st_dev or s1.st_ino == s2.st_ino)


async def abspath(path: Any, *, loop: Any = None, executor: Any = None) -> Any:
    """os.path.abspath, with getcwd done off the loop."""
    p = os.fspath(path)
    if not os.path.isabs(p):
        cwd: Any = await call(GETCWD, as_str=not isinstance(p, bytes))
        p = os.path.join(cwd, p)
    return os.path.normpath(p)
