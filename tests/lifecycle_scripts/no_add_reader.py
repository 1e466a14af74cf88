"""A loop whose add_reader()/remove_reader() raise NotImplementedError.

usage: no_add_reader.py WORKDIR

The library must still complete operations on such a loop (falling back to
loop.call_soon_threadsafe for completions).  Runs it through
asyncio.Runner(loop_factory=...) twice, then a plain asyncio.run() in the
same process, then both kinds of loops at once in two threads.
Prints "ALL-OK"; exit status 0.
"""
import asyncio
import os
import sys
import threading
import traceback

from _lc_common import Runner, emit, impl, payload, roundtrip_many, CHUNK

WORKDIR = sys.argv[1]
calls = {"add_reader": 0, "remove_reader": 0}


class NoReaderLoop(asyncio.SelectorEventLoop):
    # asyncio's own machinery uses the private _add_reader, so only third
    # party users (like the library) see these.
    def add_reader(self, fd, callback, *args):
        calls["add_reader"] += 1
        raise NotImplementedError

    def remove_reader(self, fd):
        calls["remove_reader"] += 1
        raise NotImplementedError


async def work(tag):
    total = await roundtrip_many(WORKDIR, tag, n=16)
    assert total == 16 * (4 * CHUNK + 4), total
    # a long sequential chain (each op's completion must wake the loop)
    data = payload(tag)
    path = os.path.join(WORKDIR, f"{tag}-seq.bin")
    async with impl.open(path, "wb") as f:
        for i in range(0, len(data), 512):
            await f.write(data[i:i + 512])
    async with impl.open(path, "rb") as f:
        parts = []
        while chunk := await f.read(1000):
            parts.append(chunk)
    assert b"".join(parts) == data
    return tag


for rnd in range(2):
    with Runner(loop_factory=NoReaderLoop) as runner:
        assert isinstance(runner.get_loop(), NoReaderLoop)
        assert runner.run(work(f"nr{rnd}")) == f"nr{rnd}"

assert asyncio.run(work("plain")) == "plain"

results = {}


def in_thread(name, factory):
    try:
        with Runner(loop_factory=factory) as runner:
            results[name] = runner.run(work(name))
    except BaseException:
        results[name] = traceback.format_exc()


threads = [threading.Thread(target=in_thread, args=("tnr", NoReaderLoop)),
           threading.Thread(target=in_thread,
                            args=("tplain", asyncio.new_event_loop))]
for t in threads:
    t.start()
for t in threads:
    t.join(30)
    if t.is_alive():
        sys.stderr.write(f"FAIL: thread {t.name} hung\n")
        sys.stderr.flush()
        os._exit(2)
if results != {"tnr": "tnr", "tplain": "tplain"}:
    raise SystemExit(f"FAIL: {results}")
emit(f"ALL-OK add_reader calls={calls['add_reader']}")
