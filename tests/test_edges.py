"""Edges: descriptors and integers at their limits, errors raised at the
call where io/os raise them, non-blocking descriptors.

Every expectation is what io/os do with the same arguments (same exception
type, args, errno, filename), computed in the test itself.
"""
import errno
import json
import operator
import os
import socket
import subprocess
import sys
import textwrap
import warnings

import pytest

from tests.helpers import IS_C, exc_signature, subprocess_env


# ---------------------------------------------------------------------------
# helpers


class Idx:
    """An int-like object: only __index__."""

    def __init__(self, v):
        self.v = v

    def __index__(self):
        return self.v

    def __repr__(self):
        return f"Idx({self.v})"


EDGE_INTS = [0, 1, -1, -2, 2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**32 - 1,
             2**32 + 3, 2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64, 2**100,
             True, False, 1.5, None, "1", Idx(2**63), Idx(5)]


def _sig(x):
    """A comparable picture of a result or an exception."""
    if isinstance(x, BaseException):
        s = exc_signature(x)
        s["characters_written"] = getattr(x, "characters_written", None)
        return s
    if isinstance(x, (bytes, list)) and len(x) > 64:
        return (type(x).__name__, len(x))
    return (type(x).__name__, x)


def _fd_open(fd):
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


async def _aclose(f):
    try:
        await f.close()
    except OSError:
        pass


# ---------------------------------------------------------------------------
# the descriptor given to open()


@pytest.mark.asyncio
@pytest.mark.parametrize("big", [2**32, 2**63, 2**31 - 3, -2**32, 2**64])
async def test_open_fd_outside_c_int(impl, tmp_path, big):
    """open(2**32 + fd) must not open fd: io refuses the int as a path."""
    p = tmp_path / "f"
    p.write_bytes(b"keep")
    fd = os.open(p, os.O_RDWR)
    try:
        value = big + fd
        for mode in ("wb", "rb", "r+b"):
            for buffering in (-1, 0):
                with pytest.raises(Exception) as exp:
                    open(value, mode, buffering=buffering, closefd=False)
                with pytest.raises(Exception) as act:
                    f = await impl.open(value, mode, buffering=buffering,
                                        closefd=False)
                    try:
                        await f.write(b"XXXX")
                    finally:
                        await f.close()
                assert exc_signature(act.value) == exc_signature(exp.value)
        assert p.read_bytes() == b"keep"
        assert _fd_open(fd)
    finally:
        os.close(fd)


@pytest.mark.asyncio
@pytest.mark.parametrize("value", [True, False])
async def test_open_bool_fd(impl, value):
    """io takes a bool as the descriptor it equals (warning where this
    Python warns); a failed open never closes fd 0 or 1."""
    with warnings.catch_warnings(record=True) as wexp:
        warnings.simplefilter("always")
        g = open(value, "rb", closefd=False)
    with warnings.catch_warnings(record=True) as wact:
        warnings.simplefilter("always")
        f = await impl.open(value, "rb", closefd=False)
    try:
        assert [(w.category, str(w.message)) for w in wact] == \
            [(w.category, str(w.message)) for w in wexp]
        assert f.name is g.name is value
        assert f.fileno() == g.fileno() == int(value)
    finally:
        g.close()
        await f.close()
    assert _fd_open(0) and _fd_open(1)


@pytest.mark.asyncio
@pytest.mark.parametrize("ret", [2**40, -2**40, 2**31, -3])
async def test_opener_returning_out_of_range(impl, tmp_path, ret):
    p = tmp_path / "f"
    p.write_bytes(b"x")

    def opener(path, flags):
        return ret

    with pytest.raises(Exception) as exp:
        open(p, "rb", opener=opener)
    with pytest.raises(Exception) as act:
        await impl.open(p, "rb", opener=opener)
    assert exc_signature(act.value) == exc_signature(exp.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
async def test_isadirectory_fd_names_the_fd(impl, tmp_path, buffering):
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        with pytest.raises(IsADirectoryError) as exp:
            open(fd, "rb", buffering=buffering, closefd=False)
        with pytest.raises(IsADirectoryError) as act:
            await impl.open(fd, "rb", buffering=buffering, closefd=False)
        assert exc_signature(act.value) == exc_signature(exp.value)
        assert act.value.filename == fd
    finally:
        os.close(fd)


@pytest.mark.asyncio
async def test_pathlike_returning_int(impl):
    class P:
        def __fspath__(self):
            return 3

    for mode, buffering in (("rb", -1), ("rb", 0), ("r", -1), ("wb", -1)):
        with pytest.raises(TypeError) as exp:
            open(P(), mode, buffering=buffering)
        with pytest.raises(TypeError) as act:
            await impl.open(P(), mode, buffering=buffering)
        assert exc_signature(act.value) == exc_signature(exp.value)


@pytest.mark.asyncio
async def test_os_pathlike_returning_int(impl):
    import importlib
    aos = importlib.import_module(f"{impl.__name__}.os")

    class P:
        def __fspath__(self):
            return 3

    for name, args in [("stat", (P(),)), ("listdir", (P(),)),
                       ("mkdir", (P(),)), ("rename", (P(), "x")),
                       ("rename", ("x", P())), ("remove", (P(),)),
                       ("access", (P(), 0))]:
        if not hasattr(aos, name):
            continue
        with pytest.raises(TypeError) as exp:
            getattr(os, name)(*args)
        with pytest.raises(TypeError) as act:
            await getattr(aos, name)(*args)
        assert exc_signature(act.value) == exc_signature(exp.value), name


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["socket", "pipe"])
@pytest.mark.parametrize("mode,buffering", [("r+b", -1), ("w+b", -1),
                                            ("a+b", -1), ("r+b", 0),
                                            ("rb", -1), ("ab", -1)])
@pytest.mark.parametrize("closefd", [True, False])
async def test_read_write_mode_on_unseekable(impl, kind, mode, buffering,
                                             closefd):
    """io.BufferedRandom needs a seekable stream: UnsupportedOperation,
    and the descriptor closed (closefd=True) as io.open closes it."""
    if kind == "socket":
        a, b = socket.socketpair()
        ends = [a, b]
        src = a.fileno()
    else:
        r, w = os.pipe()
        ends = [r, w]
        src = r
    try:
        results = []
        for opener in ("io", "impl"):
            fd = os.dup(src)
            try:
                if opener == "io":
                    f = open(fd, mode, buffering=buffering, closefd=closefd)
                    f.close()
                else:
                    f = await impl.open(fd, mode, buffering=buffering,
                                        closefd=closefd)
                    await f.close()
                out = ("ok",)
            except Exception as e:  # noqa: BLE001
                out = _sig(e)
            results.append((out, _fd_open(fd)))
            if _fd_open(fd):
                os.close(fd)
        assert results[1] == results[0]
    finally:
        for e in ends:
            e.close() if hasattr(e, "close") else os.close(e)


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
async def test_tell_after_fd_closed_behind(impl, tmp_path, buffering):
    p = tmp_path / "f"
    p.write_bytes(b"abcdef")
    outcomes = []
    for which in ("io", "impl"):
        if which == "io":
            f = open(p, "rb", buffering=buffering)
        else:
            f = await impl.open(p, "rb", buffering=buffering)
        r = f.read(2)
        if which == "impl":
            await r
        os.close(f.fileno())
        try:
            t = f.tell()
            if which == "impl":
                t = await t
            outcomes.append(_sig(t))
        except OSError as e:
            outcomes.append(_sig(e))
        try:
            c = f.close()
            if which == "impl":
                await c
        except OSError:
            pass
    assert outcomes[1] == outcomes[0]
    assert outcomes[0]["errno"] == errno.EBADF


# ---------------------------------------------------------------------------
# seek at the edges


async def _seq(impl, path, mode, buffering, steps):
    """Run steps (method, args) on io and on impl; compare each outcome."""
    out = []
    for which in ("io", "impl"):
        path.write_bytes(b"0123456789" * 10)
        res = []
        if which == "io":
            f = open(path, mode, buffering=buffering)
        else:
            f = await impl.open(path, mode, buffering=buffering)
        try:
            for meth, args in steps:
                try:
                    r = getattr(f, meth)(*args)
                    if which == "impl":
                        r = await r
                    res.append(_sig(r))
                except Exception as e:  # noqa: BLE001
                    res.append(_sig(e))
        finally:
            try:
                c = f.close()
                if which == "impl":
                    await c
            except OSError as e:
                res.append(_sig(e))
        out.append(res)
    assert out[1] == out[0], steps
    return out[0]


SEEK_MODES = [("rb", 0), ("rb", -1), ("r+b", -1), ("r+b", 0), ("wb", -1),
              ("ab", -1), ("a+b", -1)]


@pytest.mark.asyncio
@pytest.mark.parametrize("mode,buffering", SEEK_MODES)
async def test_seek_cur_overflow(impl, tmp_path, mode, buffering):
    """seek(2**63 - 1, 1) from a position > 0 overflows: EINVAL, as the
    kernel says to io (and no signed overflow in our C)."""
    readable = "r" in mode or "+" in mode
    first = ("read", (3,)) if readable else ("write", (b"abc",))
    steps = [first, ("seek", (2**63 - 1, 1)), ("tell", ()),
             ("seek", (-2**63, 1)), ("seek", (2**62, 1)),
             ("seek", (2**62, 1)), ("tell", ())]
    res = await _seq(impl, tmp_path / "f", mode, buffering, steps)
    assert res[1]["type"] is OSError and res[1]["errno"] == errno.EINVAL


@pytest.mark.asyncio
@pytest.mark.parametrize("mode,buffering", SEEK_MODES)
@pytest.mark.parametrize("target", [2**44, 2**44 - 4096, 2**60, 2**63 - 1])
async def test_seek_past_file_system_limit(impl, tmp_path, mode, buffering,
                                           target):
    """io's seek reaches lseek(), which refuses offsets past the file
    system's largest file (ext4: 16 TiB) with EINVAL at the seek."""
    steps = [("seek", (target,)), ("tell", ()), ("seek", (target, 0)),
             ("seek", (0,)), ("seek", (target // 2, 1)),
             ("seek", (target // 2, 1)), ("tell", ())]
    await _seq(impl, tmp_path / "f", mode, buffering, steps)


def test_seek_limit_test_runs_on_a_limited_file_system(tmp_path):
    """The test above is a regression test only where lseek has a limit
    below 2**63 (ext4 here); say so when it is not."""
    with open(tmp_path / "f", "wb") as f:
        try:
            f.seek(2**44)
        except OSError as e:
            assert e.errno == errno.EINVAL
            return
    pytest.skip("tmp_path's file system accepts 2**44")


# ---------------------------------------------------------------------------
# errors at the call where io raises them


FSIZE_SCRIPT = textwrap.dedent("""
    import asyncio, importlib, json, os, random, resource, signal, sys
    impl = importlib.import_module(sys.argv[1])
    d, limit, seeds = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def outcome(fn):
        try:
            return ["ok", fn()]
        except OSError as e:
            return ["err", e.errno]

    async def aoutcome(aw):
        try:
            return ["ok", await aw]
        except OSError as e:
            return ["err", e.errno]

    async def one(seed, mode, buffering):
        rnd = random.Random(seed)
        sizes = [rnd.choice([1, 100, 3000, 4095, 4096, 4097, 8192, 10000,
                             40000]) for _ in range(25)]
        p1, p2 = os.path.join(d, "io"), os.path.join(d, "impl")
        for p in (p1, p2):
            if os.path.exists(p):
                os.unlink(p)
        resource.setrlimit(resource.RLIMIT_FSIZE,
                           (limit, resource.RLIM_INFINITY))
        try:
            f = open(p1, mode, buffering=buffering)
            a = [outcome(lambda n=n: f.write(b"x" * n)) for n in sizes]
            a += [outcome(f.flush), outcome(f.close)]
            g = await impl.open(p2, mode, buffering=buffering)
            b = [await aoutcome(g.write(b"x" * n)) for n in sizes]
            b += [await aoutcome(g.flush()), await aoutcome(g.close())]
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE,
                               (resource.RLIM_INFINITY,) * 2)
        return [sizes, a, b, os.path.getsize(p1), os.path.getsize(p2)]

    bad = []
    for seed in range(seeds):
        for mode in ("wb", "ab", "w+b"):
            for buffering in (-1, 5000, 0):
                r = asyncio.run(one(seed, mode, buffering))
                if r[1] != r[2] or r[3] != r[4]:
                    bad.append([seed, mode, buffering] + r)
    print(json.dumps(bad))
""")


@pytest.mark.parametrize("limit", [4096, 50000, 100001])
def test_write_errors_at_ios_call_under_size_limit(impl, tmp_path, limit):
    """A file size limit (RLIMIT_FSIZE, SIGXFSZ ignored: EFBIG, after a
    short write) hits a sequence of writes of assorted sizes: every call
    succeeds or fails as io's does (io's buffer size decides which)."""
    script = tmp_path / "fsize.py"
    script.write_text(FSIZE_SCRIPT)
    out = subprocess.run(
        [sys.executable, str(script), impl.__name__, str(tmp_path),
         str(limit), "8"],
        capture_output=True, text=True, timeout=120,
        env=subprocess_env())
    assert out.returncode == 0, out.stderr
    bad = json.loads(out.stdout)
    assert bad == [], bad[:2]


@pytest.mark.asyncio
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("size", [1, 100, 4096, 4097, 8192, 10000, 200000])
@pytest.mark.parametrize("buffering", [-1, 0, 8192])
async def test_dev_full_error_at_ios_call(impl, size, buffering):
    steps = [("write", (b"x" * size,)), ("write", (b"y" * 10,)),
             ("flush", ())]
    out = []
    for which in ("io", "impl"):
        if which == "io":
            f = open("/dev/full", "wb", buffering=buffering)
        else:
            f = await impl.open("/dev/full", "wb", buffering=buffering)
        res = []
        for meth, args in steps + [("close", ())]:
            try:
                r = getattr(f, meth)(*args)
                if which == "impl":
                    r = await r
                res.append(_sig(r))
            except OSError as e:
                res.append(_sig(e))
        out.append(res)
    assert out[1] == out[0]


# ---------------------------------------------------------------------------
# non-blocking descriptors


def _nb_pipe(data=b""):
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    if data:
        os.write(w, data)
    return r, w


NB_READS = [("read", (5,)), ("read", ()), ("read", (-1,)), ("read", (200000,)),
            ("read1", (5,)), ("read1", ()), ("readline", ()),
            ("readline", (3,)), ("readinto", (5,)), ("readinto", (200000,)),
            ("peek", ()), ("readlines", ()), ("readall", ()), ("next", ())]


async def _nb_read(opener, is_async, buffering, data, meth, args):
    r, w = _nb_pipe(data)
    f = opener(r, "rb", buffering=buffering)
    if is_async:
        f = await f
    out = []
    try:
        for _ in range(2):
            try:
                if meth == "next":
                    if is_async:
                        try:
                            x = await f.__anext__()
                        except StopAsyncIteration:
                            x = "stop"
                    else:
                        x = next(f, "stop")
                else:
                    m = getattr(f, meth, None)
                    if m is None:
                        out.append("no such method")
                        break
                    buf = None
                    if meth == "readinto":
                        buf = bytearray(args[0])
                        args = (buf,)
                    x = m(*args)
                    if is_async:
                        x = await x
                    if buf is not None:
                        x = (x, bytes(buf[:20]))
                out.append(_sig(x))
            except Exception as e:  # noqa: BLE001
                out.append(_sig(e))
            os.write(w, b"more\n")
    finally:
        c = f.close()
        if is_async:
            await c
        os.close(w)
    return out


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, -1])
@pytest.mark.parametrize("data", [b"", b"ab", b"abcdefgh\nij"])
@pytest.mark.parametrize("meth,args", NB_READS)
async def test_nonblocking_reads_as_io(impl, buffering, data, meth, args):
    """EAGAIN: io's buffered methods give None, b'' or what they have; raw
    read()/readall() give None; raw readline refuses the None."""
    exp = await _nb_read(open, False, buffering, data, meth, args)
    act = await _nb_read(impl.open, True, buffering, data, meth, args)
    assert act == exp


async def _nb_writes(opener, is_async, seed, buffering):
    import random
    rnd = random.Random(seed)
    r, w = _nb_pipe()
    f = opener(w, "wb", buffering=buffering)
    if is_async:
        f = await f
    out = []
    got = b""

    def drain():
        data = b""
        while True:
            try:
                b = os.read(r, 1 << 20)
            except BlockingIOError:
                return data
            if not b:
                return data
            data += b

    for i in range(30):
        op = rnd.choice(["write", "write", "write", "writelines", "flush",
                         "drain"])
        n = rnd.choice([1, 100, 3000, 4096, 5000, 10000, 70000])
        data = bytes([65 + i % 26]) * n
        if op == "drain":
            got += drain()
            out.append(("drained", len(got)))
            continue
        try:
            if op == "write":
                x = f.write(data)
            elif op == "writelines":
                x = f.writelines([data[:n // 2], data[n // 2:]])
            else:
                x = f.flush()
            if is_async:
                x = await x
            out.append((op, n, _sig(x)))
        except OSError as e:
            out.append((op, n, _sig(e)))
    try:
        x = f.close()
        if is_async:
            await x
    except OSError as e:
        out.append(("close", _sig(e)))
    got += drain()
    os.close(r)
    return out, got


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [-1, 0, 3000])
@pytest.mark.parametrize("seed", range(6))
async def test_nonblocking_writes_as_io(impl, buffering, seed):
    """A full non-blocking pipe: each write/flush/close succeeds or raises
    BlockingIOError (with characters_written) as io's does, and the same
    bytes come out of the pipe."""
    exp = await _nb_writes(open, False, seed, buffering)
    act = await _nb_writes(impl.open, True, seed, buffering)
    assert act[0] == exp[0]
    assert act[1] == exp[1]


# ---------------------------------------------------------------------------
# integers at the edges: every int a binary file method takes


INT_CONFIGS = [("rb", 0), ("rb", -1), ("r+b", 0), ("r+b", -1), ("wb", -1),
               ("wb", 0), ("ab", -1), ("a+b", -1)]
INT_METHODS = ["read", "read1", "peek", "readline", "readlines", "truncate",
               "seek", "seek_cur", "seek_end", "whence"]


async def _int_call(opener, is_async, path, mode, buffering, meth, value):
    with open(path, "wb") as fh:
        fh.write(b"abc\ndef\n" * 10)
    f = opener(path, mode, buffering=buffering)
    if is_async:
        f = await f
    try:
        name = "seek" if meth.startswith("seek") or meth == "whence" else meth
        m = getattr(f, name, None)
        if m is None:
            return ("no such method",)
        args = {"seek_cur": (value, 1), "seek_end": (value, 2),
                "whence": (0, value)}.get(meth, (value,))
        try:
            r = m(*args)
            if is_async:
                r = await r
            t = f.tell()
            if is_async:
                t = await t
            return ("ok", _sig(r), t)
        except Exception as e:  # noqa: BLE001
            return _sig(e)
    finally:
        try:
            c = f.close()
            if is_async:
                await c
        except OSError:
            pass


@pytest.mark.asyncio
@pytest.mark.parametrize("mode,buffering", INT_CONFIGS)
@pytest.mark.parametrize("meth", INT_METHODS)
async def test_int_arguments_as_io(impl, tmp_path, mode, buffering, meth):
    """Each edge value to each int-taking method: io's result or io's
    exception (type, args), never a different error or a huge
    allocation."""
    bad = []
    for value in EDGE_INTS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exp = await _int_call(open, False, tmp_path / "a", mode,
                                  buffering, meth, value)
            act = await _int_call(impl.open, True, tmp_path / "b", mode,
                                  buffering, meth, value)
        if act != exp:
            bad.append((value, exp, act))
    assert bad == []


@pytest.mark.asyncio
@pytest.mark.parametrize("buffering", [0, 1, 7, 2**31, 2**63, -2, True,
                                       1.5, "8", Idx(9)])
async def test_buffering_argument_as_io(impl, tmp_path, buffering):
    p = tmp_path / "f"
    p.write_bytes(b"x" * 100)
    with warnings.catch_warnings(record=True) as wexp:
        warnings.simplefilter("always")
        try:
            g = open(p, "rb", buffering=buffering)
            exp = ("ok", g.read(3))
            g.close()
        except Exception as e:  # noqa: BLE001
            exp = _sig(e)
    with warnings.catch_warnings(record=True) as wact:
        warnings.simplefilter("always")
        try:
            f = await impl.open(p, "rb", buffering=buffering)
            act = ("ok", await f.read(3))
            await f.close()
        except Exception as e:  # noqa: BLE001
            act = _sig(e)
    assert act == exp
    assert [str(w.message) for w in wact] == [str(w.message) for w in wexp]


# ---------------------------------------------------------------------------
# integers at the edges: aiofiles_c.os


def _safe_fd(v):
    """Mutating calls get no value that is a real descriptor here."""
    try:
        i = operator.index(v)
    except TypeError:
        return True
    return not 0 <= i < 2**31


def _os_cases():
    cases = []
    for v in EDGE_INTS:
        cases += [
            ("stat", ("FD",), {}, v), ("stat", ("f",), {"dir_fd": "V"}, v),
            ("lstat", ("f",), {"dir_fd": "V"}, v),
            ("access", ("F", "V"), {}, v), ("mkdir", ("M", "V"), {}, v),
            ("listdir", ("V",), {}, v), ("statvfs", ("V",), {}, v),
            ("chmod", ("F", "V"), {}, v), ("chown", ("F", "V", -1), {}, v),
            ("chown", ("F", -1, "V"), {}, v),
            ("truncate", ("F", "V"), {}, v),
            ("utime", ("F",), {"ns": ("V", 0)}, v),
            ("utime", ("F", ("V", 0)), {}, v),
            ("sendfile", ("OUT", "IN", 0, "V"), {}, v),
            ("sendfile", ("OUT", "IN", "V", 10), {}, v),
            ("readlink", ("l",), {"dir_fd": "V"}, v),
            ("unlink", ("nonexistent",), {"dir_fd": "V"}, v),
            ("rename", ("nonexistent", "x"), {"src_dir_fd": "V"}, v),
        ]
        if _safe_fd(v):
            cases += [
                ("fsync", ("V",), {}, v), ("fdatasync", ("V",), {}, v),
                ("chmod", ("V", 0o644), {}, v),
                ("truncate", ("V", 0), {}, v), ("utime", ("V",), {}, v),
                ("sendfile", ("V", "IN", 0, 10), {}, v),
                ("sendfile", ("OUT", "V", 0, 10), {}, v),
                ("chown", ("V", -1, -1), {}, v), ("stat", ("V",), {}, v),
            ]
    return cases


@pytest.mark.asyncio
async def test_os_int_arguments_as_os(impl, tmp_path):
    """Every int an aiofiles_c.os call takes (fd, dir_fd, mode bits,
    uid/gid, length, offset, count, times) at the edges: os's result or
    os's exception (type, args, filename)."""
    import importlib
    aos = importlib.import_module(f"{impl.__name__}.os")
    f = tmp_path / "f"
    bad = []
    for name, args, kwargs, v in _os_cases():
        if not hasattr(aos, name):
            continue  # aiofiles has a subset of aiofiles_c's calls
        outcomes = []
        for which in (os, aos):
            f.write_bytes(b"x" * 100)
            os.chmod(f, 0o644)
            if (tmp_path / "M").exists():
                os.rmdir(tmp_path / "M")
            out = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT)
            inn = os.open(f, os.O_RDONLY)
            dfd = os.open(tmp_path, os.O_RDONLY)
            subst = {"OUT": out, "IN": inn, "FD": inn, "V": v,
                     "F": str(f), "M": str(tmp_path / "M")}

            def put(x):
                if isinstance(x, tuple):
                    return tuple(put(y) for y in x)
                return subst.get(x, x) if isinstance(x, str) else x

            a = put(args)
            kw = {k: put(x) for k, x in kwargs.items()}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = getattr(which, name)(*a, **kw)
                    if which is aos:
                        r = await r
                outcomes.append(("ok", type(r).__name__))
            except Exception as e:  # noqa: BLE001
                outcomes.append(_sig(e))
            finally:
                for fd in (out, inn, dfd):
                    os.close(fd)
        if outcomes[0] != outcomes[1]:
            bad.append((name, args, kwargs, v, outcomes))
    assert bad == []


# ---------------------------------------------------------------------------
# _cext.fs refuses what could build a wrong job


@pytest.mark.skipif(not IS_C, reason="aiofiles_c's native entry point")
@pytest.mark.parametrize("op", [-1, "one past the last", 1000, 2**31 - 1])
def test_fs_rejects_bad_op_codes(impl, op):
    from aiofiles_c import _cext, _fs
    if op == "one past the last":
        op = _fs.READFILE + 1
    with pytest.raises(ValueError, match="invalid file-system operation"):
        _cext.fs(op, b".", None, -1, -1, -100, -100, 0, 0, -1, 0, None, None,
                 True)


@pytest.mark.skipif(not IS_C, reason="aiofiles_c's native entry point")
@pytest.mark.parametrize("which", [0, 1])
def test_fs_rejects_nul_bytes(impl, tmp_path, which):
    from aiofiles_c import _cext, _fs
    victim = tmp_path / "victim"
    victim.write_bytes(b"x")
    bad = os.fsencode(victim) + b"\0/ignored"
    paths = [b"/nonexistent", b"/nonexistent2"]
    paths[which] = bad
    with pytest.raises(ValueError) as exc:
        _cext.fs(_fs.RENAME, paths[0], paths[1], -1, -1, -100, -100, 0, 0,
                 -1, 0, None, None, True)
    with pytest.raises(ValueError) as exp:
        os.rename(*map(os.fsdecode, paths))
    assert exc_signature(exc.value) == exc_signature(exp.value)
    assert victim.read_bytes() == b"x"
    with pytest.raises(ValueError):
        _cext.fs(_fs.UNLINK, bad, None, -1, -1, -100, -100, 0, 0, -1, 0,
                 None, None, True)
    assert victim.exists()


@pytest.mark.skipif(not IS_C, reason="aiofiles_c's native helper")
def test_int_arg_helper_kinds(impl):
    from aiofiles_c import _cext
    assert _cext.int_arg("fd", 5) == 5
    assert _cext.int_arg("uid", -1) == -1
    with pytest.raises(ValueError, match="unknown integer kind"):
        _cext.int_arg("nope", 1)
    with pytest.raises(TypeError):
        _cext.int_arg("fd")


@pytest.mark.asyncio
@pytest.mark.skipif(os.environ.get("AIOFILES_C_TEST_PROFILE") == "sanitizer",
                    reason="ASan aborts on allocations it cannot serve, "
                           "io's included")
@pytest.mark.parametrize("mode,buffering", [("rb", 0), ("rb", -1),
                                            ("r+b", -1)])
@pytest.mark.parametrize("meth", ["read", "read1", "peek", "readline"])
@pytest.mark.parametrize("size", [2**40, 2**50, 2**62])
async def test_sizes_beyond_memory_as_io(impl, tmp_path, mode, buffering,
                                         meth, size):
    """A size no memory can hold: io's MemoryError/OverflowError or io's
    result (readline and peek do not allocate it), and the process lives."""
    exp = await _int_call(open, False, tmp_path / "a", mode, buffering, meth,
                          size)
    act = await _int_call(impl.open, True, tmp_path / "b", mode, buffering,
                          meth, size)
    assert act == exp
