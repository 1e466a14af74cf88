"""scandir entries against os.scandir's on a directory of every kind of
entry (files, directories, symlinks to each, a broken symlink, a symlink
loop, a FIFO): the type methods with and without following links, stat()
and lstat, inode(), their errors; with the types the directory gives
(d_type) and, on the native engine, with every type unknown as some file
systems report them (the entries are then stat'ed by the listing job).
stat() is taken when first asked for, as os.DirEntry's is."""
import importlib
import os

import pytest

from tests.helpers import IS_C
from tests.os_helpers import ATIME_FIELDS, outcome_sig, stat_sig


def _tree(root):
    d = root / "d"
    d.mkdir()
    (d / "file").write_bytes(b"12345")
    (d / "sub").mkdir()
    (d / "sub" / "inner").write_bytes(b"x")
    os.symlink("file", d / "to_file")
    os.symlink("sub", d / "to_dir")
    os.symlink("missing", d / "broken")
    os.symlink("loop", d / "loop")
    os.symlink(str(d / "sub"), d / "abs_to_dir")
    os.mkfifo(d / "fifo")
    return d


def _aos(impl):
    return importlib.import_module(f"{impl.__name__}.os")


def _sig(e):
    """What an entry answers (each call's outcome, errors included; the
    access time aside: listing may move it)."""
    def st(**kw):
        r = outcome_sig(e.stat, **kw)
        return ("ok", stat_sig(r[1], ATIME_FIELDS)) if r[0] == "ok" else r
    calls = [outcome_sig(getattr(e, m), **kw)
             for m in ("is_dir", "is_file")
             for kw in ({}, {"follow_symlinks": False})]
    return (type(e.name), e.name, e.path, os.fspath(e), *calls,
            outcome_sig(e.is_symlink), e.inode(), st(),
            st(follow_symlinks=False), st())


def consume_scandir(it):
    try:
        return sorted((_sig(e) for e in it), key=lambda t: os.fsencode(t[1]))
    finally:
        if hasattr(it, "close"):
            it.close()


@pytest.fixture(params=["d_type", "unknown"])
def types(request, monkeypatch, impl):
    if request.param == "unknown":
        if not IS_C or impl.__name__ != "aiofiles_c":
            pytest.skip("the native engine's listing job")
        from aiofiles_c import _scandir
        monkeypatch.setattr(_scandir, "_TYPES_UNKNOWN", True)
    return request.param


async def _entries(impl, path, mode):
    if mode == "await":
        return consume_scandir(await _aos(impl).scandir(path))
    it = _aos(impl).scandir(path)
    if not hasattr(it, "__aiter__"):
        it.close()  # aiofiles: a coroutine
        pytest.skip("no async iteration")
    return consume_scandir([e async for e in it])


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["await", "async_for"])
@pytest.mark.parametrize("form", ["str", "bytes", "relative"])
async def test_entries_match_os_scandir(impl, tmp_path, types, mode, form,
                                        monkeypatch):
    d = _tree(tmp_path)
    if form == "bytes":
        path = os.fsencode(d)
    elif form == "relative":
        monkeypatch.chdir(tmp_path)
        path = "d"
    else:
        path = str(d)
    got = await _entries(impl, path, mode)
    assert got == consume_scandir(os.scandir(path))


@pytest.mark.asyncio
async def test_entries_of_a_descriptor_match_os_scandir(impl, tmp_path,
                                                        types):
    d = _tree(tmp_path)
    fds = [os.open(d, os.O_RDONLY | os.O_DIRECTORY) for _ in range(2)]
    try:
        got = consume_scandir(await _aos(impl).scandir(fds[0]))
        assert got == consume_scandir(os.scandir(fds[1]))
    finally:
        for fd in fds:
            os.close(fd)


@pytest.mark.asyncio
async def test_stat_is_taken_when_asked_for(impl, tmp_path):
    """As os.DirEntry's: a file changed or removed after the listing is
    seen by the first stat() (which is then kept), not the listing's."""
    d = tmp_path / "d"
    d.mkdir()
    for name in ("grows", "goes", "stays"):
        (d / name).write_bytes(b"ab")
    mine = {e.name: e for e in await _aos(impl).scandir(d)}
    theirs = {e.name: e for e in os.scandir(d)}
    (d / "grows").write_bytes(b"abcdef")
    os.unlink(d / "goes")
    for entries in (mine, theirs):
        assert entries["grows"].stat().st_size == 6
        with pytest.raises(FileNotFoundError) as e:
            entries["goes"].stat()
        assert e.value.filename == entries["goes"].path
        assert entries["stays"].stat(follow_symlinks=False).st_size == 2
        first = entries["stays"].stat()
        (d / "stays").write_bytes(b"abcdefgh")
        assert entries["stays"].stat() is first  # kept once taken
        assert entries["stays"].is_file()
        assert not entries["goes"].is_dir()  # the listing's type
        (d / "stays").write_bytes(b"ab")


@pytest.mark.native
@pytest.mark.asyncio
async def test_entry_stat_of_a_cached_path_is_done_on_the_loop(impl, tmp_path):
    """A known type needs no stat in the listing job; stat() of such an
    entry goes through the cached-path fast path (no system call that can
    wait) when the kernel can answer it from its caches, else os.stat."""
    from aiofiles_c import _cext
    if impl.__name__ != "aiofiles_c" or not _cext._fast_counts()[3]:
        pytest.skip("no cached-path stats here")
    d = tmp_path / "d"
    d.mkdir()
    (d / "f").write_bytes(b"abc")
    os.stat(d / "f")  # in the caches
    (entry,) = [e async for e in _aos(impl).scandir(d)]
    before = _cext._fast_counts()[1]
    assert entry.stat().st_size == 3
    assert _cext._fast_counts()[1] == before + 1
    _cext.set_inline_reads(False)
    try:
        (entry,) = [e async for e in _aos(impl).scandir(d)]
        assert entry.stat().st_size == 3  # os.stat
        assert _cext._fast_counts()[1] == before + 1
    finally:
        _cext.set_inline_reads(True)
