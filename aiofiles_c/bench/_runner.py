"""asyncio.Runner, or the part of it the benchmark uses on Python 3.9/3.10."""
from __future__ import annotations

import asyncio
from typing import Any


class _OneLoop:
    """One loop made by ``loop_factory``, ``run()`` many times, closed at
    the end (asyncio.Runner's part used here)."""

    def __init__(self, *, loop_factory: Any) -> None:
        self._loop = (loop_factory or asyncio.new_event_loop)()

    def __enter__(self) -> _OneLoop:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._loop.close()

    def get_loop(self) -> Any:
        return self._loop

    def run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)


Runner: Any = getattr(asyncio, "Runner", _OneLoop)
