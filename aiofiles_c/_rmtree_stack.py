"""rmtree's walk as Python 3.13's shutil does it (aiofiles_c.os.rmtree
uses it there; earlier Pythons keep the recursive walk in _shutil.py).

What 3.13's shutil changed, and this follows:

- The walk keeps an explicit stack of pending steps (examine a directory,
  close its descriptor, remove it) instead of recursing: the files of a
  directory are unlinked while it is listed, its subdirectories are visited
  afterwards, the last listed first. The order of the removals, of the
  audit events and of the errors reported is that order.
- An error while examining, opening, listing, closing or removing a
  directory carries the directory's path (from the top) as its filename,
  the symlink refusal included; an unlink error keeps the entry's name.
- An entry that vanished meanwhile (FileNotFoundError) is skipped
  silently, except for the top directory itself.

The same descriptor-relative, symlink-race-proof checks as the recursive
walk: a directory is opened with O_NOFOLLOW | O_DIRECTORY relative to its
parent and must be the one its listing showed.
"""
from __future__ import annotations

import errno
import os
import stat as _stat
from typing import Any

_EXAMINE, _CLOSE, _RMDIR = "examine", "close", "rmdir"


async def rmtree_stack(aos: Any, sh: Any, path: Any, dir_fd: Any,
                       onexc: Any) -> None:
    """Remove the tree at ``path`` (relative to ``dir_fd``); ``aos`` is
    aiofiles_c.os (its calls), ``sh`` aiofiles_c._shutil (the open and
    listing helpers), ``onexc`` the error
    handler as shutil calls it."""
    pending: list[tuple[str, Any, Any, Any]] = [(_EXAMINE, dir_fd, path, None)]
    try:
        while pending:
            await _step(aos, sh, pending, onexc)
    finally:
        # Raising out of the walk leaves descriptors on the stack.
        while pending:
            what, fd, where, _ = pending.pop()
            if what is not _CLOSE:
                continue
            try:
                os.close(fd)  # a directory: close does not block
            except OSError as err:
                onexc(os.close, where, err)


async def _step(aos: Any, sh: Any, pending: list[tuple[str, Any, Any, Any]],
                onexc: Any) -> None:
    what, dirfd, path, entry = pending.pop()
    name = path if entry is None else entry.name
    func: Any = os.close if what is _CLOSE else os.rmdir
    try:
        if what is _CLOSE:
            await aos.call(aos._fs.CLOSE, fd=dirfd)
            return
        if what is _RMDIR:
            await aos.rmdir(name, dir_fd=dirfd)
            return
        func = os.lstat
        if entry is None:
            orig_st = await aos.lstat(name, dir_fd=dirfd)
        else:
            orig_st = entry.stat(follow_symlinks=False)
        func = os.open
        is_dir = _stat.S_ISDIR(orig_st.st_mode)
        try:
            fd, st = await sh._rmtree_open(
                name, dirfd, sh._RMTREE_DIR_FLAGS if is_dir else
                os.O_RDONLY | os.O_NONBLOCK)
        except OSError as err:
            if not (is_dir and err.errno in (errno.ELOOP, errno.ENOTDIR)):
                raise
            # Swapped for a symlink or a file since it was examined:
            # shutil's open would have succeeded and its check refused it.
            func = os.path.islink
            raise OSError("Cannot call rmtree on a symbolic link") from None
        func = os.path.islink
        try:
            if not os.path.samestat(orig_st, st):
                raise OSError("Cannot call rmtree on a symbolic link")
            pending.append((_RMDIR, dirfd, path, entry))
        finally:
            pending.append((_CLOSE, fd, path, entry))
        func = os.scandir
        entries = await sh._rmtree_list(fd)
        for child in entries:
            fullname = os.path.join(path, child.name)
            try:
                if child.is_dir(follow_symlinks=False):
                    pending.append((_EXAMINE, fd, fullname, child))
                    continue
            except FileNotFoundError:
                continue
            except OSError:
                pass
            try:
                await aos.unlink(child.name, dir_fd=fd)
            except FileNotFoundError:
                continue
            except OSError as err:
                onexc(os.unlink, fullname, err)
    except FileNotFoundError as err:
        if entry is None or what is _CLOSE:
            err.filename = path
            onexc(func, path, err)
    except OSError as err:
        err.filename = path
        onexc(func, path, err)
