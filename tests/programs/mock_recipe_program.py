"""A program under test that uses the mocking recipe from aiofiles' README:
``wrap.register(MagicMock)`` plus ``mock.patch("aiofiles.threadpool.sync_open")``.
Run as is (aiofiles) and under ``aiofiles_c.install()``: the output must
be the same, and no file may appear on disk. Argument: a directory."""
import asyncio
import os
import sys
from unittest import mock

import aiofiles
import aiofiles.threadpool


async def save(path, data):
    async with aiofiles.open(path, "wb") as f:
        await f.write(data)
        await f.flush()


async def load(path):
    async with aiofiles.open(path, mode="r", encoding="utf-8") as f:
        return await f.read()


async def main(directory):
    aiofiles.threadpool.wrap.register(mock.MagicMock)(
        lambda *args, **kwargs: aiofiles.threadpool.AsyncBufferedIOBase(
            *args, **kwargs))

    written = os.path.join(directory, "written.bin")
    mock_file = mock.MagicMock()
    with mock.patch("aiofiles.threadpool.sync_open",
                    return_value=mock_file) as mock_open:
        await save(written, b"payload")
    print("open calls:", mock_open.call_args_list)
    print("write calls:", mock_file.write.call_args_list)
    print("flush called:", mock_file.flush.called)
    print("file on disk:", os.path.exists(written))

    mock_file = mock.MagicMock()
    mock_file.read.return_value = "mocked text"
    with mock.patch("aiofiles.threadpool.sync_open",
                    return_value=mock_file) as mock_open:
        text = await load(os.path.join(directory, "missing.txt"))
    print("read:", text, mock_open.call_args.kwargs["mode"])

    # Unpatched again: a real file.
    await save(written, b"real")
    with open(written, "rb") as f:
        print("after the patch:", f.read())
    print("listing:", sorted(os.listdir(directory)))


asyncio.run(main(sys.argv[1]))
