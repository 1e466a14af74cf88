"""Text files.

AsyncTextIOWrapper is aiofiles' class: an io.TextIOWrapper whose every call
runs in the loop's executor. wrap() gives one for a text file object opened
elsewhere. open() gives a _NativeTextIOWrapper (registered as a virtual
subclass, so isinstance checks hold): io.TextIOWrapper's behaviour over the
native buffered file, its state and hot paths in C (_cext.TextBase, see the
head of cext/text.c), its awaiting here.
"""
from __future__ import annotations

import asyncio
import codecs
import functools
import io
import operator
import sys
import weakref
from typing import Any, Callable, TypeVar

from . import _cext, _turns


# ---- the native text file ----

# The `why` and `op` arguments of _slow: the extension's codes (text.h).
_WHY_BUSY: int = _cext.TEXT_WHY_BUSY
_WHY_YIELD: int = _cext.TEXT_WHY_YIELD
_OP_READLINE: int = _cext.TEXT_OP_READLINE
_OP_ANEXT: int = _cext.TEXT_OP_ANEXT
_OP_READ: int = _cext.TEXT_OP_READ
_OP_WRITE: int = _cext.TEXT_OP_WRITE
_OP_WRITE_BYTES: int = _cext.TEXT_OP_WRITE_BYTES

_INT_MAX = 2**31 - 1


def _probe(encoding: Any, errors: Any, newline: Any,
           line_buffering: bool) -> tuple[str, str]:
    """Check the arguments with io.TextIOWrapper itself (same exceptions,
    messages and warnings) and get the encoding it resolves."""
    t = io.TextIOWrapper(io.BytesIO(), encoding, errors, newline,
                         line_buffering)
    try:
        return t.encoding, t.errors or "strict"
    finally:
        t.detach()


def _optional_size(size: Any) -> int:
    if size is None:
        return -1
    if not hasattr(type(size), "__index__"):
        raise TypeError("argument should be integer or None, not '%s'"
                        % type(size).__name__)
    v = operator.index(size)
    if not -2**63 <= v < 2**63:
        raise OverflowError("cannot fit 'int' into an index-sized integer")
    return v


# io's C int arguments before Python 3.10: a float refused up front, other
# non-integers in PyLong_AsLong's words of the time.
_OLD_INT_ERRORS = sys.version_info < (3, 10)
_FLOAT_FOR_INT = ("integer argument expected, got float" if _OLD_INT_ERRORS
                  else "'float' object cannot be interpreted as an integer")


def _c_int(value: Any) -> int:
    if isinstance(value, float):
        raise TypeError(_FLOAT_FOR_INT)
    if _OLD_INT_ERRORS and not hasattr(type(value), "__index__"):
        raise TypeError("an integer is required (got type "
                        f"{type(value).__name__})")
    v = operator.index(value)
    if not -2**31 <= v <= _INT_MAX:
        raise OverflowError("Python int too large to convert to C int")
    return v


def _arity_error(name: str, lo: int, hi: int, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> TypeError | None:
    """io's TypeError for a call of TextIOWrapper.<name> with these
    arguments (it takes lo to hi positional ones), or None if they fit."""
    n = len(args)
    if kwargs:
        return TypeError("TextIOWrapper.%s() takes no keyword arguments"
                         % name)
    if lo <= n <= hi:
        return None
    if hi == 0:
        return TypeError("TextIOWrapper.%s() takes no arguments (%d given)"
                         % (name, n))
    if lo == hi == 1:
        return TypeError("TextIOWrapper.%s() takes exactly one argument "
                         "(%d given)" % (name, n))
    if n < lo:
        return TypeError("%s expected at least %d argument%s, got %d"
                         % (name, lo, "" if lo == 1 else "s", n))
    return TypeError("%s expected at most %d argument%s, got %d"
                     % (name, hi, "" if hi == 1 else "s", n))


async def _raise(exc: BaseException) -> Any:
    raise exc


_F = TypeVar("_F", bound=Callable[..., Any])


def _ordered(lo: int, hi: int) -> Callable[[_F], _F]:
    """An async method that takes lo to hi positional arguments (checked
    as io checks them, the error raised when awaited) and runs after the
    file's other calls (see _NativeTextIOWrapper._spawn)."""
    def wrap(fn: _F) -> _F:
        name = fn.__name__

        @functools.wraps(fn)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            exc = _arity_error(name, lo, hi, args, kwargs)
            if exc is not None:
                return _raise(exc)
            return self._spawn(fn, self, *args)

        return call  # type: ignore[return-value]

    return wrap


def _plain(lo: int, hi: int) -> Callable[[_F], _F]:
    """A plain method whose arguments are checked as io checks them."""
    def wrap(fn: _F) -> _F:
        name = fn.__name__

        @functools.wraps(fn)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            exc = _arity_error(name, lo, hi, args, kwargs)
            if exc is not None:
                raise exc
            return fn(self, *args)

        return call  # type: ignore[return-value]

    return wrap


def _retrieve(fut: "asyncio.Future[Any]") -> None:
    """A read nobody may ever await again: its error is not news."""
    if not fut.cancelled():
        fut.exception()


def _release_unstarted(ref: Any, started: list[bool]) -> None:
    """A call's coroutine was dropped without ever running: the file is no
    longer waiting for it."""
    if not started[0]:
        f = ref()
        if f is not None:
            f._unhold()


class _NativeTextIOWrapper(_cext.TextBase):
    """A text file on the native engine: io.TextIOWrapper's behaviour over
    the native buffered file. The text state lives in C (_cext.TextBase),
    which answers read(), readline(), async iteration and write() on the
    loop thread when the data is in memory; here are the calls that await
    the buffered file, driving the C object through its methods."""

    # No instance dict: method lookups on the hot path stay cheap.
    __slots__ = ("_lock", "_orphan", "_mode", "_encoding", "_errors",
                 "delete")
    _lock: _turns.Lock | None
    _orphan: "asyncio.Future[bytes] | None"  # see _fill
    _mode: str
    _encoding: str
    _errors: str
    delete: bool  # NamedTemporaryFile sets it

    def __init__(self) -> None:  # built by _create()
        pass

    @classmethod
    async def _create(cls, buffer: Any, mode: str, encoding: Any,
                      errors: Any, newline: Any,
                      line_buffering: bool) -> "_NativeTextIOWrapper":
        encoding, errors = _probe(encoding, errors, newline, line_buffering)
        info = codecs.lookup(encoding)
        self = cls()
        self._lock = None
        self._orphan = None
        self._mode = mode
        self._encoding = encoding
        self._errors = errors
        seekable = bool(await buffer.seekable())
        encoder = None
        if await buffer.writable():
            encoder = info.incrementalencoder(errors)
        decoder: Any = None
        if buffer.readable():
            decoder = info.incrementaldecoder(errors)
            if not newline:
                decoder = io.IncrementalNewlineDecoder(decoder,
                                                       newline is None)
        position = None
        if seekable and encoder is not None:
            position = await buffer.tell()
        self._configure(buffer, decoder, encoder, info.name, errors, newline,
                        bool(line_buffering), seekable, position)
        return self

    def _get_lock(self) -> _turns.Lock:
        lock = self._lock
        if lock is None:
            lock = self._lock = _turns.Lock()  # works across loops
        return lock

    def __repr__(self) -> str:
        return "<%s.AsyncTextIOWrapper object at %#x> wrapping %r" % (
            __name__, id(self), self.buffer)

    # -- where the native half hands over: a call that needs I/O, or came
    # while another one was in progress, or after a long run of inline
    # answers (then the loop gets one iteration first).

    def _spawn(self, fn: Any, *args: Any) -> Any:
        """The coroutine for a call: counted as in progress from the call
        on (the native fast paths then wait for it, so calls take effect in
        call order), run under the file's lock. If it is dropped without
        ever running, the count is given back when it is collected."""
        started = [False]
        coro = self._run(started, fn, args)
        self._hold()
        weakref.finalize(coro, _release_unstarted, weakref.ref(self),
                         started)
        return coro

    async def _run(self, started: list[bool], fn: Any,
                   args: tuple[Any, ...]) -> Any:
        started[0] = True
        try:
            async with self._get_lock():
                if self._orphan is not None:
                    await self._adopt_orphan()
                return await fn(*args)
        finally:
            self._unhold()

    def _slow(self, op: int, arg: Any, why: int) -> Any:
        return self._spawn(self._slow_io, op, arg, why)

    async def _slow_io(self, op: int, arg: Any, why: int) -> Any:
        # A call the native half could not finish (it needs input, other
        # calls are in progress, or the loop is owed a turn), made here
        # from its start: one the native half stopped part-way gave its
        # text back first.
        try:
            if why == _WHY_YIELD:
                await _cext._yield()
            if op == _OP_READLINE or op == _OP_ANEXT:
                line = await self._steps(self._step_readline, arg)
                if op == _OP_ANEXT and not line:
                    raise StopAsyncIteration
                return line
            if op == _OP_READ:
                return await self._read_io(arg)
            if op == _OP_WRITE:
                return await self._write_io(arg)
            data, length, flush_after = arg
            return await self._write_bytes(data, length, flush_after)
        except asyncio.CancelledError:
            # Cancelled while waiting for input: the text the call had
            # taken goes back, the next call starts there.
            self._give_back()
            raise
        except BaseException:
            self._abandon()
            raise

    async def _fill(self, need: int) -> None:
        # If the call is cancelled while the read is in flight, the read
        # still takes its bytes from the file: they are kept (as read, not
        # yet decoded) for the next call, so no text goes missing.
        read = asyncio.ensure_future(self.buffer.read1(need))
        try:
            self._feed(await asyncio.shield(read))
        except asyncio.CancelledError:
            if read.done():
                self._keep_input(read)
            else:
                # The file stays busy until the next call has taken the
                # bytes (_run): calls keep their order in the text.
                self._orphan = read
                self._hold()
                read.add_done_callback(_retrieve)
            raise

    def _keep_input(self, read: "asyncio.Future[bytes]") -> None:
        if not read.cancelled() and read.exception() is None:
            self._return_input(read.result())

    async def _adopt_orphan(self) -> None:
        read = self._orphan
        assert read is not None
        if read.get_loop() is asyncio.get_running_loop():
            await asyncio.shield(read)  # cancelled here: it stays the orphan
        else:
            await _turns.wait_other_loop(read, "text file")
        self._orphan = None
        self._unhold()
        self._keep_input(read)

    async def _steps(self, step: Any, arg: int) -> str:
        """Run a read or readline step until it has its answer: between
        steps, read the bytes it asks for, or let the loop run."""
        need = 0
        while True:
            if need:
                await self._fill(need)
            result = step(arg)
            if isinstance(result, str):
                return result
            need = result
            if not need:
                await _cext._yield()

    async def _read_io(self, n: int) -> str:
        if n >= 0:
            return await self._steps(self._step_read, n)
        head = self._read_all_start()
        return self._read_all_finish(head + await self.buffer.read())

    async def _write_io(self, text: Any) -> int:
        data, flush_after = self._encode(text)
        return await self._write_bytes(data, len(text), flush_after)

    async def _write_bytes(self, data: bytes, length: int,
                           flush_after: bool) -> int:
        # On a regular file, encoded bytes wait in the buffered file's
        # memory up to _CHUNK_SIZE, as io's pending bytes do, and go out
        # when the next ones would take them past it or once they reach
        # it: io's write(2) calls, made by the same text writes.
        put = self._put(data) if data else -1
        if put == 0:
            await self.buffer.flush()
            put = self._put(data)
        if put < 0 or put == 0:
            await self.buffer.write(data)
        if flush_after or put == 2:
            await self.buffer.flush()
        self._after_write()
        return length

    # -- the other calls: Python, in call order with the native ones

    async def _flush_io(self) -> None:
        self._flushing()
        await self.buffer.flush()

    @_ordered(0, 0)
    async def flush(self) -> None:
        await self._flush_io()

    @_ordered(0, 0)
    async def close(self) -> None:
        self._attached()
        buffer = self.buffer
        if buffer.closed:
            return
        try:
            await self._flush_io()
        except GeneratorExit:
            raise  # the coroutine is being destroyed: it may not await
        except BaseException:
            await buffer.close()  # as io: closed even so
            raise
        await buffer.close()

    @_ordered(0, 1)
    async def readlines(self, hint: Any = None) -> list[str]:
        hint = _optional_size(hint)
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        lines: list[str] = []
        total = 0
        while True:
            # io iterates with __next__, which turns tell() off until the
            # end of the file is reached.
            self._attached()
            self._iteration(True)
            try:
                line = await self._steps(self._step_readline, -1)
            except asyncio.CancelledError:
                self._give_back()
                raise
            except BaseException:
                self._abandon()
                raise
            if not line:
                self._iteration(False)
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint < total:
                return lines

    @_ordered(1, 1)
    async def writelines(self, lines: Any) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        for line in lines:
            await self._write_io(line)

    @_ordered(0, 0)
    async def tell(self) -> int:
        return await self._tell_io()

    async def _tell_io(self) -> int:
        self._seekable_check(True)
        await self._flush_io()
        cookie: int = self._cookie(await self.buffer.tell())
        return cookie

    @_ordered(1, 2)
    async def seek(self, cookie: Any, whence: Any = 0) -> int:
        whence = _c_int(whence)
        self._seekable_check(False)
        if whence == io.SEEK_CUR:
            if cookie != 0:
                raise io.UnsupportedOperation(
                    "can't do nonzero cur-relative seeks")
            # Zero from here: the cookie tell() makes, after its flush.
            cookie = await self._tell_io()
        elif whence == io.SEEK_END:
            if cookie != 0:
                raise io.UnsupportedOperation(
                    "can't do nonzero end-relative seeks")
            await self._flush_io()
            self._seek_end()
            position: int = await self.buffer.seek(0, 2)
            self._restart_encoder(position == 0)
            return position
        elif whence != io.SEEK_SET:
            raise ValueError("invalid whence (%d, should be %d, %d or %d)"
                             % (whence, io.SEEK_SET, io.SEEK_CUR,
                                io.SEEK_END))
        if cookie < 0:
            raise ValueError("negative seek position %r" % (cookie,))
        await self._flush_io()
        start, skips, feed = self._seek_plan(cookie)
        await self.buffer.seek(start)
        self._seek_apply(cookie)
        if skips:
            self._seek_skip(cookie, await self.buffer.read(feed))
        return cookie  # type: ignore[no-any-return]

    @_ordered(0, 1)
    async def truncate(self, pos: Any = None) -> int:
        self._attached()
        await self._flush_io()
        result: int = await self.buffer.truncate(pos)
        return result

    @_ordered(0, 0)
    async def readable(self) -> bool:
        self._attached()
        return bool(self.buffer.readable())

    @_ordered(0, 0)
    async def writable(self) -> bool:
        self._attached()
        return bool(await self.buffer.writable())

    @_ordered(0, 0)
    async def seekable(self) -> bool:
        self._attached()
        return bool(await self.buffer.seekable())

    @_ordered(0, 0)
    async def isatty(self) -> bool:
        self._attached()
        return bool(await self.buffer.isatty())

    @_plain(0, 0)
    def fileno(self) -> int:
        self._attached()
        result: int = self.buffer.fileno()
        return result

    @_plain(0, 0)
    def detach(self) -> Any:
        """Give up the file: returns it as a (blocking) io buffered object,
        as aiofiles' detach() does."""
        self._attached()
        if self.buffer.closed:
            raise ValueError("I/O operation on closed file.")
        raw = self._detach(False).detach()
        self._detach(True)
        readable = raw.readable()
        if readable and raw.writable():
            return io.BufferedRandom(raw)
        return io.BufferedReader(raw) if readable else io.BufferedWriter(raw)

    @property
    def closed(self) -> bool:
        self._attached()
        return bool(self.buffer.closed)

    @property
    def name(self) -> Any:
        self._attached()
        return self.buffer.name

    @property
    def encoding(self) -> str:
        return self._encoding

    @property
    def errors(self) -> str:
        return self._errors

    @property
    def mode(self) -> str:
        return self._mode
