"""A lock for async code that may be awaited from several event loops (a
file shared by loops in several threads): waiters are served in the order
they came, and each is woken on its own loop."""
from __future__ import annotations

import asyncio
import collections
import threading
from types import TracebackType
from typing import Any


def _grant(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


class Lock:
    """asyncio.Lock's acquire/release/async with, usable from any loop.
    asyncio.Lock wakes a waiter with set_result from the releasing thread,
    which neither is allowed for another loop's future nor wakes that loop:
    here a waiter of another thread is woken with call_soon_threadsafe."""

    __slots__ = ("_mu", "_locked", "_waiters")

    def __init__(self) -> None:
        self._mu = threading.Lock()  # guards the two fields below
        self._locked = False
        # [future, loop, thread id, granted]
        self._waiters: collections.deque[list[Any]] = collections.deque()

    async def acquire(self) -> bool:
        with self._mu:
            if not self._locked:
                self._locked = True
                return True
            loop = asyncio.get_running_loop()
            w: list[Any] = [loop.create_future(), loop,
                            threading.get_ident(), False]
            self._waiters.append(w)
        try:
            await w[0]
        except BaseException:
            with self._mu:
                granted = w[3]
                if not granted:
                    self._waiters.remove(w)
            if granted:
                self.release()  # it was handed over: pass it on
            raise
        return True

    def release(self) -> None:
        while True:
            with self._mu:
                if not self._locked:
                    raise RuntimeError("Lock is not acquired.")
                if not self._waiters:
                    self._locked = False
                    return
                w = self._waiters.popleft()
                w[3] = True  # the lock now belongs to this waiter
            fut, loop, tid = w[0], w[1], w[2]
            if tid == threading.get_ident():
                _grant(fut)
                return
            try:
                loop.call_soon_threadsafe(_grant, fut)
                return
            except RuntimeError:
                continue  # its loop is closed: nobody to hand it to

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.release()


async def wait_other_loop(fut: "asyncio.Future[Any]", what: str) -> None:
    """Wait, on the running loop, for a future of another thread's loop (a
    call cancelled there left it running). Its done callbacks belong to
    its own loop, so one is added there, and it wakes this loop. Cancelled
    here, the future is left as it is."""
    if fut.done():
        return
    other = fut.get_loop()
    loop = asyncio.get_running_loop()
    mine = loop.create_future()

    def relay(_: Any) -> None:  # on the other loop's thread
        try:
            loop.call_soon_threadsafe(_grant, mine)
        except RuntimeError:
            pass  # this loop is closed: nobody waits any more

    if not other.is_closed():
        try:
            other.call_soon_threadsafe(fut.add_done_callback, relay)
        except RuntimeError:
            pass  # closed meanwhile
        else:
            await mine
            return
    if not fut.done():
        raise RuntimeError(
            f"{what}: an operation cancelled in another event loop is "
            f"still in flight there, and that loop is closed")
