"""install(): make ``import aiofiles`` give aiofiles_c.

A finder at the front of ``sys.meta_path`` answers ``aiofiles`` and every
``aiofiles.<sub>`` with the matching ``aiofiles_c`` module, for imports made
now or later (libraries included). Entries already in ``sys.modules`` (the
real aiofiles imported earlier) are replaced; modules that had already bound
the real aiofiles to a name keep it.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Sequence

_ALIAS = "aiofiles"
_TARGET = "aiofiles_c"
# The modules aiofiles has; all of them are aliased at once by install().
SUBMODULES = ("base", "os", "ospath", "tempfile", "tempfile.temptypes",
              "threadpool", "threadpool.binary", "threadpool.text",
              "threadpool.utils")


def _target_name(fullname: str) -> str | None:
    if fullname == _ALIAS:
        return _TARGET
    if fullname.startswith(_ALIAS + "."):
        return _TARGET + fullname[len(_ALIAS):]
    return None


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self._target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec
                      ) -> ModuleType:
        return importlib.import_module(self._target)

    def exec_module(self, module: ModuleType) -> None:
        # The import system set the alias's spec on the shared module: give
        # the module its own back.
        module.__spec__ = sys.modules[self._target].__spec__
        module.__loader__ = module.__spec__.loader  # type: ignore[union-attr]


class AliasFinder(importlib.abc.MetaPathFinder):
    """Resolves ``aiofiles`` and ``aiofiles.*`` to ``aiofiles_c`` modules."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        name = _target_name(fullname)
        if name is None:
            return None
        if importlib.util.find_spec(name) is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(name))


_finder = AliasFinder()


def install() -> None:
    """Make ``import aiofiles`` (and its submodules) give aiofiles_c, in
    this process, for every import from now on. Safe to call again."""
    if not any(isinstance(f, AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _finder)
    for fullname in [n for n in sys.modules if _target_name(n) is not None]:
        # The real aiofiles was imported already: replace its modules.
        del sys.modules[fullname]
    for sub in ("",) + tuple("." + s for s in SUBMODULES):
        module = importlib.import_module(_TARGET + sub)
        sys.modules[_ALIAS + sub] = module
