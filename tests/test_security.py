"""rmtree's symlink-race safety and its agreement with shutil.rmtree.

The race is made deterministic: the directory listing is hooked, and the
hook swaps a subdirectory it has just listed for a symlink to a directory
outside the tree, before the walk descends into it.
"""
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import types

import pytest

from tests.helpers import (IS_C, call_async, call_sync, cancel_after,
                           open_fds, settled_fds)
from tests.os_helpers import build_tree, make_spec, snapshot

pytestmark = pytest.mark.skipif(
    not IS_C, reason="aiofiles' rmtree is shutil's in a thread")



def _make_victim(base):
    """base/tree/a/b/{f,g}, base/tree/top, and base/outside/{precious,sub/x}
    (what the swapped-in symlink points at)."""
    os.makedirs(os.path.join(base, "tree", "a", "b"))
    for rel in ("tree/top", "tree/a/fa", "tree/a/b/f", "tree/a/b/g"):
        with open(os.path.join(base, rel), "w") as fh:
            fh.write(rel)
    os.makedirs(os.path.join(base, "outside", "sub"))
    for rel in ("outside/precious", "outside/sub/x"):
        with open(os.path.join(base, rel), "w") as fh:
            fh.write(rel)


def _swap(base):
    """Replace tree/a/b by a symlink to outside (b itself moves aside)."""
    os.rename(os.path.join(base, "tree", "a", "b"),
              os.path.join(base, "moved-b"))
    os.symlink(os.path.join("..", "..", "outside"),
               os.path.join(base, "tree", "a", "b"))


class _SwapAfterListing:
    """Calls the real listing, then swaps tree/a/b once the listing of
    tree/a (which shows b as a directory) is in hand."""

    def __init__(self, base):
        self.base = base
        self.done = False

    def after(self, names):
        if not self.done and "b" in names and "fa" in names:
            self.done = True
            _swap(self.base)


class _Listing:
    """Entries listed already, used as os.scandir's iterator is."""

    def __init__(self, entries):
        self.entries = entries

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __iter__(self):
        return iter(self.entries)


def _hook_impl_listing(impl, monkeypatch, swapper):
    real = impl.os.scandir

    class Hooked:
        def __init__(self, it):
            self.it = it

        def __await__(self):
            it = yield from self.it.__await__()
            entries = list(it)
            # An entry's lstat is taken when first asked for, as
            # os.DirEntry's: take it now, so that the swap comes after
            # rmtree has looked at the entry (as with shutil below).
            for e in entries:
                e.stat(follow_symlinks=False)
            swapper.after([e.name for e in entries])
            return _Listing(entries)

    def scandir(path=None):
        return Hooked(real(path))

    monkeypatch.setattr(impl.os, "scandir", scandir)


def _hook_shutil_listing(monkeypatch, swapper):
    """shutil reaches os through its module global: give it a view of os
    whose scandir swaps after listing (each entry's lstat is taken first,
    so the swap comes after shutil has looked at the entry, as in ours)."""

    def scandir(path=None):
        with os.scandir(path) as it:
            entries = list(it)
        for e in entries:
            e.stat(follow_symlinks=False)
        swapper.after([e.name for e in entries])
        return _Listing(entries)

    view = types.ModuleType("os")
    view.__dict__.update(os.__dict__)
    view.scandir = scandir
    monkeypatch.setattr(shutil, "os", view)


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["raise", "ignore", "onerror"])
async def test_rmtree_symlink_swap_deletes_nothing_outside(
        impl, tmp_path, monkeypatch, mode):
    base = str(tmp_path)
    _make_victim(base)
    outside_before = snapshot(os.path.join(base, "outside"))
    moved = None
    swapper = _SwapAfterListing(base)
    _hook_impl_listing(impl, monkeypatch, swapper)
    calls = []
    kw = {}
    if mode == "ignore":
        kw = {"ignore_errors": True}
    elif mode == "onerror":
        kw = {"onerror": lambda f, p, e: calls.append(
            (f, os.path.relpath(p, base), type(e[1]), str(e[1])))}
    res = await call_async(impl.os.rmtree, os.path.join(base, "tree"), **kw)
    assert swapper.done
    # Nothing outside the tree changed, the directory moved aside neither.
    assert snapshot(os.path.join(base, "outside")) == outside_before
    moved = snapshot(os.path.join(base, "moved-b"))
    assert set(moved) == {b"", b"f", b"g"}
    # The symlink is refused as shutil refuses it; it stays (so tree/a does
    # too), everything else is gone.
    assert os.path.islink(os.path.join(base, "tree", "a", "b"))
    if mode != "raise":  # (raising stops the walk at the symlink)
        assert sorted(os.listdir(os.path.join(base, "tree"))) == ["a"]
        assert os.listdir(os.path.join(base, "tree", "a")) == ["b"]
    # shutil's reports on this Python: from 3.13 on, a directory's error
    # (the symlink refusal included) names its path from the top.
    if sys.version_info >= (3, 13):
        link_msg = f"[Errno None] None: '{base}/tree/a/b'"
        a_name = f"{base}/tree/a"
    else:
        link_msg = "Cannot call rmtree on a symbolic link"
        a_name = "a"
    if mode == "raise":
        assert type(res.exc) is OSError
        assert str(res.exc) == link_msg
    else:
        assert res.exc is None
    if mode == "onerror":
        assert calls == [
            (os.path.islink, os.path.join("tree", "a", "b"), OSError,
             link_msg),
            (os.rmdir, os.path.join("tree", "a"), OSError,
             f"[Errno 39] Directory not empty: '{a_name}'"),
            (os.rmdir, "tree", OSError,
             f"[Errno 39] Directory not empty: '{base}/tree'"),
        ]


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["raise", "onerror"])
async def test_rmtree_symlink_swap_same_as_shutil(impl, tmp_path,
                                                  monkeypatch, mode):
    """The same swap under shutil.rmtree: the same reports, the same
    remains."""
    results = {}
    for side in ("std", "impl"):
        base = str(tmp_path / side)
        _make_victim(base)
        swapper = _SwapAfterListing(base)
        calls = []
        kw = {}
        if mode == "onerror":
            kw = {"onerror": lambda f, p, e: calls.append(
                (f.__name__, os.path.relpath(p, base), type(e[1]),
                 str(e[1]).replace(base, "B")))}
        with monkeypatch.context() as m:
            if side == "std":
                _hook_shutil_listing(m, swapper)
                res = call_sync(shutil.rmtree, os.path.join(base, "tree"),
                                **kw)
            else:
                _hook_impl_listing(impl, m, swapper)
                res = await call_async(impl.os.rmtree,
                                       os.path.join(base, "tree"), **kw)
        assert swapper.done
        results[side] = (type(res.exc), str(res.exc).replace(base, "B"),
                         calls, snapshot(base))
    assert results["impl"] == results["std"]


def _random_tree(root, seed):
    """Nested directories, files and symlinks (some pointing outside the
    tree, at ../outside) from one seed."""
    rnd = random.Random(seed)
    os.mkdir(root)
    dirs = [root]
    for i in range(rnd.randrange(5, 25)):
        parent = rnd.choice(dirs)
        kind = rnd.random()
        p = os.path.join(parent, f"n{i}")
        if kind < 0.35:
            os.mkdir(p)
            dirs.append(p)
        elif kind < 0.8:
            with open(p, "wb") as fh:
                fh.write(rnd.randbytes(rnd.randrange(100)))
        else:
            target = rnd.choice([
                os.path.join(os.path.dirname(root), "outside"),
                os.path.join(os.path.dirname(root), "outside", "in"),
                rnd.choice(dirs), "missing"])
            os.symlink(target, p)


@pytest.mark.asyncio
@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("kind", ["random", "spec"])
async def test_rmtree_same_as_shutil_random_trees(impl, tmp_path, seed, kind):
    """Random trees (and the shared test tree spec, without the links that
    climb out of the tree to /): results, onerror reports and the file
    system left behind are shutil's."""
    results = {}
    for side in ("std", "impl"):
        base = tmp_path / side
        base.mkdir()
        outside = base / "outside"
        outside.mkdir()
        (outside / "in").mkdir()
        (outside / "keep").write_bytes(b"keep")
        root = str(base / "tree")
        if kind == "random":
            _random_tree(root, seed)
        else:
            build_tree(root, make_spec(seed, small=True,
                                       escaping_links=False))
        calls = []
        kw = {"onerror": lambda f, p, e: calls.append(
            (f.__name__, os.path.relpath(p, base), type(e[1]), e[1].errno))}
        fn = shutil.rmtree if side == "std" else impl.os.rmtree
        if side == "std":
            res = call_sync(fn, root, **kw)
        else:
            res = await call_async(fn, root, **kw)
        results[side] = (res.exc, calls, snapshot(str(base)))
    assert results["impl"] == results["std"]
    assert results["impl"][2][b"outside/keep"][0] == "file"


@pytest.mark.asyncio
@pytest.mark.parametrize("target", [
    "missing", "file", "link-to-dir", "dangling", "link-to-dir/",
    "link-to-file", "dir", "", "missing/x", "file/x"])
@pytest.mark.parametrize("mode", ["raise", "ignore", "onerror", "bytes"])
async def test_rmtree_error_cases_same_as_shutil(impl, tmp_path, target,
                                                 mode):
    results = {}
    for side in ("std", "impl"):
        base = tmp_path / side / "w"  # "" removes w itself
        base.mkdir(parents=True)
        (base / "file").write_bytes(b"x")
        (base / "dir").mkdir()
        (base / "dir" / "inner").write_bytes(b"y")
        os.symlink("dir", base / "link-to-dir")
        os.symlink("file", base / "link-to-file")
        os.symlink("nowhere", base / "dangling")
        # (shutil on 3.11 opens a FIFO given as the top, or a symlink to
        # one, and blocks; one in the tree it does not open)
        os.mkfifo(base / "dir" / "fifo")
        calls = []
        kw = {}
        if mode == "ignore":
            kw = {"ignore_errors": True}
        elif mode == "onerror":
            kw = {"onerror": lambda f, p, e: calls.append(
                (f.__name__, os.path.relpath(p, base), type(e[1]),
                 str(e[1]).replace(str(base), "B")))}
        path = os.path.join(base, target)
        if mode == "bytes":
            path = os.fsencode(path)
        if side == "std":
            res = call_sync(shutil.rmtree, path, **kw)
        else:
            res = await call_async(impl.os.rmtree, path, **kw)
        exc = res.exc
        results[side] = (
            type(exc), str(exc).replace(str(base), "B"),
            getattr(exc, "filename", None) and
            os.fsdecode(exc.filename).replace(str(base), "B"),
            calls, snapshot(str(base.parent)))
    assert results["impl"] == results["std"]


def test_rmtree_avoids_symlink_attacks(impl):
    assert impl.os.rmtree.avoids_symlink_attacks is True
    assert shutil.rmtree.avoids_symlink_attacks is True


@pytest.mark.asyncio
async def test_rmtree_signature_as_shutil(impl, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    if sys.version_info < (3, 12):
        with pytest.raises(TypeError, match="onexc"):
            await impl.os.rmtree(d, onexc=print)
    else:
        seen = []
        (d / "x").mkdir()
        await impl.os.rmtree(d / "x" / "nope",
                             onexc=lambda f, p, e: seen.append((f, type(e))))
        assert seen == [(os.lstat, FileNotFoundError)]
        (d / "x").rmdir()
    # dir_fd, as shutil takes it (from Python 3.11 on)
    (d / "sub").mkdir()
    (d / "sub" / "f").write_bytes(b"")
    fd = os.open(d, os.O_RDONLY)
    try:
        if sys.version_info < (3, 11):
            exp = call_sync(shutil.rmtree, "sub", dir_fd=fd)
            act = await call_async(impl.os.rmtree, "sub", dir_fd=fd)
            assert type(act.exc) is type(exp.exc) is TypeError
            assert str(act.exc) == str(exp.exc)
            return
        await impl.os.rmtree("sub", dir_fd=fd)
    finally:
        os.close(fd)
    assert os.listdir(d) == []


@pytest.mark.asyncio
async def test_rmtree_cancelled_leaks_no_descriptor(impl, tmp_path):
    """Cancelled at every await of the walk in turn: no descriptor is left
    open (the open job's descriptor is closed when nobody receives it)."""
    # the loop's completion queue (an fd): a call that always uses the
    # pool (a stat of a cached path may be answered on the loop thread)
    await impl.os.listdir(tmp_path)
    before = open_fds()
    for step in range(40):
        root = tmp_path / f"t{step}"
        for rel in ("a/b/c", "a/d", "e"):
            (root / rel).mkdir(parents=True)
            (root / rel / "f").write_bytes(b"x")
        await cancel_after(impl.os.rmtree(root), step)
        # every job still in the pool comes back (an open among them brings
        # its descriptor back after the task has ended; the drain closes it)
        assert await settled_fds(before) <= before, step
        shutil.rmtree(root, ignore_errors=True)


def _perm_tree(base):
    os.makedirs(f"{base}/t/ro/sub")
    os.makedirs(f"{base}/t/closed")
    os.makedirs(f"{base}/t/ok")
    for rel in ("t/ro/f", "t/ro/sub/g", "t/closed/h", "t/ok/i", "t/j"):
        open(f"{base}/{rel}", "w").close()
    os.chmod(f"{base}/t/ro", 0o555)
    os.chmod(f"{base}/t/closed", 0o000)


def _perm_state(base):
    out = []
    for dp, dn, fn in os.walk(base):
        out += sorted(os.path.relpath(os.path.join(dp, n), base)
                      for n in dn + fn)
    return sorted(out)


async def _perm_cases(impl):
    """Permission errors met by shutil.rmtree and by ours, side by side."""
    res = {}
    for mode in ("onerror", "raise", "readonly-parent"):
        for side in ("std", "impl"):
            base = tempfile.mkdtemp(dir="/tmp")
            _perm_tree(base)
            target = f"{base}/t"
            if mode == "readonly-parent":
                target = f"{base}/t/ok"
                os.chmod(f"{base}/t", 0o555)
            calls = []

            def onerror(f, p, e):
                calls.append([f.__name__, os.path.relpath(p, base),
                              type(e[1]).__name__,
                              str(e[1]).replace(base, "B")])
            kw = {"onerror": onerror} if mode != "raise" else {}
            err = None
            try:
                if side == "std":
                    shutil.rmtree(target, **kw)
                else:
                    await impl.os.rmtree(target, **kw)
            except OSError as e:
                err = [type(e).__name__, str(e).replace(base, "B")]
            res[f"{mode} {side}"] = [err, calls, _perm_state(base)]
            os.chmod(base, 0o755)
            for dp, dn, fn in os.walk(base):
                os.chmod(dp, 0o755)
                for n in dn:
                    os.chmod(os.path.join(dp, n), 0o755)
            shutil.rmtree(base)
    return res


def test_rmtree_permission_errors_same_as_shutil(impl):
    """Permission errors: the same reports and the same remains. Root
    ignores permission bits, so as root the cases run in a forked child
    that has become an unprivileged user."""
    if os.geteuid() != 0:
        res = asyncio.run(_perm_cases(impl))
    else:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                os.close(r)
                os.setgroups([])
                os.setresgid(65534, 65534, 65534)
                os.setresuid(65534, 65534, 65534)
                out = json.dumps(asyncio.run(_perm_cases(impl))).encode()
                while out:
                    out = out[os.write(w, out):]
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        chunks = []
        while True:
            b = os.read(r, 65536)
            if not b:
                break
            chunks.append(b)
        os.close(r)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        res = json.loads(b"".join(chunks))
    for mode in ("onerror", "raise", "readonly-parent"):
        assert res[f"{mode} impl"] == res[f"{mode} std"], mode
    # the cases did meet permission errors
    assert res["onerror std"][1]
    assert res["raise std"][0][0] == "PermissionError"
