"""The file-system calls' Python side: the extension's constants, the
decorator that hands a call's arguments to the C table (``_cext.os_args``,
which binds and converts them as the os module does), and the call into
the native pool (``_cext.fs``)."""
from __future__ import annotations

import errno
import functools
import inspect
import os
import sys
from typing import Any, Awaitable, Callable, TypeVar

from . import _cext

F = TypeVar("F", bound=Callable[..., Any])

# The constants are the extension's (cext/fs.c's call table, enum afc_fs_op
# in cext/pool.h, <fcntl.h>): defined once, in C.
AT_FDCWD: int = _cext.AT_FDCWD
_AT_SYMLINK_NOFOLLOW: int = _cext.AT_SYMLINK_NOFOLLOW
_AT_EACCESS: int = _cext.AT_EACCESS
_AT_SYMLINK_FOLLOW: int = _cext.AT_SYMLINK_FOLLOW

# Operation codes.
STAT: int = _cext.FS_STAT
ACCESS: int = _cext.FS_ACCESS
MKDIR: int = _cext.FS_MKDIR
RMDIR: int = _cext.FS_RMDIR
UNLINK: int = _cext.FS_UNLINK
RENAME: int = _cext.FS_RENAME
LINK: int = _cext.FS_LINK
SYMLINK: int = _cext.FS_SYMLINK
READLINK: int = _cext.FS_READLINK
LISTDIR: int = _cext.FS_LISTDIR
STATVFS: int = _cext.FS_STATVFS
SENDFILE: int = _cext.FS_SENDFILE
GETCWD: int = _cext.FS_GETCWD
FSYNC: int = _cext.FS_FSYNC
FDATASYNC: int = _cext.FS_FDATASYNC
CHMOD: int = _cext.FS_CHMOD
CHOWN: int = _cext.FS_CHOWN
UTIME: int = _cext.FS_UTIME
TRUNCATE: int = _cext.FS_TRUNCATE
SCANDIR: int = _cext.FS_SCANDIR
COPYFILE: int = _cext.FS_COPYFILE
REALPATH: int = _cext.FS_REALPATH
OPENAT: int = _cext.FS_OPENAT
CLOSE: int = _cext.FS_CLOSE
READFILE: int = _cext.FS_READFILE


# Whether os.utime's errors name the file (from Python 3.13 on).
UTIME_NAMES_FILE = sys.version_info >= (3, 13)

# Each aiofiles_c.os call's arguments are bound and converted in C, as os
# does it (cext/fs.c's table: _cext.os_args(call, args, kwargs) gives one
# value per parameter; a path is (bytes or None, fd or -1, names come back
# as str, the name an OSError carries), a dir_fd an int, AT_FDCWD for None).
os_args = _cext.os_args
# os.stat, os.lstat and os.fstat are C all the way (_cext.os_stat).
os_stat = _cext.os_stat
dir_fd_arg = _cext.dir_fd_arg


def path_arg(func: str, arg: str, value: Any, *, allow_fd: bool = False,
             allow_none: bool = False) -> tuple[bytes | None, int, bool, Any]:
    """One path argument, converted as os_args converts it (the calls not
    in the table: the shutil-like ones, scandir's stream)."""
    result: tuple[bytes | None, int, bool, Any] = _cext.path_arg(
        func, arg, value, allow_fd, allow_none)
    return result


# Start one call in the native pool; await the result. The arguments and
# their defaults are the C entry point's (cext/fs.c afc_fs_call), which
# checks them against its call table before a job is built.
call = _cext.fs


def audit_fd(dir_fd: int) -> int:
    """A converted dir_fd as os's audit events carry it: -1 for none."""
    return -1 if dir_fd == AT_FDCWD else dir_fd


def follow_flag(follow_symlinks: bool) -> int:
    return 0 if follow_symlinks else _AT_SYMLINK_NOFOLLOW


def null_fd_error(fd: int) -> None:
    """os passes a path of fd -1 on as no path at all: the call fails with
    EFAULT."""
    if fd == -1:
        raise OSError(errno.EFAULT, os.strerror(errno.EFAULT), -1)


_STAT_CALLS = {"stat": _cext.OS_STAT, "lstat": _cext.OS_LSTAT,
               "fstat": _cext.OS_FSTAT}


def stat(path: Any, func: str = "stat") -> Awaitable[os.stat_result]:
    """os.stat (or os.lstat, os.fstat: ``func``) of one argument: an
    awaitable."""
    return os_stat(_STAT_CALLS[func], (path,), None)


def os_call(call_id: int) -> Callable[[F], F]:
    """The aiofiles_c.os function for row ``call_id`` of the C table. The
    caller's arguments go to _cext.os_args, which binds and converts them
    as os does; the decorated function, whose signature is what callers
    see, is then called with the converted values, by name."""
    def deco(impl: F) -> F:
        names = [n for n in inspect.signature(impl).parameters
                 if n not in ("loop", "executor")]

        @functools.wraps(impl)
        async def call_checked(*args: Any, **kwargs: Any) -> Any:
            return await impl(**dict(zip(names, os_args(call_id, args,
                                                        kwargs))))

        return call_checked  # type: ignore[return-value]

    return deco
