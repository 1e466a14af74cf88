"""The binary file classes, under the names aiofiles gives them.

Files opened by ``aiofiles_c.open()`` are the native types of
``aiofiles_c._cext``; the classes here run the methods of an already-open
stdlib file object in the loop's executor (``threadpool.wrap``), as aiofiles
does. The native types are registered with these ABCs, so
``isinstance(f, AsyncBufferedReader)`` is true for both kinds.
"""
from __future__ import annotations

from typing import Any

from .._backend import NATIVE
from .._backend import cext as _cext
from ..base import AsyncBase, AsyncIndirectBase
from .utils import (delegate_to_executor, proxy_method_directly,
                    proxy_property_directly)

__all__ = ["AsyncBufferedIOBase", "AsyncBufferedReader", "AsyncFileIO",
           "AsyncIndirectBufferedIOBase", "AsyncIndirectBufferedReader",
           "AsyncIndirectFileIO"]

_BUFFERED_ASYNC = ("close", "flush", "isatty", "read", "read1", "readinto",
                   "readline", "readlines", "seek", "seekable", "tell",
                   "truncate", "writable", "write", "writelines")
_FILEIO_ASYNC = ("close", "flush", "isatty", "read", "readall", "readinto",
                 "readline", "readlines", "seek", "seekable", "tell",
                 "truncate", "writable", "write", "writelines")
# Read on the loop thread, from the file itself.
_BUFFERED_DIRECT = ("detach", "fileno", "readable")
_BUFFERED_PROPERTIES = ("closed", "raw", "name", "mode")
_FILEIO_DIRECT = ("fileno", "readable")
_FILEIO_PROPERTIES = ("closed", "name", "mode")


@delegate_to_executor(*_BUFFERED_ASYNC)
@proxy_method_directly(*_BUFFERED_DIRECT)
@proxy_property_directly(*_BUFFERED_PROPERTIES)
class AsyncBufferedIOBase(AsyncBase):
    """The async version of io.BufferedWriter and BufferedIOBase."""


@delegate_to_executor("peek")
class AsyncBufferedReader(AsyncBufferedIOBase):
    """The async version of io.BufferedReader and BufferedRandom."""


@delegate_to_executor(*_FILEIO_ASYNC)
@proxy_method_directly(*_FILEIO_DIRECT)
@proxy_property_directly(*_FILEIO_PROPERTIES)
class AsyncFileIO(AsyncBase):
    """The async version of io.FileIO."""


@delegate_to_executor(*_BUFFERED_ASYNC)
@proxy_method_directly(*_BUFFERED_DIRECT)
@proxy_property_directly(*_BUFFERED_PROPERTIES)
class AsyncIndirectBufferedIOBase(AsyncIndirectBase):
    """The indirect version of AsyncBufferedIOBase (the stdio objects)."""


@delegate_to_executor("peek")
class AsyncIndirectBufferedReader(AsyncIndirectBufferedIOBase):
    """The indirect version of AsyncBufferedReader."""


@delegate_to_executor(*_FILEIO_ASYNC)
@proxy_method_directly(*_FILEIO_DIRECT)
@proxy_property_directly(*_FILEIO_PROPERTIES)
class AsyncIndirectFileIO(AsyncIndirectBase):
    """The indirect version of AsyncFileIO."""


def _native_file(self: Any) -> Any:
    """The file object under the async one, as aiofiles' ``_file``: a
    native file has no blocking object beneath it, so this is the file
    itself (``closed``, ``name``, ``mode``, ``fileno()`` are the same)."""
    return self


if NATIVE:
    # Natively opened files pass the isinstance checks written for aiofiles
    # (_cext.AsyncBufferedReader subclasses _cext.AsyncBufferedIOBase, as
    # here).
    AsyncBufferedIOBase.register(_cext.AsyncBufferedIOBase)
    AsyncBufferedReader.register(_cext.AsyncBufferedReader)
    AsyncFileIO.register(_cext.AsyncFileIO)
    # Set on the native types from here (they are mutable heap types), so
    # the C side needs no attribute of its own; subclasses inherit it.
    _cext.AsyncFileIO._file = property(  # type: ignore[attr-defined]
        _native_file)
    _cext.AsyncBufferedIOBase._file = property(  # type: ignore[attr-defined]
        _native_file)
