"""Text files.

AsyncTextIOWrapper is aiofiles' class: an io.TextIOWrapper whose every call
runs in the loop's executor. wrap() gives one for a text file object opened
elsewhere. open() gives a _NativeTextIOWrapper (registered as a virtual
subclass, so isinstance checks hold): io.TextIOWrapper's behaviour rebuilt over the native buffered
file, with the hot paths in C (_cext.TextBase).
"""
from __future__ import annotations

import asyncio
import codecs
import functools
import io
import operator
import weakref
from typing import Any

from . import _cext, _turns


# ---- the native text file ----

_WHY_NEED, _WHY_BUSY, _WHY_YIELD = 0, 1, 2
_OP_READLINE, _OP_ANEXT, _OP_READ, _OP_WRITE, _OP_WRITE_BYTES = range(5)

# Codecs io encodes with its own functions rather than the incremental
# encoder (the C half does the same: see ENC_* in cext/text.c).
_ENCODEFUNCS = {"utf-8": 1, "iso8859-1": 2, "ascii": 3, "utf-16-be": 4,
                "utf-16-le": 5, "utf-16": 6, "utf-32-be": 7, "utf-32-le": 8,
                "utf-32": 9}

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


def _pack_cookie(start_pos: int, dec_flags: int = 0, bytes_to_feed: int = 0,
                 chars_to_skip: int = 0, need_eof: bool = False) -> int:
    # io's layout: off_t position, then three C ints and a flag byte,
    # little-endian, as one unsigned integer.
    return (start_pos | (dec_flags & 0xFFFFFFFF) << 64
            | bytes_to_feed << 96 | chars_to_skip << 128
            | int(need_eof) << 160)


def _unpack_cookie(cookie: int) -> tuple[int, int, int, int, bool]:
    if cookie >= 1 << 168:
        raise OverflowError("int too big to convert")
    start_pos = cookie & (2**64 - 1)
    if start_pos >= 2**63:
        start_pos -= 2**64
    dec_flags = (cookie >> 64) & 0xFFFFFFFF
    if dec_flags >= 2**31:
        dec_flags -= 2**32
    bytes_to_feed = (cookie >> 96) & 0xFFFFFFFF
    chars_to_skip = (cookie >> 128) & 0xFFFFFFFF
    need_eof = bool((cookie >> 160) & 0xFF)
    return start_pos, dec_flags, bytes_to_feed, chars_to_skip, need_eof


def _check_decoded(decoded: Any) -> str:
    if not isinstance(decoded, str):
        raise TypeError("decoder should return a string result, not '%s'"
                        % type(decoded).__name__)
    return decoded


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


def _c_int(value: Any) -> int:
    if isinstance(value, float):
        raise TypeError("'float' object cannot be interpreted as an integer")
    v = operator.index(value)
    if not -2**31 <= v <= _INT_MAX:
        raise OverflowError("Python int too large to convert to C int")
    return v


def _ordered(fn: Any) -> Any:
    """An async method that runs after the file's other calls (see
    _NativeTextIOWrapper._spawn)."""
    @functools.wraps(fn)
    def call(self: Any, *args: Any) -> Any:
        return self._spawn(fn, self, *args)

    return call


def _release_unstarted(ref: Any, started: list[bool]) -> None:
    """A call's coroutine was dropped without ever running: the file is no
    longer waiting for it."""
    if not started[0]:
        f = ref()
        if f is not None:
            f._busy -= 1


class _NativeTextIOWrapper(_cext.TextBase):
    """A text file on the native engine: io.TextIOWrapper's behaviour over
    the native buffered file. read(), readline(), async iteration and
    write() are answered on the loop thread when the data is in memory (C,
    _cext.TextBase); everything that needs I/O comes here."""

    # No instance dict: method lookups on the hot path stay cheap.
    __slots__ = ("_lock", "_mode", "_encoding", "_errors", "delete")
    _lock: _turns.Lock | None
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
        self._buffer = buffer
        self._mode = mode
        self._encoding = encoding
        self._errors = errors
        self._codec_name = info.name
        self._codec_errors = errors
        self._errors_strict = int(errors == "strict")
        self._readuniversal = int(not newline)
        self._readtranslate = int(newline is None)
        self._readnl = newline
        self._writetranslate = int(newline != "")
        self._writenl = (newline if newline and newline != "\n" else None)
        self._line_buffering = int(bool(line_buffering))
        self._seekable = self._telling = int(await buffer.seekable())
        if await buffer.writable():
            self._encoder = info.incrementalencoder(errors)
            self._fast_encode = _ENCODEFUNCS.get(info.name, 0)
        if buffer.readable():
            decoder: Any = info.incrementaldecoder(errors)
            if self._readuniversal:
                decoder = io.IncrementalNewlineDecoder(
                    decoder, bool(self._readtranslate))
            self._decoder = decoder
        if self._seekable and self._encoder is not None:
            # Don't write a BOM in the middle of a file.
            self._encoding_start_of_stream = 1
            if await buffer.tell() != 0:
                self._encoding_start_of_stream = 0
                self._encoder.setstate(0)
        return self

    def _get_lock(self) -> _turns.Lock:
        lock = self._lock
        if lock is None:
            lock = self._lock = _turns.Lock()  # works across loops
        return lock

    def __repr__(self) -> str:
        return "<%s.AsyncTextIOWrapper object at %#x> wrapping %r" % (
            __name__, id(self), self._buffer)

    # -- where the native half hands over: a call that needs I/O, or came
    # while another one was in progress, or after a long run of inline
    # answers (then the loop gets one iteration first).

    def _spawn(self, fn: Any, *args: Any) -> Any:
        """The coroutine for a call: counted as busy from the call on (the
        native fast paths then wait for it, so calls take effect in call
        order), run under the file's lock. If it is dropped without ever
        running, the count is given back when it is collected."""
        started = [False]
        coro = self._run(started, fn, args)
        self._busy += 1
        weakref.finalize(coro, _release_unstarted, weakref.ref(self),
                         started)
        return coro

    async def _run(self, started: list[bool], fn: Any,
                   args: tuple[Any, ...]) -> Any:
        started[0] = True
        try:
            async with self._get_lock():
                return await fn(*args)
        finally:
            self._busy -= 1

    def _slow(self, op: int, arg: Any, why: int, state: Any) -> Any:
        return self._spawn(self._slow_io, op, arg, why, state)

    async def _slow_io(self, op: int, arg: Any, why: int, state: Any) -> Any:
        try:
            if why == _WHY_YIELD:
                await asyncio.sleep(0)
                self._yielded()
            # A read or readline the native half began and stopped for
            # input: go on with it.
            resume = state is not None
            if resume:
                self._restore_steps(state)
            if op == _OP_READLINE or op == _OP_ANEXT:
                line = await self._readline_io(arg, resume)
                if op == _OP_ANEXT and not line:
                    raise StopAsyncIteration
                return line
            if op == _OP_READ:
                return await self._read_io(arg, resume)
            if op == _OP_WRITE:
                return await self._write_io(arg)
            data, length, needflush = arg
            return await self._write_bytes(data, length, needflush)
        except BaseException:
            self._reset_steps()
            raise

    async def _fill(self) -> None:
        self._pending_input = await self._buffer.read1(self._need)

    async def _readline_io(self, limit: int, resume: bool) -> str:
        if resume:
            await self._fill()
        while True:
            line: str | None = self._readline_step(limit)
            if line is not None:
                return line
            await self._fill()

    async def _read_io(self, n: int, resume: bool) -> str:
        if n < 0:
            self._check_usable()
            decoder = self._decoder
            if decoder is None:
                raise io.UnsupportedOperation("not readable")
            data = await self._buffer.read()
            decoded = _check_decoded(decoder.decode(data, True))
            result: str = self._get_decoded_chars(-1) + decoded
            self._set_decoded_chars(None)
            self._snapshot = None
            return result
        if resume:
            await self._fill()
        while True:
            text: str | None = self._read_step(n)
            if text is not None:
                return text
            await self._fill()

    async def _write_io(self, text: Any) -> int:
        data, needflush = self._encode(text)
        return await self._write_bytes(data, len(text), needflush)

    async def _write_bytes(self, data: bytes, length: int,
                           needflush: bool) -> int:
        await self._buffer.write(data)
        if needflush:
            await self._buffer.flush()
        self._after_write()
        return length

    # -- the other calls: Python, in call order with the native ones

    async def _flush_io(self) -> None:
        self._check_usable()
        self._telling = self._seekable
        await self._buffer.flush()

    @_ordered
    async def flush(self) -> None:
        await self._flush_io()

    @_ordered
    async def close(self) -> None:
        self._check_attached()
        if self._buffer.closed:
            return
        try:
            await self._flush_io()
        except GeneratorExit:
            raise  # the coroutine is being destroyed: it may not await
        except BaseException:
            await self._buffer.close()  # as io: closed even so
            raise
        await self._buffer.close()

    @_ordered
    async def readlines(self, hint: Any = None) -> list[str]:
        hint = _optional_size(hint)
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        lines: list[str] = []
        total = 0
        while True:
            # io iterates with __next__, which turns tell() off until the
            # end of the file is reached.
            self._check_attached()
            self._telling = 0
            line = await self._readline_io(-1, False)
            if not line:
                self._snapshot = None
                self._telling = self._seekable
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint < total:
                return lines

    @_ordered
    async def writelines(self, lines: Any) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        for line in lines:
            await self._write_io(line)

    @_ordered
    async def tell(self) -> int:
        return await self._tell_io()

    async def _tell_io(self) -> int:
        self._check_usable()
        if not self._seekable:
            raise io.UnsupportedOperation("underlying stream is not seekable")
        if not self._telling:
            raise OSError("telling position disabled by next() call")
        await self._flush_io()
        position: int = await self._buffer.tell()
        decoder = self._decoder
        if decoder is None or self._snapshot is None:
            return position
        dec_flags, next_input = self._snapshot
        position -= len(next_input)
        chars_to_skip = self._decoded_chars_used
        if chars_to_skip == 0:
            return _pack_cookie(position, dec_flags)
        saved_state = decoder.getstate()
        try:
            return self._reconstruct(decoder, position, dec_flags,
                                     next_input, chars_to_skip)
        finally:
            decoder.setstate(saved_state)

    def _decoder_setstate(self, decoder: Any, start_pos: int,
                          dec_flags: int) -> None:
        # At the start of the stream reset() rather than setstate(): some
        # decoders (utf-16) then expect a BOM.
        if start_pos == 0 and dec_flags == 0:
            decoder.reset()
        else:
            decoder.setstate((b"", dec_flags))

    def _reconstruct(self, decoder: Any, start_pos: int, dec_flags: int,
                     next_input: bytes, chars_to_skip: int) -> int:
        """tell(): walk the decoder forward from the snapshot point to the
        current character, as io does, and pack the cookie."""
        def getstate() -> tuple[int, int]:
            state = decoder.getstate()
            if not isinstance(state, tuple):
                raise TypeError("illegal decoder state")
            buf, flags = state
            return len(buf), flags

        # Fast search for an acceptable start point, close to our position.
        # (io's C code may look past next_input here when the ratio is
        # stale, after a seek; stay inside it.)
        skip_bytes = min(int(self._b2cratio * chars_to_skip), len(next_input))
        skip_back = 1
        while skip_bytes > 0:
            self._decoder_setstate(decoder, start_pos, dec_flags)
            n = len(_check_decoded(decoder.decode(next_input[:skip_bytes])))
            if n <= chars_to_skip:
                buffered, flags = getstate()
                if buffered == 0:
                    dec_flags = flags
                    chars_to_skip -= n
                    break
                skip_bytes -= buffered
                skip_back = 1
            else:
                skip_bytes -= skip_back
                skip_back *= 2
        if skip_bytes <= 0:
            skip_bytes = 0
            self._decoder_setstate(decoder, start_pos, dec_flags)
        start_pos += skip_bytes
        if chars_to_skip == 0:
            return _pack_cookie(start_pos, dec_flags)
        # Feed the decoder one byte at a time, noting the nearest safe start
        # point (nothing buffered in the decoder) before the target.
        bytes_to_feed = 0
        chars_decoded = 0
        need_eof = False
        i = skip_bytes
        end = len(next_input)
        while i < end:
            chars_decoded += len(_check_decoded(
                decoder.decode(next_input[i:i + 1])))
            bytes_to_feed += 1
            buffered, flags = getstate()
            if buffered == 0 and chars_decoded <= chars_to_skip:
                start_pos += bytes_to_feed
                chars_to_skip -= chars_decoded
                dec_flags = flags
                bytes_to_feed = 0
                chars_decoded = 0
            if chars_decoded >= chars_to_skip:
                break
            i += 1
        if i == end:
            # Not enough decoded data: signal EOF to get more.
            chars_decoded += len(_check_decoded(decoder.decode(b"", True)))
            need_eof = True
            if chars_decoded < chars_to_skip:
                raise OSError("can't reconstruct logical file position")
        return _pack_cookie(start_pos, dec_flags, bytes_to_feed,
                            chars_to_skip, need_eof)

    def _reset_encoder(self, start_of_stream: bool) -> None:
        encoder = self._encoder
        if encoder is not None:
            if start_of_stream:
                encoder.reset()
            else:
                encoder.setstate(0)
            self._encoding_start_of_stream = int(start_of_stream)

    @_ordered
    async def seek(self, cookie: Any, whence: Any = 0) -> int:
        whence = _c_int(whence)
        self._check_usable()
        if not self._seekable:
            raise io.UnsupportedOperation("underlying stream is not seekable")
        if whence == io.SEEK_CUR:
            if cookie != 0:
                raise io.UnsupportedOperation(
                    "can't do nonzero cur-relative seeks")
            # Seeking to the current position syncs the buffer with it.
            cookie = await self._tell_io()
        elif whence == io.SEEK_END:
            if cookie != 0:
                raise io.UnsupportedOperation(
                    "can't do nonzero end-relative seeks")
            await self._flush_io()
            self._set_decoded_chars(None)
            self._snapshot = None
            if self._decoder is not None:
                self._decoder.reset()
            position: int = await self._buffer.seek(0, 2)
            self._reset_encoder(position == 0)
            return position
        elif whence != io.SEEK_SET:
            raise ValueError("invalid whence (%d, should be %d, %d or %d)"
                             % (whence, io.SEEK_SET, io.SEEK_CUR,
                                io.SEEK_END))
        if cookie < 0:
            raise ValueError("negative seek position %r" % (cookie,))
        await self._flush_io()
        start_pos, dec_flags, bytes_to_feed, chars_to_skip, need_eof = \
            _unpack_cookie(int(cookie))
        await self._buffer.seek(start_pos)
        self._set_decoded_chars(None)
        self._snapshot = None
        decoder = self._decoder
        if decoder is not None:
            self._decoder_setstate(decoder, start_pos, dec_flags)
        if chars_to_skip:
            # Like a chunk read: feed the decoder and take a snapshot.
            data = await self._buffer.read(bytes_to_feed)
            self._snapshot = (dec_flags, data)
            decoded = _check_decoded(decoder.decode(data, need_eof))
            self._set_decoded_chars(decoded)
            if len(decoded) < chars_to_skip:
                raise OSError("can't restore logical file position")
            self._decoded_chars_used = chars_to_skip
        else:
            self._snapshot = (dec_flags, b"")
        self._reset_encoder(start_pos == 0 and dec_flags == 0)
        return cookie  # type: ignore[no-any-return]

    @_ordered
    async def truncate(self, pos: Any = None) -> int:
        self._check_attached()
        await self._flush_io()
        result: int = await self._buffer.truncate(pos)
        return result

    @_ordered
    async def readable(self) -> bool:
        self._check_attached()
        return bool(self._buffer.readable())

    @_ordered
    async def writable(self) -> bool:
        self._check_attached()
        return bool(await self._buffer.writable())

    @_ordered
    async def seekable(self) -> bool:
        self._check_attached()
        return bool(await self._buffer.seekable())

    @_ordered
    async def isatty(self) -> bool:
        self._check_attached()
        return bool(await self._buffer.isatty())

    def fileno(self) -> int:
        self._check_attached()
        result: int = self._buffer.fileno()
        return result

    def detach(self) -> Any:
        """Give up the file: returns it as a (blocking) io buffered object,
        as aiofiles' detach() does."""
        self._check_attached()
        if self._buffer.closed:
            raise ValueError("I/O operation on closed file.")
        if self._busy:
            raise RuntimeError("detach() while operations are in progress")
        buffer = self._buffer
        raw = buffer.detach()
        self._buffer = None
        readable = raw.readable()
        if readable and raw.writable():
            return io.BufferedRandom(raw)
        return io.BufferedReader(raw) if readable else io.BufferedWriter(raw)

    @property
    def buffer(self) -> Any:
        return self._buffer

    @property
    def closed(self) -> bool:
        self._check_attached()
        return bool(self._buffer.closed)

    @property
    def name(self) -> Any:
        self._check_attached()
        return self._buffer.name

    @property
    def encoding(self) -> str:
        return self._encoding

    @property
    def errors(self) -> str:
        return self._errors

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def line_buffering(self) -> bool:
        return bool(self._line_buffering)

    @property
    def newlines(self) -> Any:
        self._check_attached()
        if self._decoder is None:
            return None
        return getattr(self._decoder, "newlines", None)

