"""A library written for aiofiles, imported by aiofiles_program.py after
the program started (under install() it must get aiofiles_c too)."""
import aiofiles
import aiofiles.os
from aiofiles.threadpool.binary import AsyncBufferedReader


async def count_lines(path):
    async with aiofiles.open(path, "rb") as f:
        assert isinstance(f, AsyncBufferedReader)
        n = 0
        async for _ in f:
            n += 1
    return n, (await aiofiles.os.stat(path)).st_size


def implementation():
    return type(aiofiles.open).__module__
