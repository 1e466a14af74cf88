"""The implementations benchmarked side by side ("peers"), each behind the
same small interface the scenarios use.

Every peer is imported only in its own worker process (see _worker), never
in the coordinator: one peer's threads or rings cannot slow another's runs.
A call a peer does not have is ``None`` here; its scenarios show "—".
"""
from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, AsyncContextManager, Awaitable, Callable, ClassVar, Optional

StatFn = Callable[[str], Awaitable[Any]]
CountFn = Callable[[str], Awaitable[int]]
CopyFn = Callable[[Path, Path], Awaitable[Any]]
ReadBytesFn = Callable[[Path], Awaitable[bytes]]
ReadAtFn = Callable[[int, int], Awaitable[bytes]]


class Unsupported(Exception):
    """The peer has no call for this scenario: its cell shows "—"."""


class Peer:
    """One implementation. ``load`` imports it and fills in the calls it has."""

    name: ClassVar[str]
    # Distributions whose versions the report names.
    distributions: ClassVar[tuple[str, ...]]
    min_python: ClassVar[tuple[int, int]] = (3, 9)
    # How each call is made, for the report's legend.
    calls: ClassVar[str]

    # The library under test always runs the whole workload; a peer far
    # slower than stdlib may run a part (see _worker.SLOW_FACTOR).
    full_workload = False
    sync_seek = False  # seek() is a plain method, not awaited
    stat: Optional[StatFn] = None
    listdir: Optional[CountFn] = None  # entries in the directory
    scandir_files: Optional[CountFn] = None  # entries that are not dirs
    copyfile: Optional[CopyFn] = None
    read_bytes: Optional[ReadBytesFn] = None
    positional = False  # has a positional read, see read_at

    def load(self) -> None:
        """Import the implementation (ImportError if it is not installed)."""
        raise NotImplementedError

    def open(self, path: Path, mode: str,
             encoding: Optional[str] = None) -> AsyncContextManager[Any]:
        """``async with peer.open(...) as f``: the peer's file object."""
        raise NotImplementedError

    def read_at(self, f: Any) -> ReadAtFn:
        """``fn(offset, size)`` reading from the open file ``f`` without
        moving its position; Unsupported if there is none."""
        raise Unsupported

    def supports(self, need: str) -> bool:
        """Whether the peer has the call a scenario ``needs``."""
        if need == "open":
            return True
        if need == "read_at":
            return self.positional
        return getattr(self, need) is not None

    @classmethod
    def unavailable(cls) -> Optional[str]:
        """Why the peer cannot run on this interpreter, or None."""
        if sys.version_info < cls.min_python:
            return "needs Python %d.%d+" % cls.min_python
        return None

    def version(self) -> str:
        found = []
        for dist in self.distributions:
            try:
                found.append(f"{dist} {importlib.metadata.version(dist)}")
            except importlib.metadata.PackageNotFoundError:
                found.append(f"{dist} (version unknown)")
        return ", ".join(found)


def _count_listdir(listdir: Callable[[str], Awaitable[list[str]]]) -> CountFn:
    async def count(path: str) -> int:
        return len(await listdir(path))
    return count


class AiofilesAPI(Peer):
    """aiofiles' API: aiofiles_c, and aiofiles itself."""

    module: ClassVar[str]
    # aiofiles' own way to run a call it lacks (copyfile, pread): wrap().
    wrap_missing: ClassVar[bool] = False

    def load(self) -> None:
        self.mod = importlib.import_module(self.module)
        osm = importlib.import_module(self.module + ".os")
        self._open: Callable[..., AsyncContextManager[Any]] = self.mod.open
        self.stat = osm.stat
        self.listdir = _count_listdir(osm.listdir)

        async def scandir_files(path: str) -> int:
            it = osm.scandir(path)
            if hasattr(it, "__aiter__"):  # aiofiles_c's async iterator
                return sum([1 async for e in it if not e.is_dir()])
            with await it as entries:  # aiofiles: the list-like iterator
                return sum(1 for e in entries if not e.is_dir())

        self.scandir_files = scandir_files
        self.copyfile = getattr(osm, "copyfile", None)
        if self.copyfile is None and self.wrap_missing:
            self.copyfile = osm.wrap(shutil.copyfile)
        self.read_bytes = getattr(self.mod, "read_bytes", None)
        self._pread = osm.wrap(os.pread)

    def open(self, path: Path, mode: str,
             encoding: Optional[str] = None) -> AsyncContextManager[Any]:
        return self._open(path, mode, encoding=encoding)

    def read_at(self, f: Any) -> ReadAtFn:
        native: Optional[ReadAtFn] = getattr(f, "read_at", None)
        if native is not None:
            return native
        if not self.wrap_missing:
            raise Unsupported  # aiofiles_c's pure-Python backend
        # aiofiles has no positional read: os.pread through wrap().
        pread, fd = self._pread, f.fileno()

        def read_at(offset: int, size: int) -> Awaitable[bytes]:
            result: Awaitable[bytes] = pread(fd, size, offset)
            return result
        return read_at


class AiofilesC(AiofilesAPI):
    name = "aiofiles_c"
    module = "aiofiles_c"
    distributions = ()
    positional = True
    full_workload = True
    calls = ("`aiofiles_c.open`, `aiofiles_c.os.stat/listdir/scandir/"
             "copyfile`, `aiofiles_c.read_bytes`, `f.read_at`")

    def version(self) -> str:
        mod = importlib.import_module("aiofiles_c")
        return (f"aiofiles_c {mod.__version__} ({mod.backend} backend, "
                f"{os.path.dirname(mod.__file__ or '?')})")


class Aiofiles(AiofilesAPI):
    name = "aiofiles"
    module = "aiofiles"
    distributions = ("aiofiles",)
    positional = True
    wrap_missing = True
    calls = ("`aiofiles.open`, `aiofiles.os.stat/listdir/scandir`; no "
             "copyfile or positional read: `aiofiles.os.wrap(shutil.copyfile)`"
             " and `wrap(os.pread)`; no `read_bytes`")


class _AnyioFile:
    """``async with``: ``await anyio.open_file(...)``, then ``aclose()``."""

    def __init__(self, open_file: Callable[..., Awaitable[Any]], path: Path,
                 mode: str, encoding: Optional[str]) -> None:
        self._opening = open_file(path, mode, encoding=encoding)
        self._file: Any = None

    async def __aenter__(self) -> Any:
        self._file = await self._opening
        return self._file

    async def __aexit__(self, *exc: object) -> None:
        await self._file.aclose()


class Anyio(Peer):
    name = "anyio"
    distributions = ("anyio",)
    calls = ("`anyio.open_file`, `anyio.Path(p).stat()`, "
             "`anyio.Path(p).read_bytes()`, `anyio.Path(p).iterdir()` for "
             "listdir; no scandir, copyfile (3.14's `Path.copy` aside) or "
             "positional read")

    def load(self) -> None:
        anyio = importlib.import_module("anyio")
        self._open_file = anyio.open_file
        apath = anyio.Path

        def stat(path: str) -> Awaitable[Any]:
            result: Awaitable[Any] = apath(path).stat()
            return result

        def read_bytes(path: Path) -> Awaitable[bytes]:
            result: Awaitable[bytes] = apath(path).read_bytes()
            return result

        async def listdir(path: str) -> int:
            return len([p async for p in apath(path).iterdir()])

        self.stat = stat
        self.read_bytes = read_bytes
        self.listdir = listdir
        if hasattr(apath, "copy"):  # Python 3.14+
            async def copyfile(src: Path, dst: Path) -> Any:
                return await apath(src).copy(dst)
            self.copyfile = copyfile

    def open(self, path: Path, mode: str,
             encoding: Optional[str] = None) -> AsyncContextManager[Any]:
        return _AnyioFile(self._open_file, path, mode, encoding)


class Ayafileio(Peer):
    name = "ayafileio"
    distributions = ("ayafileio",)
    positional = True
    calls = ("`ayafileio.aopen` (the open itself on its pool), "
             "`ayafileio.read_bytes`, `ayafileio.acopy`, `f.read_at`; no "
             "stat, listdir or scandir")

    def load(self) -> None:
        aya = importlib.import_module("ayafileio")
        self._aopen = aya.aopen
        self.read_bytes = aya.read_bytes
        self.copyfile = aya.acopy

    def open(self, path: Path, mode: str,
             encoding: Optional[str] = None) -> AsyncContextManager[Any]:
        result: AsyncContextManager[Any] = self._aopen(path, mode,
                                                       encoding=encoding)
        return result

    def read_at(self, f: Any) -> ReadAtFn:
        result: ReadAtFn = f.read_at
        return result


class Aiofile(Peer):
    name = "aiofile"
    distributions = ("aiofile", "caio")
    positional = True
    sync_seek = True
    calls = ("`aiofile.async_open` (its `seek` is not awaited), "
             "`f.file.read_bytes(size, offset)` for positional reads; no "
             "stat, listdir, scandir, copyfile or `read_bytes(path)`")

    def load(self) -> None:
        self._async_open = importlib.import_module("aiofile").async_open

    def open(self, path: Path, mode: str,
             encoding: Optional[str] = None) -> AsyncContextManager[Any]:
        if encoding is None:
            result: AsyncContextManager[Any] = self._async_open(path, mode)
        else:
            result = self._async_open(path, mode, encoding=encoding)
        return result

    def read_at(self, f: Any) -> ReadAtFn:
        afp = f.file

        def read_at(offset: int, size: int) -> Awaitable[bytes]:
            result: Awaitable[bytes] = afp.read_bytes(size, offset)
            return result
        return read_at


class Turbofile(Peer):
    name = "turbofile"
    distributions = ("turbofile",)
    min_python = (3, 12)
    calls = ("`turbofile.open`, `turbofile.read_bytes`, `f.read_at`; no "
             "stat, listdir, scandir or copyfile (0.1.5; a later version's "
             "`turbofile.os` and `copyfile` would be used)")

    def load(self) -> None:
        mod: ModuleType = importlib.import_module("turbofile")
        self._open = mod.open
        self.read_bytes = getattr(mod, "read_bytes", None)
        self.copyfile = getattr(mod, "copyfile", None)
        try:
            osm: Any = importlib.import_module("turbofile.os")
        except ImportError:
            osm = None
        if osm is not None:
            self.stat = getattr(osm, "stat", None)
            if hasattr(osm, "listdir"):
                self.listdir = _count_listdir(osm.listdir)
        # Whether files have read_at is known only once one is open.
        self.positional = True

    def open(self, path: Path, mode: str,
             encoding: Optional[str] = None) -> AsyncContextManager[Any]:
        if encoding is None:
            result: AsyncContextManager[Any] = self._open(path, mode)
        else:
            result = self._open(path, mode, encoding=encoding)
        return result

    def read_at(self, f: Any) -> ReadAtFn:
        fn: Optional[ReadAtFn] = getattr(f, "read_at", None)
        if fn is None:
            raise Unsupported
        return fn


PEERS: dict[str, type[Peer]] = {
    cls.name: cls
    for cls in (AiofilesC, Aiofiles, Anyio, Ayafileio, Aiofile, Turbofile)
}
