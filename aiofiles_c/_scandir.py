"""scandir: entries listed in one pool job, made into os.DirEntry-compatible
objects on the loop thread as they are iterated."""
from __future__ import annotations

import asyncio
import errno
import os
import stat as _stat
import threading
import time
from types import TracebackType
from collections.abc import Awaitable
from typing import Any, Iterator

from . import _cext, _fs

# A batch's records (struct afc_scan_rec, cext/pool.h) are read by the
# extension (scan_entries); their d_type values are its constants.
_DT_DIR: int = _cext.DT_DIR
_DT_REG: int = _cext.DT_REG
_DT_LNK: int = _cext.DT_LNK
_DT_UNKNOWN: int = _cext.DT_UNKNOWN
_AT_FDCWD: int = _cext.AT_FDCWD
_BATCH = 64  # entries made at a time; async for looks at the clock then
_YIELD_NS = 500_000  # async for lets the loop run after this much
_FETCH = 2048  # entries listed by one pool job
# Tests: the job reports every entry's type as unknown, as some file
# systems do, so that it stats each one.
_TYPES_UNKNOWN = False


def _stat_result(v: tuple[int, ...]) -> os.stat_result:
    mode, ino, dev, nlink, uid, gid, size, a_s, a_ns, m_s, m_ns, c_s, c_ns, \
        blksize, blocks, rdev = v
    return os.stat_result((
        mode, ino, dev, nlink, uid, gid, size, a_s, m_s, c_s,
        a_s + a_ns * 1e-9, m_s + m_ns * 1e-9, c_s + c_ns * 1e-9,
        a_s * 1_000_000_000 + a_ns, m_s * 1_000_000_000 + m_ns,
        c_s * 1_000_000_000 + c_ns, blksize, blocks, rdev))


class DirEntry:
    """What os.DirEntry offers. The type comes from the directory listing
    (d_type), as os.scandir's does, so is_dir(), is_file() and
    is_symlink() make no system call; where the file system gave no type,
    and for symlinks, the pool job that listed the directory also took the
    lstat (and the stat of a symlink). stat() of any other entry is taken
    when first asked for, as os.DirEntry does, on the loop thread: from
    the kernel's caches when it cannot wait (cext/fastpath.c), else by a
    plain os.stat, which may."""

    __slots__ = ("name", "path", "_dtype", "_ino", "_lstat", "_stat",
                 "_lerr", "_serr", "_dir_fd")

    def __init__(self, name: Any, path: Any, dtype: int, ino: int,
                 lstat: Any, lerr: int, stat: Any, serr: int,
                 dir_fd: int = _AT_FDCWD) -> None:
        # lstat/stat: raw field tuples from the job until first asked for,
        # then os.stat_result objects; None: not taken (yet), or failed
        # with lerr/serr in the job.
        self.name = name
        self.path = path
        self._dtype = dtype
        self._ino = ino
        self._lstat = lstat
        self._lerr = lerr
        self._stat = stat
        self._serr = serr
        self._dir_fd = dir_fd

    def __repr__(self) -> str:
        return f"<DirEntry {self.name!r}>"

    def __fspath__(self) -> Any:
        return self.path

    def inode(self) -> int:
        return self._ino

    def _error(self, err: int) -> OSError:
        return OSError(err, os.strerror(err), self.path)

    def _fetch(self, follow_symlinks: bool) -> os.stat_result:
        """The stat os.DirEntry would make now: from the caches on the loop
        thread where that cannot wait, else os.stat (relative to the
        listed descriptor for scandir(fd), as os does)."""
        at = self._dir_fd
        where = self.path if at == _AT_FDCWD else self.name
        r = _cext.scan_stat(os.fsencode(where), at, not follow_symlinks)
        if r is None:
            if at == _AT_FDCWD:
                return os.stat(where, follow_symlinks=follow_symlinks)
            return os.stat(where, dir_fd=at, follow_symlinks=follow_symlinks)
        if type(r) is int:
            raise self._error(r)
        result: os.stat_result = r
        return result

    def _get_lstat(self) -> os.stat_result:
        v = self._lstat
        if type(v) is tuple:
            v = self._lstat = _stat_result(v)
        elif v is None:
            if self._lerr:
                raise self._error(self._lerr)
            v = self._lstat = self._fetch(False)
        result: os.stat_result = v
        return result

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        d = self._dtype
        lst = self._get_lstat()
        if follow_symlinks and (d == _DT_LNK or d == _DT_UNKNOWN) and \
                _stat.S_ISLNK(lst.st_mode):
            v = self._stat
            if type(v) is tuple:
                v = self._stat = _stat_result(v)
            elif v is None:
                if self._serr:
                    raise self._error(self._serr)
                v = self._stat = self._fetch(True)
            result: os.stat_result = v
            return result
        return lst

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
        d = self._dtype
        if d == _DT_DIR:
            return True
        if d != _DT_LNK and d != _DT_UNKNOWN:
            return False
        return self._test(_DT_DIR, _stat.S_ISDIR, follow_symlinks)

    def is_file(self, *, follow_symlinks: bool = True) -> bool:
        d = self._dtype
        if d == _DT_REG:
            return True
        if d != _DT_LNK and d != _DT_UNKNOWN:
            return False
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
        # Entries' stats are taken relative to the listed descriptor.
        self._dir_fd = fd if p is None else _AT_FDCWD
        # What an entry's path is: joined + name (os.path.join's result,
        # made once); None with a prefix: os.path.join each time.
        self._joined: Any = None
        if self._prefix is not None:
            try:
                self._joined = os.path.join(
                    self._prefix, "" if as_str else b"")
            except TypeError:
                pass
        self._blob: bytes | None = None   # the batch being iterated
        self._more: list[bytes] = []      # batches fetched, not yet reached
        self._ready: list[DirEntry] = []  # entries made, last one first
        self._handle: Any = None          # the open directory stream
        self._at_end = False
        self._off = 0
        self._since_yield = 0
        self._yielded = time.monotonic_ns()
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
            as_str=self._as_str, handle=self._handle,
            flags=_cext.SCAN_TYPES_UNKNOWN if _TYPES_UNKNOWN else 0)
        if self._closed:
            return  # closed meanwhile: dropping handle closes the stream
        self._handle, self._at_end = handle, at_end
        with self._mu:
            if self._blob is None:
                self._blob = blob
            else:
                self._more.append(blob)
            ahead = len(self._more)
        if not at_end and ahead == 0:
            # The pool lists the next batch while the loop makes this one's
            # entries (close() releases the descriptor once it is back).
            t = self._fetching = asyncio.get_running_loop().create_task(
                self._fetch_job())
            t.add_done_callback(_retrieve)

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
        ready = self._ready
        if ready:
            try:
                return ready.pop()  # one cursor, also when threads share it
            except IndexError:
                pass
        with self._mu:
            if self._closed:
                return None
            while not self._ready:
                while self._blob is None or self._off >= len(self._blob):
                    if self._blob is None or not self._advance_batch():
                        return None
                self._make_entries()
            return self._ready.pop()

    def _make_entries(self) -> None:
        """The next _BATCH entries of the batch, into _ready (with _mu)."""
        blob = self._blob
        assert blob is not None
        joined = self._joined
        if self._prefix is not None and joined is None:
            self._ready, self._off = self._make_entries_joining(blob)
            return
        self._ready, self._off = _cext.scan_entries(
            blob, self._off, _BATCH, joined, self._as_str, self._dir_fd,
            DirEntry)

    def _make_entries_joining(self, blob: bytes) -> tuple[list[DirEntry], int]:
        """_make_entries for a prefix os.path.join is left to join (one
        given as another bytes-like object)."""
        made, off = _cext.scan_entries(blob, self._off, _BATCH, None,
                                       self._as_str, self._dir_fd, DirEntry)
        for e in made:
            e.path = os.path.join(self._prefix, e.name)
        return made, off

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
        self._ready = []

    def __enter__(self) -> "Scandir":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # async iteration
    def __aiter__(self) -> "Scandir":
        return self

    def __anext__(self) -> Awaitable[DirEntry]:
        if self._since_yield < _BATCH and self._ready:
            turn = self._turn
            if turn is None or turn.done():
                # In memory and nobody waiting ahead: a finished awaitable
                # (no coroutine per entry).
                try:
                    entry = self._ready.pop()
                except IndexError:
                    pass
                else:
                    self._since_yield += 1
                    done: Awaitable[DirEntry] = _cext._done(entry)
                    return done
        return self._anext()

    async def _anext(self) -> DirEntry:
        if self._since_yield >= _BATCH:
            # Every _BATCH entries, a look at the clock: let the loop run
            # once its turn has lasted _YIELD_NS (before taking an entry,
            # so a cancellation here loses none; once, even then).
            self._since_yield = 0
            if time.monotonic_ns() - self._yielded > _YIELD_NS:
                await asyncio.sleep(0)
                self._yielded = time.monotonic_ns()
        turn = self._turn
        # In memory and nobody waiting ahead: answer at once. Otherwise
        # wait for the turn, so entries go out in call order.
        ready = self._ready
        entry = None
        if turn is None or turn.done():
            if ready:
                try:
                    entry = ready.pop()
                except IndexError:
                    entry = self._next_entry()
            else:
                entry = self._next_entry()
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
