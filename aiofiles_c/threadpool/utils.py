"""Class builders of the executor-run wrappers, as aiofiles has them."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, TypeVar

_C = TypeVar("_C", bound=type)


def _adding(make: Callable[[str], Any],
            attrs: tuple[str, ...]) -> Callable[[_C], _C]:
    """A class decorator setting each of attrs to make(attr)."""
    def cls_builder(cls: _C) -> _C:
        for attr_name in attrs:
            setattr(cls, attr_name, make(attr_name))
        return cls

    return cls_builder


def delegate_to_executor(*attrs: str) -> Callable[[_C], _C]:
    """Add async methods that run the file's method in the executor."""
    return _adding(_make_delegate_method, attrs)


def proxy_method_directly(*attrs: str) -> Callable[[_C], _C]:
    """Add plain methods that call the file's method on the loop thread."""
    return _adding(_make_proxy_method, attrs)


def proxy_property_directly(*attrs: str) -> Callable[[_C], _C]:
    """Add read-only properties that read the file's attribute."""
    return _adding(_make_proxy_property, attrs)


def cond_delegate_to_executor(*attrs: str) -> Callable[[_C], _C]:
    """Add async methods that run in the executor once a spooled file has
    rolled over to disk, and in memory on the loop thread before."""
    return _adding(_make_cond_delegate_method, attrs)


# Calls on one wrapped file run one at a time, in call order, even when
# several tasks or several loops (each with its own executor) use the file
# at once: a stdlib file object is not safe to use from two threads at once
# (TextIOWrapper loses or repeats lines). Each call waits in its executor
# thread for the turn of the call made before it. A call cancelled before it
# started does not run; its turn passes on when the one before it is done.
_TURN_MU = threading.Lock()


class _Turn:
    __slots__ = ("ev", "started", "skipped", "forward")

    def __init__(self) -> None:
        self.ev = threading.Event()   # set when this call is over
        self.started = False
        self.skipped = False
        self.forward: list[_Turn] | None = []  # skipped turns waiting on it


def _end_turn(turn: _Turn) -> None:
    with _TURN_MU:
        turn.ev.set()
        fw, turn.forward = turn.forward, None
    for t in fw or ():
        _end_turn(t)


def _take_turn(obj: Any) -> tuple[_Turn | None, _Turn]:
    mine = _Turn()
    with _TURN_MU:
        prev = getattr(obj, "_last_turn", None)
        if prev is not None and prev.ev.is_set():
            prev = None
        obj._last_turn = mine
    return prev, mine


async def run_in_turn(obj: Any, fn: Callable[..., Any], *args: Any,
                      **kwargs: Any) -> Any:
    """fn(*args, **kwargs) in obj's executor, after obj's earlier calls."""
    prev, mine = _take_turn(obj)

    def run() -> Any:
        if prev is not None:
            prev.ev.wait()
        with _TURN_MU:
            if mine.skipped:
                return None
            mine.started = True
        try:
            return fn(*args, **kwargs)
        finally:
            _end_turn(mine)

    def on_done(fut: Any) -> None:
        if not fut.cancelled():
            return
        with _TURN_MU:
            if mine.started:
                return  # it runs to the end and passes the turn on
            mine.skipped = True
            if prev is not None and prev.forward is not None:
                prev.forward.append(mine)
                return
        _end_turn(mine)

    # The caller's loop (a wrapper may be shared by loops in several
    # threads; a future can only be awaited on its own loop).
    fut = asyncio.get_running_loop().run_in_executor(obj._executor, run)
    fut.add_done_callback(on_done)
    return await fut


def _make_delegate_method(attr_name: str) -> Callable[..., Any]:
    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await run_in_turn(self, getattr(self._file, attr_name),
                                 *args, **kwargs)

    method.__name__ = attr_name
    method.__doc__ = f"The file's {attr_name}(), run in the executor."
    return method


def _make_proxy_method(attr_name: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._file, attr_name)(*args, **kwargs)

    method.__name__ = attr_name
    method.__doc__ = f"The file's {attr_name}(), called on the loop thread."
    return method


def _make_proxy_property(attr_name: str) -> property:
    def proxy_property(self: Any) -> Any:
        return getattr(self._file, attr_name)

    return property(proxy_property, doc=f"The file's {attr_name}.")


def _make_cond_delegate_method(attr_name: str) -> Callable[..., Any]:
    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._file._rolled:
            return await run_in_turn(self, getattr(self._file, attr_name),
                                     *args, **kwargs)
        return getattr(self._file, attr_name)(*args, **kwargs)

    method.__name__ = attr_name
    method.__doc__ = (f"The file's {attr_name}(): in the executor once "
                      "rolled over to disk, in memory before.")
    return method
