"""A short end-to-end check of an installed or built aiofiles_c: binary and
text round trips, os calls, Path, positional I/O and an atomic write. Prints
"smoke ok: VERSION BACKEND"; any failure raises. An argument names the
backend the run must be on."""
import asyncio
import os
import sys
import tempfile

import aiofiles_c


async def main() -> None:
    d = tempfile.mkdtemp()
    p = os.path.join(d, "f")
    async with aiofiles_c.open(p, "w") as f:
        await f.write("hello\n")
    async with aiofiles_c.open(p) as f:
        assert await f.read() == "hello\n"
    assert (await aiofiles_c.os.stat(p)).st_size == 6
    async with aiofiles_c.open(p, "r+b") as f:
        if aiofiles_c.backend != "python":
            assert await f.read_at(1, 4) == b"ello"
        await f.seek(0, 2)
        await f.write(b"world\n")
    path = aiofiles_c.Path(d) / "f"
    assert await path.read_text() == "hello\nworld\n"
    await aiofiles_c.write_bytes(p, b"new", atomic=True)
    assert await aiofiles_c.read_bytes(p) == b"new"
    assert sorted(await aiofiles_c.os.listdir(d)) == ["f"]
    await aiofiles_c.os.rmtree(d)
    assert not await aiofiles_c.os.path.exists(d)
    print("smoke ok:", aiofiles_c.__version__, aiofiles_c.backend)


if len(sys.argv) > 1:
    assert aiofiles_c.backend == sys.argv[1], aiofiles_c.backend
asyncio.run(main())
