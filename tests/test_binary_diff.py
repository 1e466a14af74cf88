"""Differential tests: random op sequences on impl.open() vs stdlib open().

Every op is applied to a file opened with the implementation under test and
to a twin file opened with the stdlib ``open()`` using the same mode and
buffering.  Return values and exceptions (type, args, str, errno, filename)
must be identical, and after closing both files their bytes on disk must be
identical.

Documented exceptions (aiofiles_c keeps a bigger read-ahead buffer):
``peek(n)`` and ``read1(n)`` may return a different number of bytes; for those
the contract is checked instead (see helpers._apply_read1/_apply_peek).
"""
import itertools
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import BINARY_MODES, examples, gen_bytes, run_differential

BUFFERINGS = [0, 1, 2, 7, 64, 4096, -1]

_counter = itertools.count()

# ---------------------------------------------------------------- strategies

small_n = st.integers(min_value=1, max_value=40)
any_n = st.one_of(
    small_n,
    st.integers(min_value=41, max_value=300),
    st.integers(min_value=300, max_value=9000),
)

content = st.one_of(
    st.binary(max_size=300),
    st.lists(st.binary(max_size=30).map(lambda b: b + b"\n"),
             max_size=30).map(b"".join),
    st.builds(gen_bytes, st.integers(0, 12000), st.integers(0, 2**32),
              st.sampled_from([0, 5, 80, 3000])),
)

write_data = st.one_of(
    st.binary(max_size=50),
    st.lists(st.binary(max_size=10).map(lambda b: b + b"\n"),
             max_size=6).map(b"".join),
    st.builds(gen_bytes, st.integers(0, 9000), st.integers(0, 2**32),
              st.sampled_from([0, 40])),
)


def op(name, *args):
    return st.tuples(st.just(name), st.tuples(*args))


read_arg = st.one_of(any_n, st.sampled_from([-1, None, 0, -2]))
ops_strategy = st.one_of(
    op("read", read_arg),
    st.just(("read", ())),
    op("read1", st.one_of(any_n, st.sampled_from([-1, 0]))),
    st.just(("read1", ())),
    st.just(("readall", ())),
    op("readinto", st.one_of(st.just(0), any_n),
       st.sampled_from(["bytearray", "memoryview"])),
    op("readline", st.one_of(st.sampled_from([None, -1, 0]), any_n)),
    st.just(("readline", ())),
    op("readlines", st.one_of(st.sampled_from([None, -1, 0]), any_n)),
    st.just(("readlines", ())),
    st.just(("anext", ())),
    op("write", write_data, st.sampled_from(
        ["bytes", "bytes", "bytes", "bytearray", "memoryview", "str"])),
    op("writelines", st.lists(write_data, max_size=5)),
    op("seek", st.integers(-10, 13000)),
    op("seek", st.integers(-10, 13000), st.just(0)),
    op("seek", st.integers(-300, 300), st.just(1)),
    op("seek", st.integers(-300, 30), st.just(2)),
    st.just(("tell", ())),
    op("truncate", st.one_of(st.none(), st.integers(0, 13000))),
    st.just(("truncate", ())),
    st.just(("flush", ())),
    op("peek", st.one_of(st.sampled_from([0, 1, -1]), any_n)),
    st.just(("peek", ())),
    op("sync", st.sampled_from(["readable", "fileno"])),
    op("prop", st.sampled_from(["closed", "mode"])),
    st.sampled_from([("isatty", ()), ("seekable", ()), ("writable", ())]),
)
def _ops_with_rare_close():
    # close is rare, so that most sequences exercise an open file; the ops
    # after a close compare the closed-file errors.
    return st.lists(
        st.tuples(ops_strategy, st.integers(0, 60)).map(
            lambda t: ("close", ()) if t[1] == 0 else t[0]),
        max_size=40)


SETTINGS = settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("diff")


def _paths(workdir):
    i = next(_counter)
    return (os.path.join(workdir, f"impl-{i}.bin"),
            os.path.join(workdir, f"twin-{i}.bin"))


def _cleanup(*paths):
    for p in paths:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


@pytest.fixture(scope="module", params=["inline", "pool"])
def read_path(request, impl):
    """aiofiles_c reads page-cached data on the loop thread; "pool" turns
    that off so every read goes through the worker pool."""
    cext = getattr(impl, "_cext", None)
    if cext is None:
        yield request.param
        return
    cext.set_inline_reads(request.param == "inline")
    try:
        yield request.param
    finally:
        cext.set_inline_reads(True)


@pytest.mark.parametrize("mode", BINARY_MODES)
@SETTINGS
@given(
    buffering=st.sampled_from(BUFFERINGS),
    initial=content,
    ops=_ops_with_rare_close(),
)
def test_random_ops(impl, runner, workdir, read_path, mode, buffering,
                    initial, ops):
    p_impl, p_twin = _paths(workdir)
    if mode == "xb":
        init = None
    else:
        init = initial
    try:
        runner.run(run_differential(impl, p_impl, p_twin, mode, buffering,
                                    init, ops))
    finally:
        _cleanup(p_impl, p_twin)


# Permutations of the mode string accepted by io must behave the same.
MODE_PERMUTATIONS = ["br", "rb+", "+rb", "b+r", "wb+", "bw", "ab+", "ba",
                     "+ab", "bx", "xb+", "x+b", "r+b"]


@pytest.mark.parametrize("mode", MODE_PERMUTATIONS)
@settings(max_examples=examples(12), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(buffering=st.sampled_from([0, 7, -1]), initial=content,
       ops=st.lists(ops_strategy, max_size=25))
def test_mode_permutations(impl, runner, workdir, mode, buffering, initial,
                           ops):
    p_impl, p_twin = _paths(workdir)
    init = None if "x" in mode else initial
    try:
        runner.run(run_differential(impl, p_impl, p_twin, mode, buffering,
                                    init, ops))
    finally:
        _cleanup(p_impl, p_twin)


# Read-heavy sequences on large files: exercise buffer refills, readline
# across buffer boundaries and seeks inside/outside the buffer.
read_ops = st.one_of(
    op("read", st.one_of(any_n, st.just(-1))),
    op("read1", any_n),
    op("readinto", any_n, st.just("bytearray")),
    op("readline", st.one_of(st.none(), any_n)),
    st.just(("readline", ())),
    op("readlines", st.integers(1, 3000)),
    st.just(("anext", ())),
    op("peek", st.integers(0, 100)),
    op("seek", st.integers(0, 20000)),
    op("seek", st.integers(-5000, 5000), st.just(1)),
    op("seek", st.integers(-20000, 10), st.just(2)),
    st.just(("tell", ())),
)


@pytest.mark.parametrize("mode", ["rb", "r+b", "a+b"])
@settings(max_examples=examples(40), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(buffering=st.sampled_from([0, 7, 64, 4096, -1]),
       size=st.integers(0, 20000), seed=st.integers(0, 2**32),
       nl=st.sampled_from([0, 10, 100, 5000]),
       ops=st.lists(read_ops, max_size=40))
def test_read_heavy(impl, runner, workdir, mode, buffering, size, seed, nl,
                    ops):
    p_impl, p_twin = _paths(workdir)
    try:
        runner.run(run_differential(impl, p_impl, p_twin, mode, buffering,
                                    gen_bytes(size, seed, nl), ops))
    finally:
        _cleanup(p_impl, p_twin)

