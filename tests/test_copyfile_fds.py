"""copyfile opens the source in a job of its own and hands the descriptor
to the copy job (so that the destination's "open" audit event comes only
once the source is open, as shutil raises it): whatever happens after the
source is open, that descriptor is closed exactly once."""
import asyncio
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import cancel_after, open_fds, settled_fds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


async def _fds_warm(impl, path):
    """The open descriptors once this loop has made its own (the native
    completion queue's eventfd, made by the loop's first pool call: a
    listing, since a cached path's stat may be answered on the loop
    thread)."""
    await impl.os.listdir(path)
    return open_fds()


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_bytes(b"data" * 1000)
    (tmp_path / "big").write_bytes(os.urandom(8 << 20))
    return tmp_path


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="no /proc")
@pytest.mark.asyncio
@pytest.mark.parametrize("src,dst", [
    ("f", "c"), ("missing", "c"), ("d", "c"), ("f", "nodir/c"), ("f", "d"),
    ("f", "nope/"),
])
async def test_copyfile_leaves_no_descriptor(impl, tree, src, dst):
    a, b = str(tree / src), str(tree / dst)
    try:
        expected = shutil.copyfile(a, b)
    except OSError as e:
        expected = type(e)
        if os.path.isfile(b):
            os.unlink(b)
    before = await _fds_warm(impl, tree)
    try:
        got = await impl.os.copyfile(a, b)
    except OSError as e:
        got = type(e)
    assert got == expected
    assert await settled_fds(before) <= before


# The handoff of the source descriptor between two pool jobs is the native
# engine's; the pure-Python backend's copyfile is shutil.copyfile in the
# executor, whose cancelled calls run on unseen (this test cannot wait for
# them as it waits for the pool's jobs).
@pytest.mark.native
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="no /proc")
@pytest.mark.asyncio
@pytest.mark.parametrize("turns", [0, 1, 2, 3, 5, 8])
async def test_cancelled_copyfile_leaves_no_descriptor(impl, tree, turns):
    before = await _fds_warm(impl, tree)
    await cancel_after(impl.os.copyfile(tree / "big", tree / "copy"), turns)
    assert await settled_fds(before) <= before


@pytest.mark.native
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="no /proc")
@pytest.mark.asyncio
async def test_copy_job_not_submitted_closes_the_source(impl, tree,
                                                        monkeypatch):
    """The copy job cannot be submitted (the source already open): the
    call fails as the submission did, and the source descriptor is closed
    at once."""
    import errno

    from aiofiles_c import _cext, _fs, _shutil

    def failing_copy(op, *args, **kwargs):
        if op == _fs.COPYFILE:
            _cext._fail_submits(1, errno.EAGAIN)
        return _fs.call(op, *args, **kwargs)

    monkeypatch.setattr(_shutil, "call", failing_copy)
    before = await _fds_warm(impl, tree)
    with pytest.raises(BlockingIOError):
        await impl.os.copyfile(tree / "f", tree / "c")
    assert open_fds() <= before
    assert not (tree / "c").exists()


BLOCKED = textwrap.dedent("""
    import asyncio, os, sys, tempfile
    import aiofiles_c.os as aos

    class Blocked(Exception):
        pass

    def hook(event, args):
        if event == "open" and args[0] == "dst":
            raise Blocked(event)

    async def main():
        os.chdir(tempfile.mkdtemp())
        with open("src", "wb") as fh:
            fh.write(b"x" * 100)
        sys.addaudithook(hook)
        await aos.stat("src")  # the loop's own descriptor, made first
        before = set(os.listdir("/proc/self/fd"))
        try:
            await aos.copyfile("src", "dst")
        except Blocked:
            print("blocked")
        after = set(os.listdir("/proc/self/fd"))
        print(sorted(after - before), os.path.exists("dst"))

    asyncio.run(main())
""")


@pytest.mark.native
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="no /proc")
def test_hook_refusing_the_destination_closes_the_source():
    """A hook that refuses the destination's event stops the copy with the
    source already open: that descriptor is closed, nothing is created."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                  if p])
    proc = subprocess.run([sys.executable, "-c", BLOCKED], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["blocked", "[] False"]
