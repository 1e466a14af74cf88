"""The extension's tables: aiofiles_c.os's operation codes, the scandir
record layout and flags, and the *at() constants are defined in C
(cext/fs.c, cext/pool.h) and exported; the Python side uses them."""
import struct

import pytest

from tests.helpers import IS_C

pytestmark = pytest.mark.skipif(not IS_C, reason="the native extension")


def test_operation_codes_come_from_the_extension():
    from aiofiles_c import _cext, _fs
    names = [n for n in dir(_cext) if n.startswith("FS_") and n != "FS_COUNT"]
    assert sorted(getattr(_cext, n) for n in names) == \
        list(range(_cext.FS_COUNT))
    for n in names:
        assert getattr(_fs, n[len("FS_"):]) == getattr(_cext, n), n
    assert _fs.AT_FDCWD == _cext.AT_FDCWD


def test_scandir_record_layout_is_one():
    from aiofiles_c import _cext
    head = struct.calcsize(_cext.SCAN_HEAD)
    assert head + 2 * struct.calcsize(_cext.SCAN_STAT) == _cext.SCAN_REC_SIZE
    assert {_cext.SCAN_LSTAT_OK, _cext.SCAN_STAT_OK} == {1, 2}


@pytest.mark.parametrize("op, args, words", [
    ("RENAME", (b"/nonexistent",), "needs a second path"),
    ("UNLINK", (), "needs a path"),
    ("OPENAT", (None,), "needs a path"),
])
def test_a_call_missing_its_path_builds_no_job(op, args, words):
    from aiofiles_c import _cext
    with pytest.raises(TypeError, match=words):
        _cext.fs(getattr(_cext, "FS_" + op), *args)


def test_keywords_and_positions_reach_the_same_entry_point(tmp_path):
    import asyncio
    from aiofiles_c import _cext

    async def main():
        p = bytes(tmp_path)
        by_name = await _cext.fs(_cext.FS_STAT, p, filename=str(tmp_path))
        by_position = await _cext.fs(
            _cext.FS_STAT, p, None, -1, -1, _cext.AT_FDCWD, _cext.AT_FDCWD,
            0, 0, -1, 0, str(tmp_path), None, True)
        return by_name, by_position

    a, b = asyncio.run(main())
    assert a.st_ino == b.st_ino


def test_a_finished_call_is_an_operation():
    from aiofiles_c import _cext
    assert _cext.Done is _cext.Operation
