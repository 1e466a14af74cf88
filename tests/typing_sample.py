"""A user program, type-checked with ``mypy --strict`` by test_typing.py
(and run by it too): every module of aiofiles_c, used as a user would."""
from __future__ import annotations

import asyncio
import io
import os
import sys
import tempfile as stdtempfile

import aiofiles_c
import aiofiles_c.os
import aiofiles_c.ospath
from aiofiles_c import tempfile
from aiofiles_c.base import AiofilesContextManager, AsyncBase
from aiofiles_c.tempfile.temptypes import (AsyncSpooledTemporaryFile,
                                           AsyncTemporaryDirectory)
from aiofiles_c.threadpool import sync_open, wrap
from aiofiles_c.threadpool.binary import (AsyncBufferedIOBase,
                                          AsyncBufferedReader, AsyncFileIO)
from aiofiles_c.threadpool.text import AsyncTextIOWrapper


async def files(d: str) -> int:
    p = os.path.join(d, "data")
    cm: AiofilesContextManager[AsyncBufferedIOBase] = aiofiles_c.open(p, "wb")
    async with cm as w:
        n: int = await w.write(b"abc\n")
        await w.writelines([b"def\n", bytearray(b"ghi\n")])
        await w.flush()
    async with aiofiles_c.open(p, "rb") as r:
        head: bytes = await r.read(2)
        peeked: bytes = await r.peek()
        line: bytes = await r.readline()
        pos: int = await r.tell()
        lines: list[bytes] = [x async for x in r]
        assert isinstance(r, AsyncBufferedReader)
        print(head, len(peeked) > 0, line, pos, lines, r.name == p)
    raw: AsyncFileIO = await aiofiles_c.open(p, "r+b", buffering=0)
    try:
        everything: bytes = await raw.readall()
        await raw.seek(0, os.SEEK_SET)
        buf = bytearray(4)
        got: int = await raw.readinto(buf)
        print(len(everything), got, raw.fileno() >= 0, raw.mode)
    finally:
        await raw.close()
    async with aiofiles_c.open(p, "a", encoding="utf-8") as t:
        chars: int = await t.write("text\n")
        assert isinstance(t, AsyncTextIOWrapper)
        print(chars, t.encoding, t.closed)
    async with aiofiles_c.open(p) as t:
        text: str = await t.read()
        print(len(text.splitlines()))
    return n


async def os_calls(d: str) -> None:
    p = os.path.join(d, "data")
    st: os.stat_result = await aiofiles_c.os.stat(p)
    names: list[str] = await aiofiles_c.os.listdir(d)
    await aiofiles_c.os.mkdir(os.path.join(d, "sub"))
    await aiofiles_c.os.rename(os.path.join(d, "sub"), os.path.join(d, "s2"))
    await aiofiles_c.os.rmdir(os.path.join(d, "s2"))
    exists: bool = await aiofiles_c.ospath.exists(p)
    size: int = await aiofiles_c.os.path.getsize(p)
    is_file: bool = await aiofiles_c.ospath.isfile(p)
    print(st.st_size == size, sorted(names), exists, is_file)
    getpid = aiofiles_c.os.wrap(os.getpid)
    pid: int = await getpid()
    print(pid == os.getpid())


async def temp(d: str) -> None:
    async with tempfile.NamedTemporaryFile(dir=d) as nf:
        await nf.write(b"named")
        await nf.seek(0)
        data: bytes = await nf.read()
        print(data, isinstance(nf.name, str))
    async with tempfile.NamedTemporaryFile("w+", dir=d) as nt:
        await nt.write("named text")
        await nt.seek(0)
        s: str = await nt.read()
        print(s)
    async with tempfile.TemporaryFile(dir=d) as tf:
        await tf.write(b"unnamed")
    async with tempfile.SpooledTemporaryFile(max_size=4, dir=d) as sf:
        assert isinstance(sf, AsyncSpooledTemporaryFile)
        await sf.write(b"spooled data")
        await sf.seek(0)
        print(await sf.read(), isinstance(await sf.fileno(), int))
    async with tempfile.TemporaryDirectory(dir=d) as td:
        print(os.path.isdir(td))
    tdo: AsyncTemporaryDirectory = await tempfile.TemporaryDirectory(dir=d)
    await tdo.cleanup()


async def wrapping(d: str) -> None:
    p = os.path.join(d, "data")
    with sync_open(p, "rb") as fh:
        wf: AsyncBufferedReader = wrap(fh)
        print(await wf.read(3))
    wt: AsyncTextIOWrapper = wrap(io.StringIO("in memory"))
    print(await wt.read())
    base: AsyncBase = wt
    print(isinstance(base, AsyncBase))


async def stdio() -> None:
    await aiofiles_c.stdout.write("to stdout\n")
    await aiofiles_c.stdout.flush()
    await aiofiles_c.stderr_bytes.write(b"")
    await aiofiles_c.stdout_bytes.flush()
    if not sys.stdin.isatty():
        rest: bytes = await aiofiles_c.stdin_bytes.read(0)
        first: str = await aiofiles_c.stdin.read(0)
        print(rest, first)


async def main() -> None:
    with stdtempfile.TemporaryDirectory() as d:
        await files(d)
        await os_calls(d)
        await temp(d)
        await wrapping(d)
    await stdio()
    aiofiles_c.set_pool_size(aiofiles_c.pool_size())


if __name__ == "__main__":
    aiofiles_c.install()
    asyncio.run(main())
