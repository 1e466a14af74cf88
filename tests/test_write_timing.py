"""When the bytes of small writes reach the file: after every write() call
the file's size on disk is the size io's twin file has after the same call.
io makes its write(2) at the call whose data no longer fits in its buffer,
so an error of that write(2) (a full disk, a file size limit) is raised by
that call; the same call must make it here. Binary files by the buffer's
size; text files by _CHUNK_SIZE, as io's TextIOWrapper hands its pending
encoded bytes to its buffered file."""
import io
import os

import pytest

BINARY_RUNS = {
    "records32": [32] * 700,
    "mixed": [1, 100, 4000, 4096, 5000, 7, 8192, 3, 4095, 1, 1, 9000, 2,
              4094, 2, 2, 300] * 3,
    "exact": [1024] * 20,
}


def _sizes_io(path, mode, lengths, make, **kw):
    sizes = []
    with io.open(path, mode, **kw) as f:
        for n in lengths:
            f.write(make(n))
            sizes.append(os.stat(path).st_size)
    sizes.append(os.stat(path).st_size)
    return sizes


async def _sizes_impl(impl, path, mode, lengths, make, chunk=None, **kw):
    sizes = []
    f = await impl.open(path, mode, **kw)
    try:
        if chunk is not None:
            # aiofiles: its wrapper's io file
            getattr(f, "_file", f)._CHUNK_SIZE = chunk
        for n in lengths:
            await f.write(make(n))
            sizes.append(os.stat(path).st_size)
    finally:
        await f.close()
    sizes.append(os.stat(path).st_size)
    return sizes


@pytest.mark.asyncio
@pytest.mark.parametrize("run", sorted(BINARY_RUNS))
@pytest.mark.parametrize("buffering", [-1, 1000, 16384])
async def test_binary_writes_reach_the_file_at_ios_calls(impl, tmp_path, run,
                                                         buffering):
    lengths = BINARY_RUNS[run]

    def make(n):
        return b"x" * n

    want = _sizes_io(tmp_path / "io", "wb", lengths, make,
                     buffering=buffering)
    got = await _sizes_impl(impl, tmp_path / "impl", "wb", lengths, make,
                            buffering=buffering)
    assert got == want


# Runs of writes smaller than the buffered file's size, the usual case:
# io's pending bytes go to its buffered file _CHUNK_SIZE at a time, in one
# write(2) when that is more than the buffer's size. (Not covered: a
# _CHUNK_SIZE below the buffer's size, or a single write larger than it
# after small ones: io then keeps handed-over bytes in its buffered file,
# where here they go out with the rest, at the same call.)
TEXT_RUNS = {
    # the benchmark's record: 23 bytes in UTF-8
    "lines": ["a line of text, héllo\n"] * 1200,
    "ascii": ["0123456789abcdefghijk\n"] * 1200,
    # pending bytes reaching _CHUNK_SIZE exactly: io writes them at once
    "exact": ["y" * 1024] * 40,
    "varied": ["é" * 300, "a", "b" * 819, "c", "\n" * 10, "d" * 900,
               "€" * 273, "ab", "x" * 409] * 30,
}


@pytest.mark.asyncio
@pytest.mark.parametrize("run", sorted(TEXT_RUNS))
@pytest.mark.parametrize("chunk", [None, 20000])
async def test_text_writes_reach_the_file_at_ios_calls(impl, tmp_path, run,
                                                       chunk):
    texts = TEXT_RUNS[run]

    def make(i):
        return texts[i]

    order = list(range(len(texts)))
    kw = {"encoding": "utf-8", "newline": ""}
    want = []
    with io.open(tmp_path / "io", "w", **kw) as f:
        if chunk is not None:
            f._CHUNK_SIZE = chunk
        for i in order:
            f.write(make(i))
            want.append(os.stat(tmp_path / "io").st_size)
    want.append(os.stat(tmp_path / "io").st_size)
    got = await _sizes_impl(impl, tmp_path / "impl", "w", order, make,
                            chunk=chunk, **kw)
    assert got == want
    assert (tmp_path / "impl").read_bytes() == (tmp_path / "io").read_bytes()
