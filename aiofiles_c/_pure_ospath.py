"""``aiofiles_c.ospath`` on the pure-Python backend: each os.path call in
the loop's executor, as aiofiles.ospath runs it."""
from __future__ import annotations

from os import path

from .base import wrap

__all__ = [
    "abspath", "getatime", "getctime", "getmtime", "getsize", "exists",
    "isdir", "isfile", "islink", "ismount", "samefile", "sameopenfile",
    "lexists",
]

exists = wrap(path.exists)
lexists = wrap(path.lexists)
isfile = wrap(path.isfile)
isdir = wrap(path.isdir)
islink = wrap(path.islink)
ismount = wrap(path.ismount)
getsize = wrap(path.getsize)
getmtime = wrap(path.getmtime)
getatime = wrap(path.getatime)
getctime = wrap(path.getctime)
samefile = wrap(path.samefile)
sameopenfile = wrap(path.sameopenfile)
abspath = wrap(path.abspath)
