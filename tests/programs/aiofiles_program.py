"""An unmodified program written for aiofiles.

tests/test_install.py runs it on real aiofiles and under
aiofiles_c.install(), and compares the output (which therefore holds no
timing, ids or module names).
"""
import asyncio
import io
import os
import sys
import tempfile as stdtempfile

import aiofiles
import aiofiles.os
import aiofiles.ospath
from aiofiles import tempfile
from aiofiles.base import AiofilesContextManager
from aiofiles.threadpool import wrap
from aiofiles.threadpool.binary import (AsyncBufferedIOBase,
                                        AsyncBufferedReader, AsyncFileIO)
from aiofiles.threadpool.text import AsyncTextIOWrapper


async def files(d):
    p = os.path.join(d, "data.txt")
    cm = aiofiles.open(p, "w")
    print("context manager:", isinstance(cm, AiofilesContextManager))
    async with cm as f:
        print("text:", isinstance(f, AsyncTextIOWrapper))
        await f.write("hello\nworld\n")
    async with aiofiles.open(p) as f:
        print("read:", repr(await f.read()))
    async with aiofiles.open(p, "rb") as f:
        print("reader:", isinstance(f, AsyncBufferedReader))
        print("lines:", [line async for line in f])
    async with aiofiles.open(p, "ab") as f:
        print("writer:", isinstance(f, AsyncBufferedIOBase),
              isinstance(f, AsyncBufferedReader))
        await f.write(b"more\n")
    async with aiofiles.open(p, "rb", buffering=0) as f:
        print("raw:", isinstance(f, AsyncFileIO), await f.read(5))
        await f.seek(-5, 2)
        print("tail:", await f.read())
    try:
        await aiofiles.open(os.path.join(d, "missing"), "rb")
    except FileNotFoundError as e:
        print("missing:", e.errno, os.path.basename(e.filename))
    return p


async def os_calls(d, p):
    st = await aiofiles.os.stat(p)
    print("size:", st.st_size)
    print("ospath:", await aiofiles.ospath.exists(p),
          await aiofiles.os.path.isfile(p), await aiofiles.ospath.isdir(d),
          await aiofiles.ospath.getsize(p))
    sub = os.path.join(d, "sub")
    await aiofiles.os.mkdir(sub)
    await aiofiles.os.makedirs(os.path.join(sub, "a", "b"))
    q = os.path.join(sub, "copy.txt")
    await aiofiles.os.rename(p, q)
    print("listdir:", sorted(await aiofiles.os.listdir(d)),
          sorted(await aiofiles.os.listdir(sub)))
    entries = await aiofiles.os.scandir(sub)
    print("scandir:", sorted((e.name, e.is_dir()) for e in entries))
    entries.close()
    await aiofiles.os.symlink(q, p)
    print("readlink:", os.path.basename(await aiofiles.os.readlink(p)),
          await aiofiles.ospath.islink(p))
    await aiofiles.os.unlink(p)
    await aiofiles.os.rename(q, p)
    await aiofiles.os.removedirs(os.path.join(sub, "a", "b"))
    print("after removedirs:", await aiofiles.ospath.exists(sub))
    print("access:", await aiofiles.os.access(p, os.R_OK))
    stat_wrapped = aiofiles.os.wrap(os.stat)
    print("wrap:", (await stat_wrapped(p)).st_size)


async def temp(d):
    async with tempfile.NamedTemporaryFile("w+b", dir=d, suffix=".tmp") as f:
        # (aiofiles has no f.delete on Python 3.12+: tempfile moved it)
        print("named:", isinstance(f, AsyncBufferedReader),
              getattr(f, "delete", True),
              os.path.basename(f.name).endswith(".tmp"),
              os.path.exists(f.name))
        await f.write(b"named data")
        await f.seek(0)
        print("named read:", await f.read())
        name = f.name
    print("named removed:", not os.path.exists(name))
    async with tempfile.NamedTemporaryFile("w", dir=d, delete=False) as f:
        await f.write("kept")
        name = f.name
    with open(name) as fh:
        print("kept:", fh.read())
    os.unlink(name)
    async with tempfile.TemporaryFile(dir=d) as f:
        await f.write(b"unnamed")
        await f.seek(0)
        print("unnamed:", type(f.name).__name__, f.mode, await f.read())
    async with tempfile.SpooledTemporaryFile(max_size=8, dir=d) as f:
        await f.write(b"1234")
        print("spooled:", f._file._rolled, f.name, f.mode)
        await f.write(b"56789")
        print("rolled:", f._file._rolled, type(f.name).__name__, f.mode)
        await f.seek(0)
        print("spooled read:", await f.read())
    async with tempfile.TemporaryDirectory(dir=d) as td:
        print("tempdir:", os.path.isdir(td))
    print("tempdir removed:", not os.path.exists(td))
    print("left over:", sorted(os.listdir(d)))


async def wrapping(p):
    with open(p, "rb") as sync:
        f = wrap(sync)
        print("wrapped:", isinstance(f, AsyncBufferedReader),
              await f.read(5))
    f = wrap(io.StringIO("in memory"))
    print("wrapped text:", isinstance(f, AsyncTextIOWrapper), await f.read())
    try:
        wrap(42)
    except TypeError as e:
        print("wrap error:", type(e).__name__)


async def stdio():
    await aiofiles.stdout.write("to stdout\n")
    await aiofiles.stdout.flush()
    await aiofiles.stderr.write("to stderr\n")
    await aiofiles.stderr.flush()
    await aiofiles.stdout_bytes.write(b"bytes to stdout\n")
    await aiofiles.stdout_bytes.flush()
    saved = sys.stdout
    sys.stdout = io.StringIO()
    try:
        await aiofiles.stdout.write("captured")
        captured = sys.stdout.getvalue()
    finally:
        sys.stdout = saved
    print("replaced stdout saw:", captured)
    line = await aiofiles.stdin.readline()
    print("stdin:", repr(line))
    rest = await aiofiles.stdin_bytes.read()
    print("stdin bytes:", rest)


async def main():
    with stdtempfile.TemporaryDirectory() as d:
        p = await files(d)
        await os_calls(d, p)
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import aiofiles_lib

        print("library:", await aiofiles_lib.count_lines(p))
        await temp(d)
        await wrapping(p)
    await stdio()
    sys.stdout.flush()


asyncio.run(main())
