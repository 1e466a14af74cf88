"""Which backend this process runs on, decided once at import.

- ``native``: the C extension built with the Linux calls (eventfd,
  preadv2(RWF_NOWAIT), copy_file_range, sendfile).
- ``portable``: the same extension built for any POSIX system (a self-pipe,
  pread, a read/write copy loop); chosen at build time when a Linux call is
  missing, or with ``AIOFILES_C_PORTABLE=1``.
- ``python``: no extension (it could not be built or imported: Windows,
  PyPy, no compiler), or ``AIOFILES_C_BACKEND=python`` in the environment.
  Everything then runs as aiofiles runs it: each call in the loop's
  executor.

``AIOFILES_C_BACKEND`` may also name ``native`` or ``portable``: the import
then fails unless the extension is that one (``auto``, the default, takes
whatever is there).
"""
from __future__ import annotations

import os
from types import ModuleType
from typing import Optional, Tuple

BACKENDS = ("native", "portable", "python")


def _select() -> Tuple[Optional[ModuleType], str]:
    want = os.environ.get("AIOFILES_C_BACKEND", "").strip().lower() or "auto"
    if want not in ("auto",) + BACKENDS:
        raise ImportError(f"AIOFILES_C_BACKEND={want!r}: expected one of "
                          "auto, native, portable, python")
    if want == "python":
        return None, "python"
    try:
        from . import _cext
    except ImportError:
        if want != "auto":
            raise
        return None, "python"
    name: str = _cext.backend
    if want != "auto" and name != want:
        raise ImportError(f"AIOFILES_C_BACKEND={want}, but the extension "
                          f"was built for the {name} backend")
    return _cext, name


cext, name = _select()
NATIVE = cext is not None
