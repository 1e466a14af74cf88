"""Helpers shared by the lifecycle scripts (run as subprocesses by
tests/test_lifecycle.py; each script's directory is sys.path[0]).

The implementation under test is chosen with $AIOFILES_IMPL
("aiofiles_c" by default, or "aiofiles" as the reference), set by the test
run, like $AIOFILES_C_BACKEND; the ``tests`` package is on PYTHONPATH.
"""
import asyncio
import hashlib
import importlib
import os
import signal
import time
import warnings

# asyncio.Runner, or its stand-in on Python 3.9 and 3.10.
from tests._runner import Runner  # noqa: F401  (for the scripts)

IMPL_NAME = os.environ.get("AIOFILES_IMPL", "aiofiles_c")
impl = importlib.import_module(IMPL_NAME)

# Python >= 3.12 warns (DeprecationWarning, shown for __main__) when a
# multi-threaded process forks.  That is the interpreter's own warning
# about fork() in general, not something the library prints, so it is
# silenced here for both implementations.
warnings.filterwarnings(
    "ignore", message=r".*use of fork\(\) may lead to deadlocks",
    category=DeprecationWarning)

CHUNK = 64 * 1024


def payload(tag, size=4 * CHUNK):
    """Deterministic, tag-dependent bytes of the given size."""
    seed = hashlib.sha256(str(tag).encode()).digest()
    reps = size // len(seed) + 1
    return (seed * reps)[:size]


def emit(msg):
    """Write a line to stdout without Python buffering (safe before
    os._exit and from forked children)."""
    os.write(1, (msg + "\n").encode())


def fail(msg):
    os.write(2, ("FAIL: " + msg + "\n").encode())


async def whole_round_trip(path, data):
    """Write data with one write() on a fresh 'wb' file, read it back with
    one read(), and check it; then the same as text, read by lines."""
    f = await impl.open(path, "wb")
    await f.write(data)
    await f.close()
    f = await impl.open(path, "rb")
    got = await f.read()
    await f.close()
    if got != data:
        raise AssertionError("mismatch")
    await text_round_trip(path + ".txt", data)


def text_lines(data):
    """The start of the payload as text: 64 hex lines with some non-ASCII
    in them (few enough for aiofiles' one executor hop per line)."""
    data = data[:2048]
    return [f"{i} ü {data[i:i + 32].hex()}\n" for i in range(0, len(data), 32)]


async def text_round_trip(path, data):
    lines = text_lines(data)
    f = await impl.open(path, "w", encoding="utf-8")
    for line in lines:
        await f.write(line)
    await f.close()
    f = await impl.open(path, "r", encoding="utf-8")
    got = [line async for line in f]
    await f.close()
    if got != lines:
        raise AssertionError("text mismatch")


async def write_file(path, data, chunk=CHUNK):
    f = await impl.open(path, "wb")
    for i in range(0, len(data), chunk):
        n = await f.write(data[i:i + chunk])
        if n != len(data[i:i + chunk]):
            raise AssertionError(f"short write {n} on {path}")
    await f.close()


async def read_file(path, chunk=CHUNK):
    f = await impl.open(path, "rb")
    parts = []
    while True:
        b = await f.read(chunk)
        if not b:
            break
        parts.append(b)
    await f.close()
    return b"".join(parts)


async def roundtrip(path, tag, size=4 * CHUNK):
    """Write a file, read it back (one plain await, one async-with), check."""
    data = payload(tag, size)
    await write_file(path, data)
    got = await read_file(path)
    if got != data:
        raise AssertionError(f"content mismatch in {path}: "
                             f"{len(got)} bytes vs {len(data)} expected")
    async with impl.open(path, "ab") as f:
        await f.write(b"tail")
    async with impl.open(path, "rb") as f:
        got = await f.read()
    if got != data + b"tail":
        raise AssertionError(f"append/read mismatch in {path}")
    await text_round_trip(path + ".txt", data)
    return len(got)


async def roundtrip_many(dirpath, prefix, n=16, size=4 * CHUNK):
    """n concurrent round trips on n distinct files."""
    res = await asyncio.gather(*(
        roundtrip(os.path.join(dirpath, f"{prefix}-{i}.bin"), f"{prefix}{i}",
                  size)
        for i in range(n)))
    return sum(res)


def wait_children(pids, timeout=30.0):
    """waitpid on all pids with one overall deadline.  Returns a list of
    problems (empty if every child exited with status 0).  A child still
    running at the deadline is SIGKILLed and reported as hung."""
    deadline = time.monotonic() + timeout
    problems = []
    for pid in pids:
        while True:
            wpid, status = os.waitpid(pid, os.WNOHANG)
            if wpid == pid:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                status = None
                break
            time.sleep(0.005)
        if status is None:
            problems.append(f"child {pid} hung (killed after {timeout}s)")
        elif os.WIFSIGNALED(status):
            problems.append(f"child {pid} killed by signal "
                            f"{signal.Signals(os.WTERMSIG(status)).name}")
        elif os.WEXITSTATUS(status) != 0:
            problems.append(f"child {pid} exited with status "
                            f"{os.WEXITSTATUS(status)}")
    return problems
