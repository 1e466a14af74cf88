"""aiofiles_c.os beyond aiofiles: fsync, fdatasync, chmod, chown, utime,
truncate, copyfile, copymode, copy, copy2 — each compared with os/shutil on
twin trees (results, exceptions, and the files they leave)."""
import os
import random
import shutil
import stat

import pytest

from tests.helpers import (HAS_EXTRAS, assert_same_outcome, call_async,
                           call_sync, open_fds, settled_fds)

pytestmark = pytest.mark.skipif(
    not HAS_EXTRAS, reason="these functions are aiofiles_c's own (aiofiles has none)")


def make_tree(root):
    """A small tree: files, a dir, symlinks, a broken symlink, a fifo."""
    root.mkdir()
    (root / "f").write_bytes(b"hello world\n" * 100)
    (root / "g").write_bytes(random.Random(7).randbytes(300_000))
    (root / "empty").write_bytes(b"")
    (root / "d").mkdir()
    (root / "d" / "inner").write_bytes(b"x")
    os.symlink("f", root / "lf")
    os.symlink("missing", root / "broken")
    os.symlink("d", root / "ld")
    os.mkfifo(root / "fifo")
    os.chmod(root / "g", 0o640)
    # fixed times, so twins made moments apart compare equal
    for i, name in enumerate(["f", "g", "empty", "d/inner"]):
        os.utime(root / name, ns=(1_500_000_000_123_456_789 + i,
                                  1_600_000_000_987_654_321 + i))
    return root


def snapshot(root):
    """Names, kinds, modes, sizes, mtimes, contents and link targets."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            item = [stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)]
            if stat.S_ISLNK(st.st_mode):
                item.append(os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                item += [st.st_size, st.st_mtime_ns]
                with open(p, "rb") as fh:
                    item.append(fh.read())
            out[rel] = item
    return out


@pytest.fixture
def twins(tmp_path):
    return make_tree(tmp_path / "impl"), make_tree(tmp_path / "std")


NAMES = ["f", "g", "empty", "d", "lf", "broken", "ld", "missing", "f/x", ""]


def _args(root, name):
    return os.path.join(root, name) if name else ""


@pytest.mark.asyncio
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("call", [
    ("chmod", (0o600,), {}),
    ("chmod", (0o755,), {"follow_symlinks": False}),
    ("chown", (os.getuid(), os.getgid()), {}),
    ("chown", (-1, -1), {"follow_symlinks": False}),
    ("utime", (), {}),
    ("utime", ((1, 2.75),), {}),
    ("utime", (), {"ns": (123_456_789_012, 987_654_321_098)}),
    ("utime", ((1.5, 2),), {"follow_symlinks": False}),
    ("truncate", (5,), {}),
    ("truncate", (0,), {}),
    ("truncate", (-1,), {}),
], ids=lambda c: f"{c[0]}{c[1]}{c[2]}")
async def test_metadata_calls(impl, twins, name, call):
    fn, args, kwargs = call
    a, b = twins
    exp = call_sync(getattr(os, fn), _args(b, name), *args, **kwargs)
    act = await call_async(getattr(impl.os, fn), _args(a, name), *args,
                           **kwargs)
    _compare(act, exp, f"{fn}({name!r}, {args}, {kwargs})", a, b)
    if fn == "utime" and not args and not kwargs:
        return  # "now" differs between the two calls
    sa, sb = snapshot(a), snapshot(b)
    if fn == "truncate":
        # truncate sets mtime to "now", a moment apart in the twins
        for snap in (sa, sb):
            for v in snap.values():
                if len(v) > 3:
                    v[3] = None
    assert sa == sb


def _compare(act, exp, ctx, a, b):
    """Outcomes compared; file names differ between the twins by their root
    only."""
    if exp.exc is not None and act.exc is not None:
        assert type(act.exc) is type(exp.exc), (ctx, act.exc, exp.exc)
        assert str(act.exc).replace(str(a), "R") == \
            str(exp.exc).replace(str(b), "R"), ctx
        assert getattr(act.exc, "errno", None) == getattr(exp.exc, "errno",
                                                          None), ctx
        fa = getattr(act.exc, "filename", None)
        fb = getattr(exp.exc, "filename", None)
        if isinstance(fb, str):
            fb = fb.replace(str(b), str(a))
        elif isinstance(fb, bytes):
            fb = fb.replace(os.fsencode(b), os.fsencode(a))
        assert fa == fb, (ctx, fa, fb)
        return
    assert_same_outcome(act, exp, ctx)


@pytest.mark.asyncio
async def test_metadata_on_fds(impl, twins):
    a, b = twins
    for root, mod, aw in ((a, impl.os, True), (b, os, False)):
        fd = os.open(root / "g", os.O_RDWR)
        try:
            for fn, args in (("fsync", ()), ("fdatasync", ()),
                             ("chmod", (0o604,)), ("truncate", (7,)),
                             ("utime", ((3, 4),))):
                r = getattr(mod, fn)(fd, *args)
                if aw:
                    r = await r
                assert r is None
        finally:
            os.close(fd)
    assert snapshot(a) == snapshot(b)
    # fsync takes objects with fileno(), and refuses others as os does
    with open(a / "f", "rb") as fh:
        assert await impl.os.fsync(fh) is None
    exp = call_sync(os.fsync, "x")
    act = await call_async(impl.os.fsync, "x")
    assert_same_outcome(act, exp, "fsync('x')")
    exp = call_sync(os.fsync, 10 ** 6)
    act = await call_async(impl.os.fsync, 10 ** 6)
    assert_same_outcome(act, exp, "fsync(bad fd)")


@pytest.mark.asyncio
@pytest.mark.parametrize("fn", ["copyfile", "copy", "copy2", "copymode"])
@pytest.mark.parametrize("src,dst", [
    ("f", "new"), ("g", "new"), ("empty", "new"), ("g", "f"), ("f", "f"),
    ("f", "lf"), ("lf", "new"), ("broken", "new"), ("missing", "new"),
    ("d", "new"), ("f", "d"), ("f", "missing/new"), ("f", "missing/"),
    ("fifo", "new"), ("f", "fifo"), ("ld", "new"),
])
@pytest.mark.parametrize("follow", [True, False])
async def test_copy_family(impl, twins, fn, src, dst, follow):
    a, b = twins
    exp = call_sync(getattr(shutil, fn), os.path.join(b, src),
                    os.path.join(b, dst), follow_symlinks=follow)
    act = await call_async(getattr(impl.os, fn), os.path.join(a, src),
                           os.path.join(a, dst), follow_symlinks=follow)
    ctx = f"{fn}({src!r}, {dst!r}, follow_symlinks={follow})"
    if exp.exc is None:
        assert act.exc is None, (ctx, act.exc)
        ra = act.value if act.value is None else os.fspath(act.value)
        rb = exp.value if exp.value is None else os.fspath(exp.value)
        if isinstance(rb, str):
            rb = rb.replace(str(b), str(a))
        assert ra == rb, ctx
    else:
        assert act.exc is not None, (ctx, act.value, exp.exc)
        assert type(act.exc) is type(exp.exc), (ctx, act.exc, exp.exc)
        if isinstance(exp.exc, OSError) and exp.exc.errno is not None:
            assert act.exc.errno == exp.exc.errno, ctx
            fb = exp.exc.filename
            if isinstance(fb, str):
                fb = fb.replace(str(b), str(a))
            assert act.exc.filename == fb, ctx
        else:
            assert str(act.exc).replace(str(a), "R") == \
                str(exp.exc).replace(str(b), "R"), ctx
    sa, sb = snapshot(a), snapshot(b)
    if fn in ("copy", "copyfile"):
        # shutil and aiofiles_c create the copy at different moments
        for s in (sa, sb):
            for k, v in s.items():
                if k in ("new", "d/f") or k == dst:
                    if len(v) > 3:
                        v[3] = None
    assert sa == sb, ctx


@pytest.mark.asyncio
async def test_copyfile_large(impl, tmp_path):
    src = tmp_path / "big"
    data = os.urandom(3 << 20) + b"tail"
    src.write_bytes(data)
    r = await impl.os.copyfile(src, tmp_path / "copy")
    assert r == tmp_path / "copy"
    assert (tmp_path / "copy").read_bytes() == data


def _norm(x, a, b):
    """Results from the two twins, with the roots made the same."""
    if isinstance(x, (str, bytes)):
        return x.replace(str(a), "R") if isinstance(x, str) else x
    if isinstance(x, (list, tuple)):
        return type(x)(_norm(v, a, b) for v in x)
    return x


@pytest.mark.asyncio
@pytest.mark.parametrize("topdown", [True, False])
@pytest.mark.parametrize("followlinks", [True, False])
@pytest.mark.parametrize("top", ["", "d", "missing", "f", "ld"])
async def test_walk(impl, twins, topdown, followlinks, top):
    a, b = twins
    (a / "d" / "sub").mkdir()
    (b / "d" / "sub").mkdir()
    errs_a, errs_b = [], []
    got = [r async for r in impl.os.walk(os.path.join(a, top), topdown,
                                         errs_a.append, followlinks)]
    exp = list(os.walk(os.path.join(b, top), topdown, errs_b.append,
                       followlinks))
    norm = lambda rows, root: [(r.replace(str(root), "R"), d, f)  # noqa: E731
                               for r, d, f in rows]
    assert norm(got, a) == norm(exp, b)
    assert [(type(e), e.errno) for e in errs_a] == \
        [(type(e), e.errno) for e in errs_b]


@pytest.mark.asyncio
async def test_walk_prunes_like_os(impl, twins):
    a, b = twins
    seen_a = []
    async for root, dirs, files in impl.os.walk(a):
        seen_a.append((os.path.relpath(root, a), sorted(files)))
        dirs[:] = [d for d in dirs if d != "d"]
    seen_b = []
    for root, dirs, files in os.walk(b):
        seen_b.append((os.path.relpath(root, b), sorted(files)))
        dirs[:] = [d for d in dirs if d != "d"]
    assert seen_a == seen_b


@pytest.mark.asyncio
@pytest.mark.parametrize("target", ["d", "", "missing", "lf", "ld", "f"])
@pytest.mark.parametrize("mode", ["raise", "ignore", "onerror"])
async def test_rmtree(impl, twins, target, mode):
    a, b = twins
    calls_a, calls_b = [], []
    kw_a, kw_b = {}, {}
    if mode == "ignore":
        kw_a = kw_b = {"ignore_errors": True}
    elif mode == "onerror":
        kw_a = {"onerror": lambda f, p, e: calls_a.append(
            (f.__name__, p.replace(str(a), "R"), type(e[1])))}
        kw_b = {"onerror": lambda f, p, e: calls_b.append(
            (f.__name__, p.replace(str(b), "R"), type(e[1])))}
    exp = call_sync(shutil.rmtree, os.path.join(b, target), **kw_b)
    act = await call_async(impl.os.rmtree, os.path.join(a, target), **kw_a)
    assert type(act.exc) is type(exp.exc), (act.exc, exp.exc)
    if exp.exc is not None:
        assert str(act.exc).replace(str(a), "R") == \
            str(exp.exc).replace(str(b), "R")
    assert calls_a == calls_b
    assert os.path.lexists(a) == os.path.lexists(b)
    if os.path.lexists(b):
        assert snapshot(a) == snapshot(b)


@pytest.mark.asyncio
@pytest.mark.parametrize("src,dst", [
    ("f", "new"), ("f", "d"), ("d", "newdir"), ("d", "ld"), ("lf", "new"),
    ("f", "g"), ("missing", "new"), ("d", "d/sub"), ("f", "f"),
    ("d/inner", "d"),
])
async def test_move(impl, twins, src, dst):
    a, b = twins
    exp = call_sync(shutil.move, os.path.join(b, src), os.path.join(b, dst))
    act = await call_async(impl.os.move, os.path.join(a, src),
                           os.path.join(a, dst))
    assert type(act.exc) is type(exp.exc), (act.exc, exp.exc)
    if exp.exc is None:
        assert _norm(act.value, a, b) == _norm(exp.value, b, b).replace(
            str(b), "R") if isinstance(exp.value, str) else \
            act.value == exp.value
    else:
        assert str(act.exc).replace(str(a), "R") == \
            str(exp.exc).replace(str(b), "R")
    assert snapshot(a) == snapshot(b)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", NAMES + ["fifo", "d/inner"])
async def test_lstat_and_lexists(impl, twins, name):
    a, b = twins
    for form in (str, os.fsencode):
        pa, pb = form(_args(a, name)), form(_args(b, name))
        exp = call_sync(os.lstat, pb)
        act = await call_async(impl.os.lstat, pa)
        _compare_stat(act, exp, f"lstat({name!r})", a, b)
        assert await impl.os.path.lexists(pa) == os.path.lexists(pb)
    # relative to a directory descriptor
    for root, out in ((a, []), (b, [])):
        fd = os.open(root, os.O_RDONLY)
        try:
            if root is a:
                out.append(await call_async(impl.os.lstat, name, dir_fd=fd))
            else:
                out.append(call_sync(os.lstat, name, dir_fd=fd))
        finally:
            os.close(fd)
        if root is a:
            got = out[0]
        else:
            want = out[0]
    _compare_stat(got, want, f"lstat({name!r}, dir_fd)", a, b)
    # wrong types, as os words them
    for bad in (3.5, None, 7):
        exp = call_sync(os.lstat, bad)
        act = await call_async(impl.os.lstat, bad)
        assert_same_outcome(act, exp, f"lstat({bad!r})")


def _compare_stat(act, exp, ctx, a, b):
    """stat results equal but for st_atime (reading may move it)."""
    if exp.exc is not None or act.exc is not None:
        _compare(act, exp, ctx, a, b)
        return
    skip = {7, 10, 13}  # the three atime fields

    def fields(s):
        return [v for i, v in enumerate(s[:10] + (s.st_atime, s.st_mtime,
                s.st_ctime, s.st_atime_ns, s.st_mtime_ns, s.st_ctime_ns,
                s.st_blksize, s.st_blocks, s.st_rdev)) if i not in skip]
    fa, fb = fields(act.value), fields(exp.value)
    # the twins are different files: compare what they share
    assert type(act.value) is type(exp.value), ctx
    assert fa[0] == fb[0] and fa[5:7] == fb[5:7], (ctx, fa, fb)


@pytest.mark.native
@pytest.mark.asyncio
async def test_scandir_batches(impl, tmp_path):
    """A directory larger than one listing batch: every entry exactly once,
    whichever way it is read, and no descriptor left open after a partial
    iteration or a close."""
    d = tmp_path / "many"
    d.mkdir()
    for i in range(5000):
        (d / f"e{i:05d}").touch()
    want = sorted(os.listdir(d))

    with await impl.os.scandir(d) as it:
        assert sorted(e.name for e in it) == want
    before = open_fds()
    assert sorted([e.name async for e in impl.os.scandir(d)]) == want
    async with impl.os.scandir(d) as it:
        seen = []
        async for e in it:
            seen.append(e.name)
            if len(seen) == 3000:
                break
    assert len(set(seen)) == 3000
    it = impl.os.scandir(d)
    async for e in it:
        break
    it.close()
    assert [e async for e in it] == []
    del it
    # (a closed iterator's descriptor is released once the listing job it
    # may have in flight is back)
    assert await settled_fds(before) == before
