"""Hand-written error and API-contract cases, pinned against the stdlib.

Wherever possible the expectation is computed by doing the same thing with
the builtin ``open()`` (same arguments, or a twin file with the same mode and
buffering), and the implementation must match exactly: exception type,
args/str, errno, strerror and filename.
"""
import asyncio
import concurrent.futures
import contextlib
import errno
import inspect
import io
import os
import sys
import pathlib
import pty
import warnings

import pytest

from tests.helpers import (BINARY_MODES, IS_C, Outcome, Twin, apply_op,
                     assert_same_exception, assert_same_outcome, call_async,
                     call_sync, maybe_await)

CONTENT = b"line one\nline two\n\nlast line without newline"
BUFFERINGS = [0, -1, 7]


def _write(path, data=CONTENT):
    with open(path, "wb") as fh:
        fh.write(data)


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


def _fd_is_open(fd):
    try:
        os.fstat(fd)
    except OSError as e:
        assert e.errno == errno.EBADF
        return False
    return True


async def _open_outcome(impl, *args, **kwargs) -> Outcome:
    # the exception may be raised by the call or by the await; accept both
    return await call_async(lambda: impl.open(*args, **kwargs))


def _assert_same_shape(f, twin):
    """impl object exposes the same API surface as the stdlib object."""
    for attr in ("peek", "read1", "readall", "detach", "raw", "readinto",
                 "truncate", "fileno"):
        assert hasattr(f, attr) == hasattr(twin, attr), (
            attr, type(twin).__name__)
    assert f.mode == twin.mode
    r = f.readable()
    assert not inspect.isawaitable(r), "readable() is a plain method"
    assert r is twin.readable()
    assert f.closed is twin.closed is False


async def _compare_open(impl, args, kwargs, same_path=True):
    exp = call_sync(open, *args, **kwargs)
    act = await _open_outcome(impl, *args, **kwargs)
    try:
        if exp.exc is None and act.exc is None:
            _assert_same_shape(act.value, exp.value)
            if same_path:
                assert act.value.name == exp.value.name
                assert type(act.value.name) is type(exp.value.name)
            return exp, act
        assert_same_outcome(act, exp, f"open{args!r} {kwargs!r}")
        return exp, act
    finally:
        if exp.exc is None:
            exp.value.close()
        if act.exc is None:
            await act.value.close()


# ---------------------------------------------------------------------------
# open() errors


def _open_error_cases(tmp):
    existing = tmp / "existing.bin"
    _write(existing)
    d = tmp / "adir"
    d.mkdir()
    loop_link = tmp / "loop"
    os.symlink(loop_link, loop_link)
    missing = tmp / "missing.bin"
    # a descriptor number that is certainly not open
    closed_fd = next(fd for fd in range(1000, 2000) if not _fd_is_open(fd))

    def bad_opener(path, flags):
        raise PermissionError(errno.EACCES, "Permission denied", path)

    return {
        "missing-rb-str": ((str(missing), "rb"), {}),
        "missing-rb-bytes": ((os.fsencode(missing), "rb"), {}),
        "missing-rb-pathlike": ((missing, "rb"), {}),
        "missing-r+b": ((str(missing), "r+b"), {}),
        "missing-rb-raw": ((str(missing), "rb"), {"buffering": 0}),
        "missing-dir-wb": ((str(tmp / "nodir" / "f"), "wb"), {}),
        "missing-dir-ab-bytes": ((os.fsencode(tmp / "nodir" / "f"), "ab"),
                                 {}),
        "exists-xb": ((str(existing), "xb"), {}),
        "exists-x+b": ((str(existing), "x+b"), {}),
        "exists-xb-raw": ((existing, "xb"), {"buffering": 0}),
        "isdir-rb": ((str(d), "rb"), {}),
        "isdir-rb-raw": ((str(d), "rb"), {"buffering": 0}),
        "isdir-wb": ((str(d), "wb"), {}),
        "isdir-a+b": ((d, "a+b"), {}),
        "notdir": ((str(existing / "sub"), "rb"), {}),
        "name-too-long": ((str(tmp / ("x" * 300)), "rb"), {}),
        "symlink-loop": ((str(loop_link), "rb"), {}),
        "null-byte": ((str(tmp) + "/a\0b", "rb"), {}),
        "null-byte-bytes": ((b"a\0b", "wb"), {}),
        "closed-fd": ((closed_fd, "rb"), {}),
        "negative-fd": ((-1, "rb"), {}),
        "negative-fd-raw": ((-5, "wb"), {"buffering": 0}),
        "file-float": ((3.5, "rb"), {}),
        "file-none": ((None, "rb"), {}),
        "file-list": (([1], "rb"), {}),
        "mode-int": ((str(existing), 1), {}),
        "mode-bytes": ((str(existing), b"rb"), {}),
        "buffering-str": ((str(existing), "rb"), {"buffering": "x"}),
        "buffering-float": ((str(existing), "rb"), {"buffering": 1.5}),
        "buffering0-text": ((str(existing), "r"), {"buffering": 0}),
        "buffering0-text-w": ((str(tmp / "new.txt"), "w"), {"buffering": 0}),
        "binary-encoding": ((str(existing), "rb"), {"encoding": "utf-8"}),
        "binary-errors": ((str(existing), "rb"), {"errors": "strict"}),
        "binary-newline": ((str(existing), "rb"), {"newline": ""}),
        "closefd-false-name": ((str(existing), "rb"), {"closefd": False}),
        "opener-neg": ((str(existing), "rb"),
                       {"opener": lambda p, fl: -1}),
        "opener-str": ((str(existing), "rb"),
                       {"opener": lambda p, fl: "x"}),
        "opener-raises": ((str(existing), "rb"), {"opener": bad_opener}),
        "opener-not-callable": ((str(existing), "rb"), {"opener": 5}),
    }


OPEN_ERROR_CASES = [
    "missing-rb-str", "missing-rb-bytes", "missing-rb-pathlike",
    "missing-r+b", "missing-rb-raw", "missing-dir-wb", "missing-dir-ab-bytes",
    "exists-xb", "exists-x+b", "exists-xb-raw", "isdir-rb", "isdir-rb-raw",
    "isdir-wb", "isdir-a+b", "notdir", "name-too-long", "symlink-loop",
    "null-byte", "null-byte-bytes", "closed-fd", "negative-fd",
    "negative-fd-raw", "file-float", "file-none", "file-list", "mode-int",
    "mode-bytes", "buffering-str", "buffering-float", "buffering0-text",
    "buffering0-text-w", "binary-encoding", "binary-errors",
    "binary-newline", "closefd-false-name", "opener-neg", "opener-str",
    "opener-raises", "opener-not-callable",
]


@pytest.mark.asyncio
@pytest.mark.parametrize("case", OPEN_ERROR_CASES)
async def test_open_error_matches_stdlib(impl, tmp_path, case):
    args, kwargs = _open_error_cases(tmp_path)[case]
    exp, act = await _compare_open(impl, args, kwargs)
    # every case in this table is an error case for the stdlib
    assert exp.exc is not None, exp
    assert act.exc is not None


@pytest.mark.asyncio
async def test_open_error_kinds(impl, tmp_path):
    """Spot-check the concrete classes (independent of the stdlib twin)."""
    cases = _open_error_cases(tmp_path)
    expected = {
        "missing-rb-str": (FileNotFoundError, errno.ENOENT),
        "exists-xb": (FileExistsError, errno.EEXIST),
        "isdir-rb": (IsADirectoryError, errno.EISDIR),
        "isdir-wb": (IsADirectoryError, errno.EISDIR),
        "notdir": (NotADirectoryError, errno.ENOTDIR),
        "closed-fd": (OSError, errno.EBADF),
    }
    for case, (cls, eno) in expected.items():
        args, kwargs = cases[case]
        with pytest.raises(cls) as ei:
            await impl.open(*args, **kwargs)
        assert ei.value.errno == eno, case
        if case != "closed-fd":
            assert ei.value.filename == args[0]
            assert str(ei.value) == (
                f"[Errno {eno}] {os.strerror(eno)}: {args[0]!r}")


@pytest.mark.asyncio
async def test_missing_file_error_details(impl, tmp_path):
    p = tmp_path / "nope"
    with pytest.raises(FileNotFoundError) as ei:
        await impl.open(os.fsencode(p), "rb")
    assert ei.value.errno == errno.ENOENT
    assert ei.value.filename == os.fsencode(p)
    assert type(ei.value.filename) is bytes
    assert str(ei.value) == (
        f"[Errno 2] No such file or directory: {os.fsencode(p)!r}")


INVALID_MODES = ["rw", "rbb", "z", "rbt", "bt", "tb", "rtb", "U", "rU",
                 "rbU", "Ub", "aU", "", "+", "b", "r++b", "wa", "xr", "ra",
                 "rb+w", "wbx", "bb", "rB", "RB", " rb", "rb ", "r\0b"]


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", INVALID_MODES)
async def test_invalid_mode_matches_stdlib(impl, tmp_path, mode):
    p = tmp_path / "f.bin"
    _write(p)
    exp, act = await _compare_open(impl, (str(p), mode), {})
    assert exp.exc is not None
    if sys.version_info < (3, 11) and "U" in mode:
        # 'U' was a deprecated mode until 3.10: io warns (an error here)
        # where it accepts it.
        assert type(exp.exc) in (ValueError, DeprecationWarning)
    else:
        assert type(exp.exc) is ValueError
    # invalid modes must not have created/truncated anything
    assert _read(p) == CONTENT


@pytest.mark.asyncio
async def test_permission_denied_matches_stdlib(impl, tmp_path):
    """chmod 000: for a normal user both raise PermissionError; as root both
    succeed.  Either way impl == stdlib."""
    p = tmp_path / "noperm.bin"
    _write(p)
    os.chmod(p, 0)
    try:
        for mode in ("rb", "r+b", "ab", "wb"):
            exp, act = await _compare_open(impl, (str(p), mode), {})
            if os.geteuid() != 0:
                assert isinstance(exp.exc, PermissionError)
    finally:
        os.chmod(p, 0o644)


@pytest.mark.asyncio
async def test_permission_denied_even_for_root(impl, tmp_path):
    """Cases that are denied even to root: sysfs files without write
    permission (compared to the stdlib, whatever it does in this
    environment), and an opener raising EACCES (must propagate unchanged)."""
    for path in ("/sys/kernel/notes", "/sys/kernel/uevent_seqnum"):
        for mode in ("wb", "ab", "r+b"):
            await _compare_open(impl, (path, mode), {"buffering": 0})
    # the opener path: the kernel EACCES error object propagates unchanged
    p = tmp_path / "f"
    _write(p)

    def opener(path, flags):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)

    with pytest.raises(PermissionError) as ei:
        await impl.open(str(p), "rb", opener=opener)
    assert ei.value.errno == errno.EACCES
    assert ei.value.filename == str(p)
    assert str(ei.value) == f"[Errno 13] Permission denied: {str(p)!r}"


@pytest.mark.asyncio
async def test_buffering_1_warns_like_io(impl, tmp_path):
    p = tmp_path / "f.bin"
    _write(p)
    for mode in ("rb", "r+b", "ab"):
        with warnings.catch_warnings(record=True) as rec_std:
            warnings.simplefilter("always")
            open(p, mode, buffering=1).close()
        with warnings.catch_warnings(record=True) as rec_impl:
            warnings.simplefilter("always")
            f = await impl.open(p, mode, buffering=1)
        try:
            assert [(w.category, str(w.message)) for w in rec_impl] == [
                (w.category, str(w.message)) for w in rec_std]
            assert rec_std and rec_std[0].category is RuntimeWarning
            # still a buffered object
            assert hasattr(f, "raw")
        finally:
            await f.close()
    # buffering other than 1 does not warn (filterwarnings=error enforces)
    for b in (-1, 0, 2, -7):
        f = await impl.open(p, "rb", buffering=b)
        assert await f.read() == CONTENT
        await f.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [-1, -2, -100])
async def test_negative_buffering_is_default(impl, tmp_path, buffering):
    p = tmp_path / "f.bin"
    _write(p)
    await _compare_open(impl, (str(p), "rb"), {"buffering": buffering})
    f = await impl.open(p, "rb", buffering=buffering)
    assert await f.read(4) == CONTENT[:4]
    await f.close()


# ---------------------------------------------------------------------------
# methods vs mode / closed state

ALL_OPS = [
    ("read", ()), ("read", (3,)), ("read1", (2,)), ("readall", ()),
    ("readinto", (4, "bytearray")), ("readline", ()), ("readlines", ()),
    ("anext", ()), ("write", (b"xyz", "bytes")),
    ("writelines", ([b"a", b"b"],)), ("seek", (0,)), ("seek", (2, 0)),
    ("seek", (0, 2)), ("tell", ()), ("truncate", ()), ("truncate", (5,)),
    ("flush", ()), ("peek", (1,)), ("isatty", ()), ("seekable", ()),
    ("writable", ()), ("sync", ("readable",)), ("sync", ("fileno",)),
    ("prop", ("closed",)), ("prop", ("mode",)), ("read", ()),
]


@contextlib.asynccontextmanager
async def twins(impl, tmp_path, mode, buffering, content=CONTENT):
    """impl file + stdlib Twin with the same mode/buffering/content; both are
    closed on exit, whatever happened (best effort: results of close() are
    asserted by the tests themselves)."""
    p_impl = tmp_path / "impl.bin"
    p_twin = tmp_path / "twin.bin"
    for p in (p_impl, p_twin):
        if "x" in mode:
            if p.exists():
                p.unlink()
        else:
            _write(p, content)
    twin = Twin(str(p_twin), str(p_twin) + ".shadow", mode, buffering,
                None if "x" in mode else content)
    f = None
    try:
        f = await impl.open(str(p_impl), mode, buffering=buffering)
        yield f, twin, p_impl, p_twin
    finally:
        with contextlib.suppress(Exception):
            twin.f.close()
        if f is not None:
            with contextlib.suppress(Exception):
                await f.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", BUFFERINGS)
@pytest.mark.parametrize("mode", BINARY_MODES)
async def test_methods_on_open_file_match_stdlib(impl, tmp_path, mode,
                                                 buffering):
    """Every method, including the ones the mode does not support
    (io.UnsupportedOperation with the same message), vs stdlib."""
    async with twins(impl, tmp_path, mode, buffering) as (f, twin, p_impl,
                                                         p_twin):
        for op in ALL_OPS:
            await apply_op(f, twin, op, f"{mode} {buffering} {op}")
        await apply_op(f, twin, ("close", ()), "close")
    assert _read(p_impl) == _read(p_twin)


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", BUFFERINGS)
@pytest.mark.parametrize("mode", BINARY_MODES)
async def test_methods_on_closed_file_match_stdlib(impl, tmp_path, mode,
                                                   buffering):
    """Closed-file errors differ between the io classes (BufferedReader says
    'read of closed file', FileIO 'I/O operation on closed file', ...): the
    impl must raise exactly what the stdlib object of the same class does."""
    async with twins(impl, tmp_path, mode, buffering) as (f, twin, p_impl,
                                                         p_twin):
        assert f.closed is False
        assert await f.close() is None
        twin.f.close()
        assert f.closed is True
        ops = ALL_OPS + [("sync", ("detach",)), ("read1", ()),
                         ("read1", (-1,)), ("peek", ()),
                         ("readinto", (0, "memoryview")),
                         ("write", (b"", "bytes")), ("close", ())]
        for op in ops:
            await apply_op(f, twin, op, f"closed {mode} {buffering} {op}")
        # close() twice (thrice) is fine
        assert await f.close() is None
        assert await f.close() is None
        assert f.closed is True
    assert _read(p_impl) == _read(p_twin)


BAD_ARG_OPS = [
    ("call", ("read", ("x",))), ("call", ("read", (1.5,))),
    ("call", ("read", (1, 2))), ("call", ("read1", (None,))),
    ("call", ("read1", ("x",))), ("call", ("peek", ("x",))),
    ("call", ("readline", ("x",))), ("call", ("readline", (1.0,))),
    ("call", ("readlines", ("x",))), ("call", ("seek", ("x",))),
    ("call", ("seek", (1.5,))), ("call", ("seek", (0, "x"))),
    ("call", ("seek", (0, 5))), ("call", ("seek", (0, -1))),
    ("call", ("seek", (2 ** 64,))), ("call", ("seek", (-(2 ** 64), 1))),
    ("call", ("seek", ())), ("call", ("seek", (-1,))),
    ("call", ("seek", (-100, 1))), ("call", ("seek", (-1000, 2))),
    ("call", ("truncate", (-1,))), ("call", ("truncate", ("x",))),
    ("call", ("truncate", (2 ** 64,))),
    ("call", ("write", (1,))), ("call", ("write", (None,))),
    ("call", ("write", ("text",))), ("call", ("write", ())),
    ("call", ("write", ([1, 2],))),
    ("call", ("readinto", (b"immutable",))), ("call", ("readinto", (1,))),
    ("call", ("readinto", ())),
    ("call", ("writelines", ([1],))), ("call", ("writelines", (1,))),
    ("call", ("writelines", (["str"],))),
    # argument counts, each in the words of the parser io uses there
    ("call", ("truncate", (1, 2))), ("call", ("truncate", (None,))),
    ("call", ("truncate", (1.5,))), ("call", ("write", (b"a", b"b"))),
    ("call", ("readinto", (bytearray(2), 1))),
    ("call", ("writelines", ())), ("call", ("writelines", ([], []))),
    ("call", ("read1", (1, 2))), ("call", ("peek", (1, 2))),
    ("tell", ()),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", BUFFERINGS)
@pytest.mark.parametrize("mode", ["rb", "wb", "r+b", "a+b"])
async def test_bad_arguments_match_stdlib(impl, tmp_path, mode, buffering):
    async with twins(impl, tmp_path, mode, buffering) as (f, twin, p_impl,
                                                         p_twin):
        for op in BAD_ARG_OPS:
            await apply_op(f, twin, op, f"{mode} {buffering} {op}")
        await apply_op(f, twin, ("close", ()), "close")
    assert _read(p_impl) == _read(p_twin)


@pytest.mark.asyncio
async def test_close_twice_and_closed_property(impl, tmp_path):
    p = tmp_path / "f.bin"
    f = await impl.open(p, "wb")
    assert f.closed is False
    assert await f.write(b"abc") == 3
    assert await f.close() is None
    assert f.closed is True
    assert _read(p) == b"abc"
    assert await f.close() is None
    assert f.closed is True


# ---------------------------------------------------------------------------
# name / mode / fileno / opener / closefd


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
@pytest.mark.parametrize("mode", BINARY_MODES + ["br", "rb+", "+ab", "bw+"])
@pytest.mark.parametrize("kind", ["str", "bytes", "pathlike", "fd"])
async def test_name_mode_fileno(impl, tmp_path, kind, mode, buffering):
    p = tmp_path / "f.bin"
    if "x" not in mode or kind == "fd":
        _write(p)

    def make_arg():
        if kind == "str":
            return str(p)
        if kind == "bytes":
            return os.fsencode(p)
        if kind == "pathlike":
            return pathlib.Path(p)
        return os.open(p, os.O_RDWR)

    a_std = make_arg()
    twin = open(a_std, mode, buffering=buffering)
    twin_name, twin_mode = twin.name, twin.mode
    twin.close()
    if "x" in mode and kind != "fd":
        p.unlink()
    a_impl = make_arg()
    try:
        f = await impl.open(a_impl, mode, buffering=buffering)
    except BaseException:
        if kind == "fd":
            os.close(a_impl)
        raise
    try:
        if kind == "fd":
            assert f.name == a_impl and type(f.name) is int
            assert twin_name == a_std
            assert f.fileno() == a_impl
        else:
            assert f.name == twin_name
            assert type(f.name) is type(twin_name)
            fd = f.fileno()
            assert type(fd) is int
            assert os.fstat(fd).st_ino == os.stat(p).st_ino
        assert f.mode == twin_mode
        assert type(f.mode) is str
        if buffering != 0:
            raw = f.raw
            assert raw.fileno() == f.fileno()
            assert raw.name == f.name
            assert raw.mode == twin_mode
        else:
            assert not hasattr(f, "raw")
        fd = f.fileno()
    finally:
        await f.close()
    # closefd=True (default): the descriptor is closed with the file
    assert not _fd_is_open(fd)


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
@pytest.mark.parametrize("mode", BINARY_MODES)
async def test_opener(impl, tmp_path, mode, buffering):
    calls = {"std": [], "impl": []}
    fds = {"std": [], "impl": []}

    def make_opener(who):
        def opener(path, flags):
            calls[who].append((path, flags))
            fd = os.open(path, flags, 0o666)
            fds[who].append(fd)
            return fd
        return opener

    p = tmp_path / "f.bin"
    if "x" not in mode:
        _write(p)
    twin = open(str(p), mode, buffering=buffering, opener=make_opener("std"))
    twin.close()
    if "x" in mode:
        p.unlink()
    else:
        _write(p)
    f = await impl.open(str(p), mode, buffering=buffering,
                        opener=make_opener("impl"))
    try:
        assert calls["impl"] == calls["std"]
        assert len(calls["impl"]) == 1
        assert f.fileno() == fds["impl"][0]
        assert f.name == str(p)
        if "r" in mode or "+" in mode:
            if "a" in mode:
                await f.seek(0)
            if mode in ("rb", "r+b", "a+b"):
                assert await f.read() == CONTENT
    finally:
        await f.close()
    assert not _fd_is_open(fds["impl"][0])


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
async def test_closefd_false_leaves_fd_open(impl, tmp_path, buffering):
    p = tmp_path / "f.bin"
    _write(p)
    fd = os.open(p, os.O_RDWR)
    f = None
    try:
        f = await impl.open(fd, "r+b", buffering=buffering, closefd=False)
        assert f.name == fd
        assert await f.read(4) == CONTENT[:4]
        await f.seek(0)
        assert await f.write(b"LINE") == 4
        await f.close()
        assert f.closed is True
        assert _fd_is_open(fd)
        # the pending write was flushed by close()
        assert os.pread(fd, 100, 0) == b"LINE" + CONTENT[4:]
        with pytest.raises(ValueError) as ei:
            await f.read()
        assert str(ei.value) == (
            "I/O operation on closed file" if buffering == 0
            else "read of closed file")
    finally:
        if f is not None:
            with contextlib.suppress(Exception):
                await f.close()
        os.close(fd)


@pytest.mark.asyncio
async def test_closefd_true_with_fd_closes_it(impl, tmp_path):
    p = tmp_path / "f.bin"
    _write(p)
    fd = os.open(p, os.O_RDONLY)
    f = await impl.open(fd, "rb")
    assert await f.read() == CONTENT
    await f.close()
    assert not _fd_is_open(fd)


@pytest.mark.asyncio
async def test_executor_and_loop_arguments(impl, tmp_path):
    p = tmp_path / "f.bin"
    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        f = await impl.open(p, "w+b", loop=loop, executor=ex)
        assert await f.write(b"hello") == 5
        await f.seek(0)
        assert await f.read() == b"hello"
        await f.close()
        async with impl.open(p, "rb", executor=ex) as f2:
            assert await f2.read() == b"hello"
        assert f2.closed


@pytest.mark.asyncio
async def test_pipe_not_seekable(impl):
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    try:
        os.write(w1, b"abc\ndef")
        os.write(w2, b"abc\ndef")
        os.close(w1)
        os.close(w2)
        for buffering in (0, -1):
            f = await impl.open(r2, "rb", buffering=buffering, closefd=False)
            twin = open(r1, "rb", buffering=buffering, closefd=False)
            try:
                assert f.name == r2
                assert await f.seekable() is twin.seekable() is False
                for meth, args in [("tell", ()), ("seek", (0,)),
                                   ("seek", (1, 1)), ("truncate", (0,))]:
                    exp = call_sync(getattr(twin, meth), *args)
                    act = await call_async(getattr(f, meth), *args)
                    assert_same_outcome(act, exp, f"pipe {meth}{args}")
                    assert exp.exc is not None
                if buffering == -1:
                    assert await f.readline() == twin.readline() == b"abc\n"
                    assert await f.read() == twin.read() == b"def"
            finally:
                await f.close()
                twin.close()
    finally:
        os.close(r1)
        os.close(r2)


@pytest.mark.asyncio
async def test_isatty(impl, tmp_path):
    master, slave = pty.openpty()
    try:
        for buffering in (0, -1):
            f = await impl.open(slave, "wb", buffering=buffering,
                                closefd=False)
            twin = open(slave, "wb", buffering=buffering, closefd=False)
            try:
                assert await f.isatty() is twin.isatty() is True
            finally:
                await f.close()
                twin.close()
    finally:
        os.close(master)
        os.close(slave)
    p = tmp_path / "f"
    _write(p)
    async with impl.open(p, "rb") as f:
        assert await f.isatty() is False


# ---------------------------------------------------------------------------
# async with / awaiting


@pytest.mark.asyncio
async def test_async_with_closes_on_exit(impl, tmp_path):
    p = tmp_path / "f.bin"
    async with impl.open(p, "wb") as f:
        assert f.closed is False
        await f.write(b"data")
    assert f.closed is True
    assert _read(p) == b"data"


@pytest.mark.asyncio
async def test_async_with_closes_when_body_raises(impl, tmp_path):
    p = tmp_path / "f.bin"

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with impl.open(p, "wb") as f:
            await f.write(b"partial")
            raise Boom()
    assert f.closed is True
    # the buffered data was flushed on close
    assert _read(p) == b"partial"


@pytest.mark.asyncio
async def test_async_with_closes_when_task_cancelled(impl, tmp_path):
    p = tmp_path / "f.bin"
    holder = []
    entered = asyncio.Event()

    async def body():
        async with impl.open(p, "wb") as f:
            holder.append(f)
            await f.write(b"before-cancel")
            entered.set()
            await asyncio.sleep(30)
            await f.write(b"never")

    task = asyncio.create_task(body())
    await asyncio.wait_for(entered.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert holder[0].closed is True
    assert _read(p) == b"before-cancel"


@pytest.mark.asyncio
async def test_await_open_twice_returns_same_object(impl, tmp_path):
    p = tmp_path / "f.bin"
    _write(p)
    cm = impl.open(p, "rb")
    f1 = await cm
    f2 = await cm
    try:
        assert f1 is f2
        assert await f2.read(4) == CONTENT[:4]
    finally:
        await f1.close()


AWAITED_TWICE = ("coroutine is being awaited already",
                 "cannot reuse already awaited coroutine")


@pytest.mark.asyncio
async def test_open_awaited_by_two_tasks_at_once(impl, tmp_path):
    """Two tasks awaiting one open() (in the pool): if it is still in
    flight when the second comes, one gets the file and the other the
    RuntimeError of a coroutine awaited twice, else both get the same
    file; nobody hangs (before, the second one's wait replaced the first
    one's, which then waited forever)."""
    p = tmp_path / "f.bin"
    _write(p)
    cm = impl.open(p, "rb")

    async def by_await():
        return await cm

    async def by_with():
        async with cm as f:
            return f

    set_inline = getattr(impl, "set_inline_reads", None)
    if set_inline is not None:
        set_inline(False)
    try:
        got = await asyncio.wait_for(asyncio.gather(
            by_await(), by_with(), return_exceptions=True), 10)
    finally:
        if set_inline is not None:
            set_inline(True)
    files = [g for g in got if not isinstance(g, BaseException)]
    errors = [g for g in got if isinstance(g, BaseException)]
    if errors:
        assert len(files) == 1 and len(errors) == 1, got
        assert (type(errors[0]) is RuntimeError and
                str(errors[0]) in AWAITED_TWICE)
    else:
        assert files[0] is files[1]
    await files[0].close()


@pytest.mark.asyncio
async def test_read_awaited_by_two_tasks_at_once(impl, tmp_path):
    """Two tasks awaiting one read() in flight in the pool: one gets the
    bytes, the other the RuntimeError of a coroutine awaited twice; nobody
    hangs (before, the second park replaced the first task's future)."""
    p = tmp_path / "f.bin"
    _write(p)
    set_inline = getattr(impl, "set_inline_reads", None)
    if set_inline is not None:
        set_inline(False)
    try:
        async with impl.open(p, "rb") as f:
            op = f.read()

            async def waiter():
                return await op

            got = await asyncio.wait_for(asyncio.gather(
                waiter(), waiter(), return_exceptions=True), 10)
    finally:
        if set_inline is not None:
            set_inline(True)
    values = [g for g in got if not isinstance(g, BaseException)]
    errors = [g for g in got if isinstance(g, BaseException)]
    assert values == [CONTENT] and len(errors) == 1, got
    assert type(errors[0]) is RuntimeError and str(errors[0]) in AWAITED_TWICE


@pytest.mark.asyncio
async def test_open_failure_in_async_with(impl, tmp_path):
    with pytest.raises(FileNotFoundError):
        async with impl.open(tmp_path / "missing", "rb"):
            pytest.fail("body must not run")


# ---------------------------------------------------------------------------
# detach

DETACHED_OPS = [
    ("read", (1,)), ("read1", (1,)), ("peek", (1,)),
    ("readinto", (2, "bytearray")), ("readline", ()), ("readlines", ()),
    ("write", (b"x", "bytes")), ("writelines", ([b"x"],)), ("seek", (0,)),
    ("tell", ()), ("truncate", ()), ("flush", ()), ("isatty", ()),
    ("seekable", ()), ("writable", ()), ("sync", ("readable",)),
    ("sync", ("fileno",)), ("sync", ("detach",)), ("close", ()),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["rb", "wb", "ab", "xb", "r+b", "w+b",
                                  "a+b"])
async def test_detach(impl, tmp_path, mode):
    raws = []
    try:
        async with twins(impl, tmp_path, mode, -1) as (f, twin, p_impl,
                                                       p_twin):
            fileno = f.fileno()
            if f.readable():
                assert await f.read(3) == twin.f.read(3)
            if "r" not in mode or "+" in mode:
                assert await f.write(b"PENDING") == twin.f.write(b"PENDING")
            raw_twin = twin.f.detach()
            raws.append(raw_twin)
            raw = f.detach()
            assert raw is not None
            raws.append(raw)
            assert raw.fileno() == fileno
            # the pending writes were flushed by detach()
            assert _read(p_impl) == _read(p_twin)
            pos_impl = os.lseek(fileno, 0, os.SEEK_CUR)
            pos_twin = os.lseek(raw_twin.fileno(), 0, os.SEEK_CUR)
            if mode == "rb":
                # BufferedReader.detach() leaves the raw position after the
                # read-ahead; its size is implementation defined
                assert 3 <= pos_impl <= len(CONTENT)
            else:
                assert pos_impl == pos_twin
            # the raw object works on the same fd
            if "r" in mode or "+" in mode:
                os.lseek(fileno, 0, os.SEEK_SET)
                data = await maybe_await(raw.read(5))
                assert data == _read(p_impl)[:5]
            assert f.raw is None
            for getter in (lambda o: o.closed, lambda o: o.name,
                           lambda o: o.mode):
                exp = call_sync(getter, twin.f)
                act = call_sync(getter, f)
                assert_same_outcome(act, exp, "property after detach")
            for op in DETACHED_OPS:
                await apply_op(f, twin, op, f"detached {mode} {op}")
            assert call_sync(f.fileno).exc is not None
    finally:
        for r in raws:
            await maybe_await(r.close())
    assert not _fd_is_open(fileno)


@pytest.mark.asyncio
async def test_detach_error_message(impl, tmp_path):
    p = tmp_path / "f.bin"
    f = await impl.open(p, "wb")
    raw = f.detach()
    try:
        with pytest.raises(ValueError) as ei:
            await f.write(b"x")
        assert str(ei.value) == "raw stream has been detached"
        with pytest.raises(ValueError) as ei:
            f.fileno()
        assert str(ei.value) == "raw stream has been detached"
    finally:
        await maybe_await(raw.close())


@pytest.mark.asyncio
async def test_raw_mode_has_no_detach(impl, tmp_path):
    p = tmp_path / "f.bin"
    f = await impl.open(p, "wb", buffering=0)
    try:
        assert not hasattr(f, "detach")
        assert not hasattr(f, "peek")
        assert not hasattr(f, "read1")
        assert hasattr(f, "readall")
    finally:
        await f.close()


# ---------------------------------------------------------------------------
# read1 right after a pending write (BufferedRandom)


@pytest.mark.asyncio
@pytest.mark.xfail(not IS_C, strict=False,
                   reason="CPython 3.11 BufferedRandom.read1() does not flush "
                          "pending writes (returns stale data, misplaces the "
                          "write); aiofiles inherits the bug")
@pytest.mark.parametrize("mode", ["r+b", "w+b"])
async def test_read1_after_pending_write(impl, tmp_path, mode):
    p = tmp_path / "f.bin"
    _write(p, b"")
    f = await impl.open(p, mode)
    try:
        await f.write(b"AB")
        await f.seek(0)
        await f.write(b"C")
        # position 1; the stream holds b"CB"
        r = await f.read1(5)
        assert r == b"B"
        assert await f.tell() == 2
        assert await f.read() == b""
    finally:
        await f.close()
    assert _read(p) == b"CB"


# ---------------------------------------------------------------------------
# misc contract


@pytest.mark.asyncio
async def test_plain_methods_are_not_coroutines(impl, tmp_path):
    p = tmp_path / "f.bin"
    _write(p)
    f = await impl.open(p, "rb")
    try:
        fd = f.fileno()
        assert type(fd) is int
        assert f.readable() is True
        assert type(f.name) is str and type(f.mode) is str
        assert f.closed is False
    finally:
        await f.close()
    assert f.closed is True


@pytest.mark.asyncio
async def test_async_iteration(impl, tmp_path):
    p = tmp_path / "f.bin"
    _write(p)
    f = await impl.open(p, "rb")
    try:
        lines = [line async for line in f]
        assert lines == CONTENT.splitlines(keepends=True)
        # exhausted: iterating again yields nothing
        assert [line async for line in f] == []
        await f.seek(0)
        assert [line async for line in f] == lines
    finally:
        await f.close()


@pytest.mark.asyncio
async def test_exception_object_is_oserror_subclass(impl, tmp_path):
    """io.UnsupportedOperation is both OSError and ValueError."""
    p = tmp_path / "f.bin"
    _write(p)
    f = await impl.open(p, "rb")
    try:
        with pytest.raises(io.UnsupportedOperation) as ei:
            await f.write(b"x")
        assert isinstance(ei.value, OSError)
        assert isinstance(ei.value, ValueError)
        assert ei.value.args == ("write",)
    finally:
        await f.close()
    twin = open(p, "rb")
    twin.close()
    exp = call_sync(twin.read)
    act = await call_async(f.read)
    assert_same_exception(act.exc, exp.exc, "read on closed")
