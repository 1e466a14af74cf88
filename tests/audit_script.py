"""Run by tests/test_audit.py in a subprocess (audit hooks cannot be
removed): each case makes the same call with the stdlib and with
aiofiles_c, in twin scratch directories (so that relative paths are the
same), and records the audit events each raised. Writes one JSON object to
the file named by argv[1]: case name -> {"std": [...], "impl": [...],
"std_error", "impl_error", "threads": [whether an event came from another
thread than the caller's]}."""
from __future__ import annotations

import asyncio
import io
import json
import os
import pathlib
import shutil
import sys
import tempfile
import threading

import aiofiles_c
import aiofiles_c.os as aos

RELEVANT = ("open", "os.", "shutil.", "tempfile.")
# What copystat does that aiofiles_c's does not: extended attributes.
XATTR = ("os.listxattr", "os.getxattr", "os.setxattr")

events: list = []
recording = [False]


def hook(event: str, args: tuple) -> None:
    if recording[0] and event.startswith(RELEVANT):
        events.append((event, args, threading.get_ident()))


def setup(root: str) -> None:
    """The same small tree in each twin directory."""
    os.makedirs(os.path.join(root, "d", "sub"))
    for name in ("f", "g", "d/x", "d/sub/y"):
        with open(os.path.join(root, name), "wb") as fh:
            fh.write(b"data " + name.encode())
    os.symlink("f", os.path.join(root, "lf"))
    os.symlink("d", os.path.join(root, "ld"))
    # atime after mtime: reading the file leaves it alone (relatime)
    os.utime(os.path.join(root, "f"), ns=(2 * 10**18, 10**18))


def jsonable(v):
    if isinstance(v, (tuple, list)):
        return [jsonable(x) for x in v]
    if isinstance(v, bytes):
        return {"bytes": v.decode("latin-1")}
    if isinstance(v, os.PathLike):
        return {"pathlike": os.fspath(v)}
    if v is None or isinstance(v, (int, str, float)):
        return v
    return repr(v)


def drop_fds(evs):
    """rmtree's directory descriptors are whatever numbers the kernel
    hands out (the stdlib and aiofiles_c hold different descriptors open
    meanwhile): the position of an fd is compared, not its number."""
    out = []
    for name, args in evs:
        if name in ("os.scandir",) and isinstance(args[0], int):
            args = ["<fd>"]
        elif name in ("os.remove", "os.rmdir") and args[-1] != -1:
            args = list(args[:-1]) + ["<fd>"]
        out.append((name, args))
    return out


async def run_case(name, std_call, impl_call, fds=False, xattr=False):
    results = {}
    base = tempfile.mkdtemp()
    for side, call in (("std", std_call), ("impl", impl_call)):
        d = os.path.join(base, side)
        os.mkdir(d)
        setup(d)
        os.chdir(d)
        events.clear()
        recording[0] = True
        error = None
        try:
            r = call()
            if asyncio.iscoroutine(r) or hasattr(r, "__await__"):
                r = await r
            if hasattr(r, "__aiter__"):
                r = [x async for x in r]
        except Exception as e:  # the events up to the error still count
            error = type(e).__name__
        finally:
            recording[0] = False
        evs = [(e, jsonable(a)) for e, a, _ in events]
        if side == "std" and not xattr:
            evs = [x for x in evs if x[0] not in XATTR]
        if fds:
            evs = drop_fds(evs)
        results[side] = evs
        results[side + "_error"] = error
        if side == "impl":
            results["threads"] = sorted({t != threading.get_ident()
                                         for _, _, t in events})
    os.chdir("/")
    for side in ("std", "impl"):
        shutil.rmtree(os.path.join(base, side), ignore_errors=True)
    os.rmdir(base)
    return name, results


def cases():
    """(name, stdlib call, aiofiles_c call[, options])"""
    P = pathlib.Path
    c = []

    def add(name, std, impl, **kw):
        c.append((name, std, impl, kw))

    def std_open(*a, **k):
        def run():
            io.open(*a, **k).close()
        return run

    def impl_open(*a, **k):
        async def run():
            async with aiofiles_c.open(*a, **k):
                pass
        return run

    for args, kw in [(("f", "rb"), {}), (("f", "r"), {}), (("new", "wb"), {}),
                     (("f", "ab+"), {}), (("f", "r+b"), {"buffering": 0}),
                     (("new", "xb"), {}), ((b"f", "rb"), {}),
                     ((P("f"), "rb"), {}), (("missing", "rb"), {}),
                     (("f", "w", -1, "utf-8"), {})]:
        add(f"open{args!r}{kw!r}", std_open(*args, **kw),
            impl_open(*args, **kw))
    add("remove", lambda: os.remove("f"), lambda: aos.remove("f"))
    add("unlink", lambda: os.unlink(P("f")), lambda: aos.unlink(P("f")))
    add("unlink missing", lambda: os.unlink("nope"),
        lambda: aos.unlink("nope"))
    add("rename", lambda: os.rename("f", "h"), lambda: aos.rename("f", "h"))
    add("replace", lambda: os.replace(b"f", b"g"),
        lambda: aos.replace(b"f", b"g"))
    add("renames", lambda: os.renames("d/x", "n/m/x"),
        lambda: aos.renames("d/x", "n/m/x"))
    add("mkdir", lambda: os.mkdir("m", 0o750), lambda: aos.mkdir("m", 0o750))
    add("mkdir exists", lambda: os.mkdir("d"), lambda: aos.mkdir("d"))
    add("makedirs", lambda: os.makedirs("a/b/c"),
        lambda: aos.makedirs("a/b/c"))
    add("makedirs exist_ok", lambda: os.makedirs("d/sub/n", exist_ok=True),
        lambda: aos.makedirs("d/sub/n", exist_ok=True))
    add("rmdir", lambda: os.rmdir("d/sub"), lambda: aos.rmdir("d/sub"))
    add("rmdir not empty", lambda: os.rmdir("d"), lambda: aos.rmdir("d"))
    add("removedirs", lambda: (os.remove("d/sub/y"), os.remove("d/x"),
                               os.removedirs("d/sub")),
        lambda: _seq(aos.remove("d/sub/y"), aos.remove("d/x"),
                     aos.removedirs("d/sub")))
    add("listdir", lambda: os.listdir("d"), lambda: aos.listdir("d"))
    add("listdir none", lambda: os.listdir(), lambda: aos.listdir())
    add("scandir", lambda: list(os.scandir("d")),
        lambda: _list(aos.scandir("d")))
    add("scandir none", lambda: list(os.scandir()),
        lambda: _list(aos.scandir()))
    add("walk", lambda: list(os.walk(".")), lambda: aos.walk("."))
    add("walk bottom-up", lambda: list(os.walk(b".", topdown=False)),
        lambda: aos.walk(b".", topdown=False))
    add("chmod", lambda: os.chmod("f", 0o600), lambda: aos.chmod("f", 0o600))
    add("chown", lambda: os.chown("f", -1, -1),
        lambda: aos.chown("f", -1, -1))
    add("chown ids", lambda: os.chown("f", os.getuid(), os.getgid()),
        lambda: aos.chown("f", os.getuid(), os.getgid()))
    add("utime", lambda: os.utime("f"), lambda: aos.utime("f"))
    add("utime times", lambda: os.utime("f", (1, 2.5)),
        lambda: aos.utime("f", (1, 2.5)))
    add("utime ns", lambda: os.utime("f", ns=(1, 2)),
        lambda: aos.utime("f", ns=(1, 2)))
    add("truncate", lambda: os.truncate("f", 2),
        lambda: aos.truncate("f", 2))
    add("link", lambda: os.link("f", "h"), lambda: aos.link("f", "h"))
    add("symlink", lambda: os.symlink("f", "s"),
        lambda: aos.symlink("f", "s"))
    add("symlink dir", lambda: os.symlink("d", "s", True),
        lambda: aos.symlink("d", "s", True))
    for fn in ("stat", "lstat", "readlink", "statvfs"):
        arg = "lf" if fn == "readlink" else "f"
        add(fn, lambda fn=fn, arg=arg: getattr(os, fn)(arg),
            lambda fn=fn, arg=arg: getattr(aos, fn)(arg))
    add("access", lambda: os.access("f", os.R_OK),
        lambda: aos.access("f", os.R_OK))
    add("getcwd", os.getcwd, aos.getcwd)
    for fn in ("exists", "isdir", "isfile", "islink", "getsize",
               "abspath", "ismount", "lexists"):
        add(f"path.{fn}", lambda fn=fn: getattr(os.path, fn)("f"),
            lambda fn=fn: getattr(aos.path, fn)("f"))
    add("copyfile", lambda: shutil.copyfile("f", "c"),
        lambda: aos.copyfile("f", "c"))
    add("copyfile symlink", lambda: shutil.copyfile(
        "lf", "c", follow_symlinks=False),
        lambda: aos.copyfile("lf", "c", follow_symlinks=False))
    add("copyfile same", lambda: shutil.copyfile("f", "f"),
        lambda: aos.copyfile("f", "f"))
    add("copymode", lambda: shutil.copymode("f", "g"),
        lambda: aos.copymode("f", "g"))
    add("copystat", lambda: shutil.copystat("f", "g"),
        lambda: aos.copystat("f", "g"))
    add("copy", lambda: shutil.copy("f", "d"), lambda: aos.copy("f", "d"))
    add("copy2", lambda: shutil.copy2("f", "c"), lambda: aos.copy2("f", "c"))
    add("move", lambda: shutil.move("f", "d"), lambda: aos.move("f", "d"))
    add("move rename", lambda: shutil.move("d", "e"),
        lambda: aos.move("d", "e"))
    add("rmtree", lambda: shutil.rmtree("d"), lambda: aos.rmtree("d"),
        fds=True)
    add("rmtree bytes", lambda: shutil.rmtree(b"d"),
        lambda: aos.rmtree(b"d"), fds=True)
    add("rmtree missing", lambda: shutil.rmtree("nope"),
        lambda: aos.rmtree("nope"), fds=True)
    add("rmtree file", lambda: shutil.rmtree("f", ignore_errors=True),
        lambda: aos.rmtree("f", ignore_errors=True), fds=True)
    add("rmtree symlink", lambda: shutil.rmtree("ld"),
        lambda: aos.rmtree("ld"), fds=True)
    # descriptors and dir_fd
    add("mkdir dir_fd", lambda: os.mkdir("m", dir_fd=dfd()),
        lambda: aos.mkdir("m", dir_fd=dfd()))
    add("rmdir dir_fd", lambda: os.rmdir("d/sub", dir_fd=dfd()),
        lambda: aos.rmdir("d/sub", dir_fd=dfd()))
    add("remove dir_fd", lambda: os.remove("f", dir_fd=dfd()),
        lambda: aos.remove("f", dir_fd=dfd()))
    add("rename dir_fd", lambda: os.rename("f", "h", src_dir_fd=dfd()),
        lambda: aos.rename("f", "h", src_dir_fd=dfd()))
    add("replace dir_fd", lambda: os.replace("f", "h", dst_dir_fd=dfd()),
        lambda: aos.replace("f", "h", dst_dir_fd=dfd()))
    add("link dir_fd", lambda: os.link("f", "h", dst_dir_fd=dfd()),
        lambda: aos.link("f", "h", dst_dir_fd=dfd()))
    add("symlink dir_fd", lambda: os.symlink("f", "s", dir_fd=dfd()),
        lambda: aos.symlink("f", "s", dir_fd=dfd()))
    add("chmod fd", lambda: os.chmod(ffd(), 0o640),
        lambda: aos.chmod(ffd(), 0o640))
    add("truncate fd", lambda: os.truncate(ffd(), 1),
        lambda: aos.truncate(ffd(), 1))
    add("utime fd", lambda: os.utime(ffd(), (5, 6)),
        lambda: aos.utime(ffd(), (5, 6)))
    add("listdir fd", lambda: os.listdir(dfd()),
        lambda: aos.listdir(dfd()))
    add("scandir fd", lambda: list(os.scandir(dfd())),
        lambda: _list(aos.scandir(dfd())))
    add("rmtree dir_fd", lambda: shutil.rmtree("d", dir_fd=dfd()),
        lambda: aos.rmtree("d", dir_fd=dfd()), fds=True)
    add("rmtree pathlike", lambda: shutil.rmtree(P("d")),
        lambda: aos.rmtree(P("d")), fds=True)
    add("rmtree onerror", lambda: shutil.rmtree("f", onerror=_ignore),
        lambda: aos.rmtree("f", onerror=_ignore), fds=True)
    # copyfile raises the destination's "open" event only once the source
    # is open, as shutil does
    for a, b in [("nope", "c"), ("d", "c"), ("f", "nodir/c"), ("f", "d"),
                 ("f", "nope/"), (P("f"), P("c")), (b"f", b"c")]:
        what = {"nope": "missing source", "d": "directory source"}.get(a, "")
        what = what or {"nodir/c": "missing destination directory",
                        "d": "destination is a directory",
                        "nope/": "destination trailing slash"}.get(b, "")
        add(f"copyfile {what or repr((a, b))}",
            lambda a=a, b=b: shutil.copyfile(a, b),
            lambda a=a, b=b: aos.copyfile(a, b))
    # the whole-file calls: pathlib's one open
    for a in ["f", P("f"), "missing"]:
        add(f"read_bytes {a!r}", lambda a=a: P(a).read_bytes(),
            lambda a=a: aiofiles_c.read_bytes(a))
        add(f"read_text {a!r}", lambda a=a: P(a).read_text("utf-8"),
            lambda a=a: aiofiles_c.read_text(a, "utf-8"))
    # a descriptor: io.FileIO's event names it
    for args, kw in [(("rb",), {"closefd": False}), (("wb",), {}),
                     (("r",), {"encoding": "utf-8"}), (("ab+",), {}),
                     (("r+b",), {"buffering": 0}), (("xb",), {}),
                     (("w+",), {"closefd": False})]:
        add(f"open fd{args!r}{kw!r}",
            lambda args=args, kw=kw: io.open(ffd(), *args, **kw).close(),
            lambda args=args, kw=kw: impl_open_fd(*args, **kw))
    return c


async def impl_open_fd(*args, **kw):
    async with aiofiles_c.open(ffd(), *args, **kw):
        pass


def fixed_fd(path, flags, num):
    """A descriptor of ``path`` in the current twin, at the same number on
    both sides (events carry descriptor numbers); opened unrecorded."""
    was, recording[0] = recording[0], False
    fd = os.open(path, flags)
    os.dup2(fd, num)
    os.close(fd)
    recording[0] = was
    return num


def dfd():
    return fixed_fd(".", os.O_RDONLY, 100)


def ffd():
    return fixed_fd("f", os.O_RDWR, 101)


def _ignore(*args):
    pass


async def _seq(*aws):
    for a in aws:
        await a


async def _list(it):
    async with it as entries:
        return [e async for e in entries]


async def main():
    sys.addaudithook(hook)
    # Warm up: the first executor call imports modules (their "open"
    # events are the import system's, not the call's).
    await asyncio.get_running_loop().run_in_executor(None, int)
    out = {}
    for name, std, impl, kw in cases():
        name, res = await run_case(name, std, impl, **kw)
        out[name] = res
    with open(sys.argv[1], "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    asyncio.run(main())
