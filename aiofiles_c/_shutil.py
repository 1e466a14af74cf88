"""The shutil-like calls of aiofiles_c.os: copyfile, copymode, copystat,
copy, copy2, rmtree and move (aiofiles_c.os exports them). They are built
on aiofiles_c.os's own calls, looked up on that module when they run."""
from __future__ import annotations

import errno
import os
import shutil
import stat as _stat
import sys
from typing import Any

from . import _fs
from . import os as aos
from . import ospath
from ._fs import call, dir_fd_arg, path_arg
from ._rmtree_stack import rmtree_stack
from ._scandir import DirEntry
from .base import wrap


async def copyfile(src: Any, dst: Any, *, follow_symlinks: bool = True) -> Any:
    """shutil.copyfile, with the data copied in the kernel in one pool job
    (copy_file_range, then sendfile, then read/write) once another has
    opened the source."""
    sys.audit("shutil.copyfile", src, dst)
    if await _samefile(src, dst):
        raise shutil.SameFileError(f"{src!r} and {dst!r} are the same file")
    for fn in (src, dst):
        try:
            st = await aos.stat(fn)
        except OSError:
            pass
        else:
            if _stat.S_ISFIFO(st.st_mode):
                raise shutil.SpecialFileError(f"`{fn}` is a named pipe")
    if not follow_symlinks and await ospath.islink(src):
        await aos.symlink(await aos.readlink(src), dst)
        return dst
    s, _, _, sname = path_arg("open", "file", src)
    d, _, _, dname = path_arg("open", "file", dst)
    # shutil's open(src, 'rb'), then open(dst, 'wb') once the source is
    # open: each raises its "open" event just before it opens, so the
    # source is opened in a job of its own, and the copy job (which opens
    # the destination) takes its descriptor.
    sys.audit("open", sname, "r", _COPY_SRC_FLAGS)
    fd, st = await call(_fs.OPENAT, s, flags=os.O_RDONLY, filename=sname)
    try:
        if _stat.S_ISDIR(st.st_mode):
            e = IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR),
                                  sname)
            if _SRC_DIR_TOO and not await ospath.exists(dst):
                raise FileNotFoundError(
                    f"Directory does not exist: {dst}") from e
            raise e
        sys.audit("open", dname, "w", _COPY_DST_FLAGS)
        copying = call(_fs.COPYFILE, None, d, fd=fd, filename=sname,
                       filename2=dname)
    except BaseException:
        os.close(fd)  # the copy job did not take it
        raise
    try:
        await copying
    except IsADirectoryError as e:
        # dst names a directory that is not there (a trailing slash):
        # shutil says so in its own words from 3.9.7 on.
        if _NO_DIR_ERROR and not await ospath.exists(dst):
            raise FileNotFoundError(
                f"Directory does not exist: {dst}") from e
        raise
    return dst


# shutil's "Directory does not exist" rewrite of open(dst)'s
# IsADirectoryError came in 3.10 and 3.9.7 (bpo-43219); before that
# shutil lets the IsADirectoryError through.
_NO_DIR_ERROR = sys.version_info >= (3, 9, 7)
# 3.9.7's rewrite also caught the error of a directory source (bpo-45234,
# fixed in 3.9.8).
_SRC_DIR_TOO = sys.version_info[:3] == (3, 9, 7)
_COPY_SRC_FLAGS = os.O_RDONLY | os.O_CLOEXEC
_COPY_DST_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


async def _samefile(src: Any, dst: Any) -> bool:
    try:
        return await ospath.samefile(src, dst)
    except OSError:
        return False


async def copymode(src: Any, dst: Any, *, follow_symlinks: bool = True) -> None:
    """shutil.copymode, off the loop (Linux has no lchmod: a symlink's own
    mode is left alone, as shutil does)."""
    sys.audit("shutil.copymode", src, dst)
    if not follow_symlinks and await ospath.islink(src) and \
            await ospath.islink(dst):
        return
    st = await aos.stat(src)
    await aos.chmod(dst, _stat.S_IMODE(st.st_mode))


async def copystat(src: Any, dst: Any, *, follow_symlinks: bool = True) -> None:
    """shutil.copystat without extended attributes: times and mode."""
    sys.audit("shutil.copystat", src, dst)
    follow = follow_symlinks or not (await ospath.islink(src) and
                                     await ospath.islink(dst))
    st = await aos.stat(src, follow_symlinks=follow)
    await aos.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns),
                follow_symlinks=follow)
    try:
        await aos.chmod(dst, _stat.S_IMODE(st.st_mode), follow_symlinks=follow)
    except NotImplementedError:
        pass


async def copy(src: Any, dst: Any, *, follow_symlinks: bool = True) -> Any:
    """shutil.copy: copyfile, then the permission bits."""
    if await ospath.isdir(dst):
        dst = os.path.join(dst, os.path.basename(src))
    await copyfile(src, dst, follow_symlinks=follow_symlinks)
    await copymode(src, dst, follow_symlinks=follow_symlinks)
    return dst


async def copy2(src: Any, dst: Any, *, follow_symlinks: bool = True) -> Any:
    """shutil.copy2: copyfile, then permission bits and times (extended
    attributes are not copied)."""
    if await ospath.isdir(dst):
        dst = os.path.join(dst, os.path.basename(src))
    await copyfile(src, dst, follow_symlinks=follow_symlinks)
    await copystat(src, dst, follow_symlinks=follow_symlinks)
    return dst


# rmtree: shutil's descriptor-based walk. Every directory is opened
# relative to its parent's descriptor with O_NOFOLLOW | O_DIRECTORY, and its
# fstat must match the lstat its listing gave (the lstat of the path, for
# the top), so a directory swapped for a symlink (or anything else) after it
# was examined is never entered: nothing outside the tree can be removed.
# Entries are removed with unlinkat/rmdir relative to the parent's
# descriptor. onerror/onexc see the functions shutil names on this Python.
_ONEXC = sys.version_info >= (3, 12)
# The flags shutil's os.open calls carry in their "open" audit events.
_RMTREE_EVENT_FLAGS = (os.O_RDONLY | os.O_CLOEXEC |
                       (os.O_NONBLOCK if sys.version_info >= (3, 13) else 0))
# What is actually opened: never blocks (a FIFO), never follows a symlink
# where a directory was seen.
_RMTREE_DIR_FLAGS = (os.O_RDONLY | os.O_NONBLOCK | os.O_DIRECTORY |
                     os.O_NOFOLLOW)
_NO_ONEXC: Any = object()  # (also: no dir_fd given)
_RMTREE_DIR_FD = sys.version_info >= (3, 11)


async def rmtree(path: Any, ignore_errors: bool = False, onerror: Any = None,
                 *, onexc: Any = _NO_ONEXC,
                 dir_fd: Any = _NO_ONEXC) -> None:
    """shutil.rmtree, off the loop, with shutil's symlink-race-proof walk
    (directories opened and entries removed relative to directory
    descriptors); errors reach onerror (and onexc, Python 3.12+) as
    shutil reports them."""
    if onexc is _NO_ONEXC:
        onexc = None
    elif not _ONEXC:
        raise TypeError("rmtree() got an unexpected keyword argument 'onexc'")
    # shutil.rmtree takes dir_fd, and names it in its audit event, from
    # Python 3.11 on.
    if dir_fd is _NO_ONEXC:
        dir_fd = None
        event_args: tuple[Any, ...] = (path, None) if _RMTREE_DIR_FD else (path,)
    elif not _RMTREE_DIR_FD:
        raise TypeError("rmtree() got an unexpected keyword argument "
                        "'dir_fd'")
    else:
        event_args = (path, dir_fd)
    # shutil deprecates onerror in its documentation only (3.12, 3.13): it
    # warns about nothing at run time, so neither does this.
    sys.audit("shutil.rmtree", *event_args)
    handler: Any
    if ignore_errors:
        def handler(*args: Any) -> None:
            pass
    elif onexc is not None:
        handler = onexc
    elif onerror is None:
        def handler(*args: Any) -> None:
            raise  # noqa: PLE0704 -- re-raise the error being handled
    else:
        def handler(func: Any, p: Any, exc: BaseException) -> Any:
            # Called in the except block that caught exc.
            return onerror(func, p, sys.exc_info())
    if isinstance(path, bytes):
        path = os.fsdecode(path)  # as shutil's fd-based walk does
    if sys.version_info >= (3, 13):
        await rmtree_stack(aos, sys.modules[__name__], path, dir_fd, handler)
    else:
        await _rmtree_top(path, dir_fd, handler)


async def _rmtree_top(path: Any, dir_fd: Any, onexc: Any) -> None:
    try:
        orig_st = await aos.lstat(path, dir_fd=dir_fd)
    except Exception as err:
        onexc(os.lstat, path, err)
        return
    is_dir = _stat.S_ISDIR(orig_st.st_mode)
    try:
        # Not a directory (a symlink, a file): opened as shutil opens it,
        # so that the same check fails with the same report.
        fd, st = await _rmtree_open(
            path, dir_fd, _RMTREE_DIR_FLAGS if is_dir else
            os.O_RDONLY | os.O_NONBLOCK)
    except Exception as err:
        if is_dir and isinstance(err, OSError) and \
                err.errno in (errno.ELOOP, errno.ENOTDIR):
            _rmtree_link_error(onexc, path)  # swapped since the lstat
        else:
            onexc(os.open, path, err)
        return
    await _rmtree_dir(fd, st, orig_st, path, path, dir_fd, onexc)


async def _rmtree_dir(fd: int, st: Any, orig_st: Any, fullname: Any,
                      name: Any, parent_fd: Any, onexc: Any) -> None:
    """Empty the directory open on fd, close fd and remove the directory
    (name, relative to parent_fd) -- if fd's fstat, st, is still the
    directory examined (orig_st); errors name fullname."""
    closed = False
    try:
        if os.path.samestat(orig_st, st):
            await _rmtree_fd(fd, fullname, onexc)
            try:
                closed = True  # the job closes it even if we are cancelled
                await call(_fs.CLOSE, fd=fd)
                await aos.rmdir(name, dir_fd=parent_fd)
            except OSError as err:
                onexc(os.rmdir, fullname, err)
        else:
            _rmtree_link_error(onexc, fullname)
    finally:
        if not closed:
            os.close(fd)  # a directory's descriptor: close does not block


async def _rmtree_open(name: Any, dir_fd: Any, flags: int) -> Any:
    """(fd, fstat of it): os.open(name, dir_fd=dir_fd) as shutil does it."""
    p, _, _, fname = path_arg("open", "path", name)
    dfd = dir_fd_arg(dir_fd)
    sys.audit("open", fname, None, _RMTREE_EVENT_FLAGS)
    return await call(_fs.OPENAT, p, dir_fd=dfd, flags=flags, filename=fname)


async def _rmtree_list(fd: int) -> list[DirEntry]:
    """The entries of the directory open on fd: os.scandir(fd)."""
    it = await aos.scandir(fd)
    with it:
        return list(it)


def _rmtree_link_error(onexc: Any, path: Any) -> None:
    try:
        raise _symlink_error(path)
    except OSError as err:
        onexc(os.path.islink, path, err)


def _symlink_error(path: Any) -> OSError:
    # shutil names the path in this error from Python 3.13 on.
    e = OSError("Cannot call rmtree on a symbolic link")
    if sys.version_info >= (3, 13):
        e.filename = path
    return e


async def _rmtree_fd(topfd: int, path: Any, onexc: Any) -> None:
    try:
        entries = await _rmtree_list(topfd)
    except OSError as err:
        err.filename = path
        onexc(os.scandir, path, err)
        return
    for entry in entries:
        fullname = os.path.join(path, entry.name)
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        else:
            if is_dir:
                try:
                    orig_st = entry.stat(follow_symlinks=False)
                    is_dir = _stat.S_ISDIR(orig_st.st_mode)
                except OSError as err:
                    onexc(os.lstat, fullname, err)
                    continue
        if not is_dir:
            try:
                await aos.unlink(entry.name, dir_fd=topfd)
            except OSError as err:
                onexc(os.unlink, fullname, err)
            continue
        try:
            dirfd, st = await _rmtree_open(entry.name, topfd,
                                           _RMTREE_DIR_FLAGS)
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.ENOTDIR):
                # No longer a directory: shutil's open would have followed
                # the symlink (or opened the file) and refused it after
                # the fstat; this open refuses it at once.
                _rmtree_link_error(onexc, fullname)
            else:
                onexc(os.open, fullname, err)
            continue
        await _rmtree_dir(dirfd, st, orig_st, fullname, entry.name, topfd,
                          onexc)


rmtree.avoids_symlink_attacks = True  # type: ignore[attr-defined]


async def move(src: Any, dst: Any, copy_function: Any = None) -> Any:
    """shutil.move, off the loop: a rename when it can; across file
    systems, a copy then removal (copy2 by default)."""
    sys.audit("shutil.move", src, dst)
    real_dst = dst
    if await ospath.isdir(dst):
        if await _samefile(src, dst):
            await aos.rename(src, dst)
            return None
        real_dst = os.path.join(dst, _basename(src))
        if await ospath.exists(real_dst):
            raise shutil.Error(f"Destination path '{real_dst}' already exists")
    try:
        await aos.rename(src, real_dst)
    except OSError:
        if await ospath.islink(src):
            await aos.symlink(await aos.readlink(src), real_dst)
            await aos.unlink(src)
        elif await ospath.isdir(src):
            if _destinsrc(src, dst):
                raise shutil.Error(f"Cannot move a directory '{src}' into "
                                   f"itself '{dst}'.") from None
            await wrap(shutil.copytree)(src, real_dst, symlinks=True,
                                        copy_function=copy_function or
                                        shutil.copy2)
            await rmtree(src)
        else:
            if copy_function is None:
                await copy2(src, real_dst)
            else:
                await wrap(copy_function)(src, real_dst)
            await aos.unlink(src)
    return real_dst


def _basename(p: Any) -> Any:
    sep = os.path.sep + (os.path.altsep or "")
    p = os.fspath(p)
    if isinstance(p, bytes):
        return os.path.basename(p.rstrip(os.fsencode(sep)))
    return os.path.basename(p.rstrip(sep))


def _destinsrc(src: Any, dst: Any) -> bool:
    src = os.path.abspath(src)
    dst = os.path.abspath(dst)
    if not src.endswith(os.path.sep):
        src += os.path.sep
    if not dst.endswith(os.path.sep):
        dst += os.path.sep
    return bool(dst.startswith(src))
