"""aiofiles_c: aiofiles with a native core.

Use it exactly like aiofiles::

    import aiofiles_c as aiofiles

    async with aiofiles.open("data.bin", "rb") as f:
        head = await f.read(4096)

or call ``aiofiles_c.install()`` once, before the program imports aiofiles,
and ``import aiofiles`` gives aiofiles_c everywhere.
"""
from __future__ import annotations

from . import _cext, _loop  # noqa: F401  (_loop registers the queues)
from . import base, os, ospath, tempfile, threadpool  # noqa: F401
from ._install import install
from ._open import open
from ._path import Path
from ._whole import read_bytes, read_text, write_bytes, write_text
from ._atomic import atomic_write
from .base import AiofilesContextManager
from .threadpool import (stderr, stderr_bytes, stdin, stdin_bytes, stdout,
                         stdout_bytes)

set_pool_size = _cext.set_pool_size
pool_size = _cext.pool_size

__all__ = ["open", "os", "ospath", "tempfile", "threadpool", "stdin",
           "stdout", "stderr", "stdin_bytes", "stdout_bytes", "stderr_bytes",
           "AiofilesContextManager", "install", "set_pool_size", "pool_size",
           "Path", "read_bytes", "read_text", "write_bytes", "write_text",
           "atomic_write"]
