"""The text file classes, under the names aiofiles gives them.

``AsyncTextIOWrapper`` is the class ``aiofiles_c.open()`` gives text files
(and ``threadpool.wrap`` gives an already-open stdlib text file).
"""
from __future__ import annotations

from .._backend import NATIVE
from ..base import AsyncBase, AsyncIndirectBase
from .utils import (delegate_to_executor, proxy_method_directly,
                    proxy_property_directly)

__all__ = ["AsyncTextIOWrapper", "AsyncTextIndirectIOWrapper"]

# What both wrappers have: methods run in the executor, methods and
# properties of the file read on the loop thread.
_ASYNC = ("close", "flush", "isatty", "read", "readable", "readline",
          "readlines", "seek", "seekable", "tell", "truncate", "write",
          "writable", "writelines")
_DIRECT = ("detach", "fileno")
_PROPERTIES = ("buffer", "closed", "encoding", "errors", "line_buffering",
               "newlines", "name", "mode")


@delegate_to_executor(*_ASYNC)
@proxy_method_directly(*_DIRECT)
@proxy_property_directly(*_PROPERTIES)
class AsyncTextIOWrapper(AsyncBase):
    """The async version of io.TextIOWrapper: a text file object opened
    elsewhere, its calls run in the loop's executor (what wrap() gives).
    Native text files are registered with it."""


if NATIVE:
    from .._text import _NativeTextIOWrapper

    AsyncTextIOWrapper.register(_NativeTextIOWrapper)
    # aiofiles' ``_file`` (the file under the async one): a native text
    # file is its own (see binary._native_file).
    _NativeTextIOWrapper._file = property(  # type: ignore[attr-defined]
        lambda self: self)


@delegate_to_executor(*_ASYNC)
@proxy_method_directly(*_DIRECT)
@proxy_property_directly(*_PROPERTIES)
class AsyncTextIndirectIOWrapper(AsyncIndirectBase):
    """The indirect version of AsyncTextIOWrapper (the stdio objects)."""
