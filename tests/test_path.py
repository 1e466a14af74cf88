"""aiofiles_c.Path against pathlib.Path (the specification) on random trees,
and against anyio.Path for the API (names, which are coroutines, which are
async iterators).

Queries run on one random tree through both; changes run on two identical
trees, one through pathlib and one through aiofiles_c.Path, and the trees
must end up the same. Paths in results and exceptions are compared relative
to each tree's root.
"""
from __future__ import annotations

import inspect
import os
import pathlib
import stat
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import aiofiles_c
from aiofiles_c import Path
from tests.helpers import LoopTurns, examples

anyio = pytest.importorskip("anyio")

NAMES = ["a", "b", "c.txt", "d.tar.gz", "e"]

# ---- random trees ----

_entry = st.tuples(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=3),
    st.one_of(
        st.tuples(st.just("dir")),
        st.tuples(st.just("file"), st.binary(max_size=64)),
        st.tuples(st.just("text"), st.text(max_size=20)),
        st.tuples(st.just("link"), st.lists(st.sampled_from(NAMES + [".."]),
                                            min_size=1, max_size=3)),
        st.tuples(st.just("fifo")),
    ))
trees = st.lists(_entry, max_size=14)


def build(root: pathlib.Path, spec) -> None:
    """Make the entries of spec under root, skipping those that clash."""
    root.mkdir(parents=True, exist_ok=True)
    for parts, kind in spec:
        p = root.joinpath(*parts)
        try:
            if not p.parent.is_dir():
                continue
            if os.path.lexists(p):
                continue
            if kind[0] == "dir":
                p.mkdir()
            elif kind[0] == "file":
                p.write_bytes(kind[1])
            elif kind[0] == "text":
                p.write_text(kind[1], encoding="utf-8")
            elif kind[0] == "link":
                target = os.path.join(*kind[1])
                inside = os.path.normpath(os.path.join(*parts[:-1], target)
                                          if len(parts) > 1 else target)
                if inside.startswith(".."):
                    continue  # would lead out of the tree
                p.symlink_to(target)
            else:
                os.mkfifo(p)
        except OSError:
            continue


def snapshot(root: pathlib.Path):
    """Everything observable about the tree (modes, sizes, links)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st_ = os.lstat(p)
            entry = [stat.S_IFMT(st_.st_mode), stat.S_IMODE(st_.st_mode)]
            if stat.S_ISLNK(st_.st_mode):
                entry.append(os.readlink(p))
            elif stat.S_ISREG(st_.st_mode):
                entry += [st_.st_nlink, pathlib.Path(p).read_bytes()]
            out[rel] = entry
    return out


def norm(v, root: str):
    """Results made comparable: paths relative to root, stat results to the
    fields that two trees share."""
    if isinstance(v, (Path, pathlib.PurePath)):
        s = str(v)
        if s.startswith(root):
            return ("path", "<root>" + s[len(root):])
        return ("path", s)
    if isinstance(v, str) and v.startswith(root):
        return "<root>" + v[len(root):]
    if isinstance(v, os.stat_result):
        return ("stat", stat.S_IFMT(v.st_mode), stat.S_IMODE(v.st_mode),
                v.st_size if not stat.S_ISDIR(v.st_mode) else None,
                v.st_nlink if not stat.S_ISDIR(v.st_mode) else None)
    if isinstance(v, (list, tuple)):
        return type(v)(norm(x, root) for x in v)
    return v


def outcome_exc(e: BaseException, root: str):
    sig = [type(e).__name__]
    if isinstance(e, OSError):
        sig += [e.errno, e.strerror, norm(e.filename, root),
                norm(e.filename2, root)]
    else:
        sig.append(norm(str(e), root))
    return tuple(sig)


def sync_outcome(fn, root):
    try:
        return ("ok", norm(fn(), root))
    except Exception as e:  # noqa: BLE001 - compared, not handled
        return ("exc", outcome_exc(e, root))


async def async_outcome(aw, root):
    try:
        return ("ok", norm(await aw, root))
    except Exception as e:  # noqa: BLE001
        return ("exc", outcome_exc(e, root))


async def alist(ait):
    return [x async for x in ait]


# ---- the queries ----

QUERY_PATHS = ["", "a", "b", "c.txt", "a/b", "a/c.txt", "b/a/e",
               "e/d.tar.gz", "missing", "c.txt/x", "a/../b", "a/b/c.txt"]
GLOBS = ["*", "**/*", "*.txt", "*/*", "a/**", "**/*.gz", "[ab]*"]


def pathlib_queries(p: pathlib.Path, other: pathlib.Path):
    """(name, zero-argument callable) for every query on pathlib.Path."""
    return [
        ("exists", p.exists), ("is_dir", p.is_dir), ("is_file", p.is_file),
        ("is_symlink", p.is_symlink), ("is_fifo", p.is_fifo),
        ("is_socket", p.is_socket), ("is_block_device", p.is_block_device),
        ("is_char_device", p.is_char_device), ("is_mount", p.is_mount),
        ("stat", p.stat), ("lstat", p.lstat),
        ("stat_nofollow", lambda: p.stat(follow_symlinks=False)),
        ("readlink", p.readlink), ("resolve", p.resolve),
        ("resolve_strict", lambda: p.resolve(strict=True)),
        ("absolute", p.absolute), ("samefile", lambda: p.samefile(other)),
        ("owner", p.owner), ("group", p.group),
        ("read_bytes", lambda: p.read_bytes() if not p.is_fifo() else None),
        ("read_text", lambda: p.read_text(encoding="utf-8", errors="replace")
         if not p.is_fifo() else None),
        ("iterdir", lambda: sorted(p.iterdir())),
    ] + [(f"glob {g}", lambda g=g: sorted(p.glob(g))) for g in GLOBS] + [
        ("rglob", lambda: sorted(p.rglob("*"))),
        ("rglob txt", lambda: sorted(p.rglob("*.txt"))),
    ]


def afc_queries(p: Path, other: Path):
    async def fifo_guard(make):
        if await p.is_fifo():
            return None
        return await make()

    async def sorted_async(ait):
        return sorted(await alist(ait))

    return [
        ("exists", p.exists), ("is_dir", p.is_dir), ("is_file", p.is_file),
        ("is_symlink", p.is_symlink), ("is_fifo", p.is_fifo),
        ("is_socket", p.is_socket), ("is_block_device", p.is_block_device),
        ("is_char_device", p.is_char_device), ("is_mount", p.is_mount),
        ("stat", p.stat), ("lstat", p.lstat),
        ("stat_nofollow", lambda: p.stat(follow_symlinks=False)),
        ("readlink", p.readlink), ("resolve", p.resolve),
        ("resolve_strict", lambda: p.resolve(strict=True)),
        ("absolute", p.absolute), ("samefile", lambda: p.samefile(other)),
        ("owner", p.owner), ("group", p.group),
        ("read_bytes", lambda: fifo_guard(p.read_bytes)),
        ("read_text", lambda: fifo_guard(
            lambda: p.read_text(encoding="utf-8", errors="replace"))),
        ("iterdir", lambda: sorted_async(p.iterdir())),
    ] + [(f"glob {g}", lambda g=g: sorted_async(p.glob(g)))
         for g in GLOBS] + [
        ("rglob", lambda: sorted_async(p.rglob("*"))),
        ("rglob txt", lambda: sorted_async(p.rglob("*.txt"))),
    ]


COUNTS = {"query": 0, "change": 0, "trees": 0}


@settings(max_examples=examples(25), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=trees)
def test_queries_against_pathlib(tmp_path_factory, runner, spec):
    root = tmp_path_factory.mktemp("tree")
    build(root, spec)
    r = str(root)
    COUNTS["trees"] += 1
    for rel in QUERY_PATHS:
        pp = root / rel if rel else root
        other = root / "a"
        want = [(name, sync_outcome(fn, r))
                for name, fn in pathlib_queries(pp, other)]

        async def run():
            ap = Path(pp)
            return [(name, await async_outcome(fn(), r))
                    for name, fn in afc_queries(ap, Path(other))]

        got = runner.run(run())
        COUNTS["query"] += len(got)
        assert got == want, rel


# ---- walk: pathlib 3.12's, checked against os.walk ----

def walk_reference(top: str, top_down: bool, follow: bool):
    """pathlib.Path.walk's results built from os.walk: with follow False, a
    symlink to a directory is a file (os.walk lists it as a directory)."""
    out = []
    for root, dirs, files in os.walk(top, topdown=top_down,
                                     followlinks=follow):
        if not follow:
            links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
            dirs = [d for d in dirs if d not in links]
            files = files + links
        out.append((root, sorted(dirs), sorted(files)))
    return out


@settings(max_examples=examples(30), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=trees, top_down=st.booleans())
def test_walk(tmp_path_factory, runner, spec, top_down):
    root = tmp_path_factory.mktemp("walk")
    # No links: os.walk(followlinks=True) would loop on a cycle.
    build(root, [(p, k) for p, k in spec if k[0] != "link"])
    for follow in (False, True):
        want = walk_reference(str(root), top_down, follow)

        async def run():
            return [(str(p), sorted(d), sorted(f)) async for p, d, f in
                    Path(root).walk(top_down=top_down,
                                    follow_symlinks=follow)]

        got = runner.run(run())
        if top_down:
            assert got == want
        else:
            assert sorted(got) == sorted(want)
            # children before their parent
            seen = [g[0] for g in got]
            for i, (p, _, _) in enumerate(got):
                assert all(not s.startswith(p + os.sep) for s in seen[i:])


@pytest.mark.asyncio
async def test_walk_symlinks_and_errors(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"")
    (tmp_path / "ln").symlink_to("d")
    got = [(str(p), d, sorted(f)) async for p, d, f in Path(tmp_path).walk()]
    assert got == [(str(tmp_path), ["d"], ["ln"]),
                   (str(tmp_path / "d"), [], ["f"])]
    got = [str(p) async for p, _, _ in Path(tmp_path).walk(
        follow_symlinks=True)]
    assert sorted(got) == sorted([str(tmp_path), str(tmp_path / "d"),
                                  str(tmp_path / "ln")])
    errors = []
    got = [x async for x in Path(tmp_path / "missing").walk(
        on_error=errors.append)]
    assert got == [] and isinstance(errors[0], FileNotFoundError)


# ---- changes on twin trees ----

_target = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map(
    lambda parts: os.path.join(*parts))
_change = st.one_of(
    st.tuples(st.just("mkdir"), _target, st.booleans(), st.booleans()),
    st.tuples(st.just("rmdir"), _target),
    st.tuples(st.just("unlink"), _target, st.booleans()),
    st.tuples(st.just("rename"), _target, _target),
    st.tuples(st.just("replace"), _target, _target),
    st.tuples(st.just("touch"), _target, st.booleans()),
    st.tuples(st.just("chmod"), _target, st.sampled_from([0o600, 0o755])),
    st.tuples(st.just("symlink_to"), _target, _target),
    st.tuples(st.just("hardlink_to"), _target, _target),
    st.tuples(st.just("write_bytes"), _target, st.binary(max_size=50)),
    st.tuples(st.just("write_text"), _target, st.text(max_size=20)),
)


def pathlib_change(root: pathlib.Path, ch):
    p = root / ch[1]
    name = ch[0]
    if name == "mkdir":
        return p.mkdir(parents=ch[2], exist_ok=ch[3])
    if name == "rmdir":
        return p.rmdir()
    if name == "unlink":
        return p.unlink(missing_ok=ch[2])
    if name in ("rename", "replace"):
        return getattr(p, name)(root / ch[2])
    if name == "touch":
        return p.touch(exist_ok=ch[2])
    if name == "chmod":
        return p.chmod(ch[2])
    if name == "symlink_to":
        return p.symlink_to(ch[2])
    if name == "hardlink_to":
        return p.hardlink_to(root / ch[2])
    if name == "write_bytes":
        return p.write_bytes(ch[2])
    return p.write_text(ch[2], encoding="utf-8")


async def afc_change(root: Path, ch):
    p = root / ch[1]
    name = ch[0]
    if name == "mkdir":
        return await p.mkdir(parents=ch[2], exist_ok=ch[3])
    if name == "rmdir":
        return await p.rmdir()
    if name == "unlink":
        return await p.unlink(missing_ok=ch[2])
    if name in ("rename", "replace"):
        return await getattr(p, name)(root / ch[2])
    if name == "touch":
        return await p.touch(exist_ok=ch[2])
    if name == "chmod":
        return await p.chmod(ch[2])
    if name == "symlink_to":
        return await p.symlink_to(ch[2])
    if name == "hardlink_to":
        return await p.hardlink_to(root / ch[2])
    if name == "write_bytes":
        return await p.write_bytes(ch[2])
    return await p.write_text(ch[2], encoding="utf-8")


@settings(max_examples=examples(60), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=trees, changes=st.lists(_change, max_size=12))
def test_changes_against_pathlib(tmp_path_factory, runner, spec, changes):
    base = tmp_path_factory.mktemp("twin")
    ra, rb = base / "A", base / "B"
    # No FIFOs: writing to one would wait for a reader, in pathlib too.
    spec = [(p, k) for p, k in spec if k[0] != "fifo"]
    build(ra, spec)
    build(rb, spec)
    assert snapshot(ra) == snapshot(rb)
    for ch in changes:
        want = sync_outcome(lambda: pathlib_change(ra, ch), str(ra))
        got = runner.run(async_outcome(afc_change(Path(rb), ch), str(rb)))
        COUNTS["change"] += 1
        assert got == want, ch
        assert snapshot(rb) == snapshot(ra), ch


def test_zz_report_counts(capsys):
    """Prints how many differential comparisons ran (pytest -s shows it)."""
    with capsys.disabled():
        print(f"\npath differential: {COUNTS['trees']} random trees, "
              f"{COUNTS['query']} queries, {COUNTS['change']} changes "
              "compared with pathlib")


# ---- pure paths, and a few edges by hand ----

def test_pure_parts_without_awaiting():
    p = Path("/x/y") / "archive.tar.gz"
    q = pathlib.Path("/x/y/archive.tar.gz")
    assert str(p) == str(q) and os.fspath(p) == os.fspath(q)
    assert bytes(p) == bytes(q) and hash(p) == hash(q)
    assert p == q and p == Path(q) and p != Path("/x")
    assert repr(p) == "Path('/x/y/archive.tar.gz')"
    for attr in ("parts", "drive", "root", "anchor", "name", "suffix",
                 "suffixes", "stem"):
        assert getattr(p, attr) == getattr(q, attr), attr
    assert p.parent == q.parent and isinstance(p.parent, Path)
    assert [str(x) for x in p.parents] == [str(x) for x in q.parents]
    assert p.with_suffix(".zip") == q.with_suffix(".zip")
    assert p.with_name("n") == q.with_name("n")
    assert p.with_stem("s") == q.with_stem("s")
    assert p.joinpath("a", Path("b")) == q.joinpath("a", "b")
    assert p.relative_to("/x") == q.relative_to("/x")
    assert p.is_relative_to("/x") and not p.is_relative_to("/z")
    assert p.is_absolute() and not Path("r").is_absolute()
    assert p.match("*.gz") and p.as_posix() == q.as_posix()
    assert p.as_uri() == q.as_uri() and p.is_reserved() is False
    assert "/r" / Path("s") == Path("/r/s")
    assert sorted([Path("b"), Path("a")]) == [Path("a"), Path("b")]
    assert Path("a") < Path("b") <= Path("b") and Path("c") > Path("b")
    assert p.with_segments("q", "r") == Path("q/r")
    assert isinstance(p, os.PathLike)
    with pytest.raises(ValueError):
        p.relative_to("/elsewhere")
    with pytest.raises(ValueError):
        p.with_suffix("bad")


@pytest.mark.native
@pytest.mark.asyncio
async def test_open_gives_a_native_file(tmp_path):
    p = Path(tmp_path) / "f.bin"
    async with p.open("wb") as f:
        assert isinstance(f, aiofiles_c._cext.AsyncBufferedIOBase)
        await f.write(b"data")
    f = await p.open("rb")
    try:
        assert await f.read_at(1, 2) == b"at"
    finally:
        await f.close()
    async with p.open(encoding="ascii") as f:
        assert await f.read() == "data"


@pytest.mark.asyncio
async def test_cwd_home_expanduser_touch_mode(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert await Path.cwd() == Path(pathlib.Path.cwd())
    assert await Path.home() == Path(pathlib.Path.home())
    assert await Path("~/x").expanduser() == Path(
        pathlib.Path("~/x").expanduser())
    assert await Path("rel").absolute() == Path(tmp_path / "rel")
    old = os.umask(0o022)
    try:
        await Path("t1").touch(mode=0o640)
        pathlib.Path("t2").touch(mode=0o640)
    finally:
        os.umask(old)
    assert os.stat("t1").st_mode == os.stat("t2").st_mode
    with pytest.raises(FileExistsError):
        await Path("t1").touch(exist_ok=False)
    assert await Path("t1").is_junction() is False
    os.symlink("t1", "ln")
    for name in ("t1", "ln"):
        want = sync_outcome(lambda: pathlib.Path(name).lchmod(0o600), "")
        os.chmod("t1", 0o644)
        got = await async_outcome(Path(name).lchmod(0o600), "")
        assert got == want, name


@pytest.mark.asyncio
async def test_resolve_loop_as_pathlib(tmp_path):
    (tmp_path / "l1").symlink_to("l2")
    (tmp_path / "l2").symlink_to("l1")
    with pytest.raises(RuntimeError) as want:
        (tmp_path / "l1").resolve()
    with pytest.raises(RuntimeError) as got:
        await Path(tmp_path / "l1").resolve()
    assert str(got.value) == str(want.value)


# ---- the API: anyio.Path's ----

def _public(cls):
    return {n for n in dir(cls) if not n.startswith("_")} | {
        n for n in ("__truediv__", "__rtruediv__", "__fspath__", "__bytes__",
                    "__lt__", "__le__", "__gt__", "__ge__", "__hash__")
        if hasattr(cls, n)}


def _kind(cls, name):
    raw = inspect.getattr_static(cls, name)
    if isinstance(raw, property):
        return "property"
    if isinstance(raw, classmethod):
        raw = raw.__func__
        fn = raw
    else:
        fn = raw
    if inspect.isasyncgenfunction(fn):
        return "async iterator"
    if inspect.iscoroutinefunction(fn):
        return "coroutine"
    ann = inspect.signature(fn).return_annotation
    if "AsyncIterator" in str(ann):
        return "async iterator"
    return "plain"


ANYIO_ONLY = {"limiter"}  # anyio's CapacityLimiter: no such thing here


def test_same_api_as_anyio_path():
    theirs = _public(anyio.Path) - ANYIO_ONLY
    ours = _public(Path)
    assert theirs - ours == set()
    mismatched = {n: (_kind(anyio.Path, n), _kind(Path, n))
                  for n in theirs
                  if _kind(anyio.Path, n) != _kind(Path, n)}
    # open(): anyio's is a coroutine; ours returns aiofiles_c.open()'s
    # awaitable context manager, which is awaited the same way (and also
    # works with ``async with``).
    assert mismatched == {"open": ("coroutine", "plain")}


def test_api_list(capsys):
    """The anyio.Path methods and which aiofiles_c.Path has (pytest -s)."""
    rows = []
    for n in sorted(_public(anyio.Path)):
        has = hasattr(Path, n) and n not in ANYIO_ONLY
        rows.append(f"{n}: {_kind(anyio.Path, n)} -> "
                    f"{_kind(Path, n) if has else 'absent'}")
    with capsys.disabled():
        print("\n" + "\n".join(rows))
    assert len(rows) > 60


@pytest.mark.asyncio
async def test_results_as_anyio_where_it_matches_pathlib(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_text("hi")
    (tmp_path / "ln").symlink_to("d")
    for name in ("exists", "is_dir", "is_file", "is_symlink", "is_mount"):
        for rel in ("d", "d/x.txt", "ln", "nope"):
            a = await getattr(anyio.Path(tmp_path / rel), name)()
            b = await getattr(Path(tmp_path / rel), name)()
            assert a == b, (name, rel)
    a = sorted([str(x) async for x in anyio.Path(tmp_path).rglob("*")])
    b = sorted([str(x) async for x in Path(tmp_path).rglob("*")])
    assert a == b
    assert str(await anyio.Path(tmp_path / "ln").readlink()) == str(
        await Path(tmp_path / "ln").readlink())
    assert await anyio.Path(tmp_path / "d/x.txt").read_text() == \
        await Path(tmp_path / "d/x.txt").read_text()
    # Where anyio differs from pathlib, aiofiles_c follows pathlib:
    # anyio's is_mount() is os.path.ismount (a symlink is never a mount);
    # pathlib (3.11) follows the link, and so do we.
    assert await Path("/").is_mount() == pathlib.Path("/").is_mount()


# ---- typing: mypy --strict on a program using the new API ----

SAMPLE = '''
import asyncio
import aiofiles_c
from aiofiles_c import Path


async def main() -> None:
    p: Path = Path("/tmp") / "x"
    name: str = p.name
    parent: Path = p.parent
    ok: bool = await p.exists()
    st = await p.stat()
    size: int = st.st_size
    data: bytes = await p.read_bytes()
    text: str = await p.read_text(encoding="utf-8")
    n: int = await p.write_bytes(b"x", atomic=True)
    m: int = await p.write_text("x", atomic=True)
    async for child in p.iterdir():
        c: Path = child
    async for q in p.glob("*"):
        r: Path = q
    async for root, dirs, files in p.walk():
        d: list[str] = dirs
    async with p.open("rb") as f:
        b: bytes = await f.read_at(0, 10)
        k: int = await f.write_at(0, b"y")
        many: list[bytes] = await f.read_many([(0, 1), (5, 2)])
    async with aiofiles_c.atomic_write(p, "w") as w:
        await w.write("new")
    whole: bytes = await aiofiles_c.read_bytes(p)
    print(name, parent, ok, size, data, text, n, m, b, k, many, whole)

asyncio.run(main())
'''


def test_typing_strict(tmp_path):
    pytest.importorskip("mypy")
    import aiofiles_c as pkg
    root = pathlib.Path(pkg.__file__).resolve().parent.parent
    sample = tmp_path / "sample.py"
    sample.write_text(SAMPLE)
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n[mypy-aiofiles_c.*]\nfollow_imports = "
                      "silent\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "PYTHONMALLOC", "ASAN_OPTIONS")}
    env["MYPYPATH"] = str(root)
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file",
         str(config), "--cache-dir", str(tmp_path / "cache"), str(sample)],
        capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir",
         str(tmp_path / "cache2"), str(root / "aiofiles_c" / "_path.py"),
         str(root / "aiofiles_c" / "_whole.py"),
         str(root / "aiofiles_c" / "_atomic.py")],
        capture_output=True, text=True, env=env, timeout=300, cwd=root)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.asyncio
async def test_event_loop_not_blocked_by_glob(tmp_path):
    for i in range(300):
        (tmp_path / f"f{i}.txt").touch()
    async with LoopTurns() as turns:
        got = [p async for p in Path(tmp_path).glob("*.txt")]
        ticks = turns.count
    assert len(got) == 300 and ticks > 0
