"""scandir: entries listed and stat'ed in one pool job, made into
os.DirEntry-compatible objects on the loop thread as they are iterated."""
from __future__ import annotations

import asyncio
import errno
import os
import stat as _stat
import struct
import threading
from types import TracebackType
from typing import Any, Iterator

from . import _cext, _fs

# A batch's records (struct afc_scan_rec, cext/pool.h): the layout and its
# flags are the extension's.
_HEAD = struct.Struct(_cext.SCAN_HEAD)
_FIELDS = struct.Struct(_cext.SCAN_STAT)
_REC: int = _cext.SCAN_REC_SIZE
_LSTAT_OK: int = _cext.SCAN_LSTAT_OK
_STAT_OK: int = _cext.SCAN_STAT_OK
_DT_DIR: int = _cext.DT_DIR
_DT_REG: int = _cext.DT_REG
_DT_LNK: int = _cext.DT_LNK
_DT_UNKNOWN: int = _cext.DT_UNKNOWN
_BATCH = 64  # entries made per loop iteration by ``async for``
_FETCH = 2048  # entries listed (and stat'ed) by one pool job


def _stat_result(v: tuple[int, ...]) -> os.stat_result:
    mode, ino, dev, nlink, uid, gid, size, a_s, a_ns, m_s, m_ns, c_s, c_ns, \
        blksize, blocks, rdev = v
    return os.stat_result((
        mode, ino, dev, nlink, uid, gid, size, a_s, m_s, c_s,
        a_s + a_ns * 1e-9, m_s + m_ns * 1e-9, c_s + c_ns * 1e-9,
        a_s * 1_000_000_000 + a_ns, m_s * 1_000_000_000 + m_ns,
        c_s * 1_000_000_000 + c_ns, blksize, blocks, rdev))


class DirEntry:
    """What os.DirEntry offers, with every answer already in memory: the
    pool job that listed the directory also stat'ed each entry."""

    __slots__ = ("name", "path", "_dtype", "_ino", "_lstat", "_stat",
                 "_lerr", "_serr")

    def __init__(self, name: Any, path: Any, dtype: int, ino: int,
                 lstat: Any, lerr: int, stat: Any, serr: int) -> None:
        # lstat/stat: raw field tuples until first asked for, then
        # os.stat_result objects (None: the call failed with lerr/serr).
        self.name = name
        self.path = path
        self._dtype = dtype
        self._ino = ino
        self._lstat = lstat
        self._lerr = lerr
        self._stat = stat
        self._serr = serr

    def __repr__(self) -> str:
        return f"<DirEntry {self.name!r}>"

    def __fspath__(self) -> Any:
        return self.path

    def inode(self) -> int:
        return self._ino

    def _error(self, err: int) -> OSError:
        return OSError(err, os.strerror(err), self.path)

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        if self._lstat is None:
            raise self._error(self._lerr)
        if type(self._lstat) is tuple:
            self._lstat = _stat_result(self._lstat)
        if follow_symlinks and _stat.S_ISLNK(self._lstat.st_mode):
            if self._stat is None:
                raise self._error(self._serr)
            if type(self._stat) is tuple:
                self._stat = _stat_result(self._stat)
            result: os.stat_result = self._stat
            return result
        lresult: os.stat_result = self._lstat
        return lresult

    def is_symlink(self) -> bool:
        if self._dtype != _DT_UNKNOWN:
            return self._dtype == _DT_LNK
        return self._lstat is not None and _stat.S_ISLNK(self._lstat[0])


    def _test(self, dtype: int, test: Any, follow_symlinks: bool) -> bool:
        if self._dtype != _DT_UNKNOWN and not (follow_symlinks and
                                               self._dtype == _DT_LNK):
            return self._dtype == dtype
        try:
            st = self.stat(follow_symlinks=follow_symlinks)
        except OSError as e:
            if e.errno == errno.ENOENT:
                return False
            raise
        return bool(test(st.st_mode))

    def is_dir(self, *, follow_symlinks: bool = True) -> bool:
        return self._test(_DT_DIR, _stat.S_ISDIR, follow_symlinks)

    def is_file(self, *, follow_symlinks: bool = True) -> bool:
        return self._test(_DT_REG, _stat.S_ISREG, follow_symlinks)

    def is_junction(self) -> bool:
        return False


class Scandir:
    """The result of aiofiles_c.os.scandir(path).

    ``await`` it for an iterator like os.scandir's (aiofiles' usage), or use
    ``async for entry in scandir(path)`` and ``async with scandir(path)``.
    """

    def __init__(self, path: Any) -> None:
        p, fd, as_str, fname = _fs.path_arg("scandir", "path", path,
                                            allow_fd=True, allow_none=True)
        # Entries' paths join the path given; an fd gives bare names, but -1
        # means no path at all to os, that is ".".
        self._prefix: Any = None
        if fd == -1 and p is None:
            p, fname = b".", "."
            self._prefix = "."
        elif p is not None:
            self._prefix = "." if path is None else fname
        self._job = (p, fd, fname)
        self._as_str = as_str
        self._blob: bytes | None = None   # the batch being iterated
        self._more: list[bytes] = []      # batches fetched, not yet reached
        self._handle: Any = None          # the open directory stream
        self._at_end = False
        self._off = 0
        self._since_yield = 0
        self._closed = False
        # Calls that may fetch (async for, await) take turns: one job at a
        # time on the directory stream, entries handed out in call order.
        # _turn is done when the last call in line has finished; _turn_loop
        # is the loop of that line. _mu guards this bookkeeping and the
        # cursor against threads (it is never held across an await).
        self._mu = threading.Lock()
        self._turn: asyncio.Future[None] | None = None
        self._turn_loop: Any = None
        self._fetching: asyncio.Task[None] | None = None

    async def _in_turn(self, step: Any) -> Any:
        """Run step() after every call made before this one has finished
        (a cancelled call passes its turn on only when the one before it
        is done). Calls from a second event loop while the first one's are
        in line raise RuntimeError: a future cannot be awaited across
        loops."""
        loop = asyncio.get_running_loop()
        with self._mu:
            prev = self._turn
            if prev is not None and prev.done():
                prev = None
            if prev is not None and self._turn_loop is not loop:
                raise self._conflict()
            mine: asyncio.Future[None] = loop.create_future()
            self._turn, self._turn_loop = mine, loop
        try:
            if prev is not None:
                wait: asyncio.Future[None] = loop.create_future()
                prev.add_done_callback(lambda _: _release(wait))
                await wait
            return await step()
        finally:
            if prev is not None and not prev.done():
                prev.add_done_callback(lambda _: _release(mine))
            else:
                _release(mine)

    def __repr__(self) -> str:
        return f"<aiofiles_c.os.scandir iterator of {self._job[2]!r}>"

    def _conflict(self) -> RuntimeError:
        return RuntimeError(
            f"{self!r} is being iterated from another event loop; one "
            "scandir iterator cannot be used from two loops at once")

    async def _fetch(self) -> None:
        """One more batch from the pool (or wait for the one in flight).
        The fetch runs in a task of its own, so a caller cancelled meanwhile
        loses no entries: the batch is kept for the next call."""
        if self._closed or self._at_end:
            return
        loop = asyncio.get_running_loop()
        t = self._fetching
        if t is None or t.done():
            t = self._fetching = loop.create_task(self._fetch_job())
            t.add_done_callback(_retrieve)
        elif t.get_loop() is not loop:
            raise self._conflict()
        await asyncio.shield(t)

    async def _fetch_job(self) -> None:
        """The pool job for one batch (the stream stays open between
        batches, owned by a handle that closes it when dropped). One at a
        time: _fetch starts it only when none is in flight."""
        if self._closed or self._at_end:
            return
        p, fd, fname = self._job
        blob, handle, at_end = await _cext.fs(
            _fs.SCANDIR, p, fd=fd, length=_FETCH, filename=fname,
            as_str=self._as_str, handle=self._handle)
        if self._closed:
            return  # closed meanwhile: dropping handle closes the stream
        self._handle, self._at_end = handle, at_end
        with self._mu:
            if self._blob is None:
                self._blob = blob
            else:
                self._more.append(blob)

    async def _fetch_rest(self) -> "Scandir":
        while not self._at_end and not self._closed:
            await self._fetch()
        return self

    async def _fetch_all(self) -> "Scandir":
        return await self._in_turn(self._fetch_rest)  # type: ignore[no-any-return]

    def __await__(self) -> Any:
        # os.scandir's iterator is synchronous: take every batch first.
        return self._fetch_all().__await__()

    def _advance_batch(self) -> bool:
        """Move to the next fetched batch; False if none is waiting."""
        if not self._more:
            return False
        self._blob = self._more.pop(0)
        self._off = 0
        return True

    def _next_entry(self) -> DirEntry | None:
        with self._mu:  # one cursor, also when threads share the iterator
            if self._closed:
                return None
            while self._blob is None or self._off >= len(self._blob):
                if self._blob is None or not self._advance_batch():
                    return None
            blob = self._blob
            off = self._off
            namelen = _HEAD.unpack_from(blob, off)[0]
            self._off = off + _REC + namelen
        _, dtype, flags, lerr, serr, _, ino = _HEAD.unpack_from(blob, off)
        base = off + _HEAD.size
        lv = _FIELDS.unpack_from(blob, base)
        sv = _FIELDS.unpack_from(blob, base + _FIELDS.size)
        raw = blob[off + _REC:off + _REC + namelen]
        name: Any = os.fsdecode(raw) if self._as_str else raw
        if self._prefix is None:
            path = name
        else:
            path = os.path.join(self._prefix, name)
        return DirEntry(name, path, dtype, ino,
                        lv if flags & _LSTAT_OK else None, lerr,
                        sv if flags & _STAT_OK else None, serr)

    # the os.scandir iterator protocol
    def __iter__(self) -> Iterator[DirEntry]:
        return self

    def __next__(self) -> DirEntry:
        if self._blob is None:
            raise RuntimeError("await the scandir() result before iterating")
        entry = self._next_entry()
        if entry is None:
            raise StopIteration
        return entry

    def close(self) -> None:
        self._closed = True
        self._handle = None  # closes the stream if it is still open
        self._more.clear()

    def __enter__(self) -> "Scandir":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # async iteration
    def __aiter__(self) -> "Scandir":
        return self

    async def __anext__(self) -> DirEntry:
        if self._since_yield >= _BATCH:
            # Let the loop run between batches (before taking an entry, so
            # a cancellation here loses none; once, even then).
            self._since_yield = 0
            await asyncio.sleep(0)
        with self._mu:
            in_line = self._turn is not None and not self._turn.done()
        # In memory and nobody waiting ahead: answer at once. Otherwise
        # wait for the turn, so entries go out in call order.
        entry = None if in_line else self._next_entry()
        if entry is None:
            entry = await self._in_turn(self._next_or_fetch)
        if entry is None:
            raise StopAsyncIteration
        self._since_yield += 1
        return entry

    async def _next_or_fetch(self) -> DirEntry | None:
        if self._blob is None:
            await self._fetch()
        entry = self._next_entry()
        while entry is None and not self._at_end and not self._closed:
            await self._fetch()
            entry = self._next_entry()
        return entry

    async def __aenter__(self) -> "Scandir":
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.close()


def _release(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


def _retrieve(task: "asyncio.Task[None]") -> None:
    # A fetch whose caller was cancelled: its error, if any, is not lost to
    # "exception was never retrieved"; the next call fetches again.
    if not task.cancelled():
        task.exception()
