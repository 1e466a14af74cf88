"""Differential tests: ``impl.os`` / ``impl.os.path`` (``impl.ospath``)
against the stdlib ``os`` / ``os.path`` functions they mirror.

The surface is exactly aiofiles 25.1's: ``access getcwd link listdir
makedirs mkdir readlink remove removedirs rename renames replace rmdir
scandir sendfile stat statvfs symlink unlink wrap`` and ``path.abspath
exists getatime getctime getmtime getsize isdir isfile islink ismount
samefile sameopenfile``.

* Read-only functions are called on one random tree (files of random sizes
  and modes, nested and empty dirs, hard links, symlinks to files and dirs,
  broken and looping symlinks, a dir without permissions, odd names) with
  many paths (entries, missing paths, paths through a file or a symlink,
  trailing slashes, '', a NUL byte, too long names, fds) in many forms (str,
  bytes, pathlib.Path, cwd-relative, relative to a ``dir_fd``) and with the
  keywords os accepts; the result (same type, stat results field by field)
  or the exception (type, args, str, errno, strerror, filename, filename2)
  must be os's.
* Mutating functions are applied once with os and once with the
  implementation to the *same* freshly built tree (same path, so exception
  filenames compare exactly); outcomes and snapshots of the resulting trees
  (names, types, modes, sizes, contents, link targets, link counts, shared
  inodes) must be identical.  A hypothesis test does the same for random
  sequences of mutations.
* Wrong argument types/counts must give os's exceptions.

Every mismatch of a test is collected and reported together
(``call: impl ... stdlib ...``).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import inspect
import os
import pathlib
import stat as stat_mod
import tempfile
import sys
import threading
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import (IS_C, Outcome, assert_same_outcome, call_async, call_sync,
                     examples, gen_bytes)
from tests.os_helpers import (ROOT_TOKEN, STATVFS_FIELDS, STATVFS_VOLATILE, Diffs,
                        Lit, Paths, build_tree, consume_scandir,
                        diff_snapshots, fmt_call, make_spec, norm,
                        norm_outcome, remove_tree, snapshot)

AIOFILES_OS_ALL = [
    "path", "stat", "rename", "renames", "replace", "remove", "unlink",
    "mkdir", "makedirs", "rmdir", "removedirs", "symlink", "readlink",
    "listdir", "scandir", "access", "wrap", "getcwd", "link", "sendfile",
    "statvfs",
]
AIOFILES_OSPATH_ALL = [
    "abspath", "getatime", "getctime", "getmtime", "getsize", "exists",
    "isdir", "isfile", "islink", "ismount", "samefile", "sameopenfile",
]

RO_SEEDS = [101, 202]
PATH_FORMS = ("abs", "bytes", "path", "rel", "relb")
DIRFD_FORMS = ("dirfd", "dirfdb", "absdirfd")

# paths that are not entries of the tree (tokens relative to the root)
RO_EXTRA = [
    "missing", "missing/x", "f0/x", "f0/", "f0/.", "d0/", "d0/.", "ld/",
    "lf/", "lb/", "lb/x", "d0/../f0", "d0/./d1", "ld/f2", "ld/d1/..",
    "noperm/missing", "lnoperm/f", "loop1/x", "lslash/f2", "lfslash",
    "up/tree/f0", "labsd/f3", "a" * 300, "d0/" + "b" * 255, "d0/" + "c" * 256,
]
RO_LITS = [Lit(""), Lit("a\0b"), Lit("/"), Lit("."), Lit("//"),
           Lit("/" + "z" * 5000)]
# directories whose listing is not stable while the suite runs
UNSTABLE_LISTINGS = {"lroot"}


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def aos(impl):
    return importlib.import_module(f"{impl.__name__}.os")


@pytest.fixture(scope="session")
def apath(aos):
    return aos.path


@pytest.fixture(params=RO_SEEDS, ids=lambda s: f"tree{s}")
def ro_tree(request, tmp_path, monkeypatch):
    """(paths, spec) of a random tree; the cwd is the tree's parent."""
    work = tmp_path / "w"
    work.mkdir()
    spec = make_spec(request.param)
    paths = Paths(str(work))
    build_tree(paths.root, spec)
    monkeypatch.chdir(work)
    try:
        yield paths, spec
    finally:
        paths.close()
        remove_tree(paths.root)


@pytest.fixture
def fds(ro_tree):
    """Open fds of several kinds plus invalid fd numbers."""
    paths, _ = ro_tree
    r = paths.root
    opened = [
        os.open(os.path.join(r, "f0"), os.O_RDONLY),
        os.open(os.path.join(r, "d0"), os.O_RDONLY | os.O_DIRECTORY),
        os.open(os.path.join(r, "empty"), os.O_RDONLY),
        os.open(os.path.join(r, "f1"), os.O_PATH),
        os.open(os.path.join(r, "lf"), os.O_PATH | os.O_NOFOLLOW),
        os.open(os.path.join(r, "d0"), os.O_PATH),
        os.open(os.path.join(r, "hl"), os.O_WRONLY),
    ]
    rp, wp = os.pipe()
    opened += [rp, wp]
    try:
        yield opened + [-1, -2, 10 ** 6, 2 ** 31, 2 ** 63]
    finally:
        for fd in opened:
            os.close(fd)


def ro_tokens(spec, listing=False):
    toks = [ROOT_TOKEN] + spec.entries() + RO_EXTRA + RO_LITS
    if listing:
        toks = [t for t in toks if t not in UNSTABLE_LISTINGS
                and not (isinstance(t, str) and t.startswith("lroot"))]
    return toks


# ------------------------------------------------------------------ engine


def _same(a: Outcome, e: Outcome) -> bool:
    try:
        assert_same_outcome(a, e)
    except AssertionError:
        return False
    return True


async def compare_calls(diffs, label, os_fn, impl_fn, calls, **normkw):
    """Call ``os_fn`` and ``impl_fn`` with each (args, kwargs) of ``calls``.

    On a mismatch os is asked again: if the state changed meanwhile (an
    access time moved, the file system's free counts...) and impl's answer
    is os's second answer, that is accepted.
    """
    for args, kwargs in calls:
        exp = norm_outcome(call_sync(os_fn, *args, **kwargs), **normkw)
        act = norm_outcome(await call_async(impl_fn, *args, **kwargs),
                           **normkw)
        if not _same(act, exp):
            exp2 = norm_outcome(call_sync(os_fn, *args, **kwargs), **normkw)
            if _same(act, exp2):
                continue
        diffs.check(act, exp, fmt_call(label, args, kwargs))


def path_calls(paths, tokens, forms, kw_variants=({},), dirfd_name=None,
               extra_args=()):
    for tok in tokens:
        for form in forms:
            p = paths.value(tok, form)
            fdkw = paths.dirfd_kw(form, dirfd_name) if dirfd_name else {}
            for kw in kw_variants:
                yield (p, *extra_args), {**kw, **fdkw}


def fd_calls(fds, kw_variants=({},)):
    for fd in fds:
        for kw in kw_variants:
            yield (fd,), dict(kw)


# ------------------------------------------------------------------ surface


def test_surface(aos, impl):
    ospath = importlib.import_module(f"{impl.__name__}.ospath")
    missing = [n for n in AIOFILES_OS_ALL if not hasattr(aos, n)]
    assert not missing, f"{impl.__name__}.os lacks {missing}"
    missing = [n for n in AIOFILES_OSPATH_ALL if not hasattr(ospath, n)]
    assert not missing, f"{impl.__name__}.ospath lacks {missing}"
    assert aos.path is ospath
    assert set(AIOFILES_OS_ALL) <= set(aos.__all__)
    assert set(AIOFILES_OSPATH_ALL) <= set(ospath.__all__)
    for n in AIOFILES_OS_ALL:
        assert callable(getattr(aos, n)) or n == "path", n
    for n in AIOFILES_OSPATH_ALL:
        assert callable(getattr(ospath, n)), n


def test_function_names(aos):
    """aiofiles wraps with functools.wraps: the names are os's."""
    bad = []
    for n in AIOFILES_OS_ALL:
        if n in ("path", "wrap"):
            continue
        got = getattr(getattr(aos, n), "__name__", None)
        if got != getattr(os, n).__name__:
            bad.append((f"os.{n}", got, getattr(os, n).__name__))
    for n in AIOFILES_OSPATH_ALL:
        got = getattr(getattr(aos.path, n), "__name__", None)
        if got != getattr(os.path, n).__name__:
            bad.append((f"path.{n}", got, getattr(os.path, n).__name__))
    assert not bad, f"(function, impl __name__, os __name__): {bad}"


# ------------------------------------------------------------------ read-only


@pytest.mark.asyncio
async def test_stat(aos, ro_tree, fds):
    paths, spec = ro_tree
    diffs = Diffs()
    toks = ro_tokens(spec)
    kws = ({}, {"follow_symlinks": False}, {"follow_symlinks": True})
    await compare_calls(diffs, "stat", os.stat, aos.stat,
                        path_calls(paths, toks, PATH_FORMS, kws))
    await compare_calls(diffs, "stat", os.stat, aos.stat,
                        path_calls(paths, toks, DIRFD_FORMS, kws, "dir_fd"))
    await compare_calls(diffs, "stat", os.stat, aos.stat, fd_calls(
        fds, ({}, {"follow_symlinks": False},
              {"dir_fd": paths.root_fd()})))
    calls = [((), {"path": paths.value("f0", "abs")}),
             ((), {"path": "f0", "dir_fd": paths.root_fd(),
                   "follow_symlinks": False})]
    await compare_calls(diffs, "stat", os.stat, aos.stat, calls)
    diffs.assert_clean()


@pytest.mark.asyncio
async def test_stat_result_type(aos, ro_tree):
    """stat returns a real os.stat_result (all fields, also by index)."""
    paths, _ = ro_tree
    p = paths.value("f0", "abs")
    s = await aos.stat(p)
    e = os.stat(p)
    assert type(s) is os.stat_result
    assert tuple(s) == tuple(e) and s == e
    for f in ("st_atime_ns", "st_mtime_ns", "st_ctime_ns", "st_atime",
              "st_blksize", "st_blocks", "st_rdev"):
        assert getattr(s, f) == getattr(e, f), f
    assert s[stat_mod.ST_MODE] == e.st_mode and s[stat_mod.ST_SIZE] == e.st_size


@pytest.mark.asyncio
async def test_access(aos, ro_tree):
    paths, spec = ro_tree
    diffs = Diffs()
    toks = ro_tokens(spec)
    kws = ({}, {"effective_ids": True}, {"follow_symlinks": False},
           {"effective_ids": True, "follow_symlinks": False})
    modes = [os.F_OK, os.R_OK, os.W_OK, os.X_OK, os.R_OK | os.W_OK | os.X_OK]
    for i, mode in enumerate(modes):
        # every mode with every keyword variant on the str forms, the other
        # forms with one variant each (rotating)
        await compare_calls(diffs, "access", os.access, aos.access,
                            path_calls(paths, toks, ("abs", "rel"), kws,
                                       extra_args=(mode,)))
        kw = (kws[i % len(kws)],)
        await compare_calls(diffs, "access", os.access, aos.access,
                            path_calls(paths, toks, ("bytes", "path", "relb"),
                                       kw, extra_args=(mode,)))
        await compare_calls(diffs, "access", os.access, aos.access,
                            path_calls(paths, toks, DIRFD_FORMS, kw, "dir_fd",
                                       extra_args=(mode,)))
    calls = [((paths.value("f0", "abs"), m), {}) for m in (-1, 8, 2 ** 31 - 1)]
    calls += [((), {"path": paths.value("x0", "abs"), "mode": os.X_OK})]
    await compare_calls(diffs, "access", os.access, aos.access, calls)
    diffs.assert_clean()


@pytest.mark.asyncio
async def test_listdir(aos, ro_tree, fds):
    paths, spec = ro_tree
    diffs = Diffs()
    toks = ro_tokens(spec, listing=True)
    await compare_calls(diffs, "listdir", os.listdir, aos.listdir,
                        path_calls(paths, toks, PATH_FORMS))
    await compare_calls(diffs, "listdir", os.listdir, aos.listdir,
                        fd_calls(fds))
    calls = [((), {}), ((None,), {}), ((), {"path": paths.value("d0", "abs")}),
             ((), {"path": None})]
    await compare_calls(diffs, "listdir", os.listdir, aos.listdir, calls)
    diffs.assert_clean()


async def _impl_scandir(fn, *args, **kwargs):
    return consume_scandir(await fn(*args, **kwargs))


def _os_scandir(*args, **kwargs):
    return consume_scandir(os.scandir(*args, **kwargs))


@pytest.mark.asyncio
async def test_scandir(aos, ro_tree, fds):
    paths, spec = ro_tree
    diffs = Diffs()
    toks = ro_tokens(spec, listing=True)

    async def impl_fn(*a, **k):
        return await _impl_scandir(aos.scandir, *a, **k)

    await compare_calls(diffs, "scandir", _os_scandir, impl_fn,
                        path_calls(paths, toks, PATH_FORMS))
    await compare_calls(diffs, "scandir", _os_scandir, impl_fn, fd_calls(fds))
    calls = [((), {}), ((None,), {}),
             ((), {"path": paths.value("d0", "bytes")})]
    await compare_calls(diffs, "scandir", _os_scandir, impl_fn, calls)
    diffs.assert_clean()


@pytest.mark.asyncio
async def test_scandir_iterator(aos, ro_tree):
    """The awaited result is an iterator that works like os.scandir's: a
    context manager, close() is idempotent, iteration after close stops."""
    paths, _ = ro_tree
    p = paths.value("d0", "abs")
    names = sorted(os.listdir(p))
    it = await aos.scandir(p)
    assert iter(it) is it
    with it as it2:
        assert it2 is it
        first = next(it)
        rest = [e.name for e in it]
    assert sorted([first.name] + rest) == names
    assert isinstance(first, os.PathLike)
    assert os.fspath(first) == os.path.join(p, first.name)
    it = await aos.scandir(p)
    next(it)
    it.close()
    it.close()
    assert list(it) == []
    it = await aos.scandir(paths.value("empty", "abs"))
    try:
        with pytest.raises(StopIteration):
            next(it)
    finally:
        it.close()


@pytest.mark.asyncio
async def test_readlink(aos, ro_tree, fds):
    paths, spec = ro_tree
    diffs = Diffs()
    toks = ro_tokens(spec)
    await compare_calls(diffs, "readlink", os.readlink, aos.readlink,
                        path_calls(paths, toks, PATH_FORMS))
    await compare_calls(diffs, "readlink", os.readlink, aos.readlink,
                        path_calls(paths, toks, DIRFD_FORMS, ({},), "dir_fd"))
    await compare_calls(diffs, "readlink", os.readlink, aos.readlink,
                        fd_calls(fds[:3]))
    diffs.assert_clean()


def _statvfs_check(diffs, ctx, exp1, act, exp2):
    if exp1.exc is not None or act.exc is not None:
        if _same(act, exp2):
            diffs.calls += 1
        else:
            diffs.check(act, exp1, ctx)
        return
    diffs.calls += 1
    a, e1, e2 = act.value, exp1.value, exp2.value
    if type(a) is not type(e1):
        diffs.fail(f"{ctx}: type {type(a)!r} != {type(e1)!r}")
        return
    for f in STATVFS_FIELDS:
        av, v1, v2 = getattr(a, f), getattr(e1, f), getattr(e2, f)
        if f in STATVFS_VOLATILE:
            # other processes use the file system meanwhile: free counts
            # must be within 1% of the total of os's answers
            total = e1.f_blocks if f in ("f_bfree", "f_bavail") \
                else e1.f_files
            slack = max(64, total // 100)
            ok = min(v1, v2) - slack <= av <= max(v1, v2) + slack
        else:
            ok = av == v1
        if not ok or type(av) is not type(v1):
            diffs.fail(f"{ctx}: field {f}: impl {av!r} os {v1!r}/{v2!r}")
    if len(a) != len(e1):
        diffs.fail(f"{ctx}: len {len(a)} != {len(e1)}")


@pytest.mark.asyncio
async def test_statvfs(aos, ro_tree, fds):
    paths, spec = ro_tree
    diffs = Diffs()
    calls = list(path_calls(paths, ro_tokens(spec), PATH_FORMS))
    calls += list(fd_calls(fds))
    calls += [((), {"path": paths.value("d0", "abs")})]
    for args, kwargs in calls:
        exp1 = call_sync(os.statvfs, *args, **kwargs)
        act = await call_async(aos.statvfs, *args, **kwargs)
        exp2 = call_sync(os.statvfs, *args, **kwargs)
        _statvfs_check(diffs, fmt_call("statvfs", args, kwargs), exp1, act,
                       exp2)
    diffs.assert_clean()


OSPATH_RO = ["exists", "isdir", "isfile", "islink", "ismount", "getsize",
             "getatime", "getmtime", "getctime"]


@pytest.mark.asyncio
@pytest.mark.parametrize("name", OSPATH_RO)
async def test_ospath_readonly(apath, name, ro_tree, fds):
    paths, spec = ro_tree
    diffs = Diffs()
    os_fn, impl_fn = getattr(os.path, name), getattr(apath, name)
    toks = ro_tokens(spec)
    await compare_calls(diffs, f"path.{name}", os_fn, impl_fn,
                        path_calls(paths, toks, PATH_FORMS))
    await compare_calls(diffs, f"path.{name}", os_fn, impl_fn, fd_calls(fds))
    diffs.assert_clean()


@pytest.mark.asyncio
async def test_ismount(apath, ro_tree):
    paths, _ = ro_tree
    diffs = Diffs()
    cands = ["/", b"/", pathlib.Path("/"), "/proc", "/tmp", "/dev", "/sys",
             "/etc", "/proc/", "//", "/.", "/..", "", b"", "/nonexistent",
             paths.root, paths.value("lroot", "abs"), "tree/lroot",
             paths.value("up", "abs"), "tree/up", "tree/up/..",
             paths.value("noperm", "abs")]
    await compare_calls(diffs, "path.ismount", os.path.ismount, apath.ismount,
                        [((c,), {}) for c in cands])
    diffs.assert_clean()


SAME_TOKS = ["f0", "hl", "lf", "ll", "labs", "f1", "d0", "ld", "lslash",
             "d0/d1/ldd", "lb", "missing", "loop1", ROOT_TOKEN, "up/tree"]


@pytest.mark.asyncio
async def test_samefile(apath, ro_tree, fds):
    paths, _ = ro_tree
    diffs = Diffs()
    forms = ["abs", "bytes", "path", "rel"]
    calls = []
    for i, a in enumerate(SAME_TOKS):
        for j, b in enumerate(SAME_TOKS):
            fa, fb = forms[(i + j) % 4], forms[(i * 3 + j) % 4]
            calls.append(((paths.value(a, fa), paths.value(b, fb)), {}))
    for a in fds[:4] + [-2]:
        for b in fds[:4]:
            calls.append(((a, b), {}))
    calls.append(((fds[0], paths.value("hl", "abs")), {}))
    calls.append(((Lit(""), ""), {}))
    calls = [(tuple(x.value if isinstance(x, Lit) else x for x in a), k)
             for a, k in calls]
    await compare_calls(diffs, "path.samefile", os.path.samefile,
                        apath.samefile, calls)
    diffs.assert_clean()


@pytest.mark.asyncio
async def test_sameopenfile(apath, ro_tree, fds):
    paths, _ = ro_tree
    diffs = Diffs()
    r = paths.root
    extra = [os.open(os.path.join(r, "f0"), os.O_RDONLY),
             os.open(os.path.join(r, "hl"), os.O_RDONLY),
             os.open(os.path.join(r, "lf"), os.O_RDONLY)]
    try:
        cand = fds + extra
        calls = [((a, b), {}) for a in cand for b in cand]
        await compare_calls(diffs, "path.sameopenfile", os.path.sameopenfile,
                            apath.sameopenfile, calls)
    finally:
        for fd in extra:
            os.close(fd)
    diffs.assert_clean()


ABSPATH_CANDS = ["", ".", "..", "a/b/../c", "/a//b/", "//x", "///x", "x/./y",
                 "/", "//", "a/", "./a", "../../..", "\u00fcn\u00ef",
                 "n\udcff", "a\0b", "~", "~/x", "$HOME", b"", b".", b"a/..",
                 b"//x/", b"n\xff", pathlib.Path("rel"), pathlib.Path("/a/.."),
                 pathlib.PurePosixPath("p/q")]


@pytest.mark.asyncio
async def test_abspath(apath, tmp_path, monkeypatch):
    diffs = Diffs()
    weird = tmp_path / "d\u00e9/s p"
    weird.mkdir(parents=True)
    for cwd in ["/", str(tmp_path), str(weird)]:
        monkeypatch.chdir(cwd)
        await compare_calls(diffs, f"[cwd={cwd}] path.abspath",
                            os.path.abspath, apath.abspath,
                            [((c,), {}) for c in ABSPATH_CANDS])
    diffs.assert_clean()


@pytest.mark.asyncio
async def test_getcwd(aos, tmp_path, monkeypatch):
    d = tmp_path / "c\u00e9 d"
    d.mkdir()
    nonutf8 = os.path.join(os.fsencode(tmp_path), b"n\xff")
    os.mkdir(nonutf8)
    for cwd in ["/", str(tmp_path), str(d), nonutf8]:
        monkeypatch.chdir(cwd)
        exp = call_sync(os.getcwd)
        act = await call_async(aos.getcwd)
        assert_same_outcome(act, exp, f"getcwd() in {cwd!r}")
    # the cwd was removed
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    exp = call_sync(os.getcwd)
    act = await call_async(aos.getcwd)
    assert_same_outcome(act, exp, "getcwd() in a removed directory")


# ------------------------------------------------------------------ sendfile


def _read_fd_all(fd):
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        b = os.read(fd, 1 << 16)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


SENDFILE_CASES = [
    # (in position before, offset, count, out kind)
    (0, 0, 0, "file"), (0, 0, 10, "file"), (0, 0, None, "file"),
    (0, 100, 5000, "file"), (0, 0, 1 << 20, "file"),
    (0, 99990, 100, "file"), (0, 100000, 10, "file"),
    (0, 100010, 10, "file"), (7, None, 100, "file"),
    (50, None, 1 << 20, "file"), (99999, None, 10, "file"),
    (0, -1, 10, "file"), (0, 5, -1, "file"), (0, 2 ** 62, 10, "file"),
    (0, 0, 3000, "pipe"), (11, None, 4096, "pipe"), (0, 90000, 0, "pipe"),
    (0, 0, 10, "rdonly"), (0, 0, 10, "bad_in"), (0, 0, 10, "dir_in"),
    (0, 0, 10, "kw"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("case", SENDFILE_CASES, ids=repr)
async def test_sendfile(aos, tmp_path, case):
    pos, offset, count, kind = case
    if (getattr(sys.modules.get("aiofiles_c"), "backend", None) == "portable"
            and offset is not None and offset > 1 << 40):
        pytest.skip("EOVERFLOW past the file system's size limit is Linux "
                    "sendfile's own check (portable: a read/write loop)")
    src = tmp_path / "src"
    src.write_bytes(gen_bytes(100000, 7))
    results = []
    for side in ("os", "impl"):
        out_path = tmp_path / f"out-{side}"
        out_path.write_bytes(b"prefix-")
        to_close = []
        in_fd = os.open(src, os.O_RDONLY)
        to_close.append(in_fd)
        os.lseek(in_fd, pos, os.SEEK_SET)
        if kind == "pipe":
            rp, out_fd = os.pipe()
            to_close += [rp, out_fd]
        elif kind == "rdonly":
            out_fd = os.open(out_path, os.O_RDONLY)
            to_close.append(out_fd)
        else:
            out_fd = os.open(out_path, os.O_WRONLY | os.O_APPEND)
            to_close.append(out_fd)
        if kind == "bad_in":
            # not a closed fd: its number could be reused meanwhile (by
            # the implementation's own fds, e.g. a loop's eventfd)
            in_fd = 999_999
        if kind == "dir_in":
            os.close(in_fd)
            to_close.remove(in_fd)
            in_fd = os.open(tmp_path, os.O_RDONLY)
            to_close.append(in_fd)
        cnt = 100000 if count is None else count
        if kind == "kw":
            args, kwargs = (), dict(out_fd=out_fd, in_fd=in_fd, offset=offset,
                                    count=cnt)
        else:
            args, kwargs = (out_fd, in_fd, offset, cnt), {}
        try:
            if side == "os":
                out = call_sync(os.sendfile, *args, **kwargs)
            else:
                out = await call_async(aos.sendfile, *args, **kwargs)
            in_pos = call_sync(os.lseek, in_fd, 0, os.SEEK_CUR)
            if kind == "pipe":
                os.close(out_fd)
                to_close.remove(out_fd)
                data = b""
                while True:
                    b = os.read(rp, 65536)
                    if not b:
                        break
                    data += b
            else:
                data = out_path.read_bytes()
        finally:
            for fd in to_close:
                os.close(fd)
        results.append((out, in_pos, data))
    (o_os, p_os, d_os), (o_impl, p_impl, d_impl) = results
    ctx = f"sendfile case {case}"
    assert_same_outcome(o_impl, o_os, ctx)
    assert_same_outcome(p_impl, p_os, ctx + " (in_fd position after)")
    assert d_impl == d_os, f"{ctx}: bytes written differ"


# ------------------------------------------------------------------ mutating

MUT_SEEDS = [7, 8]
MUT_FORMS = ("abs", "bytes", "path", "rel", "relb")
MUT_DIRFD_FORMS = ("dirfd", "dirfdb", "absdirfd")

DIRFD_NAMES = {
    "mkdir": ("dir_fd",), "rmdir": ("dir_fd",), "remove": ("dir_fd",),
    "unlink": ("dir_fd",), "symlink": ("dir_fd",),
    "rename": ("src_dir_fd", "dst_dir_fd"),
    "replace": ("src_dir_fd", "dst_dir_fd"),
    "link": ("src_dir_fd", "dst_dir_fd"),
    "makedirs": (), "renames": (), "removedirs": (),
}


def _mut_spec(seed):
    return make_spec(seed, small=True, escaping_links=False)


_ENTRIES = _mut_spec(MUT_SEEDS[0]).entries()
LONG = "x" * 300

MKDIR_TOKS = ["new", "d0/new", "empty/new", "noperm/new", "ro/new",
              "sticky/new", "new/", "new/.", "missing/new", "f0/new",
              "ld/new", "lb", "lb/", "lb/x", "lf", "f0", "d0", "empty/",
              "d0/./new", "d0/../new", "loop1", LONG, "d0/" + "y" * 255,
              "lslash/new", Lit(""), Lit("a\0b"), ROOT_TOKEN]
MKDIR_MODES = [None, 0o700, 0o755, 0o1777, 0o2775, 0o4755, 0o000, 0o7777,
               -1, 0o70000]
MAKEDIRS_TOKS = ["new", "a/b/c", "d0/new/deeper", "d0", "d0/", "f0",
                 "f0/x", "lb/x", "lb", "ld/new/x", "lf/x", "empty",
                 "noperm/a/b", "new/./x", "new/../y", "e0/e1/e2/z", "ld",
                 "e0/e1/e2", "a//b", "new/", LONG + "/y", Lit(""),
                 Lit("a\0b/c"), "loop1/x"]
REMOVE_EXTRA = ["missing", "f0/x", "ld/", "lf/", "lb/", "d0/f2/", "f0/",
                "d0/../f0", LONG, Lit(""), Lit("a\0b"), ROOT_TOKEN]
RMDIR_TOKS = ["empty", "e0/e1/e2", "e0", "d0", "full", "noperm", "ro",
              "sticky", "f0", "ld", "lempty", "lb", "missing", "empty/",
              "empty/.", "d0/.", "e0/e1/e2/..", "lempty/", "r0/r1", LONG,
              Lit(""), Lit("a\0b"), ROOT_TOKEN]
REMOVEDIRS_TOKS = ["e0/e1/e2", "e0/e1/e2/", "e0/e1", "empty", "d0", "f0",
                   "missing", "ld", "lempty", "r0/r1", "e0/e1/e2/.",
                   "noperm", Lit(""), ROOT_TOKEN]
RENAME_PAIRS = [
    ("f0", "new"), ("f0", "f1"), ("f0", "d0/new"), ("f0", "d0"),
    ("f0", "empty"), ("f0", "f0"), ("f0", "hl"), ("hl", "f0"),
    ("f0", "missing/new"), ("f0", "f1/new"), ("f0", "lf"), ("f0", "lb"),
    ("f0", "new/"), ("f0/", "new"), ("d0", "new"), ("d0", "empty"),
    ("d0", "full"), ("d0", "d0/d1/new"), ("d0", "f0"), ("d0", "new/"),
    ("empty", "e0/e1/e2"), ("e0/e1/e2", "empty"), ("lf", "new"),
    ("ld", "new"), ("lb", "new"), ("ld", "empty"), ("ld/", "new"),
    ("missing", "new"), ("missing", "f0"), ("noperm/f", "ro/new"),
    ("ro/f", "noperm/f"), ("sticky/f", "new"), ("d0", "ld/new"),
    ("full/a", "full/b"), ("d0/d1", "d0/d1/d2/x"), ("d0/d1/d2", "d0"),
    ("f0", LONG), ("f0", Lit("")), (Lit(""), "new"), ("f0", Lit("a\0b")),
    ("d0/.", "new"), ("loop1", "new"), ("self", "self2"),
]
RENAMES_PAIRS = [
    ("r0/r1/f", "n0/n1/f"), ("r0/r1/f", "r0/r1/g"), ("r0/r1", "n0/n1/n2"),
    ("f0", "a/b/c/d"), ("f0", "f1/x/y"), ("missing", "n0/n1"),
    ("d0/d1/d2", "e0/e1/e2/x"), ("e0/e1/e2", "n/e2"), ("r0/r1/f", "f0"),
    ("r0/r1/f", "d0"), ("lb", "n/l"), ("f0", "lb/x"), ("full/a", "full/b"),
    ("r0/r1/f", "r0/r1/f/x"), ("f0", Lit("")), ("ld", "n/m/ld"),
]
LINK_PAIRS = [
    ("f0", "new"), ("f0", "d0/new"), ("f0", "f1"), ("f0", "hl"),
    ("d0", "new"), ("lf", "new"), ("ll", "new"), ("ld", "new"), ("lb", "new"),
    ("loop1", "new"), ("missing", "new"), ("f0", "missing/new"),
    ("f0", "lb"), ("f0", "new/"), ("f0/", "new"), ("x0", "noperm/new"),
    ("noperm/f", "new"), ("f0", LONG), (Lit(""), "new"), ("f0", Lit("")),
    ("f0", Lit("a\0b")), ("labs", "new"),
]
SYMLINK_CASES = [  # (target text, dst)
    ("f0", "new"), ("../f0", "d0/new"), ("missing", "new"),
    ("<abs>/f0", "new"), ("<abs>/d0", "d0/new"), ("", "new"), ("f0", "f1"),
    ("f0", "lb"), ("f0", "d0"), ("f0", "new/"), ("f0", "missing/new"),
    ("f0", "f0/new"), ("d0", "newd"), ("x" * 5000, "new"), ("a\0b", "new"),
    ("f0", Lit("")), ("f0", LONG), ("n\udcff", "new"), ("d0/", "ld/new"),
    ("/", "noperm/new"), ("new", "new"),
]


def _rotating_forms(n_each, all_forms):
    def pick(i):
        return [all_forms[(i * n_each + k) % len(all_forms)]
                for k in range(n_each)]
    return pick


def build_cases():
    C = {}
    # mkdir: mode positional or keyword, rotating
    cases = []
    i = 0
    for tok in MKDIR_TOKS:
        for form in MUT_FORMS + MUT_DIRFD_FORMS:
            mode = MKDIR_MODES[i % len(MKDIR_MODES)]
            if mode is None:
                args, kw = (("p", tok),), {}
            elif i % 2:
                args, kw = (("p", tok), ("v", mode)), {}
            else:
                args, kw = (("p", tok),), {"mode": mode}
            cases.append(("mkdir", args, kw, form))
            i += 1
    C["mkdir"] = cases
    # makedirs
    cases = []
    i = 0
    kws = [{}, {"exist_ok": True}, {"exist_ok": False},
           {"mode": 0o700, "exist_ok": True}, {"mode": 0o751}]
    for tok in MAKEDIRS_TOKS:
        for form in MUT_FORMS:
            cases.append(("makedirs", (("p", tok),), dict(kws[i % len(kws)]),
                          form))
            i += 1
    cases.append(("makedirs", (("p", "n/m"), ("v", 0o700), ("v", True)), {},
                  "abs"))
    C["makedirs"] = cases
    # remove / unlink: every entry, 3 rotating forms each
    forms_all = MUT_FORMS + MUT_DIRFD_FORMS
    pick = _rotating_forms(3, forms_all)
    for fname in ("remove", "unlink"):
        cases = []
        for i, tok in enumerate(_ENTRIES + REMOVE_EXTRA):
            for form in pick(i + (fname == "unlink")):
                cases.append((fname, (("p", tok),), {}, form))
        C[fname] = cases
    cases = []
    for i, tok in enumerate(RMDIR_TOKS):
        for form in pick(i):
            cases.append(("rmdir", (("p", tok),), {}, form))
    C["rmdir"] = cases
    cases = []
    for tok in REMOVEDIRS_TOKS:
        for form in MUT_FORMS:
            cases.append(("removedirs", (("p", tok),), {}, form))
    C["removedirs"] = cases
    for fname in ("rename", "replace"):
        cases = []
        for i, (a, b) in enumerate(RENAME_PAIRS):
            for form in pick(i + (fname == "replace")):
                cases.append((fname, (("p", a), ("p", b)), {}, form))
        # mixed str / bytes / Path / dir_fd arguments
        cases += [
            (fname, (("P", "f0", "abs"), ("P", "new", "bytes")), {}, "abs"),
            (fname, (("P", "f0", "bytes"), ("P", "new", "path")), {}, "abs"),
            (fname, (("P", "f0", "dirfd"), ("P", "new", "abs")),
             {"src_dir_fd": "<rootfd>"}, "abs"),
            (fname, (("P", "f0", "abs"), ("P", "new", "dirfd")),
             {"dst_dir_fd": "<rootfd>"}, "abs"),
            (fname, (("p", "f0"), ("p", "new")), {"src": 1}, "abs"),
        ]
        C[fname] = cases
    cases = []
    for i, (a, b) in enumerate(RENAMES_PAIRS):
        for form in MUT_FORMS:
            cases.append(("renames", (("p", a), ("p", b)), {}, form))
    C["renames"] = cases
    cases = []
    fkws = [{}, {"follow_symlinks": False}, {"follow_symlinks": True}]
    j = 0
    for i, (a, b) in enumerate(LINK_PAIRS):
        for form in pick(i):
            for kw in fkws:
                if a in ("f0", "d0") and kw and j % 2:
                    continue
                cases.append(("link", (("p", a), ("p", b)), dict(kw), form))
                j += 1
    C["link"] = cases
    cases = []
    tkws = [{}, {"target_is_directory": True}, {"target_is_directory": False}]
    for i, (t, d) in enumerate(SYMLINK_CASES):
        for k, form in enumerate(pick(i)):
            cases.append(("symlink", (("t", t), ("p", d)),
                          dict(tkws[(i + k) % 3]), form))
    cases.append(("symlink", (("t", "f0"), ("p", "new"), ("v", True)), {},
                  "abs"))
    cases.append(("symlink", (("t", "f0"), ("P", "new", "bytes")), {},
                  "abs"))
    C["symlink"] = cases
    return C


MUT_CASES = build_cases()


def _resolve(paths, a, form):
    kind = a[0]
    if kind == "p":
        return paths.value(a[1], form)
    if kind == "P":
        return paths.value(a[1], a[2])
    if kind == "t":
        return paths.target(a[1], form)
    if kind == "v":
        return a[1]
    raise AssertionError(a)


def _bind(paths, case):
    fname, argspec, kwargs, form = case
    args = tuple(_resolve(paths, a, form) for a in argspec)
    kw = {k: (paths.root_fd() if v == "<rootfd>" else v)
          for k, v in kwargs.items()}
    kw.update(paths.dirfd_kw(form, *DIRFD_NAMES[fname]))
    return args, kw


async def run_sequence(aos, work, seed, cases, side):
    """Build the tree, apply ``cases`` with os or impl; (outcomes, calls,
    snapshot)."""
    paths = Paths(work)
    remove_tree(paths.root)
    build_tree(paths.root, _mut_spec(seed), settle=False)
    outs, calls = [], []
    try:
        for case in cases:
            fname = case[0]
            args, kw = _bind(paths, case)
            calls.append(fmt_call(fname, args, kw))
            if side == "os":
                outs.append(call_sync(getattr(os, fname), *args, **kw))
            else:
                outs.append(await call_async(getattr(aos, fname), *args,
                                             **kw))
    finally:
        paths.close()
    snap = snapshot(work)
    remove_tree(paths.root)
    return outs, calls, snap


async def compare_sequence(diffs, aos, work, seed, cases):
    o_os, calls, s_os = await run_sequence(aos, work, seed, cases, "os")
    o_impl, _, s_impl = await run_sequence(aos, work, seed, cases, "impl")
    seq = " ; ".join(calls)
    ok = True
    for a, e, c in zip(o_impl, o_os, calls):
        if not diffs.check(a, e, f"[tree {seed}] {c}"
                           + (f" (in sequence: {seq})" if len(calls) > 1
                              else "")):
            ok = False
    if ok:
        diffs.calls += 1
        if s_impl != s_os:
            diffs.fail(f"[tree {seed}] {seq}: resulting trees differ:\n"
                       + diff_snapshots(s_impl, s_os))


@pytest.fixture
def fast_workdir(tmp_path, monkeypatch):
    """A work dir (the cwd) on tmpfs when /dev/shm is usable (trees are
    rebuilt twice per case: about 5x faster than on ext4), else in
    tmp_path.  The hypothesis sequences below run in tmp_path."""
    base = None
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        try:
            base = tempfile.mkdtemp(prefix="aiofiles-c-osdiff-",
                                    dir="/dev/shm")
        except OSError:
            base = None
    work = os.path.join(base or str(tmp_path), "w")
    os.mkdir(work)
    monkeypatch.chdir(work)
    try:
        yield work
    finally:
        monkeypatch.undo()
        remove_tree(work)
        if base is not None:
            os.rmdir(base)


@pytest.mark.asyncio
@pytest.mark.parametrize("fname", sorted(MUT_CASES))
async def test_mutating(aos, fname, fast_workdir):
    work = fast_workdir
    diffs = Diffs()
    for i, case in enumerate(MUT_CASES[fname]):
        await compare_sequence(diffs, aos, work, MUT_SEEDS[i % 2], [case])
    diffs.assert_clean()


_ALL_MUT = [c for cs in MUT_CASES.values() for c in cs
            if c[3] in ("abs", "rel", "bytes", "dirfd")]


@pytest.fixture(scope="module")
def seq_workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("osseq"))


@settings(max_examples=examples(30), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(cases=st.lists(st.sampled_from(_ALL_MUT), min_size=2, max_size=8),
       seed=st.sampled_from(MUT_SEEDS))
def test_mutating_sequences(aos, runner, seq_workdir, cases, seed):
    """Random sequences of mutations, on os and on impl, from the same
    tree: every outcome and the final trees must agree."""
    work = os.path.join(seq_workdir, "w")
    os.makedirs(work, exist_ok=True)
    old = os.getcwd()
    os.chdir(work)
    try:
        diffs = Diffs()
        runner.run(compare_sequence(diffs, aos, work, seed, cases))
        diffs.assert_clean()
    finally:
        os.chdir(old)


# ------------------------------------------------------------------ bad args


def _bad_arg_cases(paths, fds):
    P = paths.value("f0", "abs")
    D = paths.value("d0", "abs")
    M = paths.value("missing/n", "abs")   # any creation there fails
    rfd = paths.root_fd()
    obj = object()
    c = [
        ("stat", (), {}), ("stat", (P, P), {}), ("stat", (1.5,), {}),
        ("stat", (None,), {}), ("stat", ([],), {}), ("stat", (obj,), {}),
        ("stat", (P,), {"dir_fd": "x"}), ("stat", (P,), {"dir_fd": 1.5}),
        ("stat", (P,), {"bogus": 1}), ("stat", (), {"follow_symlinks": False}),
        ("stat", ("f0",), {"dir_fd": 10 ** 6}),
        ("stat", ("f0",), {"dir_fd": 2 ** 40}),
        ("stat", ("f0",), {"dir_fd": -5}), ("stat", ("f0",), {"dir_fd": None}),
        ("stat", (fds[0],), {"dir_fd": rfd}),
        ("stat", (P,), {"follow_symlinks": None}),
        ("stat", (bytearray(os.fsencode(P)),), {}),
        ("stat", (memoryview(os.fsencode(P)),), {}),
        ("access", (P,), {}), ("access", (P, "r"), {}),
        ("access", (P, 1.5), {}), ("access", (P, None), {}),
        ("access", (P, 4, 5), {}), ("access", (fds[0], 4), {}),
        ("access", (P, 4), {"dir_fd": "x"}), ("access", (P, 4), {"x": 1}),
        ("access", (P, 2 ** 70), {}),
        ("listdir", (1.5,), {}), ("listdir", (D, D), {}),
        ("listdir", ({},), {}), ("listdir", (D,), {"dir_fd": rfd}),
        ("listdir", (2 ** 70,), {}), ("listdir", (b"",), {}),
        ("scandir", (1.5,), {}), ("scandir", (D, D), {}),
        ("scandir", (D,), {"dir_fd": rfd}), ("scandir", (b"",), {}),
        ("mkdir", (), {}), ("mkdir", (M, "x"), {}), ("mkdir", (M, 1.5), {}),
        ("mkdir", (M, None), {}), ("mkdir", (M, 2 ** 70), {}),
        ("mkdir", (M,), {"dir_fd": "x"}), ("mkdir", (M,), {"bogus": 1}),
        ("mkdir", (M, 0o777, rfd), {}), ("mkdir", (None,), {}),
        ("makedirs", (), {}), ("makedirs", (None,), {}),
        ("makedirs", (1.5,), {}), ("makedirs", (M, "x"), {}),
        ("makedirs", (M, 0o777, False, 1), {}),
        ("makedirs", (M,), {"dir_fd": rfd}),
        ("remove", (), {}), ("remove", (1.5,), {}), ("remove", (None,), {}),
        ("remove", (M,), {"dir_fd": "x"}), ("remove", (M,), {"bogus": 1}),
        ("remove", (fds[0],), {}), ("remove", (M, M), {}),
        ("unlink", (), {}), ("unlink", (1.5,), {}), ("unlink", (fds[0],), {}),
        ("rename", (M,), {}), ("rename", (1.5, M), {}),
        ("rename", (M, None), {}), ("rename", (M, os.fsencode(M)), {}),
        ("rename", (M, M), {"src_dir_fd": "x"}),
        ("rename", (M, M), {"dst_dir_fd": 10 ** 6}),
        ("rename", ("missing", "x"), {"src_dir_fd": 10 ** 6}),
        ("rename", (M, M, M), {}), ("rename", (fds[0], M), {}),
        ("replace", (M,), {}), ("replace", (1.5, M), {}),
        ("replace", (M, M), {"bogus": 1}),
        ("renames", (M,), {}), ("renames", (None, M), {}),
        ("renames", (M, 1.5), {}), ("renames", (M, M, M), {}),
        ("rmdir", (), {}), ("rmdir", (1.5,), {}), ("rmdir", (M, 1), {}),
        ("rmdir", (M,), {"dir_fd": "x"}), ("rmdir", (fds[0],), {}),
        ("removedirs", (), {}), ("removedirs", (None,), {}),
        ("removedirs", (1.5,), {}), ("removedirs", (M, M), {}),
        ("link", (M,), {}), ("link", (1.5, M), {}),
        ("link", (M, M), {"follow_symlinks": False, "bogus": 1}),
        ("link", (M, M), {"src_dir_fd": "x"}),
        ("symlink", ("x",), {}), ("symlink", (None, M), {}),
        ("symlink", ("x", M, True, 1), {}),
        ("symlink", ("x", M), {"target_is_directory": True, "dir_fd": "x"}),
        ("symlink", ("x", 1.5), {}), ("symlink", (1.5, M), {}),
        ("readlink", (), {}), ("readlink", (1,), {}), ("readlink", (1.5,), {}),
        ("readlink", (P, P), {}), ("readlink", (P,), {"dir_fd": "x"}),
        ("readlink", (None,), {}),
        ("statvfs", (), {}), ("statvfs", (None,), {}),
        ("statvfs", (1.5,), {}), ("statvfs", (P, P), {}),
        ("statvfs", (P,), {"dir_fd": rfd}),
        ("getcwd", (1,), {}), ("getcwd", (), {"x": 1}),
        ("sendfile", (1, 2), {}), ("sendfile", ("a", "b", 0, 1), {}),
        ("sendfile", (fds[6], fds[0], 1.5, 1), {}),
        ("sendfile", (fds[6], fds[0], 0, 1.5), {}),
        ("sendfile", (fds[6], fds[0], 0, 1, 2), {}),
        ("sendfile", (fds[6], fds[0], 0, 1), {"headers": ()}),
        ("sendfile", (fds[6], fds[0], 0, 1), {"flags": 0}),
        ("sendfile", (fds[6], fds[0], 0), {}),
        ("sendfile", (fds[6], fds[0], "0", 1), {}),
        ("sendfile", (fds[6], fds[0], 2 ** 70, 1), {}),
        ("sendfile", (-1, -1, 0, 1), {}),
        ("sendfile", (2 ** 40, fds[0], 0, 1), {}),
    ]
    p = [
        ("exists", (None,), {}), ("exists", (1.5,), {}), ("exists", (), {}),
        ("exists", (P, P), {}), ("isdir", (None,), {}), ("isdir", (P, 1), {}),
        ("isfile", (1.5,), {}), ("isfile", (), {}), ("islink", (None,), {}),
        ("islink", (3,), {}), ("islink", (P,), {"x": 1}),
        ("ismount", (None,), {}), ("ismount", (3,), {}),
        ("ismount", (1.5,), {}), ("getsize", (None,), {}),
        ("getsize", (), {}), ("getatime", (1.5,), {}), ("getmtime", (), {}),
        ("getmtime", ([],), {}), ("getctime", (P, P), {}),
        ("samefile", (P,), {}), ("samefile", (1.5, P), {}),
        ("samefile", (P, None), {}), ("samefile", (P, P, P), {}),
        ("sameopenfile", ("a", "b"), {}), ("sameopenfile", (1.5, 0), {}),
        ("sameopenfile", (fds[0],), {}), ("sameopenfile", (None, None), {}),
        ("abspath", (None,), {}), ("abspath", (1,), {}), ("abspath", (), {}),
        ("abspath", (P, P), {}), ("abspath", ([],), {}),
        ("abspath", (bytearray(b"x"),), {}),
        ("isdir", (bytearray(os.fsencode(P)),), {}),
    ]
    return [("os", *x) for x in c] + [("path", *x) for x in p]


@pytest.mark.asyncio
async def test_bad_arguments(aos, ro_tree, fds):
    paths, _ = ro_tree
    diffs = Diffs()
    for mod, name, args, kwargs in _bad_arg_cases(paths, fds):
        os_fn = getattr(os if mod == "os" else os.path, name)
        impl_fn = getattr(aos if mod == "os" else aos.path, name)
        exp = call_sync(os_fn, *args, **kwargs)
        act = await call_async(impl_fn, *args, **kwargs)
        label = name if mod == "os" else f"path.{name}"
        diffs.check(norm_outcome(act), norm_outcome(exp),
                    fmt_call(label, args, kwargs))
    diffs.assert_clean()


@pytest.mark.asyncio
async def test_bytes_like_path_warns(aos, ro_tree):
    """os.stat(bytearray) works with a DeprecationWarning (an error under
    this suite's filterwarnings; compared in test_bad_arguments)."""
    paths, _ = ro_tree
    arg = bytearray(os.fsencode(paths.value("f0", "abs")))
    with warnings.catch_warnings(record=True) as rec_os:
        warnings.simplefilter("always")
        exp = call_sync(os.stat, arg)
    with warnings.catch_warnings(record=True) as rec_impl:
        warnings.simplefilter("always")
        act = await call_async(aos.stat, arg)
    assert_same_outcome(norm_outcome(act), norm_outcome(exp), "stat(bytearray)")
    w_os = [(w.category, str(w.message)) for w in rec_os]
    w_impl = [(w.category, str(w.message)) for w in rec_impl]
    assert w_impl == w_os


# ------------------------------------------------------------------ wrap etc.


@pytest.mark.asyncio
async def test_wrap(aos):
    loop_thread = threading.get_ident()

    def func(a, b=2, *, c=3):
        """func doc"""
        return (a, b, c, threading.get_ident())

    w = aos.wrap(func)
    assert inspect.iscoroutinefunction(w)
    assert w.__name__ == "func"
    assert w.__qualname__ == func.__qualname__
    assert w.__doc__ == "func doc"
    assert w.__module__ == func.__module__
    assert w.__wrapped__ is func
    a, b, c, tid = await w(1, c=5)
    assert (a, b, c) == (1, 2, 5)
    assert tid != loop_thread, "wrap() must run the function off the loop"
    assert (await w("x", "y"))[:3] == ("x", "y", 3)

    class Boom(Exception):
        pass

    err = Boom("bad", 1)

    def raiser():
        raise err

    with pytest.raises(Boom) as ei:
        await aos.wrap(raiser)()
    assert ei.value is err
    with pytest.raises(TypeError):
        await w()                                   # missing argument
    results = await asyncio.gather(*(w(i) for i in range(50)))
    assert [r[0] for r in results] == list(range(50))
    # a builtin keeps its name too
    ws = aos.wrap(os.getpid)
    assert ws.__name__ == "getpid"
    assert await ws() == os.getpid()


@pytest.mark.asyncio
async def test_loop_and_executor_keywords(aos, tmp_path):
    """aiofiles' wrapped functions take loop= and executor= keywords."""
    p = str(tmp_path)
    loop = asyncio.get_running_loop()
    names = []

    def init():
        names.append(threading.current_thread().name)

    with concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="osdiff-exec") as ex:
        s = await aos.stat(p, executor=ex)
        assert norm(s) == norm(os.stat(p))
        assert await aos.listdir(p, loop=loop, executor=ex) == os.listdir(p)
        assert await aos.path.exists(p, executor=ex) is True

        def who():
            return threading.current_thread().name

        assert (await aos.wrap(who)(executor=ex)).startswith("osdiff-exec")
    assert await aos.getcwd(loop=loop) == os.getcwd()


@pytest.mark.asyncio
async def test_concurrent_calls(aos, apath, ro_tree):
    """Many calls in flight at once give the same answers as os."""
    paths, spec = ro_tree
    toks = [t for t in ro_tokens(spec) if not isinstance(t, Lit)]
    jobs = []
    for t in toks:
        p = paths.value(t, "abs")
        jobs.append((f"stat({p!r})", os.stat, aos.stat, p))
        jobs.append((f"exists({p!r})", os.path.exists, apath.exists, p))
        jobs.append((f"islink({p!r})", os.path.islink, apath.islink, p))
    jobs *= 3

    async def one(fn, p):
        return await call_async(fn, p)

    acts = await asyncio.gather(*(one(j[2], j[3]) for j in jobs))
    diffs = Diffs()
    for (label, os_fn, _, p), act in zip(jobs, acts):
        diffs.check(norm_outcome(act), norm_outcome(call_sync(os_fn, p)),
                    label)
    diffs.assert_clean()


class _BadBool:
    def __bool__(self):
        raise ZeroDivisionError("no truth value")


class _FsPath:
    def __init__(self, value):
        self.value = value

    def __fspath__(self):
        return self.value


class _Fileno:
    def __init__(self, value):
        self.value = value

    def fileno(self):
        return self.value


def _converted_arg_cases(paths, fds):
    """Arguments the C table (cext/fs.c, _cext.os_args) binds and converts:
    wrong types, out-of-range integers, negative descriptors, NUL bytes,
    dir_fd where os takes none or cannot use one, and the binder's own
    words."""
    P = paths.value("f0", "abs")
    M = paths.value("missing/n", "abs")   # any creation there fails
    rfd = paths.root_fd()
    nul = ["a\0b", b"a\0b", _FsPath("x\0"), _FsPath(b"\0")]
    c = []
    for v in nul:
        c += [
            ("stat", (v,), {}), ("lstat", (v,), {}), ("access", (v, 4), {}),
            ("mkdir", (v,), {}), ("rmdir", (v,), {}), ("remove", (v,), {}),
            ("unlink", (v,), {}), ("rename", (v, M), {}),
            ("rename", (M, v), {}), ("replace", (M, v), {}),
            ("link", (P, v), {}), ("symlink", (v, M), {}),
            ("symlink", ("x", v), {}), ("readlink", (v,), {}),
            ("listdir", (v,), {}), ("scandir", (v,), {}),
            ("statvfs", (v,), {}), ("chmod", (v, 0o644), {}),
            ("chown", (v, -1, -1), {}), ("utime", (v,), {}),
            ("truncate", (v, 0), {}),
        ]
    c += [
        ("stat", (_FsPath(3),), {}), ("stat", (_FsPath(None),), {}),
        ("stat", (2 ** 31,), {}), ("stat", (-(2 ** 31) - 1,), {}),
        ("stat", (2 ** 70,), {}), ("stat", (-1,), {}), ("stat", (-5,), {}),
        ("stat", (True,), {}) if sys.version_info < (3, 13) else
        ("stat", (P,), {}),
        ("lstat", (3,), {}), ("lstat", (P,), {"follow_symlinks": False}),
        ("access", (P, 2 ** 31), {}), ("access", (P, -(2 ** 31) - 1), {}),
        ("access", (P, 4), {"follow_symlinks": _BadBool()}),
        ("access", (P, 4), {"effective_ids": _BadBool()}),
        ("mkdir", (M, 2 ** 31), {}), ("mkdir", (M,), {"mode": "x"}),
        ("chmod", (M, 2 ** 32), {}), ("chmod", (M, -1), {}),
        ("chown", (M, 2 ** 32, 0), {}), ("chown", (M, -2, 0), {}),
        ("chown", (M, 0, 2 ** 70), {}), ("chown", (M, -1, -1), {}),
        ("chown", (M, 0, -(2 ** 70)), {}), ("chown", (M, "0", 0), {}),
        ("chown", (M, 1.0, 0), {}),
        ("truncate", (M, 2 ** 63), {}), ("truncate", (M, -1), {}),
        ("truncate", (M, "x"), {}), ("truncate", (M, 1.5), {}),
        ("truncate", (-1, 0), {}), ("truncate", (2 ** 40, 0), {}),
        ("truncate", (M, 0), {"dir_fd": rfd}),
        ("fsync", (-1,), {}), ("fsync", (2 ** 31,), {}), ("fsync", ("x",), {}),
        ("fsync", (1.5,), {}), ("fsync", (_Fileno(-1),), {}),
        ("fsync", (_Fileno("x"),), {}), ("fdatasync", (None,), {}),
        ("fdatasync", (), {"fd": -3}),
        ("sendfile", (fds[6], fds[0], -1, 1), {}),
        ("sendfile", (fds[6], fds[0], 2 ** 63, 1), {}),
        ("sendfile", (fds[6], fds[0], 0, -1), {}),
        ("sendfile", (fds[6], fds[0], 0, 2 ** 63), {}),
        ("sendfile", (fds[6], 2 ** 31, 0, 1), {}),
        ("statvfs", (-1,), {}), ("statvfs", (-3,), {}),
        ("chmod", (-1, 0o644), {}), ("chown", (-5, -1, -1), {}),
        ("utime", (-1,), {}), ("utime", (-7,), {}),
        ("readlink", (-1,), {}), ("rmdir", (3,), {}),
        # dir_fd: out of range, negative, of the wrong type, or where os
        # takes none
        ("mkdir", (M,), {"dir_fd": 2 ** 40}),
        ("rmdir", ("x",), {"dir_fd": -1}), ("unlink", ("x",), {"dir_fd": -7}),
        ("access", (P, 4), {"dir_fd": 1.5}),
        ("link", (P, M), {"src_dir_fd": -3}),
        ("rename", (M, M), {"dst_dir_fd": 2 ** 31}),
        ("symlink", ("x", M), {"dir_fd": []}),
        ("readlink", ("x",), {"dir_fd": -(2 ** 31) - 1}),
        ("chown", (M, 0, 0), {"dir_fd": -5}),
        ("utime", (M,), {"dir_fd": "x"}),
        ("fsync", (0,), {"dir_fd": rfd}),
        # a descriptor as the path, with a dir_fd or follow_symlinks=False
        ("utime", (fds[0],), {"dir_fd": rfd}),
        ("utime", (fds[0],), {"follow_symlinks": False}),
        ("utime", (fds[0],), {"times": 1, "dir_fd": rfd}),
        ("utime", (-1,), {"dir_fd": rfd}),
        ("chown", (fds[0], -1, -1), {"dir_fd": rfd}),
        ("chown", (fds[0], -1, -1), {"follow_symlinks": False}),
        ("chown", (fds[0], -1, -1), {"dir_fd": rfd,
                                     "follow_symlinks": False}),
        ("chown", (-1, -1, -1), {"dir_fd": rfd}),
        ("stat", (fds[0],), {"follow_symlinks": False}),
        ("chmod", (fds[0], 0o644), {"dir_fd": rfd}),
        # utime's times and ns
        ("utime", (M, (1.5, "x")), {}), ("utime", (M, (float("nan"), 0)), {}),
        ("utime", (M, (1e300, 0)), {}), ("utime", (M, (-1e300, 0)), {}),
        ("utime", (M, (2 ** 70, 0)), {}), ("utime", (M, (1.75, -0.25)), {}),
        ("utime", (M,), {"ns": (1, 2.5)}), ("utime", (M,), {"ns": (2 ** 70, 0)}),
        ("utime", (M,), {"ns": ("x", 0)}), ("utime", (M, [1, 2]), {}),
        ("utime", (M,), {"ns": [1, 2]}), ("utime", (M, (1, 2)), {"ns": (1, 2)}),
        ("utime", (M, (1, 2, 3)), {}), ("utime", (M,), {"ns": (1,)}),
        ("utime", (fds[0], (1.5, "x")), {"dir_fd": rfd}),
        # the binder's words
        ("stat", (), {"path": P}), ("stat", (P,), {"path": P}),
        ("stat", (), {"path": P, "dir_fd": None, "follow_symlinks": True,
                      "x": 1}),
        ("mkdir", (), {"path": M, "mode": 1.5}),
        ("access", (), {"path": P}), ("access", (), {"mode": 4}),
        ("rename", (), {"src": M}), ("rename", (M,), {"dst": M, "src": M}),
        ("chown", (M, 0), {"gid": 0, "uid": 0}),
        ("chown", (M, 0, 0, 0), {}), ("utime", (M, None, None), {}),
        ("utime", (M,), {"times": None, "ns": None, "x": 0}),
        ("truncate", (M,), {}), ("truncate", (), {"length": 0}),
        ("sendfile", (), {"out_fd": 1}), ("symlink", ("x", M, True, 0), {}),
        ("link", (P, M), {"follow_symlinks": _BadBool()}),
    ]
    return [("os", *x) for x in c]


@pytest.mark.asyncio
async def test_bad_arguments_converted_in_c(aos, ro_tree, fds):
    """os's exception, type and words, for each bad argument the C table
    converts (the same checks as test_bad_arguments, over the converters'
    edges)."""
    paths, _ = ro_tree
    diffs = Diffs()
    for _, name, args, kwargs in _converted_arg_cases(paths, fds):
        if not hasattr(aos, name):
            continue  # aiofiles_c's additions, under --impl aiofiles
        exp = call_sync(getattr(os, name), *args, **kwargs)
        act = await call_async(getattr(aos, name), *args, **kwargs)
        diffs.check(norm_outcome(act), norm_outcome(exp),
                    fmt_call(name, args, kwargs))
    diffs.assert_clean()


def test_table_parameters_are_os_parameters():
    """Each call bound by the C table takes os's parameters, in os's order
    (the decorated functions get the converted values by these names)."""
    import inspect

    import aiofiles_c.os as aos
    if not IS_C:
        pytest.skip("the native table")
    for name in ("access", "mkdir", "rmdir", "remove", "unlink", "rename",
                 "replace", "link", "symlink", "readlink", "statvfs",
                 "sendfile", "fsync", "fdatasync", "chmod", "chown", "utime",
                 "truncate"):
        ours = [n for n in inspect.signature(getattr(aos, name)).parameters
                if n not in ("loop", "executor")]
        try:
            theirs = list(inspect.signature(getattr(os, name)).parameters)
        except ValueError:  # a text signature inspect cannot parse:
            # os.utime's; os.chmod's from 3.13 on (its follow_symlinks
            # default depends on the platform)
            theirs = {"utime": ["path", "times", "ns", "dir_fd",
                                "follow_symlinks"],
                      "chmod": ["path", "mode", "dir_fd",
                                "follow_symlinks"]}[name]
        assert ours == theirs, name
