"""Argument conversion for the file-system calls, done as the os module does
it, and the call into the native pool (``_cext.fs``)."""
from __future__ import annotations

import errno
import functools
import inspect
import os
import sys
import warnings
from typing import Any, Callable, TypeVar

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


# What os says about a str path with a NUL, and whether it takes bytearray
# and other bytes-like paths (with a DeprecationWarning), by Python version.
_STR_NUL = ("{func}: embedded null character in {arg}"
            if sys.version_info >= (3, 13) else "embedded null byte")
_BYTES_LIKE_PATHS = sys.version_info < (3, 12)
UTIME_NAMES_FILE = sys.version_info >= (3, 13)
_BAD_KEYWORD = ("{fname} got an unexpected keyword argument '{bad}'"
                if sys.version_info >= (3, 13)
                else "'{bad}' is an invalid keyword argument for {fname}")


def path_arg(func: str, arg: str, value: Any, *, allow_fd: bool = False,
             allow_none: bool = False) -> tuple[bytes | None, int, bool, Any]:
    """(path bytes or None, fd or -1, whether names come back as str, the
    name an OSError carries: the path after os.fspath, or the fd)."""
    if allow_none and value is None:
        return b".", -1, True, "."
    if allow_fd and _is_index(value):
        fd = _fd_value(value)
        return None, fd, True, value
    try:
        p = os.fspath(value)
    except TypeError:
        if hasattr(type(value), "__fspath__"):
            raise  # its __fspath__ returned a wrong type: os's own words
        try:
            # Other bytes-like objects: refused from Python 3.12 on.
            p = bytes(memoryview(value)) if _BYTES_LIKE_PATHS else None
        except TypeError:
            p = None
        if p is not None:
            # os still takes other bytes-like objects, with a warning.
            warnings.warn(f"{func}: {arg} should be {_kinds(allow_fd, allow_none)}, "
                          f"not {type(value).__name__}", DeprecationWarning,
                          stacklevel=4)
            if b"\0" in p:
                raise ValueError(f"{func}: embedded null character in {arg}")
            return p, -1, False, value
        raise TypeError(f"{func}: {arg} should be "
                        f"{_kinds(allow_fd, allow_none)}, "
                        f"not {type(value).__name__}") from None
    if isinstance(p, str):
        b = os.fsencode(p)
        if b"\0" in b:
            raise ValueError(_STR_NUL.format(func=func, arg=arg))
        return b, -1, True, p
    if b"\0" in p:
        raise ValueError(f"{func}: embedded null character in {arg}")
    return p, -1, False, p


def _kinds(allow_fd: bool, allow_none: bool) -> str:
    kinds = "string, bytes, os.PathLike"
    if allow_fd and allow_none:
        return kinds + ", integer or None"
    if allow_fd:
        return kinds + " or integer"
    if allow_none:
        return kinds + " or None"
    return "string, bytes or os.PathLike"


def _is_index(value: Any) -> bool:
    """Whether os takes ``value`` as an integer (it has __index__)."""
    return hasattr(type(value), "__index__")


# The integer conversions are the C helper's (cext/args.c afc_int_arg),
# which the file methods use too: one place for the ranges and the words.
_int_arg = _cext.int_arg


def _fd_value(value: Any) -> int:
    """A descriptor given as a path or dir_fd argument."""
    return _int_arg("fd", value)


def c_int(value: Any) -> int:
    """An argument os converts to a C int (mode bits, a plain fd)."""
    return _int_arg("int", value)


def c_long(value: Any) -> int:
    """An argument os converts to an off_t (lengths, offsets)."""
    return _int_arg("long", value)


def c_ssize(value: Any) -> int:
    """An argument os converts to a Py_ssize_t (counts)."""
    return _int_arg("ssize", value)


def fileno_arg(value: Any) -> int:
    """An int or an object with fileno(), as os.fsync takes it."""
    return _int_arg("fileno", value)


def id_arg(kind: str, value: Any) -> int:
    """A uid or gid ("uid"/"gid"): -1 leaves it alone."""
    return _int_arg(kind, value)


def time_arg(value: Any) -> int:
    """Whole seconds as a time_t."""
    return _int_arg("time", value)


def dir_fd_arg(value: Any) -> int:
    if value is None:
        return AT_FDCWD
    if not _is_index(value):
        raise TypeError("argument should be integer or None, not "
                        f"{type(value).__name__}")
    return _fd_value(value)


# Start one call in the native pool; await the result. The arguments and
# their defaults are the C entry point's (cext/fs.c afc_fs_call), which
# checks them against its call table before a job is built.
call = _cext.fs


def audit_fd(dir_fd: Any) -> int:
    """A dir_fd as os's audit events carry it: -1 when not given."""
    return -1 if dir_fd is None else dir_fd


def follow_flag(follow_symlinks: bool) -> int:
    return 0 if follow_symlinks else _AT_SYMLINK_NOFOLLOW


def null_fd_error(fd: int) -> None:
    """os passes a path of fd -1 on as no path at all: the call fails with
    EFAULT."""
    if fd == -1:
        raise OSError(errno.EFAULT, os.strerror(errno.EFAULT), -1)


async def stat(path: Any, *, dir_fd: Any = None, follow_symlinks: bool = True,
               func: str = "stat") -> os.stat_result:
    if func == "fstat":
        fd = c_int(path)
        p, fname = None, None
    else:
        p, fd, _, fname = path_arg(func, "path", path, allow_fd=func == "stat")
    dfd = dir_fd_arg(dir_fd)
    if p is None and func == "stat":
        # os's checks, in its order (an fd of -1 means "no path" to it).
        if dfd != AT_FDCWD:
            raise ValueError(f"{func}: can't specify dir_fd without "
                             "matching path")
        if fd > 0 and not follow_symlinks:
            raise ValueError(f"{func}: cannot use fd and follow_symlinks "
                             "together")
        null_fd_error(fd)
    result: os.stat_result = await call(
        STAT, p, fd=fd, dir_fd=dfd, flags=follow_flag(follow_symlinks),
        filename=fname)
    return result


def os_signature(name: str, params: str, required: int,
                 kwonly: str = "") -> Callable[[F], F]:
    """Check a call's arguments as the os function's C argument parser does
    (same TypeError messages), then call the coroutine function with them by
    name. ``params`` are the positional-or-keyword names, the first
    ``required`` of them required; ``kwonly`` the keyword-only names.
    ``loop`` and ``executor`` (aiofiles' own keywords) are accepted."""
    pos = params.split()
    kwo = kwonly.split()
    allnames = pos + kwo

    def deco(impl: F) -> F:
        def bind(args: tuple[Any, ...], kwargs: dict[str, Any]
                 ) -> dict[str, Any]:
            if not kwargs and required <= len(args) <= len(pos):
                return dict(zip(pos, args))  # the common call: positional
            kwargs.pop("loop", None)
            kwargs.pop("executor", None)
            nargs, nkw = len(args), len(kwargs)
            fname = f"{name}()"
            if nargs + nkw > len(allnames):
                raise TypeError(
                    f"{fname} takes at most {len(allnames)} "
                    f"{'keyword ' if nargs == 0 else ''}argument"
                    f"{'' if len(allnames) == 1 else 's'} "
                    f"({nargs + nkw} given)")
            if nargs > len(pos):
                raise TypeError(
                    f"{fname} takes "
                    f"{'at most' if required < len(pos) else 'exactly'} "
                    f"{len(pos)} positional argument"
                    f"{'' if len(pos) == 1 else 's'} ({nargs} given)")
            bound = dict(zip(pos, args))
            left = dict(kwargs)
            for i, nm in enumerate(pos[nargs:], start=nargs):
                if nm in left:
                    bound[nm] = left.pop(nm)
                elif i < required:
                    raise TypeError(f"{fname} missing required argument "
                                    f"'{nm}' (pos {i + 1})")
            for nm in kwo:
                if nm in left:
                    bound[nm] = left.pop(nm)
            if left:
                for i, nm in enumerate(pos[:nargs]):
                    if nm in left:
                        raise TypeError(f"argument for {fname} given by name "
                                        f"('{nm}') and position ({i + 1})")
                bad = next(iter(left))
                raise TypeError(_BAD_KEYWORD.format(bad=bad, fname=fname))
            return bound

        if not inspect.iscoroutinefunction(impl):
            @functools.wraps(impl)
            def call_checked_sync(*args: Any, **kwargs: Any) -> Any:
                return impl(**bind(args, kwargs))

            return call_checked_sync  # type: ignore[return-value]

        @functools.wraps(impl)
        async def call_checked(*args: Any, **kwargs: Any) -> Any:
            return await impl(**bind(args, kwargs))

        return call_checked  # type: ignore[return-value]

    return deco
