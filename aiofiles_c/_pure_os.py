"""``aiofiles_c.os`` on the pure-Python backend: each call in the loop's
executor, as aiofiles.os runs it, with the same names as the native module
(aiofiles' own and aiofiles_c's additions)."""
from __future__ import annotations

import asyncio
import functools
import os
import shutil
from typing import Any, AsyncIterator, Iterator

from . import _pure_ospath as path
from .base import wrap

__all__ = [
    "path", "stat", "rename", "renames", "replace", "remove", "unlink",
    "mkdir", "makedirs", "rmdir", "removedirs", "symlink", "readlink",
    "listdir", "scandir", "access", "wrap", "getcwd", "link", "sendfile",
    "statvfs", "lstat", "fsync", "fdatasync", "chmod", "chown", "utime",
    "truncate", "copyfile", "copymode", "copystat", "copy", "copy2", "walk",
    "rmtree", "move", "DirEntry",
]

stat = wrap(os.stat)
lstat = wrap(os.lstat)
rename = wrap(os.rename)
renames = wrap(os.renames)
replace = wrap(os.replace)
remove = wrap(os.remove)
unlink = wrap(os.unlink)
mkdir = wrap(os.mkdir)
makedirs = wrap(os.makedirs)
rmdir = wrap(os.rmdir)
removedirs = wrap(os.removedirs)
symlink = wrap(os.symlink)
readlink = wrap(os.readlink)
listdir = wrap(os.listdir)
access = wrap(os.access)
getcwd = wrap(os.getcwd)
link = wrap(os.link)
chmod = wrap(os.chmod)
utime = wrap(os.utime)
truncate = wrap(os.truncate)
fsync = wrap(os.fsync)
copyfile = wrap(shutil.copyfile)
copymode = wrap(shutil.copymode)
copystat = wrap(shutil.copystat)
copy = wrap(shutil.copy)
copy2 = wrap(shutil.copy2)
rmtree = wrap(shutil.rmtree)
move = wrap(shutil.move)
DirEntry = os.DirEntry
if hasattr(os, "sendfile"):
    sendfile = wrap(os.sendfile)
if hasattr(os, "statvfs"):
    statvfs = wrap(os.statvfs)
if hasattr(os, "fdatasync"):
    fdatasync = wrap(os.fdatasync)
if hasattr(os, "chown"):
    chown = wrap(os.chown)


def _next_batch(it: Iterator[Any], n: int = 256) -> list[Any]:
    batch = []
    for item in it:
        batch.append(item)
        if len(batch) == n:
            break
    return batch


class _Scandir:
    """What ``scandir(p)`` returns: ``await`` it for os.scandir's iterator
    (opened in the executor, as aiofiles does), or ``async for`` over it
    (entries fetched in batches in the executor)."""

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._args = args
        self._kwargs = kwargs

    async def _open(self) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, functools.partial(os.scandir, *self._args, **self._kwargs))

    def __await__(self) -> Any:
        return self._open().__await__()

    async def _entries(self) -> AsyncIterator[os.DirEntry[Any]]:
        it = await self._open()
        loop = asyncio.get_running_loop()
        try:
            while True:
                batch = await loop.run_in_executor(None, _next_batch, it)
                if not batch:
                    return
                for entry in batch:
                    yield entry
        finally:
            it.close()

    def __aiter__(self) -> AsyncIterator[os.DirEntry[Any]]:
        return self._entries()


def scandir(*args: Any, **kwargs: Any) -> Any:
    """os.scandir in the executor: ``await scandir(p)`` or ``async for``."""
    return _Scandir(args, kwargs)


_END = object()


async def walk(top: Any, topdown: bool = True, onerror: Any = None,
               followlinks: bool = False) -> AsyncIterator[Any]:
    """os.walk as an async generator, each step in the executor (a caller
    that prunes ``dirs`` in place is seen, as with os.walk)."""
    loop = asyncio.get_running_loop()
    gen: Any = os.walk(top, topdown, onerror, followlinks)
    try:
        while True:
            item = await loop.run_in_executor(None, next, gen, _END)
            if item is _END:
                return
            yield item
    finally:
        gen.close()
