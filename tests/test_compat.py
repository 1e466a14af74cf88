"""The contract of aiofiles, written once and run against both aiofiles and
aiofiles_c in the same run (the ``af`` fixture), on asyncio's default loop.

Where the stdlib decides (tempfile, io), the expected value is computed from
the stdlib in the test itself.
"""
from __future__ import annotations

import asyncio
import builtins
import gc
import importlib
import io
import os
import sys
import tempfile
import types

import pytest

IMPLS = ["aiofiles", "aiofiles_c"]


class Impl(types.SimpleNamespace):
    pass


@pytest.fixture(params=IMPLS)
def af(request):
    name = request.param
    ns = Impl(name=name)
    ns.top = importlib.import_module(name)
    for sub in ("os", "ospath", "base", "tempfile", "threadpool",
                "threadpool.binary", "threadpool.text", "tempfile.temptypes"):
        setattr(ns, sub.replace(".", "_"),
                importlib.import_module(f"{name}.{sub}"))
    ns.open = ns.top.open
    return ns


def run(coro):
    return asyncio.run(coro)


def _HAS_DELETE(af):
    """A named temporary file's ``delete``: aiofiles exposes it only while
    tempfile's wrapper has it (before Python 3.12); aiofiles_c always."""
    return af.name == "aiofiles_c" or sys.version_info < (3, 12)


def write_file(path, data: bytes):
    with builtins.open(path, "wb") as fh:
        fh.write(data)


def read_file(path) -> bytes:
    with builtins.open(path, "rb") as fh:
        return fh.read()


# ---- open() and the context manager ---------------------------------------


def test_open_returns_context_manager(af, tmp_path):
    p = tmp_path / "f"
    write_file(p, b"abc")

    async def main():
        cm = af.open(p, "rb")
        assert isinstance(cm, af.base.AiofilesContextManager)
        f = await cm
        try:
            assert await f.read() == b"abc"
        finally:
            await f.close()

    run(main())


@pytest.mark.parametrize("mode", ["rb", "r", "wb", "w"])
def test_awaiting_open_twice_gives_same_object(af, tmp_path, mode):
    p = tmp_path / "f"
    write_file(p, b"abc")

    async def main():
        cm = af.open(p, mode)
        f1 = await cm
        f2 = await cm
        assert f1 is f2
        await f1.close()

    run(main())


def test_async_with_gives_the_awaited_object(af, tmp_path):
    p = tmp_path / "f"
    write_file(p, b"abc")

    async def main():
        cm = af.open(p, "rb")
        f1 = await cm
        async with cm as f2:
            assert f2 is f1
        assert f1.closed

    run(main())


@pytest.mark.parametrize("mode", ["rb", "r", "wb"])
def test_context_manager_steps_in_any_order(af, tmp_path, mode):
    """open()'s context manager taken step by step in the orders a program
    may use: the file awaited inside its own `async with` is the block's;
    after the block, and after a failed open, awaiting it again raises
    what re-awaiting a coroutine raises."""
    p = tmp_path / "f"
    write_file(p, b"abc")

    async def main():
        cm = af.open(p, mode)
        async with cm as f1:
            assert await cm is f1
            assert not f1.closed
        assert f1.closed
        with pytest.raises(RuntimeError,
                           match="cannot reuse already awaited coroutine"):
            await cm
        cm = af.open(tmp_path / "missing" / "f", mode)
        with pytest.raises(FileNotFoundError):
            await cm
        with pytest.raises(RuntimeError,
                           match="cannot reuse already awaited coroutine"):
            async with cm:
                pass

    run(main())


def test_open_does_nothing_until_awaited(af, tmp_path):
    """Like aiofiles' coroutine, what open() returns opens nothing (makes
    no file, raises no error) unless it is awaited."""
    import warnings

    async def main():
        with warnings.catch_warnings():
            # aiofiles: "coroutine ... was never awaited"
            warnings.simplefilter("ignore", RuntimeWarning)
            for mode in ("wb", "xb", "ab", "w"):
                cm = af.open(tmp_path / f"new-{mode}", mode)
                del cm
            cm = af.open(tmp_path / "missing" / "f", "rb")
            del cm
            gc.collect()
        assert list(tmp_path.iterdir()) == []

    run(main())


@pytest.mark.parametrize("mode", ["wb", "w", "r+b"])
def test_aexit_closes_after_exception(af, tmp_path, mode):
    p = tmp_path / "f"
    write_file(p, b"")
    data = b"written" if "b" in mode else "written"

    async def main():
        with pytest.raises(KeyError):
            async with af.open(p, mode) as f:
                await f.write(data)
                raise KeyError("boom")
        assert f.closed
        assert read_file(p) == b"written"

    run(main())


@pytest.mark.parametrize("mode", ["wb", "w"])
def test_aexit_closes_after_cancellation(af, tmp_path, mode):
    p = tmp_path / "f"
    data = b"before" if "b" in mode else "before"

    async def main():
        entered = asyncio.Event()
        box = {}

        async def body():
            async with af.open(p, mode) as f:
                box["f"] = f
                await f.write(data)
                entered.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(body())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert box["f"].closed
        assert read_file(p) == b"before"

    run(main())


def test_async_iteration(af, tmp_path):
    p = tmp_path / "f"
    write_file(p, b"a\nbb\n\nccc")

    async def main():
        async with af.open(p, "rb") as f:
            assert [line async for line in f] == [b"a\n", b"bb\n", b"\n",
                                                  b"ccc"]
        async with af.open(p, "r") as f:
            assert [line async for line in f] == ["a\n", "bb\n", "\n", "ccc"]

    run(main())


# ---- detach ------------------------------------------------------------------


def test_detach_binary(af, tmp_path):
    p = tmp_path / "f"

    async def main():
        f = await af.open(p, "wb")
        await f.write(b"buffered")
        raw = f.detach()
        try:
            assert isinstance(raw, io.RawIOBase)
            assert read_file(p) == b"buffered"  # detach flushed
            with pytest.raises(ValueError):
                f.fileno()
            raw.write(b"+raw")
        finally:
            raw.close()
        assert read_file(p) == b"buffered+raw"

    run(main())


def test_detach_text(af, tmp_path):
    p = tmp_path / "f"

    async def main():
        f = await af.open(p, "w")
        await f.write("text")
        buf = f.detach()
        try:
            assert isinstance(buf, io.BufferedIOBase)
            with pytest.raises(ValueError):
                f.fileno()
        finally:
            buf.close()
        assert read_file(p) == b"text"

    run(main())


# ---- flush / buffering visibility ---------------------------------------------


@pytest.mark.parametrize("mode", ["wb", "w"])
def test_flush_makes_data_visible(af, tmp_path, mode):
    p = tmp_path / "f"
    data = b"x" * 100 if "b" in mode else "x" * 100

    async def main():
        # what io does with the same calls
        with builtins.open(tmp_path / "twin", mode) as twin:
            twin.write(data)
            seen_before = read_file(tmp_path / "twin")
            twin.flush()
            seen_after = read_file(tmp_path / "twin")
        async with af.open(p, mode) as f:
            await f.write(data)
            assert read_file(p) == seen_before == b""
            await f.flush()
            assert read_file(p) == seen_after == b"x" * 100

    run(main())


def test_unbuffered_write_is_visible_at_once(af, tmp_path):
    p = tmp_path / "f"

    async def main():
        async with af.open(p, "wb", buffering=0) as f:
            for i in range(3):
                await f.write(b"ab")
                assert read_file(p) == b"ab" * (i + 1)

    run(main())


def test_close_makes_data_visible(af, tmp_path):
    p = tmp_path / "f"

    async def main():
        f = await af.open(p, "wb")
        await f.write(b"data")
        await f.close()
        assert read_file(p) == b"data"

    run(main())


def test_line_buffering_text(af, tmp_path):
    p = tmp_path / "f"

    async def main():
        async with af.open(p, "w", buffering=1) as f:
            assert f.line_buffering is True
            await f.write("partial")
            assert read_file(p) == b""
            await f.write(" line\n")
            assert read_file(p) == b"partial line\n"

    run(main())


# ---- stdio -------------------------------------------------------------------


def test_stdout_is_looked_up_at_each_use(af, monkeypatch):
    first, second = io.StringIO(), io.StringIO()

    async def main():
        monkeypatch.setattr(sys, "stdout", first)
        await af.top.stdout.write("one")
        monkeypatch.setattr(sys, "stdout", second)
        await af.top.stdout.write("two")
        await af.top.stdout.flush()

    run(main())
    assert first.getvalue() == "one"
    assert second.getvalue() == "two"


def test_stderr_and_bytes_objects(af, monkeypatch):
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")

    async def main():
        monkeypatch.setattr(sys, "stderr", err)
        monkeypatch.setattr(sys, "stdout", out)
        await af.top.stderr.write("text ")
        await af.top.stderr.flush()
        await af.top.stderr_bytes.write(b"bytes")
        await af.top.stderr_bytes.flush()
        await af.top.stdout_bytes.write(b"out")
        await af.top.stdout_bytes.flush()
        # properties are looked up too: a BytesIO has no name
        with pytest.raises(AttributeError):
            af.top.stderr.name
        assert af.top.stderr.encoding == "utf-8"

    run(main())
    assert err.buffer.getvalue() == b"text bytes"
    assert out.buffer.getvalue() == b"out"


def test_stdin_reads_the_current_sys_stdin(af, monkeypatch):
    async def main():
        monkeypatch.setattr(sys, "stdin", io.StringIO("first\nsecond\n"))
        assert await af.top.stdin.readline() == "first\n"
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(
            io.BytesIO(b"raw\nmore"), encoding="utf-8"))
        assert await af.top.stdin_bytes.read() == b"raw\nmore"
        lines = [line async for line in af.top.stdin]
        assert lines == []

    run(main())


def test_stdio_objects_are_the_same_objects(af):
    assert af.top.stdout is af.threadpool.stdout
    assert af.top.stdin_bytes is af.threadpool.stdin_bytes
    text, binary = af.threadpool_text, af.threadpool_binary
    for obj in (af.top.stdin, af.top.stdout, af.top.stderr):
        assert isinstance(obj, text.AsyncTextIndirectIOWrapper)
        assert isinstance(obj, af.base.AsyncIndirectBase)
    for obj in (af.top.stdin_bytes, af.top.stdout_bytes, af.top.stderr_bytes):
        assert isinstance(obj, binary.AsyncIndirectBufferedIOBase)


# ---- threadpool: names, wrap, isinstance -----------------------------------------


def test_threadpool_names(af):
    tp = af.threadpool
    assert tp.open is af.top.open
    assert tp.sync_open is builtins.open
    assert callable(tp.wrap)
    for name in ("AsyncBufferedIOBase", "AsyncBufferedReader", "AsyncFileIO",
                 "AsyncIndirectBufferedIOBase", "AsyncIndirectBufferedReader",
                 "AsyncIndirectFileIO"):
        assert isinstance(getattr(af.threadpool_binary, name), type), name
    for name in ("AsyncTextIOWrapper", "AsyncTextIndirectIOWrapper"):
        assert isinstance(getattr(af.threadpool_text, name), type), name
    for name in ("AiofilesContextManager", "AsyncBase", "AsyncIndirectBase",
                 "wrap"):
        assert hasattr(af.base, name), name
    assert issubclass(af.threadpool_binary.AsyncBufferedReader,
                      af.threadpool_binary.AsyncBufferedIOBase)
    assert set(tp.__all__) >= {"open", "stdin", "stdout", "stderr",
                               "stdin_bytes", "stdout_bytes", "stderr_bytes"}
    for name in ("NamedTemporaryFile", "TemporaryFile",
                 "SpooledTemporaryFile", "TemporaryDirectory"):
        assert name in af.tempfile.__all__
    assert af.tempfile_temptypes.AsyncSpooledTemporaryFile
    assert af.tempfile_temptypes.AsyncTemporaryDirectory
    assert af.os.path is af.ospath


OPEN_KINDS = [
    # mode, buffering, class name in threadpool.binary/text
    ("rb", -1, "binary.AsyncBufferedReader"),
    ("r+b", -1, "binary.AsyncBufferedReader"),
    ("a+b", -1, "binary.AsyncBufferedReader"),
    ("wb", -1, "binary.AsyncBufferedIOBase"),
    ("ab", -1, "binary.AsyncBufferedIOBase"),
    ("rb", 0, "binary.AsyncFileIO"),
    ("wb", 0, "binary.AsyncFileIO"),
    ("r", -1, "text.AsyncTextIOWrapper"),
    ("w", -1, "text.AsyncTextIOWrapper"),
    ("a+", -1, "text.AsyncTextIOWrapper"),
]


def _cls(af, dotted):
    mod, name = dotted.split(".")
    return getattr(getattr(af, "threadpool_" + mod), name)


ALL_CLASSES = ["binary.AsyncBufferedReader", "binary.AsyncBufferedIOBase",
               "binary.AsyncFileIO", "text.AsyncTextIOWrapper"]


def _check_kind(af, f, expected):
    expected_true = {expected}
    if expected == "binary.AsyncBufferedReader":
        expected_true.add("binary.AsyncBufferedIOBase")
    for dotted in ALL_CLASSES:
        assert isinstance(f, _cls(af, dotted)) == (dotted in expected_true), (
            f, dotted)
    assert isinstance(f, af.base.AsyncBase)
    assert not isinstance(f, af.base.AsyncIndirectBase)


@pytest.mark.parametrize("mode,buffering,expected", OPEN_KINDS)
def test_open_isinstance(af, tmp_path, mode, buffering, expected):
    p = tmp_path / "f"
    write_file(p, b"x")

    async def main():
        async with af.open(p, mode, buffering=buffering) as f:
            _check_kind(af, f, expected)

    run(main())


@pytest.mark.parametrize("mode,buffering,expected", OPEN_KINDS)
def test_wrap_dispatch(af, tmp_path, mode, buffering, expected):
    p = tmp_path / "f"
    write_file(p, b"line\n")

    async def main():
        sync = builtins.open(p, mode, buffering=buffering)
        f = af.threadpool.wrap(sync)
        _check_kind(af, f, expected)
        assert f.name == sync.name and f.mode == sync.mode
        assert f.fileno() == sync.fileno()
        # readable() is plain on binary files, async on text ones (aiofiles)
        readable = f.readable()
        if "b" not in mode:
            readable = await readable
        if readable:
            await f.seek(0)
            want = "line\n" if "b" not in mode else b"line\n"
            assert await f.read() == want
        await f.close()
        assert sync.closed and f.closed

    run(main())


def test_wrap_memory_files(af):
    async def main():
        b = af.threadpool.wrap(io.BytesIO(b"bytes"))
        assert isinstance(b, af.threadpool_binary.AsyncBufferedIOBase)
        assert not isinstance(b, af.threadpool_binary.AsyncBufferedReader)
        assert await b.read() == b"bytes"
        s = af.threadpool.wrap(io.StringIO("text"))
        assert isinstance(s, af.threadpool_text.AsyncTextIOWrapper)
        assert await s.read() == "text"

    run(main())


def test_wrap_loop_and_executor(af, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    p = tmp_path / "f"
    write_file(p, b"abc")

    async def main():
        with ThreadPoolExecutor(1) as ex:
            f = af.threadpool.wrap(builtins.open(p, "rb"),
                                   loop=asyncio.get_running_loop(),
                                   executor=ex)
            assert await f.read() == b"abc"
            await f.close()

    run(main())


@pytest.mark.parametrize("obj", [object(), 42, "path", b"bytes"])
def test_wrap_rejects_other_objects(af, obj):
    with pytest.raises(TypeError, match="Unsupported io type"):
        af.threadpool.wrap(obj)


def test_wrap_rejects_an_async_file(af, tmp_path):
    p = tmp_path / "f"
    write_file(p, b"")

    async def main():
        async with af.open(p, "rb") as f:
            with pytest.raises(TypeError):
                af.threadpool.wrap(f)

    run(main())


# ---- tempfile: TemporaryFile -------------------------------------------------------


TEMP_KINDS = [
    ("w+b", -1, "binary.AsyncBufferedReader"),
    ("wb", -1, "binary.AsyncBufferedIOBase"),
    ("rb", -1, "binary.AsyncBufferedReader"),
    ("w+b", 0, "binary.AsyncFileIO"),
    ("w+", -1, "text.AsyncTextIOWrapper"),
]


@pytest.mark.parametrize("mode,buffering,expected", TEMP_KINDS)
def test_temporary_file(af, tmp_path, mode, buffering, expected):
    with tempfile.TemporaryFile(mode, buffering, dir=tmp_path) as ref:
        ref_name_type, ref_mode = type(ref.name), ref.mode

    async def main():
        async with af.tempfile.TemporaryFile(mode, buffering,
                                             dir=tmp_path) as f:
            _check_kind(af, f, expected)
            assert type(f.name) is ref_name_type is int
            assert f.mode == ref_mode
            assert os.listdir(tmp_path) == []
            if "+" in mode:
                data = b"hello" if "b" in mode else "hello"
                await f.write(data)
                await f.seek(0)
                assert await f.read() == data
        assert f.closed

    run(main())


def test_temporary_file_arguments(af, tmp_path):
    async def main():
        async with af.tempfile.TemporaryFile(
                "w+", encoding="utf-16", newline="\r\n", prefix="p",
                suffix="s", dir=tmp_path) as f:
            assert f.encoding == "utf-16"
            await f.write("a\nb")
            await f.seek(0)
            assert await f.read() == "a\r\nb"  # newline="\r\n": untranslated
            await f.flush()
            assert os.pread(f.fileno(), 100, 0) == "a\r\nb".encode("utf-16")

    run(main())


def test_temporary_file_bad_mode(af, tmp_path):
    with pytest.raises(ValueError) as ref:
        tempfile.TemporaryFile("wz", dir=tmp_path)

    async def main():
        with pytest.raises(ValueError) as exc:
            await af.tempfile.TemporaryFile("wz", dir=tmp_path)
        assert str(exc.value) == str(ref.value)
        assert os.listdir(tmp_path) == []

    run(main())


def test_temporary_file_missing_dir(af, tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError):
        tempfile.TemporaryFile(dir=missing)

    async def main():
        with pytest.raises(FileNotFoundError):
            await af.tempfile.TemporaryFile(dir=missing)

    run(main())


# ---- tempfile: NamedTemporaryFile ----------------------------------------------------


@pytest.mark.parametrize("mode,buffering,expected", TEMP_KINDS)
def test_named_temporary_file(af, tmp_path, mode, buffering, expected):
    with tempfile.NamedTemporaryFile(mode, buffering, dir=tmp_path) as ref:
        ref_mode = ref.mode

    async def main():
        async with af.tempfile.NamedTemporaryFile(
                mode, buffering, prefix="pre", suffix=".suf",
                dir=tmp_path) as f:
            _check_kind(af, f, expected)
            assert f.mode == ref_mode
            if _HAS_DELETE(af):
                assert f.delete is True
            name = f.name
            assert isinstance(name, str) and os.path.isabs(name)
            assert os.path.dirname(name) == str(tmp_path)
            base = os.path.basename(name)
            assert base.startswith("pre") and base.endswith(".suf")
            assert os.path.isfile(name)
            assert os.stat(name).st_mode & 0o777 == 0o600
            if "r" not in mode or "+" in mode:
                data = b"visible" if "b" in mode else "visible"
                await f.write(data)
                await f.flush()
                assert read_file(name) == b"visible"
        assert f.closed
        assert not os.path.exists(name)

    run(main())


def test_named_temporary_file_close_deletes(af, tmp_path):
    async def main():
        f = await af.tempfile.NamedTemporaryFile(dir=tmp_path)
        name = f.name
        await f.write(b"x")
        assert os.path.exists(name)
        await f.close()
        assert f.closed
        assert not os.path.exists(name)
        await f.close()  # a second close is a no-op

    run(main())


@pytest.mark.parametrize("mode", ["w+b", "w+"])
def test_named_temporary_file_delete_false(af, tmp_path, mode):
    async def main():
        async with af.tempfile.NamedTemporaryFile(mode, dir=tmp_path,
                                                  delete=False) as f:
            if _HAS_DELETE(af):
                assert f.delete is False
            await f.write(b"kept" if "b" in mode else "kept")
            name = f.name
        assert f.closed
        assert read_file(name) == b"kept"
        os.unlink(name)

    run(main())


def test_named_temporary_file_reopen_by_name(af, tmp_path):
    async def main():
        async with af.tempfile.NamedTemporaryFile(dir=tmp_path) as f:
            await f.write(b"shared")
            await f.flush()
            async with af.open(f.name, "rb") as g:
                assert await g.read() == b"shared"

    run(main())


def test_named_temporary_file_removed_by_the_user(af, tmp_path):
    """What close() does when the file is already gone is tempfile's
    business: compare with it."""
    ref = tempfile.NamedTemporaryFile(dir=tmp_path)
    os.unlink(ref.name)
    try:
        ref.close()
        expected = None
    except FileNotFoundError as e:
        expected = type(e)

    async def main():
        f = await af.tempfile.NamedTemporaryFile(dir=tmp_path)
        os.unlink(f.name)
        if expected is None:
            await f.close()
        else:
            with pytest.raises(expected):
                await f.close()
        assert f.closed

    run(main())


def test_named_temporary_file_unclosed_is_removed_when_collected(af, tmp_path):
    async def main():
        f = await af.tempfile.NamedTemporaryFile(dir=tmp_path)
        await f.write(b"x")
        return f.name

    name = run(main())
    gc.collect()
    assert not os.path.exists(name)
    assert os.listdir(tmp_path) == []


def test_named_temporary_file_delete_on_close(af, tmp_path):
    if sys.version_info < (3, 12):
        # Python 3.11's tempfile has no delete_on_close, neither has this
        async def main():
            with pytest.raises(TypeError):
                await af.tempfile.NamedTemporaryFile(dir=tmp_path,
                                                     delete_on_close=False)
            assert os.listdir(tmp_path) == []
    else:
        async def main():
            async with af.tempfile.NamedTemporaryFile(
                    dir=tmp_path, delete_on_close=False) as f:
                name = f.name
                await f.write(b"x")
                await f.close()
                assert read_file(name) == b"x"  # still there after close
            assert not os.path.exists(name)  # removed on exit
            async with af.tempfile.NamedTemporaryFile(
                    dir=tmp_path, delete_on_close=True) as f:
                name = f.name
                await f.close()
                assert not os.path.exists(name)

    run(main())


def test_named_temporary_file_cancelled_body(af, tmp_path):
    async def main():
        box = {}
        started = asyncio.Event()

        async def body():
            async with af.tempfile.NamedTemporaryFile(dir=tmp_path) as f:
                box["f"] = f
                started.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(body())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert box["f"].closed
        assert os.listdir(tmp_path) == []

    run(main())


def test_temporary_file_context_managers_await_twice(af, tmp_path):
    async def main():
        for make in (af.tempfile.TemporaryFile,
                     af.tempfile.NamedTemporaryFile):
            cm = make(dir=tmp_path)
            f = await cm
            assert await cm is f
            await f.close()
        cm = af.tempfile.SpooledTemporaryFile()
        f = await cm
        assert await cm is f
        await f.close()

    run(main())


# ---- tempfile: SpooledTemporaryFile ------------------------------------------------


def test_spooled_stays_in_memory(af, tmp_path):
    ref = tempfile.SpooledTemporaryFile(max_size=10, dir=tmp_path)

    async def main():
        async with af.tempfile.SpooledTemporaryFile(max_size=10,
                                                    dir=tmp_path) as f:
            assert isinstance(f, af.tempfile_temptypes.AsyncSpooledTemporaryFile)
            assert await f.write(b"0123456789") == 10
            assert f._file._rolled is False
            assert f.name is None and f.name == ref.name
            assert f.mode == ref.mode == "w+b"
            assert f.closed is False
            assert os.listdir(tmp_path) == []
            assert await f.tell() == 10
            await f.seek(0)
            assert await f.read(4) == b"0123"
            assert await f.readline() == b"456789"
            assert await f.isatty() is False
            await f.flush()
        assert f.closed

    ref.close()
    run(main())


def test_spooled_rolls_over_past_max_size(af, tmp_path):
    ref = tempfile.SpooledTemporaryFile(max_size=10, dir=tmp_path)
    ref.write(b"0123456789abc")
    ref.seek(3)
    ref_mode, ref_name_type, ref_pos = ref.mode, type(ref.name), ref.tell()
    ref.close()

    async def main():
        async with af.tempfile.SpooledTemporaryFile(max_size=10,
                                                    dir=tmp_path) as f:
            await f.write(b"0123456789")
            assert f._file._rolled is False
            await f.write(b"abc")
            assert f._file._rolled is True
            await f.seek(3)
            assert f.mode == ref_mode == "rb+"
            assert type(f.name) is ref_name_type is int
            assert await f.tell() == ref_pos
            assert await f.read() == b"3456789abc"
            await f.seek(0)
            assert [line async for line in f] == [b"0123456789abc"]
            assert isinstance(await f.fileno(), int)
        assert f.closed

    run(main())


def test_spooled_rollover_keeps_position(af):
    async def main():
        async with af.tempfile.SpooledTemporaryFile(max_size=100) as f:
            await f.writelines([b"line1\n", b"line2\n"])
            await f.seek(6)
            await f.rollover()
            assert f._file._rolled is True
            assert await f.tell() == 6
            assert await f.read() == b"line2\n"
            await f.rollover()  # a second one does nothing
            await f.seek(0)
            assert await f.readlines() == [b"line1\n", b"line2\n"]

    run(main())


def test_spooled_fileno_rolls_over(af):
    async def main():
        async with af.tempfile.SpooledTemporaryFile(max_size=100) as f:
            await f.write(b"abc")
            fd = await f.fileno()
            assert f._file._rolled is True
            await f.flush()
            assert os.pread(fd, 10, 0) == b"abc"

    run(main())


def test_spooled_truncate(af):
    ref = tempfile.SpooledTemporaryFile(max_size=5)
    ref.write(b"abcdefgh")  # rolls
    ref_small = tempfile.SpooledTemporaryFile(max_size=50)
    ref_small.write(b"abcdefgh")
    exp_small = ref_small.truncate(3)
    # Rolling over: what this Python's tempfile returns (None before 3.11).
    exp_big = ref_small.truncate(60)
    ref.close()
    ref_small.close()

    async def main():
        async with af.tempfile.SpooledTemporaryFile(max_size=50) as f:
            await f.write(b"abcdefgh")
            assert await f.truncate(3) == exp_small
            assert f._file._rolled is False
            await f.seek(0)
            assert await f.read() == b"abc"
            # past max_size: rolls over
            assert await f.truncate(60) == exp_big
            assert f._file._rolled is True
            await f.seek(0)
            assert await f.read() == b"abc" + b"\0" * 57

    run(main())


def test_spooled_max_size_zero_never_rolls(af):
    async def main():
        async with af.tempfile.SpooledTemporaryFile() as f:
            await f.write(b"x" * 100_000)
            assert f._file._rolled is False

    run(main())


def test_spooled_text(af, tmp_path):
    async def main():
        async with af.tempfile.SpooledTemporaryFile(
                max_size=8, mode="w+", encoding="utf-8", newline="",
                dir=tmp_path) as f:
            await f.write("ab\r\n")
            assert f._file._rolled is False
            assert f.encoding == "utf-8"
            await f.write("cdefgh\n")
            assert f._file._rolled is True
            await f.seek(0)
            assert await f.read() == "ab\r\ncdefgh\n"
            assert f.mode == "w+"

    run(main())


# ---- tempfile: TemporaryDirectory --------------------------------------------------


def test_temporary_directory_async_with(af, tmp_path):
    async def main():
        async with af.tempfile.TemporaryDirectory(prefix="p", suffix="s",
                                                  dir=tmp_path) as d:
            assert isinstance(d, str)
            assert os.path.isdir(d)
            base = os.path.basename(d)
            assert base.startswith("p") and base.endswith("s")
            write_file(os.path.join(d, "inside"), b"x")
        assert not os.path.exists(d)

    run(main())


def test_temporary_directory_await(af, tmp_path):
    async def main():
        d = await af.tempfile.TemporaryDirectory(dir=tmp_path)
        assert isinstance(d, af.tempfile_temptypes.AsyncTemporaryDirectory)
        assert os.path.isdir(d.name)
        os.mkdir(os.path.join(d.name, "sub"))
        await d.cleanup()
        assert not os.path.exists(d.name)

    run(main())


def test_temporary_directory_exception_in_body(af, tmp_path):
    async def main():
        with pytest.raises(KeyError):
            async with af.tempfile.TemporaryDirectory(dir=tmp_path) as d:
                raise KeyError(d)
        assert os.listdir(tmp_path) == []

    run(main())


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "shift_jis"])
def test_spooled_text_rollover_keeps_text_and_position(af, tmp_path,
                                                       encoding):
    """As tempfile's own: the text before the rollover, the tell() cookie
    taken before it valid after it, and reading on from there."""
    import tempfile as std

    text = "日本語\r\nline two\rthree\n" * 3

    def expected():
        with std.SpooledTemporaryFile(max_size=40, mode="w+",
                                      encoding=encoding, newline=None,
                                      dir=tmp_path) as f:
            f.write(text[:10])
            f.seek(0)
            head = f.readline()
            cookie = f.tell()
            f.seek(0, 2)
            f.write(text[10:])
            rolled = f._rolled
            f.seek(cookie)
            return head, rolled, f.read(), f.tell()

    async def main():
        async with af.tempfile.SpooledTemporaryFile(
                max_size=40, mode="w+", encoding=encoding, newline=None,
                dir=tmp_path) as f:
            await f.write(text[:10])
            await f.seek(0)
            head = await f.readline()
            cookie = await f.tell()
            await f.seek(0, 2)
            await f.write(text[10:])
            rolled = f._file._rolled
            await f.seek(cookie)
            return head, rolled, await f.read(), await f.tell()

    exp = expected()
    assert exp[1] is True
    assert run(main()) == exp
