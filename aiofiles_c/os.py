"""Async versions of os functions, as aiofiles.os has them.

The system calls run in the native pool, with no GIL; arguments are
checked and converted on the loop thread as the os module does it, and the
results and exceptions are the os module's.

Each call raises the sys.audit events its os or shutil counterpart raises,
with the same arguments, on the calling thread, after the arguments are
checked and before the work an event stands for reaches the pool (so a
hook that raises stops the call where it stops the stdlib's). The
shutil-like calls are in _shutil; this module exports them.
"""
from __future__ import annotations

import errno
import os
import sys
from typing import TYPE_CHECKING, Any

from . import _cext, _fs
from . import ospath as path
from .base import wrap
from ._scandir import DirEntry, Scandir
from ._fs import (ACCESS, GETCWD, LINK, LISTDIR, MKDIR, READLINK, RENAME,
                  RMDIR, SENDFILE, STATVFS, SYMLINK, UNLINK, audit_fd, call,
                  null_fd_error, os_call)

__all__ = [
    "path", "stat", "rename", "renames", "replace", "remove", "unlink",
    "mkdir", "makedirs", "rmdir", "removedirs", "symlink", "readlink",
    "listdir", "scandir", "access", "wrap", "getcwd", "link", "sendfile",
    "statvfs", "lstat", "fsync", "fdatasync", "chmod", "chown", "utime",
    "truncate", "copyfile", "copymode", "copystat", "copy", "copy2", "walk",
    "rmtree", "move", "DirEntry",
]

# Each call's arguments are bound, checked and converted in C, as os does
# it (cext/fs.c's table, _cext.os_args; see _fs.os_call): the signatures
# below are what callers see, and the bodies get the converted values, a
# path as (bytes or None, fd or -1, names as str, the name an OSError
# carries) and a dir_fd as an int (AT_FDCWD for None).

_os_stat = _cext.os_stat
_OS_STAT, _OS_LSTAT = _cext.OS_STAT, _cext.OS_LSTAT


def _path_given(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The path argument as given (listdir's and scandir's audit events
    carry None for none)."""
    return args[0] if args else kwargs.get("path")


if TYPE_CHECKING:
    async def stat(path: Any, *, dir_fd: Any = None,
                   follow_symlinks: bool = True, loop: Any = None,
                   executor: Any = None) -> os.stat_result:
        ...

    async def lstat(path: Any, *, dir_fd: Any = None, loop: Any = None,
                    executor: Any = None) -> os.stat_result:
        ...

    async def listdir(path: Any = None, *, loop: Any = None,
                      executor: Any = None) -> list[Any]:
        ...

    def scandir(path: Any = None) -> Scandir:
        ...
else:
    async def stat(*args, **kwargs):
        """os.stat, off the loop: all of it in C (_cext.os_stat)."""
        return await _os_stat(_OS_STAT, args, kwargs or None)

    async def lstat(*args, **kwargs):
        """os.lstat, off the loop."""
        return await _os_stat(_OS_LSTAT, args, kwargs or None)

    async def listdir(*args, **kwargs):
        """os.listdir, off the loop."""
        (path,) = _fs.os_args(_cext.OS_LISTDIR, args, kwargs)
        p, fd, as_str, fname = path
        if fd == -1 and p is None:
            p, fname = b".", "."  # os takes an fd of -1 as no path
        sys.audit("os.listdir",
                  None if _path_given(args, kwargs) is None else fname)
        return await call(LISTDIR, p, fd=fd, filename=fname, as_str=as_str)

    def scandir(*args, **kwargs):
        """os.scandir, off the loop: ``await scandir(p)`` gives an iterator like
        os.scandir's; ``async for entry in scandir(p)`` and ``async with
        scandir(p) as it`` work too. The entries answer is_dir(), is_file()
        and is_symlink() from the listing (d_type, as os.scandir's); stat()
        is taken when first asked for, as os.DirEntry's (see
        _scandir.DirEntry)."""
        if kwargs or len(args) != 1:
            # os's words for the binding (Scandir converts the path itself)
            _fs.os_args(_cext.OS_SCANDIR, args, kwargs)
        arg = _path_given(args, kwargs)
        it = Scandir(arg)  # the listing starts later
        sys.audit("os.scandir", None if arg is None else it._job[2])
        return it


@os_call(_cext.OS_ACCESS)
async def access(path: Any, mode: int, *, dir_fd: Any = None,
                 effective_ids: bool = False, follow_symlinks: bool = True,
                 loop: Any = None, executor: Any = None) -> bool:
    """os.access, off the loop."""
    p, _, _, fname = path
    flags = _fs.follow_flag(follow_symlinks)
    if effective_ids:
        flags |= _fs._AT_EACCESS
    result: bool = await call(ACCESS, p, dir_fd=dir_fd, flags=flags,
                              mode=mode, filename=fname)
    return result


async def getcwd(*args: Any, loop: Any = None, executor: Any = None,
                 **kwargs: Any) -> str:
    """os.getcwd, off the loop."""
    if args:
        raise TypeError(f"posix.getcwd() takes no arguments ({len(args)} "
                        "given)")
    if kwargs:
        raise TypeError("posix.getcwd() takes no keyword arguments")
    result: str = await call(GETCWD)
    return result


@os_call(_cext.OS_MKDIR)
async def mkdir(path: Any, mode: int = 0o777, *, dir_fd: Any = None,
                loop: Any = None, executor: Any = None) -> None:
    """os.mkdir, off the loop."""
    p, _, _, fname = path
    sys.audit("os.mkdir", fname, mode, audit_fd(dir_fd))
    await call(MKDIR, p, dir_fd=dir_fd, mode=mode, filename=fname)


async def makedirs(name: Any, mode: int = 0o777, exist_ok: bool = False, *,
                   loop: Any = None, executor: Any = None) -> None:
    """os.makedirs, off the loop (the same steps, each awaited)."""
    head, tail = os.path.split(name)
    if not tail:
        head, tail = os.path.split(head)
    if head and tail and not await path.exists(head):
        try:
            await makedirs(head, exist_ok=exist_ok)
        except FileExistsError:
            pass
        cdir: Any = os.curdir
        if isinstance(tail, bytes):
            cdir = bytes(os.curdir, "ASCII")
        if tail == cdir:
            return
    try:
        await mkdir(name, mode)
    except OSError:
        if not exist_ok or not await path.isdir(name):
            raise


@os_call(_cext.OS_RMDIR)
async def rmdir(path: Any, *, dir_fd: Any = None, loop: Any = None,
                executor: Any = None) -> None:
    """os.rmdir, off the loop."""
    p, _, _, fname = path
    sys.audit("os.rmdir", fname, audit_fd(dir_fd))
    await call(RMDIR, p, dir_fd=dir_fd, filename=fname)


async def removedirs(name: Any, *, loop: Any = None,
                     executor: Any = None) -> None:
    """os.removedirs, off the loop."""
    await rmdir(name)
    head, tail = os.path.split(name)
    if not tail:
        head, tail = os.path.split(head)
    while head and tail:
        try:
            await rmdir(head)
        except OSError:
            break
        head, tail = os.path.split(head)


async def _unlink(path: Any, dir_fd: int) -> None:
    """remove and unlink, on converted arguments."""
    p, _, _, fname = path
    sys.audit("os.remove", fname, audit_fd(dir_fd))  # unlink's too
    await call(UNLINK, p, dir_fd=dir_fd, filename=fname)


@os_call(_cext.OS_REMOVE)
async def remove(path: Any, *, dir_fd: Any = None, loop: Any = None,
                 executor: Any = None) -> None:
    """os.remove, off the loop."""
    await _unlink(path, dir_fd)


@os_call(_cext.OS_UNLINK)
async def unlink(path: Any, *, dir_fd: Any = None, loop: Any = None,
                 executor: Any = None) -> None:
    """os.unlink, off the loop."""
    await _unlink(path, dir_fd)


async def _rename(src: Any, dst: Any, src_dir_fd: int,
                  dst_dir_fd: int) -> None:
    """rename and replace, on converted arguments."""
    s, _, _, sname = src
    d, _, _, dname = dst
    sys.audit("os.rename", sname, dname, audit_fd(src_dir_fd),
              audit_fd(dst_dir_fd))  # replace's too
    await call(RENAME, s, d, dir_fd=src_dir_fd, dir_fd2=dst_dir_fd,
               filename=sname, filename2=dname)


@os_call(_cext.OS_RENAME)
async def rename(src: Any, dst: Any, *, src_dir_fd: Any = None,
                 dst_dir_fd: Any = None, loop: Any = None,
                 executor: Any = None) -> None:
    """os.rename, off the loop."""
    await _rename(src, dst, src_dir_fd, dst_dir_fd)


@os_call(_cext.OS_REPLACE)
async def replace(src: Any, dst: Any, *, src_dir_fd: Any = None,
                  dst_dir_fd: Any = None, loop: Any = None,
                  executor: Any = None) -> None:
    """os.replace, off the loop."""
    await _rename(src, dst, src_dir_fd, dst_dir_fd)


async def renames(old: Any, new: Any, *, loop: Any = None,
                  executor: Any = None) -> None:
    """os.renames, off the loop."""
    head, tail = os.path.split(new)
    if head and tail and not await path.exists(head):
        await makedirs(head)
    await rename(old, new)
    head, tail = os.path.split(old)
    if head and tail:
        try:
            await removedirs(head)
        except OSError:
            pass


@os_call(_cext.OS_LINK)
async def link(src: Any, dst: Any, *, src_dir_fd: Any = None,
               dst_dir_fd: Any = None, follow_symlinks: bool = True,
               loop: Any = None, executor: Any = None) -> None:
    """os.link, off the loop."""
    s, _, _, sname = src
    d, _, _, dname = dst
    sys.audit("os.link", sname, dname, audit_fd(src_dir_fd),
              audit_fd(dst_dir_fd))
    # As os does: plain link(2), which does not follow a symlink, unless a
    # dir_fd or follow_symlinks=False asks for linkat(2).
    at = (src_dir_fd != _fs.AT_FDCWD or dst_dir_fd != _fs.AT_FDCWD
          or not follow_symlinks)
    await call(LINK, s, d, dir_fd=src_dir_fd, dir_fd2=dst_dir_fd,
               flags=_fs._AT_SYMLINK_FOLLOW if at and follow_symlinks else 0,
               filename=sname, filename2=dname)


@os_call(_cext.OS_SYMLINK)
async def symlink(src: Any, dst: Any, target_is_directory: bool = False, *,
                  dir_fd: Any = None, loop: Any = None,
                  executor: Any = None) -> None:
    """os.symlink, off the loop."""
    s, _, _, sname = src
    d, _, _, dname = dst
    sys.audit("os.symlink", sname, dname, audit_fd(dir_fd))
    await call(SYMLINK, s, d, dir_fd2=dir_fd, filename=sname, filename2=dname)


@os_call(_cext.OS_READLINK)
async def readlink(path: Any, *, dir_fd: Any = None, loop: Any = None,
                   executor: Any = None) -> Any:
    """os.readlink, off the loop."""
    p, _, as_str, fname = path
    return await call(READLINK, p, dir_fd=dir_fd, filename=fname,
                      as_str=as_str)


@os_call(_cext.OS_STATVFS)
async def statvfs(path: Any, *, loop: Any = None,
                  executor: Any = None) -> os.statvfs_result:
    """os.statvfs, off the loop."""
    p, fd, _, fname = path
    if p is None:
        null_fd_error(fd)
    result: os.statvfs_result = await call(STATVFS, p, fd=fd, filename=fname)
    return result


@os_call(_cext.OS_SENDFILE)
async def sendfile(out_fd: int, in_fd: int, offset: int | None, count: int,
                   *, loop: Any = None, executor: Any = None) -> int:
    """os.sendfile, off the loop."""
    if offset is not None and offset < 0:
        # The kernel refuses a negative offset; -1 means "none" to the job.
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
    result: int = await call(SENDFILE, fd=out_fd, fd2=in_fd,
                             off=-1 if offset is None else offset,
                             length=count)
    return result


# ---- beyond aiofiles: more os calls, natively ----

@os_call(_cext.OS_FSYNC)
async def fsync(fd: Any) -> None:
    """os.fsync, off the loop."""
    await call(_fs.FSYNC, fd=fd)


@os_call(_cext.OS_FDATASYNC)
async def fdatasync(fd: Any) -> None:
    """os.fdatasync, off the loop."""
    await call(_fs.FDATASYNC, fd=fd)


@os_call(_cext.OS_CHMOD)
async def chmod(path: Any, mode: int, *, dir_fd: Any = None,
                follow_symlinks: bool = True) -> None:
    """os.chmod, off the loop."""
    p, fd, _, fname = path
    sys.audit("os.chmod", fname, mode, audit_fd(dir_fd))
    if p is None:
        null_fd_error(fd)
    try:
        await call(_fs.CHMOD, p, fd=fd, dir_fd=dir_fd, mode=mode,
                   flags=_fs.follow_flag(follow_symlinks), filename=fname)
    except OSError as e:
        if follow_symlinks or e.errno != errno.EOPNOTSUPP:
            raise
        # Linux cannot chmod a symlink itself: os says so this way.
        if dir_fd != _fs.AT_FDCWD:
            raise ValueError("chmod: cannot use dir_fd and follow_symlinks "
                             "together") from None
        raise NotImplementedError("chmod: follow_symlinks unavailable on "
                                  "this platform") from None


@os_call(_cext.OS_CHOWN)
async def chown(path: Any, uid: int, gid: int, *, dir_fd: Any = None,
                follow_symlinks: bool = True) -> None:
    """os.chown, off the loop."""
    p, fd, _, fname = path
    # os's event carries the ids as uid_t/gid_t: -1 is 2**32 - 1.
    uid &= 0xFFFFFFFF
    gid &= 0xFFFFFFFF
    sys.audit("os.chown", fname, uid, gid, audit_fd(dir_fd))
    if p is None:
        null_fd_error(fd)
    await call(_fs.CHOWN, p, fd=fd, dir_fd=dir_fd, off=uid, length=gid,
               flags=_fs.follow_flag(follow_symlinks), filename=fname)


@os_call(_cext.OS_UTIME)
async def utime(path: Any, times: Any = None, *, ns: Any = None,
                dir_fd: Any = None, follow_symlinks: bool = True) -> None:
    """os.utime, off the loop."""
    times, tms = times  # as given, and converted (see _cext.os_args)
    p, fd, _, fname = path
    sys.audit("os.utime", fname, times, ns, audit_fd(dir_fd))
    if p is None and fd == -1:
        # No path and no descriptor: utimensat() refuses it. os.utime's
        # errors name the file (here the fd) from Python 3.13 on only.
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL),
                      *((fname,) if _fs.UTIME_NAMES_FILE else ()))
    await call(_fs.UTIME, p, fd=fd, dir_fd=dir_fd,
               flags=_fs.follow_flag(follow_symlinks),
               filename=fname if _fs.UTIME_NAMES_FILE else None, times=tms)


@os_call(_cext.OS_TRUNCATE)
async def truncate(path: Any, length: int) -> None:
    """os.truncate, off the loop."""
    p, fd, _, fname = path
    sys.audit("os.truncate", fname, length)
    if p is None:
        null_fd_error(fd)
        fname = None  # os names no file when it truncates a descriptor
    await call(_fs.TRUNCATE, p, fd=fd, off=length, filename=fname)


async def walk(top: Any, topdown: bool = True, onerror: Any = None,
               followlinks: bool = False) -> Any:
    """os.walk as an async generator: ``async for root, dirs, files in
    walk(top)``, with os.walk's results and order; directories are listed
    by the native scandir."""
    sys.audit("os.walk", top, topdown, onerror, followlinks)
    stack: list[Any] = [os.fspath(top)]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            yield item
            continue
        dirs: list[Any] = []
        nondirs: list[Any] = []
        walk_dirs: list[Any] = []
        try:
            it = await scandir(item)
        except OSError as error:
            if onerror is not None:
                onerror(error)
            continue
        with it:
            for entry in it:
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                (dirs if is_dir else nondirs).append(entry.name)
                if not topdown and is_dir:
                    if followlinks:
                        walk_into = True
                    else:
                        try:
                            walk_into = not entry.is_symlink()
                        except OSError:
                            walk_into = False
                    if walk_into:
                        walk_dirs.append(entry.path)
        if topdown:
            yield item, dirs, nondirs
            for dirname in reversed(dirs):
                new_path = os.path.join(item, dirname)
                if followlinks or not await path.islink(new_path):
                    stack.append(new_path)
        else:
            stack.append((item, dirs, nondirs))
            stack.extend(reversed(walk_dirs))


# The shutil-like calls live in _shutil, which uses the calls above.
from ._shutil import (copy, copy2, copyfile, copymode,  # noqa: E402
                      copystat, move, rmtree)
