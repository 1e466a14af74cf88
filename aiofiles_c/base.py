"""The awaitable + async context manager that ``open()`` returns, and the
base classes of the executor-run file wrappers (``aiofiles.base``)."""
from __future__ import annotations

from abc import ABCMeta
from asyncio import AbstractEventLoop, get_running_loop
from collections.abc import Awaitable, Callable, Coroutine, Generator
from concurrent.futures import Executor
from contextlib import AbstractAsyncContextManager
from functools import partial, wraps
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._backend import NATIVE

_T = TypeVar("_T")
_OpenCall: Any = None
if NATIVE:
    from ._cext import OpenCall as _OpenCall


class AsyncBase(metaclass=ABCMeta):
    """Base of the wrappers that run a stdlib file's methods in the loop's
    executor (what ``threadpool.wrap`` returns), as aiofiles.base.AsyncBase.

    It is an ABC: the native file types are registered with the matching
    subclasses, so ``isinstance`` checks written for aiofiles hold for files
    opened natively too.
    """

    # Leaving ``async with`` calls the wrapped file's ``__exit__`` in the
    # executor (aiofiles' way; what a mock file records).
    _exit_in_executor = True

    def __init__(self, file: Any, loop: AbstractEventLoop | None,
                 executor: Executor | None) -> None:
        self._file = file
        self._executor = executor
        self._ref_loop = loop

    @property
    def _loop(self) -> AbstractEventLoop:
        return self._ref_loop or get_running_loop()

    def __aiter__(self) -> AsyncBase:
        """We are our own iterator."""
        return self

    def __repr__(self) -> str:
        return super().__repr__() + " wrapping " + repr(self._file)

    async def __anext__(self) -> Any:
        """Simulate normal file iteration."""
        line = await self.readline()  # type: ignore[attr-defined]
        if line:
            return line
        raise StopAsyncIteration


class AsyncIndirectBase(AsyncBase):
    """A wrapper whose file is looked up by ``indirect()`` at each use (the
    stdio objects: replacing ``sys.stdout`` is seen)."""

    def __init__(self, name: str, loop: AbstractEventLoop | None,
                 executor: Executor | None,
                 indirect: Callable[[], Any]) -> None:
        self._indirect = indirect
        self._name = name
        super().__init__(None, loop, executor)

    @property
    def _file(self) -> Any:
        return self._indirect()

    @_file.setter
    def _file(self, v: Any) -> None:
        pass  # discard writes


class AiofilesContextManager(
    Awaitable[_T], AbstractAsyncContextManager[_T], Generic[_T]
):
    """Await it to get the file, or use it with ``async with``.

    Awaiting it twice gives the same object; leaving the ``async with``
    block closes the file, also when the body raised or was cancelled.
    """

    __slots__ = ("_coro", "_obj")

    def __init__(self, coro: Awaitable[_T]) -> None:
        self._coro = coro
        self._obj: Any = None

    def __await__(self) -> Generator[Any, None, _T]:
        if self._obj is None:
            coro: Any = self._coro
            opened = coro._take() if type(coro) is _OpenCall else None
            if opened is not None:  # opened by `async with` (__aenter__)
                self._obj = opened
            else:
                self._obj = yield from coro.__await__()
        return self._obj  # type: ignore[no-any-return]

    async def _enter(self) -> _T:
        if self._obj is None:  # as __await__, one generator less
            self._obj = await self._coro
        return self._obj  # type: ignore[no-any-return]

    if TYPE_CHECKING:
        async def __aenter__(self) -> _T: ...

        async def __aexit__(
            self,
            exc_type: type[BaseException] | None,
            exc_val: BaseException | None,
            exc_tb: TracebackType | None,
        ) -> None: ...
    else:
        # Plain methods that return what `async with` awaits: no coroutine
        # of their own.
        def __aenter__(self):
            coro = self._coro
            if self._obj is None and type(coro) is _OpenCall:
                # aiofiles_c.open()'s common call: `async with` awaits the
                # C open itself, which keeps the file for __aexit__.
                return coro
            return self._enter()

        def __aexit__(self, exc_type, exc_val, exc_tb):
            obj, self._obj = self._obj, None
            if obj is None:
                if type(self._coro) is _OpenCall:
                    obj = self._coro._take()  # a native file, or None
                    if obj is not None:
                        return obj.close()
                return _NOTHING
            if getattr(type(obj), "_exit_in_executor", False):
                return _exit_in_executor(obj, exc_type, exc_val, exc_tb)
            return obj.close()


class _Nothing:
    """An awaitable that gives None at once, as often as it is awaited."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return iter(())  # type: ignore[return-value]


_NOTHING = _Nothing()


async def _exit_in_executor(obj: Any, exc_type: Any, exc_val: Any,
                            exc_tb: Any) -> None:
    """A wrapped stdlib (or mock) file's own __exit__, in the executor, as
    aiofiles leaves the block; its answer never swallows the exception."""
    await obj._loop.run_in_executor(
        obj._executor, obj._file.__exit__, exc_type, exc_val, exc_tb)


def wrap(func: Callable[..., _T]) -> Callable[..., Coroutine[Any, Any, _T]]:
    """Make a coroutine function that runs ``func`` in an executor (the
    loop's default one unless ``executor=`` is given), keeping its name and
    signature, as aiofiles.os.wrap does."""

    @wraps(func)
    async def run(*args: Any, loop: AbstractEventLoop | None = None,
                  executor: Executor | None = None, **kwargs: Any) -> _T:
        if loop is None:
            loop = get_running_loop()
        return await loop.run_in_executor(executor,
                                          partial(func, *args, **kwargs))

    return run
