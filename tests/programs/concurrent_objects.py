"""One object used from several tasks at once, or from several threads each
running its own event loop, for every kind of object the library gives out.

    python concurrent_objects.py KIND [HOW LOOP INLINE]

KIND: see CASES; HOW: "tasks" (gather on one loop) or "threads" (three
threads, each in asyncio.run, started together); LOOP: asyncio or uvloop;
INLINE: 1/0 (aiofiles_c: page-cached reads on the loop thread or not).
Without HOW LOOP INLINE: every combination in turn.

Each worker takes records (reads) or puts them (writes) until the object is
used up; afterwards the records seen, or the file's content, must be exactly
the set of records, each whole: calls took effect one at a time. A worker
may instead get a RuntimeError that names the conflict (printed as CLEAR);
anything else, a crash or a hang fails the test that runs this script.
Prints "OK KIND HOW" (and the CLEAR lines) on success.
"""
import asyncio
import importlib
import os
import random
import sys
import tempfile as std_tempfile
import threading

import uvloop

IMPL = os.environ.get("AIOFILES_IMPL", "aiofiles_c")
impl = importlib.import_module(IMPL)
impl_os = importlib.import_module(IMPL + ".os")
impl_tempfile = importlib.import_module(IMPL + ".tempfile")
impl_threadpool = importlib.import_module(IMPL + ".threadpool")

KIND = sys.argv[1]
HOW, LOOP, INLINE = (sys.argv[2:5] if len(sys.argv) > 2
                     else ("tasks", "asyncio", "1"))
FACTORY = asyncio.new_event_loop
WORKERS = 8
REC = 4096        # binary record size
NREC = 96         # records in a file read by the workers
PER_WORKER = 24   # records each writer puts
tmp = std_tempfile.mkdtemp()
clear: list[str] = []


def record(i: int) -> bytes:
    head = b"%08d:" % i
    body = random.Random(i).randbytes(REC).hex().encode()
    return head + body[:REC - len(head) - 1] + b"\n"


def line(i: int) -> str:
    return "line %06d %s\n" % (i, "\u00e9x" * (i % 37))


async def run_workers(make_worker, shared):
    """make_worker(shared, index) is a coroutine function's call; run it
    WORKERS times at once, the way HOW says: as tasks of the running loop,
    or in threads with a loop each while this loop waits (it made the
    object). Returns the workers' results (None for a worker that got a
    clear RuntimeError)."""
    results = [None] * WORKERS

    def note(i, e):
        msg = str(e)
        assert isinstance(e, RuntimeError), repr(e)
        clear.append(msg)

    if HOW == "tasks":
        outs = await asyncio.gather(
            *(make_worker(shared, i) for i in range(WORKERS)),
            return_exceptions=True)
        for i, r in enumerate(outs):
            if isinstance(r, BaseException):
                note(i, r)
            else:
                results[i] = r
        return results

    barrier = threading.Barrier(WORKERS)
    errors = []

    def thread_main(i):
        async def go():
            barrier.wait()
            return await make_worker(shared, i)
        try:
            results[i] = _run(go())
        except RuntimeError as e:
            note(i, e)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def run_threads():
        threads = [threading.Thread(target=thread_main, args=(i,))
                   for i in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    await asyncio.get_running_loop().run_in_executor(None, run_threads)
    if errors:
        raise errors[0]
    return results


def _run(coro):
    loop = FACTORY()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def check_records(chunks, expected):
    got = sorted(c for part in chunks if part for c in part)
    assert got == sorted(expected), (len(got), len(expected))


def check_file_records(data, expected, size):
    pieces = [data[i:i + size] for i in range(0, len(data), size)]
    assert sorted(pieces) == sorted(expected), (len(pieces), len(expected))


# -- readers: each worker reads records until the end --------------------

async def read_records(f, i):
    got = []
    while True:
        b = await f.read(REC)
        if not b:
            return got
        got.append(b)


async def read_lines(f, i):
    got = []
    while True:
        s = await f.readline()
        if not s:
            return got
        got.append(s)


async def binary_reader(opener):
    recs = [record(i) for i in range(NREC)]
    path = os.path.join(tmp, "r.bin")
    with open(path, "wb") as fh:
        fh.write(b"".join(recs))
    f = await opener(path)
    chunks = await run_workers(read_records, f)
    await f.close()
    if not clear:
        check_records(chunks, recs)


async def text_reader():
    lines = [line(i) for i in range(NREC * 4)]
    path = os.path.join(tmp, "r.txt")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("".join(lines))
    f = await impl.open(path, "r", encoding="utf-8")
    chunks = await run_workers(read_lines, f)
    await f.close()
    if not clear:
        check_records(chunks, lines)


# -- writers: each worker writes its own records ---------------------------

def writer_worker(make):
    async def work(f, i):
        for k in range(PER_WORKER):
            await f.write(make(i * PER_WORKER + k))
    return work


async def binary_writer(mode, **kw):
    path = os.path.join(tmp, "w.bin")
    if "a" in mode or "r" in mode:
        with open(path, "wb"):
            pass
    f = await impl.open(path, mode, **kw)
    await run_workers(writer_worker(record), f)
    await f.close()
    with open(path, "rb") as fh:
        data = fh.read()
    if not clear:
        check_file_records(data, [record(i)
                                  for i in range(WORKERS * PER_WORKER)], REC)


async def text_writer():
    path = os.path.join(tmp, "w.txt")
    f = await impl.open(path, "w", encoding="utf-8")
    await run_workers(writer_worker(line), f)
    await f.close()
    with open(path, encoding="utf-8") as fh:
        got = fh.readlines()
    if not clear:
        assert sorted(got) == sorted(line(i)
                                     for i in range(WORKERS * PER_WORKER))


# -- temporary files: writers, then every record read back ----------------

async def temp_file(factory, **kw):
    async def make():
        cm = factory(**kw)
        return cm, await cm.__aenter__()
    cm, f = await make()
    await run_workers(writer_worker(record), f)

    async def readback():
        await f.seek(0)
        return await f.read()
    data = await readback()
    await cm.__aexit__(None, None, None)
    if not clear:
        check_file_records(data, [record(i)
                                  for i in range(WORKERS * PER_WORKER)], REC)


# -- scandir and walk ------------------------------------------------------

_trees: dict = {}


def make_tree(n):
    if n in _trees:
        return _trees[n]
    d = os.path.join(tmp, "tree%d" % n)
    os.mkdir(d)
    for i in range(n):
        open(os.path.join(d, "f%05d" % i), "w").close()
    for i in range(5):
        sub = os.path.join(d, "d%d" % i)
        os.mkdir(sub)
        for k in range(50):
            open(os.path.join(sub, "g%03d" % k), "w").close()
    _trees[n] = d
    return d


async def scandir_order_case():
    """Calls made one after another get entries in os.scandir's order,
    whichever task made them."""
    d = make_tree(2500)
    it = impl_os.scandir(d)
    calls = [asyncio.ensure_future(it.__anext__()) for _ in range(2510)]
    outs = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(o, StopAsyncIteration) for o in outs[-5:]), outs
    names = [e.name for e in outs[:-5]]
    it.close()
    with os.scandir(d) as ref:
        assert names == [e.name for e in ref]


async def scandir_close_case():
    """close() while a fetch is in flight: the stream stays open until the
    fetch is done, then is closed; the iterator is at its end."""
    d = make_tree(2500)
    for _ in range(5):
        it = impl_os.scandir(d)
        assert (await it.__anext__()).name
        while it._next_entry() is not None:  # use up the first batch
            pass
        t = asyncio.ensure_future(it.__anext__())
        await asyncio.sleep(0)
        it.close()
        try:
            await t
        except StopAsyncIteration:
            pass
        try:
            await it.__anext__()
            raise AssertionError("an entry after close()")
        except StopAsyncIteration:
            pass


async def scandir_cancel_case():
    """Calls cancelled while a batch is being fetched lose no entry."""
    d = make_tree(4500)
    it = impl_os.scandir(d)
    got = []
    while True:
        t = asyncio.ensure_future(it.__anext__())
        await asyncio.sleep(0)
        if not t.done():
            t.cancel()
        try:
            got.append((await t).name)
        except asyncio.CancelledError:
            pass
        except StopAsyncIteration:
            break
    it.close()
    check_records([got], os.listdir(d))


async def scandir_busy_case():
    """The native call never starts a second job on a directory stream
    that has one in flight (aiofiles_c only)."""
    if IMPL != "aiofiles_c":
        return
    from aiofiles_c import _cext, _fs
    from aiofiles_c._scandir import _FETCH
    d = make_tree(4500)
    args = (_fs.SCANDIR, os.fsencode(d), None, -1, -1, _fs.AT_FDCWD,
            _fs.AT_FDCWD, 0, 0, -1, _FETCH, d, None, True, (0, -1, 0, -1))
    blob, handle, at_end = await _cext.fs(*args, None)
    assert not at_end
    first = _cext.fs(*args, handle)
    try:
        second = _cext.fs(*args, handle)
    except RuntimeError as e:
        assert "in flight" in str(e), e
    else:
        await second
        raise AssertionError("a second job on a busy directory stream")
    await first
    await _cext.fs(*args, handle)  # idle again: accepted


async def scan_worker(it, i):
    got = []
    async for entry in it:
        got.append(entry.name)
    return got


async def scandir_case():
    d = make_tree(2500)  # two batches of the pool job
    it = impl_os.scandir(d)
    names = await run_workers(scan_worker, it)
    it.close()
    if not clear:
        check_records([n for n in names if n], os.listdir(d))


async def scandir_await_case():
    d = make_tree(2500)

    async def work(it, i):
        await it
        got = []
        for entry in it:
            got.append(entry.name)
        return got
    it = impl_os.scandir(d)
    names = await run_workers(work, it)
    it.close()
    if not clear:
        check_records([n for n in names if n], os.listdir(d))


async def walk_case():
    d = make_tree(200)

    async def work(gen, i):
        got = []
        async for root, dirs, files in gen:
            got.append((root, sorted(dirs), sorted(files)))
        return got
    gen = impl_os.walk(d)
    parts = await run_workers(work, gen)
    await gen.aclose()
    want = sorted((r, sorted(ds), sorted(fs)) for r, ds, fs in os.walk(d))
    got = sorted(x for p in parts if p for x in p)
    if clear:
        # Another worker's call was refused; what was handed out is still
        # os.walk's, each directory once.
        assert len(got) == len(set(map(repr, got))) and all(
            x in want for x in got)
    else:
        assert got == want


# -- stdio and wrap() ------------------------------------------------------

async def stdio_case():
    async def work(f, i):
        for k in range(PER_WORKER):
            await f.write(b"stdio %d %d\n" % (i, k))
        await f.flush()
    await run_workers(work, impl.stdout_bytes)
    sys.stdout.flush()


async def wrap_reader(binary):
    if binary:
        recs = [record(i) for i in range(NREC)]
        path = os.path.join(tmp, "wr.bin")
        with open(path, "wb") as fh:
            fh.write(b"".join(recs))
        f = impl_threadpool.wrap(open(path, "rb"))
        chunks = await run_workers(read_records, f)
    else:
        recs = [line(i) for i in range(NREC * 4)]
        path = os.path.join(tmp, "wr.txt")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("".join(recs))
        f = impl_threadpool.wrap(open(path, encoding="utf-8"))
        chunks = await run_workers(read_lines, f)
    await f.close()
    if not clear:
        check_records(chunks, recs)


async def wrap_writer():
    path = os.path.join(tmp, "ww.bin")
    f = impl_threadpool.wrap(open(path, "wb"))
    await run_workers(writer_worker(record), f)
    await f.close()
    with open(path, "rb") as fh:
        data = fh.read()
    if not clear:
        check_file_records(data, [record(i)
                                  for i in range(WORKERS * PER_WORKER)], REC)


async def opened(path, mode, **kw):
    return await impl.open(path, mode, **kw)


CASES = {
    "read-rb": lambda: binary_reader(lambda p: opened(p, "rb")),
    "read-r+b": lambda: binary_reader(lambda p: opened(p, "r+b")),
    "read-raw": lambda: binary_reader(lambda p: opened(p, "rb",
                                                       buffering=0)),
    "read-text": text_reader,
    "write-wb": lambda: binary_writer("wb"),
    "write-ab": lambda: binary_writer("ab"),
    "write-r+b": lambda: binary_writer("r+b"),
    "write-raw": lambda: binary_writer("wb", buffering=0),
    "write-text": text_writer,
    "TemporaryFile": lambda: temp_file(impl_tempfile.TemporaryFile),
    "NamedTemporaryFile": lambda: temp_file(
        impl_tempfile.NamedTemporaryFile),
    "SpooledTemporaryFile-memory": lambda: temp_file(
        impl_tempfile.SpooledTemporaryFile, max_size=1 << 30),
    "SpooledTemporaryFile-rolled": lambda: temp_file(
        impl_tempfile.SpooledTemporaryFile, max_size=5 * REC),
    "scandir": scandir_case,
    "scandir-await": scandir_await_case,
    "scandir-order": scandir_order_case,
    "scandir-close": scandir_close_case,
    "scandir-cancel": scandir_cancel_case,
    "scandir-busy": scandir_busy_case,
    "walk": walk_case,
    "stdout_bytes": stdio_case,
    "wrap-reader": lambda: wrap_reader(True),
    "wrap-text-reader": lambda: wrap_reader(False),
    "wrap-writer": wrap_writer,
}

ONE_LOOP = ("scandir-order", "scandir-close", "scandir-cancel",
            "scandir-busy")
NATIVE_FILES = ("read-", "write-", "TemporaryFile", "NamedTemporaryFile")

if __name__ == "__main__":
    if len(sys.argv) > 2:
        combos = [(HOW, LOOP, INLINE)]
    elif KIND in ONE_LOOP:
        combos = [("tasks", lp, "1") for lp in ("asyncio", "uvloop")]
    else:
        # Every way at once: tasks and threads, both loops, and for the
        # native files page-cached reads on the loop thread and off.
        inlines = ("1", "0") if KIND.startswith(NATIVE_FILES) else ("1",)
        combos = [(h, lp, i) for h in ("tasks", "threads")
                  for lp in ("asyncio", "uvloop") for i in inlines]
    for HOW, LOOP, INLINE in combos:
        if IMPL == "aiofiles_c":
            impl._cext.set_inline_reads(INLINE == "1")
        FACTORY = (uvloop.new_event_loop if LOOP == "uvloop"
                   else asyncio.new_event_loop)
        WORKERS = 3 if HOW == "threads" else 8
        tmp = std_tempfile.mkdtemp()
        clear.clear()
        _run(CASES[KIND]())
        for msg in clear:
            print("CLEAR", msg)
        print("OK", KIND, HOW, LOOP, INLINE, flush=True)
