"""Bad arguments to a text file's methods: the same exception, message
included, as io.TextIOWrapper raises for the same call."""
import pytest

from tests.helpers import assert_same_outcome, call_async, call_sync

CALLS = [
    ("write", (None,), {}), ("write", (1,), {}), ("write", (b"x",), {}),
    ("write", (), {}), ("write", ("a", "b"), {}), ("write", (), {"s": "x"}),
    ("read", ("x",), {}), ("read", (1.5,), {}), ("read", (2**70,), {}),
    ("read", (1, 2), {}), ("read", (), {"size": 1}),
    ("readline", ("x",), {}), ("readline", (None,), {}),
    ("readline", (1.5,), {}), ("readline", (2**70,), {}),
    ("readline", (1, 2), {}), ("readline", (), {"size": 1}),
    ("readlines", ("x",), {}), ("readlines", (1, 2), {}),
    ("readlines", (), {"hint": 1}),
    ("writelines", (), {}), ("writelines", (None,), {}),
    ("writelines", ([1],), {}), ("writelines", ([], []), {}),
    ("seek", (), {}), ("seek", (0, 0, 0), {}), ("seek", ("a",), {}),
    ("seek", (0, "x"), {}), ("seek", (1.5,), {}), ("seek", (-1,), {}),
    ("seek", (0, 3), {}), ("seek", (0, 2**40), {}), ("seek", (None,), {}),
    ("seek", (0,), {"whence": 0}),
    ("truncate", ("x",), {}), ("truncate", (1.5,), {}),
    ("truncate", (1, 2), {}), ("truncate", (), {"pos": 1}),
] + [(name, args, kw) for name in ("tell", "flush", "readable", "writable",
                                   "seekable", "isatty", "close")
     for args, kw in (((1,), {}), ((1, 2), {}), ((), {"x": 1}))]


@pytest.mark.parametrize("name,args,kw", CALLS)
@pytest.mark.asyncio
async def test_bad_arguments_raise_as_io(impl, tmp_path, name, args, kw):
    p = tmp_path / "t.txt"
    q = tmp_path / "twin.txt"
    for path in (p, q):
        path.write_text("hello\nworld\n")
    with open(q, "r+") as twin:
        expected = call_sync(getattr(twin, name), *args, **kw)
    async with impl.open(p, "r+") as f:
        actual = await call_async(getattr(f, name), *args, **kw)
    assert_same_outcome(actual, expected, f"{name}{args}{kw}")
    assert p.read_bytes() == q.read_bytes()


@pytest.mark.parametrize("name", ["fileno", "detach"])
@pytest.mark.asyncio
async def test_bad_arguments_to_plain_methods_as_io(impl, tmp_path, name):
    p = tmp_path / "t.txt"
    p.write_text("x")
    with open(p) as twin:
        expected = call_sync(getattr(twin, name), 1)
    async with impl.open(p) as f:
        actual = call_sync(getattr(f, name), 1)
    assert_same_outcome(actual, expected, name)
