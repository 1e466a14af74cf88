"""aiofiles_c: aiofiles with a native core.

Use it exactly like aiofiles::

    import aiofiles_c as aiofiles

    async with aiofiles.open("data.bin", "rb") as f:
        head = await f.read(4096)
"""
from __future__ import annotations

from . import _cext, _loop  # noqa: F401  (_loop registers the queues)
from . import os, ospath  # noqa: F401  (aiofiles_c.os, aiofiles_c.ospath)
from ._open import open
from .base import AiofilesContextManager

set_pool_size = _cext.set_pool_size
pool_size = _cext.pool_size

__all__ = ["open", "os", "ospath", "AiofilesContextManager", "set_pool_size",
           "pool_size"]
