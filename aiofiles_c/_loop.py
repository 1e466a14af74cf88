"""One completion queue per event loop.

The native pool hands finished jobs to the queue of the loop that started
them; the loop watches the queue's eventfd with ``add_reader`` and resolves
the batch in one callback. Loops without ``add_reader``, and queues that got
no eventfd (every descriptor in use), get a small thread that waits on the
queue (``Completion.wait``, no descriptor needed) and schedules the same
callback with ``call_soon_threadsafe``.
"""
from __future__ import annotations

import threading
import weakref
from asyncio import AbstractEventLoop

from . import _cext

_queues: weakref.WeakKeyDictionary[AbstractEventLoop, _cext.Completion] = (
    weakref.WeakKeyDictionary()
)


def completion_for(loop: AbstractEventLoop) -> _cext.Completion:
    """Return the live completion queue of ``loop``, creating it once."""
    cq = _queues.get(loop)
    if cq is not None and cq.alive:
        return cq
    cq = _cext.Completion()
    try:
        if cq.fileno() < 0:
            raise NotImplementedError
        loop.add_reader(cq.fileno(), cq.drain)
    except (NotImplementedError, AttributeError):
        _start_fallback(loop, cq)
    # When the loop is collected, jobs still in flight for it are parked and
    # released by the next drain of any loop.
    weakref.finalize(loop, cq.orphan)
    _queues[loop] = cq
    return cq


def _start_fallback(loop: AbstractEventLoop, cq: _cext.Completion) -> None:
    ref = weakref.ref(loop)

    def watch() -> None:
        while cq.alive:
            ready = cq.wait(0.25)
            lp = ref()
            if lp is None or lp.is_closed():
                return
            if not ready:
                continue
            done = threading.Event()

            def run() -> None:
                try:
                    cq.drain()
                finally:
                    done.set()

            try:
                lp.call_soon_threadsafe(run)
            except RuntimeError:
                return
            del lp
            while not done.wait(0.25):
                lp = ref()
                if lp is None or lp.is_closed():
                    return
                del lp

    threading.Thread(target=watch, name="aiofiles_c-completions", daemon=True).start()


_cext._set_cq_factory(completion_for)
