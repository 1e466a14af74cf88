"""Whole-file calls: read_bytes/read_text/write_bytes/write_text(path, ...).

The results, exceptions and files on disk are pathlib.Path's methods' own:
the same argument checks before the file is touched, the same truncation
when the text layer refuses an encoding after the file was opened. For now
the writes compose the native open/write/close; read_bytes (and so
read_text) is one native call.
"""
from __future__ import annotations

import builtins
import io
import os
import pathlib
import sys
from typing import Any, Union

from . import _open as _open_mod
from ._backend import NATIVE
from ._open import _open_flags, open as _afc_open, plain_path_str

if NATIVE:
    from . import _fs
    _AT_FDCWD = _fs.AT_FDCWD
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)

StrPath = Union[str, "os.PathLike[str]"]


def _native_name(path: Any) -> str | None:
    """The path read_bytes gives the native one-call read: a str or a
    pathlib path, with no NUL, when open() is not patched (see _open);
    None sends the call the general way (the same errors, later)."""
    if not NATIVE or _open_mod._threadpool.sync_open is not builtins.open:
        return None
    if type(path) is str or isinstance(path, pathlib.PurePath):
        name = str(path)
        if "\0" not in name:
            return name
    return None


async def read_bytes(path: StrPath) -> bytes:
    """The whole file as bytes, as pathlib.Path(path).read_bytes().

    Natively one call: done on the loop thread when the path and the data
    are cached on a local file system (see cext/fastpath.c), else one pool
    job (open, fstat, read, close)."""
    name = path if type(path) is str else plain_path_str(path)
    if (name is not None and name.isascii() and "\0" not in name and
            NATIVE and _open_mod._threadpool.sync_open is builtins.open):
        # the common call, its checks and pathlib's "open" events made
        # here (an ASCII str with no NUL passes every check io makes)
        _open_events(name)
        got: bytes = await _fs.call(_fs.READFILE, name.encode(), None, -1,
                                    -1, _AT_FDCWD, _AT_FDCWD, 0, 0, -1, 0,
                                    name)
        return got
    name = _native_name(path)
    if name is not None:
        # the "open" audit event pathlib's open raises, with its argument
        _open_flags(path, "rb", -1, None, None, None, True)
        if sys.version_info < (3, 10):
            sys.audit("open", name, None, _READ_FLAGS)
        whole: bytes = await _read_native(name)
        return whole
    async with _afc_open(path, "rb") as f:
        data: bytes = await f.read()
    return data


def _open_events(name: str) -> None:
    """The "open" audit events of pathlib's read of ``name``: io.FileIO's;
    before 3.10 also os.open's (pathlib opened through it)."""
    sys.audit("open", name, "r", _READ_FLAGS)
    if sys.version_info < (3, 10):
        sys.audit("open", name, None, _READ_FLAGS)


def _read_native(name: str) -> Any:
    """The one native call of read_bytes (awaitable), its checks done."""
    return _fs.call(_fs.READFILE, os.fsencode(name), None, -1, -1, _AT_FDCWD,
                    _AT_FDCWD, 0, 0, -1, 0, name)


def _text_encoding(encoding: str | None) -> str | None:
    """io.text_encoding (3.10+): None becomes "locale", with the
    EncodingWarning pathlib gives; Python 3.9 has neither."""
    check = getattr(io, "text_encoding", None)
    return encoding if check is None else check(encoding, 3)


def _decode(data: bytes, encoding: str | None, errors: str | None,
            newline: str | None) -> str:
    wrapper = io.TextIOWrapper(io.BytesIO(data), encoding=encoding,
                               errors=errors, newline=newline)
    text = wrapper.read()
    wrapper.detach()
    return text


async def read_text(path: StrPath, encoding: str | None = None,
                    errors: str | None = None,
                    newline: str | None = None) -> str:
    """The whole file decoded, as pathlib.Path(path).read_text()."""
    encoding = _text_encoding(encoding)
    # io.open refuses bad argument types and values before it opens.
    _open_flags(path, "r", -1, encoding, errors, newline, True)
    name = _native_name(path)
    if name is not None and sys.version_info < (3, 10):
        sys.audit("open", name, None, _READ_FLAGS)
    data = (await _read_native(name) if name is not None
            else await read_bytes(path))
    return _decode(data, encoding, errors, newline)


def _encode(data: str, encoding: str | None, errors: str | None,
            newline: str | None) -> tuple[bytes, int]:
    sink = io.BytesIO()
    wrapper = io.TextIOWrapper(sink, encoding=encoding, errors=errors,
                               newline=newline, write_through=True)
    n = wrapper.write(data)
    wrapper.flush()
    wrapper.detach()
    return sink.getvalue(), n


async def _write_all(path: StrPath, data: Any) -> int:
    async with _afc_open(path, "wb") as f:
        n: int = await f.write(data)
    return n


async def write_bytes(path: StrPath, data: Any, *,
                      atomic: bool = False) -> int:
    """Write bytes-like ``data`` as the file's whole content, as
    pathlib.Path(path).write_bytes(); returns the bytes written.

    ``atomic=True``: through atomic_write(), so the file is always either
    its complete old or its complete new content, durably."""
    view = memoryview(data)
    if atomic:
        from ._atomic import atomic_write
        async with atomic_write(path, "wb") as f:
            n: int = await f.write(view)
        return n
    return await _write_all(path, view)


async def write_text(path: StrPath, data: str, encoding: str | None = None,
                     errors: str | None = None, newline: str | None = None,
                     *, atomic: bool = False) -> int:
    """Write ``data`` encoded as the file's whole content, as
    pathlib.Path(path).write_text(); returns the characters written.

    ``atomic=True``: through atomic_write(), see write_bytes()."""
    if not isinstance(data, str):
        raise TypeError("data must be str, not %s" % type(data).__name__)
    encoding = _text_encoding(encoding)
    _open_flags(path, "w", -1, encoding, errors, newline, True)
    try:
        raw, n = _encode(data, encoding, errors, newline)
    except Exception:
        if not atomic:
            # io.open has created or truncated the file by the time the
            # text layer looks up the codec or encodes: so does this.
            await _write_all(path, b"")
        raise
    if atomic:
        from ._atomic import atomic_write
        async with atomic_write(path, "wb") as f:
            await f.write(raw)
    else:
        await _write_all(path, raw)
    return n


__all__ = ["read_bytes", "read_text", "write_bytes", "write_text"]
