"""Shared helpers for the aiofiles_c test-suite (the ``tests`` package).

The implementation under test is chosen by pytest's ``--impl`` and
``--backend`` options (see conftest.py), which set ``AIOFILES_IMPL`` and
``AIOFILES_C_BACKEND`` before any test module imports this one; run outside
pytest (a subprocess script), the same variables decide. ``--impl aiofiles``
selects the real aiofiles package, used to validate the tests themselves.
"""
from __future__ import annotations

import asyncio
import collections
import importlib
import importlib.util
import inspect
import io
import os
import random
import signal
import site
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import uvloop

IMPL_NAME = os.environ.get("AIOFILES_IMPL", "aiofiles_c")
# aiofiles_c's API (its additions to aiofiles' names are there).
HAS_EXTRAS = IMPL_NAME == "aiofiles_c"
# The backend under test: "native", "portable", "python"; None for aiofiles.
BACKEND = (importlib.import_module("aiofiles_c").backend if HAS_EXTRAS
           else None)
# aiofiles_c's own engine (native or portable). On the pure-Python backend
# aiofiles_c behaves as aiofiles does, and the tests expect that of it.
IS_C = HAS_EXTRAS and BACKEND != "python"
NATIVE_ONLY_REASON = ("native engine behaviour; the pure-Python backend "
                      "runs aiofiles' executor route")

# Multiply hypothesis example counts (e.g. AIOFILES_TEST_EXAMPLES=10 for a
# long bug hunt); the default keeps the suite fast.
EXAMPLES_SCALE = float(os.environ.get("AIOFILES_TEST_EXAMPLES", "1"))


def examples(n: int) -> int:
    return max(1, int(n * EXAMPLES_SCALE))


LOOP_FACTORIES = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}
# The same loops as event loop policies (older pytest-asyncio releases).
LOOP_POLICIES = {
    "asyncio": asyncio.DefaultEventLoopPolicy,
    "uvloop": uvloop.EventLoopPolicy,
}


from ._runner import Runner  # noqa: E402,F401  (re-exported)

BINARY_MODES = ["rb", "wb", "ab", "xb", "r+b", "w+b", "a+b"]


def load_impl():
    return importlib.import_module(IMPL_NAME)


# --------------------------------------------------------------------------
# subprocesses: scripts and programs run in a fresh interpreter, in their
# own process group, with a hard timeout (a crash or a hang fails the test,
# never the suite).

# The directory that holds the ``tests`` package (the repository root).
ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
# Variables that would change what the scripts print (warning filters,
# dev mode, asyncio debug reprs / slow-callback warnings).
SCRUBBED_ENV = ("PYTHONWARNINGS", "PYTHONDEVMODE", "PYTHONASYNCIODEBUG",
                "PYTHONTRACEMALLOC")

Result = collections.namedtuple("Result", "cmd returncode stdout stderr")


def _impl_root():
    """Where this process imports the implementation under test from,
    unless that is a site-packages directory (a child finds it anyway)."""
    try:
        spec = importlib.util.find_spec(IMPL_NAME)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    origin = Path(spec.origin).resolve()
    root = (origin.parent.parent if spec.submodule_search_locations
            else origin.parent)
    site_dirs = {str(Path(p).resolve()) for p in site.getsitepackages()}
    return None if str(root) in site_dirs else root


def subprocess_env(**extra):
    """The environment of a child interpreter: the same implementation and
    backend as this process (an in-place build is found through
    PYTHONPATH), the ``tests`` package importable, debug switches that
    change output removed; ``extra`` added last."""
    env = dict(os.environ)
    env["AIOFILES_IMPL"] = IMPL_NAME
    for var in SCRUBBED_ENV:
        env.pop(var, None)
    paths = [str(ROOT)]
    root = _impl_root()
    if root is not None and root != ROOT:
        paths.insert(0, str(root))
    old = env.get("PYTHONPATH")
    if old:
        paths.append(old)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(extra)
    return env


def killpg(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_process(cmd, *, timeout, env=None, label=None):
    """Run ``cmd`` in its own session / process group and return a Result.
    On timeout the whole group (forked grandchildren included) is killed
    and the test fails."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env=subprocess_env() if env is None else env,
                            start_new_session=True)
    shown = label or " ".join(str(c) for c in cmd[1:])
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        killpg(proc.pid)
        out, err = proc.communicate()
        pytest.fail(f"HUNG: {shown} was killed after {timeout}s"
                    f"\n--- stdout:\n{out.decode(errors='replace')}"
                    f"\n--- stderr:\n{err.decode(errors='replace')}")
    finally:
        # Stragglers of the group (e.g. a forked child its parent gave up on).
        killpg(proc.pid)
    return Result(shown, proc.returncode, out.decode(errors="replace"),
                  err.decode(errors="replace"))


def run_python(code, *args, timeout=60, env=None):
    """Run source ``code`` (dedented) in a fresh interpreter with ``args``
    as sys.argv[1:]; ``env`` is added to subprocess_env(). Returns
    (returncode, stdout, stderr)."""
    res = run_process(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        timeout=timeout, env=subprocess_env(**(env or {})),
        label="python -c <code>")
    return res.returncode, res.stdout, res.stderr


def describe(res):
    """A failed Result, for an assertion message."""
    rc = res.returncode
    how = (f"killed by signal {signal.Signals(-rc).name}" if rc < 0
           else f"exit status {rc}")
    return (f"{res.cmd} [{IMPL_NAME}]: {how}\n--- stdout:\n{res.stdout}"
            f"\n--- stderr:\n{res.stderr}")


async def maybe_await(x):
    """Await ``x`` if it is awaitable (lets tests accept both a sync object
    and an async wrapper where the API leaves it open)."""
    if inspect.isawaitable(x):
        return await x
    return x


def gen_bytes(size: int, seed: int, newline_every: int = 0) -> bytes:
    """Deterministic pseudo random bytes; optionally sprinkle newlines."""
    rnd = random.Random(seed)
    data = bytearray(rnd.randbytes(size))
    if newline_every:
        for i in range(0, size, max(1, newline_every)):
            j = i + rnd.randrange(max(1, newline_every))
            if j < size:
                data[j] = 0x0A
    return bytes(data)


PENDING_MSG = "Task was destroyed but it is pending!"


def unexpected_stderr(stderr, allow_pending_task_msgs=False):
    """stderr lines that are not allowed.  Optionally drops asyncio's own
    two-line "Task was destroyed but it is pending!" / "task: <Task pending
    ...>" log records (printed when a pending Task is garbage collected)."""
    lines = stderr.splitlines()
    bad = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if (allow_pending_task_msgs and line == PENDING_MSG
                and i + 1 < len(lines)
                and lines[i + 1].startswith("task: <Task pending")):
            i += 2
            continue
        if line.strip():
            bad.append(line)
        i += 1
    return bad


# --------------------------------------------------------------------------
# exception comparison


def exc_signature(e: BaseException):
    sig = {
        "type": type(e),
        "args": e.args,
        "str": str(e),
    }
    if isinstance(e, OSError):
        sig.update(
            errno=e.errno,
            strerror=e.strerror,
            filename=e.filename,
            filename2=e.filename2,
        )
    return sig


def assert_same_exception(actual: BaseException, expected: BaseException,
                          context: str = "") -> None:
    a = exc_signature(actual)
    e = exc_signature(expected)
    assert a == e, (
        f"{context}: exception mismatch\n  impl:   {actual!r} {a}\n"
        f"  stdlib: {expected!r} {e}"
    )


class Outcome:
    """Result of calling something: either a value or an exception."""

    __slots__ = ("value", "exc")

    def __init__(self, value=None, exc=None):
        self.value = value
        self.exc = exc

    def __repr__(self):
        if self.exc is not None:
            return f"raise {self.exc!r}"
        return f"return {self.value!r}"


def call_sync(fn, *args, **kwargs) -> Outcome:
    try:
        return Outcome(value=fn(*args, **kwargs))
    except Exception as e:  # noqa: BLE001
        return Outcome(exc=e)


async def call_async(fn, *args, **kwargs) -> Outcome:
    try:
        return Outcome(value=await fn(*args, **kwargs))
    except Exception as e:  # noqa: BLE001
        return Outcome(exc=e)


def assert_same_outcome(actual: Outcome, expected: Outcome, context: str = ""):
    if expected.exc is not None:
        assert actual.exc is not None, (
            f"{context}: stdlib raised {expected.exc!r} but impl returned "
            f"{actual.value!r}"
        )
        assert_same_exception(actual.exc, expected.exc, context)
        return
    assert actual.exc is None, (
        f"{context}: stdlib returned {expected.value!r} but impl raised "
        f"{actual.exc!r}"
    )
    assert type(actual.value) is type(expected.value), (
        f"{context}: type mismatch impl {type(actual.value)!r} "
        f"stdlib {type(expected.value)!r} (values {actual.value!r} / "
        f"{expected.value!r})"
    )
    assert actual.value == expected.value, (
        f"{context}: value mismatch\n  impl:   {actual.value!r}\n"
        f"  stdlib: {expected.value!r}"
    )


# --------------------------------------------------------------------------
# opening twins


def open_stdlib(path, mode, buffering):
    """stdlib open(); swallow (but verify) the buffering=1 RuntimeWarning."""
    if buffering == 1:
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            f = open(path, mode, buffering=buffering)
        assert any(issubclass(w.category, RuntimeWarning) for w in rec), rec
        return f
    return open(path, mode, buffering=buffering)


async def open_impl(impl, path, mode, buffering):
    """impl.open(); for buffering=1 check it warns RuntimeWarning like io."""
    if buffering == 1:
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            f = await impl.open(path, mode, buffering=buffering)
        msgs = [w for w in rec if issubclass(w.category, RuntimeWarning)]
        assert msgs, f"buffering=1 in binary mode must warn, got {rec!r}"
        assert str(msgs[0].message) == (
            "line buffering (buffering=1) isn't supported in binary mode, "
            "the default buffer size will be used"
        )
        return f
    return await impl.open(path, mode, buffering=buffering)


# differential op engine
#
# An op is a tuple (name, args).  Special names:
#   ("readinto", (n, kind))   kind in {"bytearray", "memoryview"}
#   ("write", (data, kind))   kind in {"bytes", "bytearray", "memoryview",
#                             "str"}
#   ("writelines", (chunks,)) impl gets a generator, stdlib a list
#   ("anext", ())             one step of ``async for`` vs next(twin)
#   ("sync", (name,))         plain method: readable / fileno
#   ("prop", (name,))         property: closed / mode
#   ("call", (name, args))    async method with literal args (no copying)
# every other name is an async method called with ``args``.


def _make_write_arg(data, kind):
    if kind == "bytes":
        return data
    if kind == "bytearray":
        return bytearray(data)
    if kind == "memoryview":
        return memoryview(bytearray(data))
    if kind == "str":
        return data.decode("latin-1")
    raise AssertionError(kind)


def _fresh_args(args):
    """Copy mutable buffer arguments so that a call can be replayed."""
    out = []
    for a in args:
        if isinstance(a, (bytearray, memoryview)):
            out.append(bytearray(a) if isinstance(a, bytearray)
                       else memoryview(bytearray(a)))
        elif isinstance(a, list):
            out.append(list(a))
        else:
            out.append(a)
    return tuple(out)


class Twin:
    """The stdlib oracle: a file opened with builtin open().

    Every call made on it is recorded, so that its exact state can be
    reproduced on a *shadow* copy (same initial content, same mode and
    buffering, same calls).  The shadow is used to look ahead ("what would io
    return by reading further") without perturbing the twin: CPython's
    buffered objects have state-dependent quirks (e.g. in append mode), so
    any extra read/seek on the twin itself could change later results.
    """

    def __init__(self, path, shadow_path, mode, buffering, initial):
        self.path = path
        self.shadow_path = shadow_path
        self.mode = mode
        self.buffering = buffering
        self.initial = initial
        self.calls = []
        self.f = open_stdlib(path, mode, buffering)

    last_exc = None

    def call(self, name, *args) -> Outcome:
        self.calls.append((name, _fresh_args(args)))
        out = call_sync(getattr(self.f, name), *args)
        self.last_exc = out.exc
        return out

    def lookahead(self, n) -> bytes:
        """bytes a read(n) on the twin would return now (twin unchanged)."""
        _prepare(self.shadow_path, self.initial)
        shadow = open_stdlib(self.shadow_path, self.mode, self.buffering)
        try:
            for name, args in self.calls:
                call_sync(getattr(shadow, name), *_fresh_args(args))
            return shadow.read(n)
        finally:
            shadow.close()
            os.unlink(self.shadow_path)


def _attr_presence(f, twin, name, ctx):
    has_twin = hasattr(twin.f, name)
    has_impl = hasattr(f, name)
    assert has_impl == has_twin, (
        f"{ctx}: hasattr(impl, {name!r}) is {has_impl}, stdlib object "
        f"{type(twin.f).__name__} has it: {has_twin}"
    )
    return has_twin


async def apply_op(f, twin: Twin, op, ctx: str) -> None:
    name, args = op
    if name == "readinto":
        n, kind = args
        if not _attr_presence(f, twin, name, ctx):
            return
        b_impl = bytearray(b"\xee" * n)
        b_twin = bytearray(b"\xee" * n)
        a_impl = memoryview(b_impl) if kind == "memoryview" else b_impl
        a_twin = memoryview(b_twin) if kind == "memoryview" else b_twin
        exp = twin.call("readinto", a_twin)
        act = await call_async(f.readinto, a_impl)
        assert_same_outcome(act, exp, ctx)
        assert b_impl == b_twin, f"{ctx}: readinto buffers differ"
        return
    if name == "write":
        data, kind = args
        exp = twin.call("write", _make_write_arg(data, kind))
        act = await call_async(f.write, _make_write_arg(data, kind))
        assert_same_outcome(act, exp, ctx)
        return
    if name == "writelines":
        (chunks,) = args
        exp = twin.call("writelines", list(chunks))
        # impl gets a generator to make sure any iterable is accepted
        act = await call_async(f.writelines, (c for c in chunks))
        assert_same_outcome(act, exp, ctx)
        return
    if name == "anext":
        exp = twin.call("__next__")
        if isinstance(exp.exc, StopIteration):
            exp = Outcome(value="<stop>")
        try:
            act = Outcome(value=await f.__anext__())
        except StopAsyncIteration:
            act = Outcome(value="<stop>")
        except Exception as e:  # noqa: BLE001
            act = Outcome(exc=e)
        assert_same_outcome(act, exp, ctx)
        return
    if name == "sync":
        (meth,) = args
        if not _attr_presence(f, twin, meth, ctx):
            return
        exp = twin.call(meth)
        act = call_sync(getattr(f, meth))
        if meth == "fileno" and exp.exc is None:
            # different fds: only check it is a valid int
            assert act.exc is None, f"{ctx}: fileno() raised {act.exc!r}"
            assert type(act.value) is int and act.value >= 0, (ctx, act)
            return
        assert_same_outcome(act, exp, ctx)
        return
    if name == "prop":
        (attr,) = args
        a, e = getattr(f, attr), getattr(twin.f, attr)
        assert type(a) is type(e) and a == e, (
            f"{ctx}: property {attr}: impl {a!r} stdlib {e!r}")
        return
    if name == "call":
        # generic call with literal arguments (used for bad argument types)
        meth, margs = args
        if not _attr_presence(f, twin, meth, ctx):
            return
        exp = twin.call(meth, *margs)
        act = await call_async(getattr(f, meth), *margs)
        assert_same_outcome(act, exp, ctx)
        return
    if name == "read1":
        await _apply_read1(f, twin, args, ctx)
        return
    if name == "peek":
        await _apply_peek(f, twin, args, ctx)
        return

    if not _attr_presence(f, twin, name, ctx):
        return
    exp = twin.call(name, *args)
    act = await call_async(getattr(f, name), *args)
    assert_same_outcome(act, exp, ctx)


async def _apply_read1(f, twin: Twin, args, ctx):
    if not _attr_presence(f, twin, "read1", ctx):
        return
    if isinstance(twin.f, io.BufferedRandom):
        # CPython 3.11 bug: BufferedRandom.read1() does not flush pending
        # writes first and returns stale data (and misplaces the write).
        # Flush both files (a compared op) so that the stdlib twin is a
        # valid oracle; read1 right after a write is covered separately in
        # test_binary_errors.py.
        await apply_op(f, twin, ("flush", ()), ctx + " (flush before read1)")
    act = await call_async(f.read1, *args)
    if act.exc is not None:
        exp = twin.call("read1", *args)
        assert_same_outcome(act, exp, ctx)
        return
    r = act.value
    assert type(r) is bytes, f"{ctx}: read1 returned {type(r)!r}"
    n = args[0] if args else -1
    if n == 0:
        assert r == b"", f"{ctx}: read1(0) returned {r!r}"
        exp = twin.call("read1", 0)
        assert exp.exc is None and exp.value == b"", (ctx, exp)
        return
    if n > 0:
        assert len(r) <= n, f"{ctx}: read1({n}) returned {len(r)} bytes"
    if r:
        # advance the twin by exactly the bytes the impl returned
        exp = twin.call("read", len(r))
        assert exp.exc is None and exp.value == r, (
            f"{ctx}: read1 returned {r!r} but the stream holds {exp!r} there")
    else:
        exp = twin.call("read1", *args)
        assert exp.exc is None and exp.value == b"", (
            f"{ctx}: read1 returned b'' but not at EOF (stdlib: {exp!r})")


async def _apply_peek(f, twin: Twin, args, ctx):
    if not _attr_presence(f, twin, "peek", ctx):
        return
    act = await call_async(f.peek, *args)
    # peek the twin too: it has the same side effects as on the impl
    # (BufferedRandom.peek flushes pending writes, which matters for the
    # position reported in append mode).
    exp = twin.call("peek", *args)
    if act.exc is not None or exp.exc is not None:
        assert_same_outcome(act, exp, ctx)
        return
    r = act.value
    assert type(r) is bytes, f"{ctx}: peek returned {type(r)!r}"
    ahead = twin.lookahead(max(len(r), 1))
    if r:
        assert ahead == r, (
            f"{ctx}: peek returned {r!r}, but the stream holds {ahead!r}")
    else:
        assert ahead == b"", (
            f"{ctx}: peek returned b'' but not at EOF (next: {ahead!r})")
    # peek must not move the position
    t_exp = twin.call("tell")
    t_act = await call_async(f.tell)
    assert_same_outcome(t_act, t_exp, ctx + " (tell after peek)")


def _prepare(path, initial):
    if initial is None:
        if os.path.exists(path):
            os.unlink(path)
    else:
        with open(path, "wb") as fh:
            fh.write(initial)


READ_OPS = frozenset({"read", "read1", "readinto", "readline", "readlines",
                      "peek", "anext"})
WRITE_OPS = frozenset({"write", "writelines"})


async def run_differential(impl, path_impl, path_twin, mode, buffering,
                           initial, ops):
    """Open ``path_impl`` with impl and ``path_twin`` with stdlib and apply
    ``ops`` to both, comparing everything.  ``initial`` (bytes or None)
    is written to both paths first (None: the paths do not exist)."""
    _prepare(path_impl, initial)
    _prepare(path_twin, initial)
    twin = Twin(path_twin, path_twin + ".shadow", mode, buffering, initial)
    try:
        f = await open_impl(impl, path_impl, mode, buffering)
        try:
            assert type(f.mode) is str and f.mode == twin.f.mode, (
                f.mode, twin.f.mode)
            assert f.closed is False
            buffered_plus = buffering != 0 and "+" in mode
            read_since_sync = False
            for i, op in enumerate(ops):
                ctx = f"mode={mode!r} buffering={buffering} op #{i} {op!r}"
                if (buffered_plus and "a" in mode and op[0] in WRITE_OPS
                        and read_since_sync):
                    # CPython 3.11 bug: in a+ mode, a write into a buffer that
                    # holds read-ahead leaves a stale read buffer and a
                    # position past EOF (read() after it returns old bytes,
                    # tell() > size). Flush first (a compared op), as for
                    # read1 above, so io is a valid oracle.
                    await apply_op(f, twin, ("flush", ()),
                                   ctx + " (flush before write)")
                    read_since_sync = False
                await apply_op(f, twin, op, ctx)
                if op[0] in READ_OPS:
                    read_since_sync = True
                elif op[0] in ("flush", "truncate"):  # a seek may keep the read-ahead
                    read_since_sync = False
                if (buffered_plus and op[0] == "seek"
                        and isinstance(twin.last_exc, OSError)):
                    # CPython 3.11 bug: after a failed raw seek,
                    # BufferedRandom's cached raw position is wrong (a later
                    # seek(0) returns -1). Nothing after it can be compared;
                    # the file bytes still are, below.
                    break
            else:
                await apply_op(f, twin, ("tell", ()), "final tell()")
        finally:
            c_act = await call_async(f.close)
    finally:
        c_exp = call_sync(twin.f.close)
    assert_same_outcome(c_act, c_exp, "close()")
    assert f.closed is True
    with open(path_impl, "rb") as fh:
        data_impl = fh.read()
    with open(path_twin, "rb") as fh:
        data_twin = fh.read()
    assert data_impl == data_twin, (
        f"final file content differs (len impl={len(data_impl)} "
        f"stdlib={len(data_twin)})\n  impl:   {data_impl[:200]!r}\n"
        f"  stdlib: {data_twin[:200]!r}")


# ---- descriptors and jobs in flight ----

def open_fds() -> set:
    """This process's open descriptors (Linux: /proc/self/fd)."""
    return set(os.listdir("/proc/self/fd"))


def in_flight() -> int:
    """The running loop's jobs still in the native pool (0 where there is
    no pool: the pure-Python backend's executor calls end with the task
    that awaits them, and aiofiles has none)."""
    if not IS_C:
        return 0
    from aiofiles_c import _loop
    return _loop.completion_for(asyncio.get_running_loop())._inflight


class LoopTurns:
    """``async with LoopTurns() as turns``: a task that counts the turns
    the event loop gives it (one per ``asyncio.sleep(0)``, added when it
    resumes) from the block's start; ``turns.count`` may be read at any
    time. Leaving the block stops it, after one more turn."""

    def __init__(self) -> None:
        self.count = 0
        self._stop = False
        self._task: asyncio.Future | None = None

    async def _run(self) -> None:
        while not self._stop:
            await asyncio.sleep(0)
            self.count += 1

    async def __aenter__(self) -> "LoopTurns":
        self._task = asyncio.ensure_future(self._run())
        await asyncio.sleep(0)  # the task is at its first sleep
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop = True
        await self._task


async def settled_fds(before: set, timeout: float = 10.0) -> set:
    """The open descriptors once every job of this loop is back and none
    beyond ``before`` is open, or at ``timeout``: a job a worker still runs
    (a cancelled copy, an open whose result nobody takes) closes or brings
    back its descriptor later, so one look is not enough; a real leak
    stays until the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        fds = open_fds()
        if (fds <= before and not in_flight()) or loop.time() >= deadline:
            return fds
        await asyncio.sleep(0.005)


async def cancel_after(aw, turns: int):
    """Start ``aw`` as a task, let the loop run ``turns`` times, cancel it
    and wait for it to end; returns its result if it finished first, else
    None (its cancellation is swallowed, any other error is raised)."""
    task = asyncio.ensure_future(aw)
    for _ in range(turns):
        await asyncio.sleep(0)
    task.cancel()
    try:
        return await task
    except asyncio.CancelledError:
        return None
