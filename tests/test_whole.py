"""Whole-file calls: aiofiles_c.read_bytes/read_text/write_bytes/write_text
against pathlib.Path's methods (results, exceptions, files on disk)."""
from __future__ import annotations

import array
import os
import pathlib
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import aiofiles_c
from tests.helpers import examples


def outcome(fn):
    try:
        return ("ok", fn())
    except Exception as e:  # noqa: BLE001
        return ("exc", type(e), str(e).replace("/ref", "/x"))


async def aoutcome(aw):
    try:
        return ("ok", await aw)
    except Exception as e:  # noqa: BLE001
        return ("exc", type(e), str(e).replace("/mine", "/x"))


def _pathlib_write_text(p, text, encoding, errors, newline):
    if sys.version_info >= (3, 10):
        return p.write_text(text, encoding, errors, newline)
    # pathlib 3.9 has no newline argument; 3.10 added it as this open().
    if not isinstance(text, str):
        raise TypeError("data must be str, not %s" % type(text).__name__)
    with p.open(mode="w", encoding=encoding, errors=errors,
                newline=newline) as f:
        return f.write(text)


def disk(p: pathlib.Path):
    try:
        return p.read_bytes()
    except OSError as e:
        return type(e)


ENCODINGS = [None, "utf-8", "utf-16", "utf-8-sig", "latin-1", "ascii",
             "bogus"]
ERRORS = [None, "strict", "replace", "surrogateescape", 5]
NEWLINES = [None, "", "\n", "\r", "\r\n", "bad"]


@settings(max_examples=examples(150), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.sampled_from("ab\r\né€\x00\udcff"), max_size=30),
       encoding=st.sampled_from(ENCODINGS), errors=st.sampled_from(ERRORS),
       newline=st.sampled_from(NEWLINES), existed=st.booleans())
def test_write_text_then_read_text(tmp_path_factory, runner, text, encoding,
                                   errors, newline, existed):
    d = tmp_path_factory.mktemp("wt")
    ref, mine = d / "ref", d / "mine"
    if existed:
        ref.write_bytes(b"old")
        mine.write_bytes(b"old")
    want = outcome(lambda: _pathlib_write_text(ref, text, encoding, errors,
                                               newline))
    got = runner.run(aoutcome(aiofiles_c.write_text(mine, text, encoding,
                                                    errors, newline)))
    assert got == want
    assert disk(mine) == disk(ref)
    if encoding != "bogus" and ref.exists():
        # Python 3.11's read_text has no newline: read through open().
        def read_ref():
            with ref.open(encoding=encoding, errors=errors,
                          newline=newline) as f:
                return f.read()
        want = outcome(read_ref)
        got = runner.run(aoutcome(aiofiles_c.read_text(
            mine, encoding, errors, newline)))
        assert got == want
        if newline is None:
            want = outcome(lambda: ref.read_text(encoding, errors))
            got = runner.run(aoutcome(aiofiles_c.read_text(
                mine, encoding, errors)))
            assert got == want


@pytest.mark.asyncio
@pytest.mark.parametrize("data", [
    b"", b"bytes", bytearray(b"ba"), memoryview(b"abcdef")[1:4],
    array.array("i", [1, 2, 3]), "str", 5, None,
    memoryview(b"abcdef")[::2]])
async def test_write_bytes(tmp_path, data):
    ref, mine = tmp_path / "ref", tmp_path / "mine"
    ref.write_bytes(b"old")
    mine.write_bytes(b"old")
    want = outcome(lambda: ref.write_bytes(data))
    got = await aoutcome(aiofiles_c.write_bytes(mine, data))
    assert got == want
    assert disk(mine) == disk(ref)


@pytest.mark.asyncio
@pytest.mark.parametrize("rel", ["missing", "dir", "file/x", "file",
                                 "dir/../file", "fifo_not_opened", "a\0b"])
async def test_errors_and_paths(tmp_path, rel):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_bytes(b"content \xe9")
    p = tmp_path / rel
    if rel.startswith("fifo"):
        return  # opening a FIFO blocks in both: not a comparison to make
    for make_ref, make_mine in [
            (lambda: p.read_bytes(), lambda: aiofiles_c.read_bytes(p)),
            (lambda: p.read_text("latin-1"),
             lambda: aiofiles_c.read_text(p, "latin-1")),
            (lambda: p.read_text("ascii"),
             lambda: aiofiles_c.read_text(str(p), "ascii")),
    ]:
        want = outcome(make_ref)
        got = await aoutcome(make_mine())
        assert got == want


@pytest.mark.asyncio
async def test_write_errors_match(tmp_path):
    for rel in ["dir", "missing/x", "file/x"]:
        (tmp_path / "dir").mkdir(exist_ok=True)
        (tmp_path / "file").write_bytes(b"")
        p = tmp_path / rel
        assert await aoutcome(aiofiles_c.write_bytes(p, b"x")) == \
            outcome(lambda: p.write_bytes(b"x"))
        assert await aoutcome(aiofiles_c.write_text(p, "x")) == \
            outcome(lambda: p.write_text("x"))
    with pytest.raises(TypeError, match="data must be str, not bytes"):
        await aiofiles_c.write_text(tmp_path / "t", b"x")
    assert not (tmp_path / "t").exists()


@pytest.mark.asyncio
async def test_big_file_roundtrip(tmp_path):
    data = os.urandom(5 << 20)
    p = tmp_path / "big"
    assert await aiofiles_c.write_bytes(p, data) == len(data)
    assert await aiofiles_c.read_bytes(p) == data
    assert await aiofiles_c.read_bytes(aiofiles_c.Path(p)) == data
