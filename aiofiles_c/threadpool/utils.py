"""Class builders of the executor-run wrappers, as aiofiles has them."""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

_C = TypeVar("_C", bound=type)


def delegate_to_executor(*attrs: str) -> Callable[[_C], _C]:
    """Add async methods that run the file's method in the executor."""
    def cls_builder(cls: _C) -> _C:
        for attr_name in attrs:
            setattr(cls, attr_name, _make_delegate_method(attr_name))
        return cls

    return cls_builder


def proxy_method_directly(*attrs: str) -> Callable[[_C], _C]:
    """Add plain methods that call the file's method on the loop thread."""
    def cls_builder(cls: _C) -> _C:
        for attr_name in attrs:
            setattr(cls, attr_name, _make_proxy_method(attr_name))
        return cls

    return cls_builder


def proxy_property_directly(*attrs: str) -> Callable[[_C], _C]:
    """Add read-only properties that read the file's attribute."""
    def cls_builder(cls: _C) -> _C:
        for attr_name in attrs:
            setattr(cls, attr_name, _make_proxy_property(attr_name))
        return cls

    return cls_builder


def cond_delegate_to_executor(*attrs: str) -> Callable[[_C], _C]:
    """Add async methods that run in the executor once a spooled file has
    rolled over to disk, and in memory on the loop thread before."""
    def cls_builder(cls: _C) -> _C:
        for attr_name in attrs:
            setattr(cls, attr_name, _make_cond_delegate_method(attr_name))
        return cls

    return cls_builder


def _make_delegate_method(attr_name: str) -> Callable[..., Any]:
    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        cb = functools.partial(getattr(self._file, attr_name), *args, **kwargs)
        return await self._loop.run_in_executor(self._executor, cb)

    method.__name__ = attr_name
    return method


def _make_proxy_method(attr_name: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._file, attr_name)(*args, **kwargs)

    method.__name__ = attr_name
    return method


def _make_proxy_property(attr_name: str) -> property:
    def proxy_property(self: Any) -> Any:
        return getattr(self._file, attr_name)

    return property(proxy_property)


def _make_cond_delegate_method(attr_name: str) -> Callable[..., Any]:
    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._file._rolled:
            cb = functools.partial(getattr(self._file, attr_name), *args,
                                   **kwargs)
            return await self._loop.run_in_executor(self._executor, cb)
        return getattr(self._file, attr_name)(*args, **kwargs)

    method.__name__ = attr_name
    return method
