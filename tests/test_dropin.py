"""aiofiles_c where code written for aiofiles looks under the hood:
``_file`` on every file object, the spooled file after rollover, and
aiofiles' mocking recipe (a replaced ``threadpool.sync_open`` and
``wrap.register``), directly and in a program run under install()."""
from __future__ import annotations

import functools
import io
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from tests.helpers import BINARY_MODES, subprocess_env

HERE = Path(__file__).parent
TEXT_MODES = ["r", "w", "a", "x", "r+", "w+", "a+"]


def _prepare(path: Path, mode: str) -> None:
    if "r" in mode:
        path.write_bytes(b"0123456789\n")


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [-1, 0])
@pytest.mark.parametrize("mode", BINARY_MODES)
async def test_binary_file_has_aiofiles_file_attribute(impl, tmp_path, mode,
                                                      buffering):
    path = tmp_path / "f.bin"
    _prepare(path, mode)
    async with impl.open(path, mode, buffering=buffering) as f:
        under = f._file
        assert under.closed is False
        assert under.name == str(path)
        assert under.fileno() == f.fileno()
        assert under.mode == f.mode
    assert under.closed is True and f.closed is True

    f = await impl.open(path, "rb", buffering=buffering)
    assert f._file.closed is False
    await f.close()
    assert f._file.closed is True


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", TEXT_MODES)
async def test_text_file_has_aiofiles_file_attribute(impl, tmp_path, mode):
    path = tmp_path / "f.txt"
    _prepare(path, mode)
    async with impl.open(path, mode, encoding="utf-8") as f:
        under = f._file
        assert under.closed is False
        assert under.fileno() == f.fileno()
        assert under.name == str(path)
    assert under.closed is True


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["w+b", "w+"])
async def test_spooled_file_after_rollover(impl, mode):
    data = b"x" * 20 if "b" in mode else "x" * 20
    async with impl.tempfile.SpooledTemporaryFile(max_size=30,
                                                  mode=mode) as f:
        await f.write(data)
        mem = f._file._file
        assert isinstance(mem, (io.BytesIO, io.TextIOWrapper))
        await f.write(data)
        assert f._file._rolled
        under = f._file._file
        assert under is not mem and not isinstance(under, io.BytesIO)
        assert under.closed is False
        assert under.fileno() == await f.fileno()
        await f.seek(0)
        assert await f.read() == data + data
    assert under.closed is True


def _private_wrap(tp):
    """A copy of ``tp.wrap`` with the same registrations."""
    copy = functools.singledispatch(tp.wrap.registry[object])
    for cls, fn in tp.wrap.registry.items():
        if cls is not object:
            copy.register(cls, fn)
    return copy


@pytest.mark.asyncio
async def test_patched_sync_open_and_wrap_register(impl, tmp_path):
    """aiofiles' README recipe, in process: the mock sees the calls, no
    file is created."""
    tp = impl.threadpool
    path = tmp_path / "never.bin"
    mock_file = mock.MagicMock()
    with mock.patch.object(tp, "wrap", _private_wrap(tp)), \
            mock.patch.object(tp, "sync_open",
                              return_value=mock_file) as mock_open:
        # The README's registration, on a copy of wrap (the process's own
        # stays as it was for the other tests).
        tp.wrap.register(mock.MagicMock)(
            lambda *a, **k: tp.AsyncBufferedIOBase(*a, **k))
        async with impl.open(path, "wb") as f:
            assert isinstance(f, tp.AsyncBufferedIOBase)
            assert f._file is mock_file
            await f.write(b"data")
        f2 = await impl.threadpool.open(path, "rb", buffering=0)
        await f2.read(5)
        await f2.close()
    assert mock_open.call_count == 2
    assert mock_open.call_args_list[0] == mock.call(
        path, mode="wb", buffering=-1, encoding=None, errors=None,
        newline=None, closefd=True, opener=None)
    mock_file.write.assert_called_once_with(b"data")
    mock_file.read.assert_called_once_with(5)
    # async with: the file's own __exit__ (aiofiles' way); close(): close.
    assert mock_file.__exit__.called
    assert mock_file.close.called
    assert not path.exists()
    assert os.listdir(tmp_path) == []
    # The patch undone: files open for real again.
    async with impl.open(path, "wb") as f:
        await f.write(b"real")
    assert path.read_bytes() == b"real"


@pytest.mark.asyncio
async def test_patched_sync_open_result_goes_through_wrap(impl, tmp_path):
    """A replacement that returns a real stdlib file gets aiofiles'
    executor-run wrapper for it (and its _file is that file)."""
    path = tmp_path / "f.txt"
    path.write_text("hello\n")
    calls = []

    def my_open(*args, **kwargs):
        calls.append(args)
        return open(*args, **kwargs)

    with mock.patch.object(impl.threadpool, "sync_open", my_open):
        async with impl.open(path, "r") as f:
            assert type(f) is impl.threadpool.text.AsyncTextIOWrapper
            assert isinstance(f._file, io.TextIOWrapper)
            assert await f.read() == "hello\n"
        assert f._file.closed
    assert calls == [(path,)]


def _run_program(prefix: str, directory: Path) -> str:
    code = (prefix + "import runpy, sys; sys.argv = ['p', %r]; "
            "runpy.run_path(%r, run_name='__main__')"
            % (str(directory), str(HERE / "programs" /
                                   "mock_recipe_program.py")))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          env=subprocess_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr == b""
    return proc.stdout.decode().replace(str(directory), "DIR")


def test_mock_recipe_program_under_install(tmp_path):
    pytest.importorskip("aiofiles")
    (tmp_path / "real").mkdir()
    (tmp_path / "ours").mkdir()
    real = _run_program("", tmp_path / "real")
    ours = _run_program("import aiofiles_c; aiofiles_c.install(); ",
                        tmp_path / "ours")
    assert "file on disk: False" in real
    assert "write calls: [call(b'payload')]" in real
    assert "listing: ['written.bin']" in real
    assert ours == real
