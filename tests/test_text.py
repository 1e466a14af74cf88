"""Text mode against io.open on twin files: random operation sequences,
every text mode, several encodings, newline and errors settings."""
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import assert_same_outcome, call_async, call_sync, examples

TEXT = st.lists(st.sampled_from(
    list("ab\n\r xyz") + ["é", "ß", "€", "日", "\U0001F600", "\r\n"]),
    max_size=20).map("".join)

OPS = st.one_of(
    st.tuples(st.just("read"), st.tuples(st.integers(-1, 30))),
    st.tuples(st.just("readline"), st.tuples(st.integers(-1, 30))),
    st.tuples(st.just("readlines"), st.tuples()),
    st.tuples(st.just("write"), st.tuples(TEXT)),
    st.tuples(st.just("writelines"), st.tuples(st.lists(TEXT, max_size=3))),
    st.tuples(st.just("seek"), st.tuples(st.just(0))),
    st.tuples(st.just("seek"), st.tuples(st.just(0), st.just(2))),
    st.tuples(st.just("tell"), st.tuples()),
    st.tuples(st.just("truncate"), st.tuples()),
    st.tuples(st.just("flush"), st.tuples()),
    st.tuples(st.just("readable"), st.tuples()),
    st.tuples(st.just("writable"), st.tuples()),
    st.tuples(st.just("seekable"), st.tuples()),
)


@pytest.mark.parametrize("mode", ["r", "w", "a", "x", "r+", "w+", "a+", "rt",
                                  "wt"])
@settings(max_examples=examples(25), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture])
@given(initial=TEXT,
       encoding=st.sampled_from(["utf-8", "utf-16", "latin-1", "ascii",
                                 "shift_jis", "utf-8-sig"]),
       newline=st.sampled_from([None, "", "\n", "\r", "\r\n"]),
       errors=st.sampled_from([None, "replace", "ignore",
                               "surrogateescape"]),
       buffering=st.sampled_from([-1, 1, 4]),
       ops=st.lists(OPS, max_size=12))
def test_text_ops_match_io(impl, runner, tmp_path, mode, initial, encoding,
                           newline, errors, buffering, ops):
    p_impl, p_twin = tmp_path / "impl.txt", tmp_path / "twin.txt"
    for p in (p_impl, p_twin):
        if p.exists():
            p.unlink()
        if mode[0] != "x":
            p.write_bytes(initial.encode("utf-8"))
    kw = dict(encoding=encoding, newline=newline, errors=errors,
              buffering=buffering)
    exp_open = call_sync(open, p_twin, mode, **kw)

    async def go():
        act_open = await call_async(impl.open, p_impl, mode, **kw)
        assert_same_outcome(
            act_open if act_open.exc else type(act_open)(value="<file>"),
            exp_open if exp_open.exc else type(exp_open)(value="<file>"),
            "open")
        if exp_open.exc:
            return
        f, twin = act_open.value, exp_open.value
        try:
            for i, (name, args) in enumerate(ops):
                exp = call_sync(getattr(twin, name), *args)
                act = await call_async(getattr(f, name), *args)
                assert_same_outcome(act, exp, f"op #{i} {name}{args}")
            assert f.encoding == twin.encoding and f.mode == twin.mode
            assert f.newlines == twin.newlines
        finally:
            c_act = await call_async(f.close)
            c_exp = call_sync(twin.close)
        assert_same_outcome(c_act, c_exp, "close")
        assert f.closed and twin.closed

    runner.run(go())
    assert p_impl.read_bytes() == p_twin.read_bytes()


@pytest.mark.asyncio
async def test_text_async_for_and_context(impl, tmp_path):
    p = tmp_path / "lines.txt"
    p.write_bytes("one\r\ntwo\rthree\nfour".encode())
    async with impl.open(p, encoding="utf-8") as f:
        got = [line async for line in f]
        assert f.newlines == ("\r", "\n", "\r\n")
    with open(p, encoding="utf-8") as fh:
        assert got == list(fh)
    assert f.closed
    f = await impl.open(p, "rb", buffering=0)
    await f.close()
    g = await impl.open(os.fspath(p), "r", encoding="utf-8")
    assert await g.readable() is True and g.fileno() >= 0
    raw = g.detach()
    raw.close()
