"""Pool and completion-queue life cycle (issue 9): fork with operations in
flight, no free descriptor, failed submissions, loops that end with opens
in flight, several interpreters."""
import asyncio
import errno

import pytest

from tests.helpers import IS_C, run_python

pytestmark = pytest.mark.skipif(not IS_C, reason="aiofiles_c pool")


FORK = r"""
import asyncio, os, sys, warnings
import aiofiles_c

# Python 3.12+ warns about any fork() of a process with threads: the
# interpreter's warning about fork in general, not the library's.
warnings.filterwarnings(
    "ignore", message=r".*use of fork\(\) may lead to deadlocks",
    category=DeprecationWarning)

workdir = sys.argv[1]
path = os.path.join(workdir, "data")
with open(path, "wb") as f:
    f.write(b"abc" * 1000)

async def child_main(read_op, stat_op, f):
    try:
        await asyncio.wait_for(read_op, 5)
    except RuntimeError as e:
        assert "in flight" in str(e) and "fork" in str(e), e
    else:
        raise AssertionError("completed in the child")
    # A stat may have finished before fork() (then its result is good) or
    # not (then it fails as the read did); it never hangs.
    try:
        assert (await asyncio.wait_for(stat_op, 5)).st_size == 3000
    except RuntimeError as e:
        assert "in flight" in str(e), e
    # New operations work at once.
    async with aiofiles_c.open(path, "rb") as g:
        assert await g.read() == b"abc" * 1000
    assert (await aiofiles_c.os.stat(path)).st_size == 3000
    await f.close()

async def main():
    r, w = os.pipe()
    f = await aiofiles_c.open(r, "rb", buffering=0)
    read_op = f.read(10)          # started: blocked in the pool on the pipe
    fifo = os.path.join(workdir, "fifo")
    os.mkfifo(fifo)
    open_task = asyncio.ensure_future(aiofiles_c.open(fifo, "rb"))
    await asyncio.sleep(0.2)
    stat_op = aiofiles_c.os.stat(path)   # queued behind nothing: fast
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            open_task.cancel()
            asyncio.run(child_main(read_op, stat_op, f))
            print("CHILD-OK", flush=True)
            code = 0
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    # The parent's operations complete as usual.
    assert (await stat_op).st_size == 3000
    os.write(w, b"0123456789")
    assert await read_op == b"0123456789"
    wfd = os.open(fifo, os.O_WRONLY)
    g = await open_task
    await g.close()
    os.close(wfd)
    await f.close()
    os.close(w)
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
    print("PARENT-OK")

asyncio.run(main())
"""


def test_fork_completes_inflight_ops_in_child(tmp_path):
    rc, out, err = run_python(FORK, tmp_path, timeout=60)
    assert rc == 0, (rc, out, err)
    assert "CHILD-OK" in out and "PARENT-OK" in out, (out, err)
    assert err == "", err


EMFILE = r"""
import asyncio, errno, os, resource, sys
import aiofiles_c

workdir = sys.argv[1]
path = os.path.join(workdir, "data")
with open(path, "wb") as f:
    f.write(b"x" * 100)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
loop = asyncio.new_event_loop()   # its own descriptors first
fillers = []
while True:
    try:
        fillers.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as e:
        assert e.errno == errno.EMFILE
        break

def fds():
    os.close(fillers.pop())   # listdir needs one
    names = sorted(os.listdir("/proc/self/fd"))
    fillers.append(os.open("/dev/null", os.O_RDONLY))
    return names

before = fds()

async def main():
    # Needs no descriptor: works although the eventfd cannot be made.
    st = await aiofiles_c.os.stat(path)
    assert st.st_size == 100
    assert await aiofiles_c.os.path.exists(path)
    for i in range(3):
        try:
            await aiofiles_c.open(path, "rb")
        except OSError as e:
            assert e.errno == errno.EMFILE, e
        else:
            raise AssertionError("open succeeded")
    assert (await aiofiles_c.os.stat(path)).st_size == 100

loop.run_until_complete(main())
assert fds() == before
for fd in fillers:
    os.close(fd)
loop.close()
print("OK")
"""


def test_no_free_descriptor(tmp_path):
    rc, out, err = run_python(EMFILE, tmp_path, timeout=60)
    assert rc == 0 and "OK" in out, (rc, out, err)
    assert err == "", err


@pytest.mark.asyncio
async def test_failed_submission_gives_inflight_back(tmp_path, impl, request):
    from aiofiles_c import _cext, _loop
    cq = _loop.completion_for(asyncio.get_running_loop())
    assert cq._inflight == 0
    # every stat and open through the pool (a cached path would not be)
    _cext.set_inline_reads(False)
    request.addfinalizer(lambda: _cext.set_inline_reads(True))
    _cext._fail_submits(1, errno.EAGAIN)
    with pytest.raises(BlockingIOError):
        await impl.os.stat(str(tmp_path))
    assert cq._inflight == 0
    _cext._fail_submits(1, errno.EAGAIN)
    p = tmp_path / "f"
    p.write_bytes(b"data")
    with pytest.raises(BlockingIOError):
        await impl.open(p, "rb")
    assert cq._inflight == 0
    async with impl.open(p, "rb") as f:
        assert await f.read() == b"data"
    assert cq._inflight == 0


OPEN_LEAK = r"""
import asyncio, gc, os, sys, time
import aiofiles_c

workdir = sys.argv[1]
paths = []
for i in range(300):
    p = os.path.join(workdir, f"f{i}")
    open(p, "wb").close()
    paths.append(p)
# listdir: a call that always goes to the pool (a cached stat may not)
asyncio.run(aiofiles_c.os.listdir(workdir))   # pool started, a queue made
gc.collect()
base = len(os.listdir("/proc/self/fd"))

async def many_opens(mode):
    for p in paths:
        asyncio.ensure_future(aiofiles_c.open(p, mode))
    await asyncio.sleep(0)   # loop ends with the opens in flight

for mode in ("rb", "wb", "r+b"):
    # asyncio.run cancels the tasks and closes the loop; the jobs go on.
    asyncio.run(many_opens(mode))
    gc.collect()
deadline = time.monotonic() + 20
while True:
    asyncio.run(aiofiles_c.os.listdir(workdir))   # a drain of another loop
    gc.collect()
    now = len(os.listdir("/proc/self/fd"))
    if now <= base or time.monotonic() > deadline:
        break
    time.sleep(0.05)
assert now == base, (now, base)
print("OK")
"""


def test_loop_ending_with_opens_in_flight_leaks_nothing(tmp_path):
    rc, out, err = run_python(OPEN_LEAK, tmp_path, timeout=60)
    assert rc == 0 and "OK" in out, (rc, out, err)


SUBINTERP = r"""
import sys
import aiofiles_c._cext   # the main interpreter loads it
try:
    import _xxsubinterpreters as interpreters
except ImportError:   # Python 3.13: the same module, renamed
    import _interpreters as interpreters
interp = interpreters.create()
try:
    # Before 3.13 a failure raises RunFailedError; from 3.13 on it is
    # returned (an exception snapshot).
    failed = interpreters.run_string(interp, "import aiofiles_c._cext")
    if failed is not None:
        failed = failed.formatted
except interpreters.RunFailedError as e:
    failed = str(e)
finally:
    interpreters.destroy(interp)
if failed is None:
    print("LOADED")
else:
    assert "ImportError" in failed and "subinterpreters" in failed, failed
    print("REFUSED")
"""


def test_module_refuses_subinterpreters():
    try:
        import _xxsubinterpreters  # noqa: F401
    except ImportError:
        pytest.importorskip("_interpreters")
    rc, out, err = run_python(SUBINTERP, timeout=60)
    assert rc == 0 and "REFUSED" in out, (rc, out, err)
