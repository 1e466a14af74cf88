"""A file object dropped without being closed.

usage: unclosed.py {stdlib|impl} WORKDIR MODE

Opens a file in MODE ('rb', 'wb', 'r', 'w', ...), reads or writes a little,
drops it unclosed and runs gc.collect().  'stdlib' uses the builtin open();
'impl' uses the library (inside asyncio.run).  Run under `-W default` this
must print exactly one "ResourceWarning: unclosed file ..." like the stdlib
does; with the default warning filters (ResourceWarning ignored) nothing.
Data written to the unclosed file must not be lost.  The line "AFTER-GC"
is written to stderr once the file has been dropped and collected.

Prints "MAIN-DONE" on stdout at the end.
"""
import asyncio
import gc
import os
import sys

WHICH, WORKDIR, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
TEXT = "hello\n" * 1000
src = os.path.join(WORKDIR, "src.txt")
with open(src, "w") as fh:
    fh.write(TEXT)
writing = "w" in MODE or "a" in MODE
path = os.path.join(WORKDIR, "out.txt") if writing else src
payload = "data" if "b" not in MODE else b"data"


def drop_stdlib():
    f = open(path, MODE)
    if writing:
        f.write(payload)
    else:
        f.read(10)
    del f
    gc.collect()


async def drop_impl():
    from _lc_common import impl
    f = await impl.open(path, MODE)
    if writing:
        await f.write(payload)
    else:
        await f.read(10)
    del f
    gc.collect()
    # the library still works afterwards
    async with impl.open(src, "rb") as f:
        assert await f.read() == TEXT.encode()


if WHICH == "stdlib":
    drop_stdlib()
else:
    asyncio.run(drop_impl())
gc.collect()
# Separates what the drop + gc.collect() printed from anything printed later
# (e.g. a warning only emitted at interpreter exit).
sys.stderr.write("AFTER-GC\n")
sys.stderr.flush()
if writing:
    with open(path, "rb") as fh:
        assert fh.read() == b"data", "unclosed file's buffered data was lost"
print("MAIN-DONE")
