"""aiofiles_c.Path: an async pathlib.Path with anyio.Path's API.

Pure-path parts (``/``, ``name``, ``parent``, ``with_suffix``...) are plain
attributes and methods; everything that touches the file system is a
coroutine, and ``iterdir()``/``glob()``/``rglob()``/``walk()`` are async
iterators, as in anyio.Path. The system calls go through aiofiles_c.os and
aiofiles_c.open (the native pool) wherever those have them; the rest
(user and group names, ``~`` expansion, symlink resolution, globbing) runs
pathlib's own code in the loop's default executor. Results and exceptions
are pathlib.Path's.
"""
from __future__ import annotations

import asyncio
import errno
import inspect
import itertools
import os
import pathlib
import stat as _stat
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, Union

if TYPE_CHECKING:  # annotations only: typing.Self is 3.11+
    from typing_extensions import Self

from . import _whole
from . import os as _aos
from ._whole import _text_encoding
from ._open import open as _afc_open
from .base import AiofilesContextManager

_T = TypeVar("_T")
StrPath = Union[str, "os.PathLike[str]"]

# Errors that pathlib's is_*() and exists() report as False (POSIX).
_IGNORED_ERRNOS = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)
_GLOB_BATCH = 256


def _ignored(e: OSError) -> bool:
    return e.errno in _IGNORED_ERRNOS


async def _in_executor(fn: Callable[..., _T], *args: Any) -> _T:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _plain(p: Any) -> Any:
    return p._path if isinstance(p, Path) else p


class Path:
    """An asynchronous pathlib.Path (anyio.Path's API).

    ``await`` the methods that do I/O; ``async for`` over ``iterdir()``,
    ``glob()``, ``rglob()`` and ``walk()``. ``open()`` gives an aiofiles_c
    file (await it, or use it with ``async with``).
    """

    __slots__ = ("_path", "__weakref__")

    def __init__(self, *args: StrPath) -> None:
        self._path = pathlib.Path(*(_plain(a) for a in args))

    def _wrap(self, p: StrPath) -> Self:
        return type(self)(p)

    # ---- the pure path ----

    def __fspath__(self) -> str:
        return self._path.__fspath__()

    def __str__(self) -> str:
        return str(self._path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.as_posix()!r})"

    def __bytes__(self) -> bytes:
        return bytes(self._path)

    def __hash__(self) -> int:
        return hash(self._path)

    def __eq__(self, other: object) -> bool:
        return bool(self._path == _plain(other))

    def __lt__(self, other: pathlib.PurePath | Path) -> bool:
        return bool(self._path < _plain(other))

    def __le__(self, other: pathlib.PurePath | Path) -> bool:
        return bool(self._path <= _plain(other))

    def __gt__(self, other: pathlib.PurePath | Path) -> bool:
        return bool(self._path > _plain(other))

    def __ge__(self, other: pathlib.PurePath | Path) -> bool:
        return bool(self._path >= _plain(other))

    def __truediv__(self, other: StrPath) -> Self:
        return self._wrap(self._path / _plain(other))

    def __rtruediv__(self, other: StrPath) -> Self:
        return self._wrap(_plain(other) / self._path)

    @property
    def parts(self) -> tuple[str, ...]:
        return self._path.parts

    @property
    def drive(self) -> str:
        return self._path.drive

    @property
    def root(self) -> str:
        return self._path.root

    @property
    def anchor(self) -> str:
        return self._path.anchor

    @property
    def parents(self) -> Sequence[Self]:
        return tuple(self._wrap(p) for p in self._path.parents)

    @property
    def parent(self) -> Self:
        return self._wrap(self._path.parent)

    @property
    def name(self) -> str:
        return self._path.name

    @property
    def suffix(self) -> str:
        return self._path.suffix

    @property
    def suffixes(self) -> list[str]:
        return self._path.suffixes

    @property
    def stem(self) -> str:
        return self._path.stem

    def as_posix(self) -> str:
        return self._path.as_posix()

    def as_uri(self) -> str:
        return self._path.as_uri()

    def is_absolute(self) -> bool:
        return self._path.is_absolute()

    def is_relative_to(self, other: StrPath) -> bool:
        try:
            self._path.relative_to(_plain(other))
        except ValueError:
            return False
        return True

    def is_reserved(self) -> bool:
        return self._path.is_reserved()

    def joinpath(self, *args: StrPath) -> Self:
        return self._wrap(self._path.joinpath(*(_plain(a) for a in args)))

    def match(self, path_pattern: str) -> bool:
        return self._path.match(path_pattern)

    def relative_to(self, *other: StrPath) -> Self:
        return self._wrap(self._path.relative_to(*(_plain(o)
                                                   for o in other)))

    def with_name(self, name: str) -> Self:
        return self._wrap(self._path.with_name(name))

    def with_stem(self, stem: str) -> Self:
        return self._wrap(self._path.with_stem(stem))

    def with_suffix(self, suffix: str) -> Self:
        return self._wrap(self._path.with_suffix(suffix))

    def with_segments(self, *pathsegments: StrPath) -> Self:
        return type(self)(*pathsegments)

    # ---- status ----

    async def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        return await _aos.stat(self._path, follow_symlinks=follow_symlinks)

    async def lstat(self) -> os.stat_result:
        return await _aos.lstat(self._path)

    async def exists(self) -> bool:
        try:
            await self.stat()
        except OSError as e:
            if not _ignored(e):
                raise
            return False
        except ValueError:
            return False
        return True

    async def _mode_is(self, test: Callable[[int], bool],
                       follow: bool = True) -> bool:
        try:
            st = await _aos.stat(self._path, follow_symlinks=follow)
        except OSError as e:
            if not _ignored(e):
                raise
            return False
        except ValueError:
            return False
        return test(st.st_mode)

    async def is_dir(self) -> bool:
        return await self._mode_is(_stat.S_ISDIR)

    async def is_file(self) -> bool:
        return await self._mode_is(_stat.S_ISREG)

    async def is_symlink(self) -> bool:
        return await self._mode_is(_stat.S_ISLNK, follow=False)

    async def is_block_device(self) -> bool:
        return await self._mode_is(_stat.S_ISBLK)

    async def is_char_device(self) -> bool:
        return await self._mode_is(_stat.S_ISCHR)

    async def is_fifo(self) -> bool:
        return await self._mode_is(_stat.S_ISFIFO)

    async def is_socket(self) -> bool:
        return await self._mode_is(_stat.S_ISSOCK)

    async def is_junction(self) -> bool:
        """Always False: junctions are a Windows feature."""
        return False

    async def is_mount(self) -> bool:
        # pathlib's (Python 3.11) steps, with the stats done natively.
        if not await self.exists() or not await self.is_dir():
            return False
        try:
            parent_st = await _aos.stat(self._path.parent)
        except OSError:
            return False
        st = await _aos.stat(self._path)
        if st.st_dev != parent_st.st_dev:
            return True
        return st.st_ino == parent_st.st_ino

    async def samefile(self, other_path: StrPath) -> bool:
        st = await self.stat()
        other = _plain(other_path)
        other_st = await _aos.stat(other)
        return os.path.samestat(st, other_st)

    async def owner(self) -> str:
        st = await self.stat()
        import pwd
        return (await _in_executor(pwd.getpwuid, st.st_uid)).pw_name

    async def group(self) -> str:
        st = await self.stat()
        import grp
        return (await _in_executor(grp.getgrgid, st.st_gid)).gr_name

    # ---- whole paths ----

    @classmethod
    async def cwd(cls) -> Self:
        cwd: str = await _aos.getcwd()
        return cls(cwd)

    @classmethod
    async def home(cls) -> Self:
        return cls(await _in_executor(pathlib.Path.home))

    async def absolute(self) -> Self:
        if self._path.is_absolute():
            return self
        cwd: str = await _aos.getcwd()
        return self._wrap(pathlib.Path(cwd) / self._path)

    async def expanduser(self) -> Self:
        return self._wrap(await _in_executor(self._path.expanduser))

    async def resolve(self, strict: bool = False) -> Self:
        return self._wrap(await _in_executor(self._path.resolve, strict))

    async def readlink(self) -> Self:
        return self._wrap(await _aos.readlink(self._path))

    # ---- changes ----

    async def chmod(self, mode: int, *, follow_symlinks: bool = True) -> None:
        await _aos.chmod(self._path, mode, follow_symlinks=follow_symlinks)

    async def lchmod(self, mode: int) -> None:
        await self.chmod(mode, follow_symlinks=False)

    async def mkdir(self, mode: int = 0o777, parents: bool = False,
                    exist_ok: bool = False) -> None:
        try:
            await _aos.mkdir(self._path, mode)
        except FileNotFoundError:
            if not parents or self._path.parent == self._path:
                raise
            await self.parent.mkdir(parents=True, exist_ok=True)
            await self.mkdir(mode, parents=False, exist_ok=exist_ok)
        except OSError:
            if not exist_ok or not await self.is_dir():
                raise

    async def rmdir(self) -> None:
        await _aos.rmdir(self._path)

    async def unlink(self, missing_ok: bool = False) -> None:
        try:
            await _aos.unlink(self._path)
        except FileNotFoundError:
            if not missing_ok:
                raise

    async def rename(self, target: StrPath) -> Self:
        target = _plain(target)
        await _aos.rename(self._path, target)
        return self._wrap(target)

    async def replace(self, target: StrPath) -> Self:
        target = _plain(target)
        await _aos.replace(self._path, target)
        return self._wrap(target)

    async def symlink_to(self, target: StrPath,
                         target_is_directory: bool = False) -> None:
        await _aos.symlink(_plain(target), self._path, target_is_directory)

    async def hardlink_to(self, target: StrPath) -> None:
        await _aos.link(_plain(target), self._path)

    async def touch(self, mode: int = 0o666, exist_ok: bool = True) -> None:
        if exist_ok:
            try:
                await _aos.utime(self._path, None)
            except OSError:
                pass
            else:
                return
        flags = os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC
        if not exist_ok:
            flags |= os.O_EXCL

        def create(p: pathlib.Path) -> None:
            os.close(os.open(p, flags, mode))

        await _in_executor(create, self._path)

    # ---- content ----

    def open(self, mode: str = "r", buffering: int = -1,
             encoding: str | None = None, errors: str | None = None,
             newline: str | None = None) -> AiofilesContextManager[Any]:
        """aiofiles_c.open(self, ...): ``await`` it or ``async with`` it."""
        if isinstance(mode, str) and "b" not in mode:
            encoding = _text_encoding(encoding)
        return _afc_open(self._path, mode, buffering, encoding, errors,
                         newline)

    async def read_bytes(self) -> bytes:
        return await _whole.read_bytes(self._path)

    async def read_text(self, encoding: str | None = None,
                        errors: str | None = None,
                        newline: str | None = None) -> str:
        return await _whole.read_text(self._path, encoding, errors, newline)

    async def write_bytes(self, data: Any, *, atomic: bool = False) -> int:
        return await _whole.write_bytes(self._path, data, atomic=atomic)

    async def write_text(self, data: str, encoding: str | None = None,
                         errors: str | None = None,
                         newline: str | None = None, *,
                         atomic: bool = False) -> int:
        return await _whole.write_text(self._path, data, encoding, errors,
                                       newline, atomic=atomic)

    # ---- directories ----

    async def iterdir(self) -> AsyncIterator[Self]:
        for name in await _aos.listdir(self._path):
            yield self._wrap(self._path / name)

    async def _batches(self, gen: Iterator[pathlib.Path]
                       ) -> AsyncIterator[Self]:
        def take() -> list[pathlib.Path]:
            return list(itertools.islice(gen, _GLOB_BATCH))

        while True:
            batch = await _in_executor(take)
            for p in batch:
                yield self._wrap(p)
            if len(batch) < _GLOB_BATCH:
                return

    def glob(self, pattern: str) -> AsyncIterator[Self]:
        return self._batches(self._path.glob(pattern))

    def rglob(self, pattern: str) -> AsyncIterator[Self]:
        return self._batches(self._path.rglob(pattern))

    async def walk(self, top_down: bool = True,
                   on_error: Callable[[OSError], object] | None = None,
                   follow_symlinks: bool = False
                   ) -> AsyncIterator[tuple[Self, list[str], list[str]]]:
        """pathlib.Path.walk (Python 3.12) as an async iterator, listing
        with the native scandir: a symlink to a directory is a directory
        only with follow_symlinks=True, as pathlib has it."""
        stack: list[Any] = [self._path]
        while stack:
            item = stack.pop()
            if isinstance(item, tuple):
                yield self._wrap(item[0]), item[1], item[2]
                continue
            try:
                it = await _aos.scandir(item)
            except OSError as error:
                if on_error is not None:
                    on_error(error)
                continue
            dirnames: list[str] = []
            filenames: list[str] = []
            with it:
                for entry in it:
                    try:
                        is_dir = entry.is_dir(
                            follow_symlinks=follow_symlinks)
                    except OSError:
                        is_dir = False
                    (dirnames if is_dir else filenames).append(entry.name)
            if top_down:
                yield self._wrap(item), dirnames, filenames
            else:
                stack.append((item, dirnames, filenames))
            stack += [item / d for d in reversed(dirnames)]



def _document(cls: type) -> None:
    """A short docstring for each public method that has none: it does
    what the pathlib method of that name does."""
    for name, fn in vars(cls).items():
        if name.startswith("_") or not callable(fn) or fn.__doc__:
            continue
        if inspect.iscoroutinefunction(fn):
            fn.__doc__ = (f"pathlib.Path.{name}, awaited; its system calls "
                          "run off the loop.")
        elif inspect.isasyncgenfunction(fn) or name in ("glob", "rglob"):
            fn.__doc__ = (f"pathlib.Path.{name} as an async iterator; the "
                          "directories are read off the loop.")
        else:
            fn.__doc__ = f"pathlib.PurePath.{name} (no I/O)."


_document(Path)
os.PathLike.register(Path)

__all__ = ["Path"]
