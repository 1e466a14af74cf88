from . import base as base
from . import os as os
from . import ospath as ospath
from . import tempfile as tempfile
from . import threadpool as threadpool
from ._install import install as install
from ._atomic import atomic_write as atomic_write
from ._path import Path as Path
from ._whole import read_bytes as read_bytes
from ._whole import read_text as read_text
from ._whole import write_bytes as write_bytes
from ._whole import write_text as write_text
from .base import AiofilesContextManager as AiofilesContextManager
from .threadpool import open as open
from .threadpool import stderr as stderr
from .threadpool import stderr_bytes as stderr_bytes
from .threadpool import stdin as stdin
from .threadpool import stdin_bytes as stdin_bytes
from .threadpool import stdout as stdout
from .threadpool import stdout_bytes as stdout_bytes

__all__ = ["open", "os", "ospath", "tempfile", "threadpool", "stdin",
           "stdout", "stderr", "stdin_bytes", "stdout_bytes", "stderr_bytes",
           "AiofilesContextManager", "install", "set_pool_size", "pool_size",
           "set_inline_reads", "Path", "read_bytes", "read_text", "write_bytes", "write_text",
           "atomic_write"]

def set_pool_size(n: int, /) -> None: ...
def pool_size() -> int: ...
def set_inline_reads(on: bool, /) -> None: ...
