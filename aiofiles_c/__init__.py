"""aiofiles_c: aiofiles with a native core.

Use it exactly like aiofiles::

    import aiofiles_c as aiofiles

    async with aiofiles.open("data.bin", "rb") as f:
        head = await f.read(4096)

or call ``aiofiles_c.install()`` once, before the program imports aiofiles,
and ``import aiofiles`` gives aiofiles_c everywhere.

``aiofiles_c.backend`` says what runs the I/O: ``"native"`` (the C
extension, Linux), ``"portable"`` (the C extension, any POSIX system) or
``"python"`` (no extension: aiofiles' executor route). See _backend.
"""
from __future__ import annotations

import os as _os
import sys as _sys

from ._backend import NATIVE as _NATIVE
from ._backend import name as backend

if _NATIVE:
    from . import _cext, _loop  # noqa: F401  (_loop registers the queues)
else:
    # aiofiles_c.os and .ospath are the executor-run modules.
    from . import _pure_os, _pure_ospath

    _sys.modules[__name__ + ".ospath"] = _pure_ospath
    _sys.modules[__name__ + ".os"] = _pure_os
from . import base, os, ospath, tempfile, threadpool  # noqa: F401,E402
from ._install import install  # noqa: E402
from ._open import open  # noqa: E402
from ._path import Path  # noqa: E402
from ._whole import read_bytes, read_text, write_bytes, write_text  # noqa
from ._atomic import atomic_write  # noqa: E402
from .base import AiofilesContextManager  # noqa: E402
from .threadpool import (stderr, stderr_bytes, stdin, stdin_bytes,  # noqa
                         stdout, stdout_bytes)

__version__ = "0.1.0"

if _NATIVE:
    set_pool_size = _cext.set_pool_size
    pool_size = _cext.pool_size
    set_inline_reads = _cext.set_inline_reads
else:
    def set_inline_reads(on: bool) -> None:
        """Nothing runs on the loop thread on the pure-Python backend
        (every call goes to the executor): accepted and ignored."""
        bool(on)

    def set_pool_size(n: int) -> None:
        """No pool of our own on the pure-Python backend (the loop's
        executor runs everything): the size is checked and ignored."""
        if not isinstance(n, int) or n < 1:
            raise ValueError("pool size must be a positive int")

    def pool_size() -> int:
        """The worker count of a default executor (concurrent.futures'
        rule): what runs the calls on the pure-Python backend."""
        return min(32, (_os.cpu_count() or 1) + 4)

__all__ = ["open", "os", "ospath", "tempfile", "threadpool", "stdin",
           "stdout", "stderr", "stdin_bytes", "stdout_bytes", "stderr_bytes",
           "AiofilesContextManager", "install", "set_pool_size", "pool_size",
           "set_inline_reads",
           "Path", "read_bytes", "read_text", "write_bytes", "write_text",
           "atomic_write", "backend", "__version__"]
