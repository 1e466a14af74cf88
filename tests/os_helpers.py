"""Helpers for tests/test_os_diff.py: random directory trees, path forms,
snapshots and value normalisation for comparing ``impl.os`` with ``os``.

A tree is described by a deterministic *spec* (built from a seed) and can be
built again and again at the same place, so that a mutating function can be
applied once with ``os`` and once with the implementation under test to the
very same path: results, exceptions (including ``filename``) and the trees
that result must then be identical.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import random
import shutil
import stat as stat_mod

from tests.helpers import Outcome, assert_same_outcome, exc_signature, gen_bytes

ROOT_TOKEN = "<root>"          # the tree root itself
ABS_PREFIX = "<abs>/"          # symlink target: absolute path into the tree


class Lit:
    """A path used verbatim (not joined to the tree root)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"Lit({self.value!r})"

    def __eq__(self, other):
        return isinstance(other, Lit) and other.value == self.value

    def __hash__(self):
        return hash(("Lit", self.value))


NONUTF8 = os.fsdecode(b"n\xff\xfe")


# --------------------------------------------------------------- tree spec


class TreeSpec:
    def __init__(self, dirs, files, hardlinks, symlinks, dir_modes):
        self.dirs = dirs            # [rel]
        self.files = files          # [(rel, size, seed, mode)]
        self.hardlinks = hardlinks  # [(rel, existing file rel)]
        self.symlinks = symlinks    # [(rel, target)]
        self.dir_modes = dir_modes  # {rel: mode} applied last

    def entries(self):
        out = list(self.dirs) + [f[0] for f in self.files]
        out += [h[0] for h in self.hardlinks] + [s[0] for s in self.symlinks]
        return out


def make_spec(seed: int, small: bool = False, escaping_links: bool = True):
    """A deterministic tree description.

    Fixed core (so that tests can name entries) plus random extras.
    ``escaping_links`` adds symlinks leaving the tree ('up' -> '..',
    'lroot' -> '/'); never use those with mutating functions.
    """
    rnd = random.Random(seed)
    dirs = ["d0", "d0/d1", "d0/d1/d2", "empty", "e0", "e0/e1", "e0/e1/e2",
            "full", "noperm", "ro", "sticky", "r0", "r0/r1"]
    dir_modes = {"noperm": 0o000, "ro": 0o555, "sticky": 0o1777,
                 "d0/d1/d2": 0o700}

    def size():
        r = rnd.random()
        if r < 0.15:
            return 0
        if r < 0.5:
            return rnd.randrange(1, 100)
        if r < 0.9 or small:
            return rnd.randrange(100, 5000)
        return rnd.randrange(5000, 70000)

    files = []

    def add_file(rel, mode=None):
        if mode is None:
            mode = rnd.choice([0o644, 0o644, 0o600, 0o755, 0o444, 0o000,
                               0o4755, 0o666])
        files.append((rel, size(), rnd.randrange(2 ** 32), mode))

    for rel in ["f0", "f1", "d0/f2", "d0/d1/f3", "full/a", "full/b",
                "noperm/f", "ro/f", "sticky/f", "r0/r1/f", "sp ace",
                "\u00fcn\u00ef", NONUTF8, ".hidden", "-dash"]:
        add_file(rel)
    add_file("x0", 0o000)
    add_file("exe", 0o755)

    # random extras: dirs and files anywhere (not in the special dirs)
    plain_dirs = ["", "d0", "d0/d1", "d0/d1/d2", "full"]
    for i in range(rnd.randrange(1, 4)):
        parent = rnd.choice(plain_dirs)
        rel = f"{parent}/xd{i}" if parent else f"xd{i}"
        dirs.append(rel)
        plain_dirs.append(rel)
    for i in range(rnd.randrange(2, 6 if small else 10)):
        parent = rnd.choice(plain_dirs)
        add_file(f"{parent}/g{i}" if parent else f"g{i}")

    hardlinks = [("hl", "f0"), ("d0/hl2", "d0/d1/f3")]

    symlinks = [
        ("lf", "f0"), ("ld", "d0"), ("lb", "missing"),
        ("lb2", "d0/nothere/x"), ("loop1", "loop2"), ("loop2", "loop1"),
        ("self", "self"), ("labs", ABS_PREFIX + "f1"),
        ("labsd", ABS_PREFIX + "d0/d1"), ("ll", "lf"), ("d0/lup", "../f1"),
        ("d0/d1/ldd", "../../ld"), ("lempty", "empty"),
        ("lnoperm", "noperm"), ("lx0", "x0"), ("lslash", "d0/"),
        ("lfslash", "f0/"),
    ]
    if escaping_links:
        symlinks += [("up", ".."), ("lroot", "/")]
    # random extra symlinks to random (existing or not) targets
    targets = [f[0] for f in files] + dirs + [s[0] for s in symlinks]
    for i in range(rnd.randrange(1, 5)):
        parent = rnd.choice(["", "d0", "full"])
        rel = f"{parent}/s{i}" if parent else f"s{i}"
        tgt = rnd.choice(targets + ["nope", "d0/nope"])
        depth = rel.count("/")
        tgt = "../" * depth + tgt
        if rnd.random() < 0.2:
            tgt = ABS_PREFIX + rnd.choice(targets)
        symlinks.append((rel, tgt))
    return TreeSpec(dirs, files, hardlinks, symlinks, dir_modes)


def build_tree(root: str, spec: TreeSpec, settle: bool = True) -> None:
    """Create ``root`` (must not exist) with the contents of ``spec``."""
    os.mkdir(root)
    os.chmod(root, 0o755)
    for rel in spec.dirs:
        p = os.path.join(root, rel)
        os.mkdir(p)
        os.chmod(p, 0o755)
    for rel, size, seed, mode in spec.files:
        p = os.path.join(root, rel)
        with open(p, "wb") as fh:
            fh.write(gen_bytes(size, seed))
        os.chmod(p, mode)
    for rel, src in spec.hardlinks:
        os.link(os.path.join(root, src), os.path.join(root, rel))
    for rel, tgt in spec.symlinks:
        if tgt.startswith(ABS_PREFIX):
            tgt = os.path.join(root, tgt[len(ABS_PREFIX):])
        os.symlink(tgt, os.path.join(root, rel))
    for rel, mode in spec.dir_modes.items():
        os.chmod(os.path.join(root, rel), mode)
    # Settle directory atimes (relatime updates them on the first read of
    # a directory whose atime <= mtime), so that listing directories later
    # does not change what stat() reports for them.
    if not settle:
        return
    for dirpath, dirnames, _ in os.walk(root):
        os.listdir(dirpath)


def remove_tree(root: str) -> None:
    if not os.path.lexists(root):
        return
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, 0o700)
    if os.path.isdir(root) and not os.path.islink(root):
        os.chmod(root, 0o700)
        shutil.rmtree(root)
    else:
        os.unlink(root)


def snapshot(top: str) -> dict:
    """Everything about the tree below ``top`` (and top itself) except
    inode numbers and times: names (bytes), types, permission bits, sizes,
    contents, symlink targets, link counts and which names share an inode."""
    top_b = os.fsencode(top)
    out = {}
    groups = {}

    def entry(full, rel):
        st = os.lstat(full)
        m = st.st_mode
        if stat_mod.S_ISLNK(m):
            return ("link", os.readlink(full))
        if stat_mod.S_ISDIR(m):
            return ("dir", oct(stat_mod.S_IMODE(m)))
        if stat_mod.S_ISREG(m):
            gid = groups.setdefault((st.st_dev, st.st_ino), len(groups))
            try:
                with open(full, "rb") as fh:
                    digest = hashlib.sha1(fh.read()).hexdigest()
            except OSError as e:
                digest = f"<unreadable {e.errno}>"
            return ("file", oct(stat_mod.S_IMODE(m)), st.st_size, digest,
                    st.st_nlink, gid)
        return ("other", m)

    def walk(full, rel):
        e = entry(full, rel)
        out[rel] = e
        if e[0] != "dir":
            return
        try:
            names = sorted(os.listdir(full))
        except OSError as ex:
            out[rel] = e + (f"<unlistable {ex.errno}>",)
            return
        for n in names:
            walk(os.path.join(full, n), os.path.join(rel, n) if rel else n)

    walk(top_b, b"")
    return out


def diff_snapshots(a: dict, b: dict, limit: int = 12) -> str:
    lines = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            lines.append(f"    {k!r}: impl={a.get(k)!r} os={b.get(k)!r}")
    more = f"\n    ... {len(lines) - limit} more" if len(lines) > limit else ""
    return "\n".join(lines[:limit]) + more


# --------------------------------------------------------------- path forms


class Paths:
    """Resolve path tokens (relative to the tree root, ROOT_TOKEN or Lit)
    into concrete arguments of a given *form*.

    Forms: 'abs' (str), 'bytes' (absolute bytes), 'path' (pathlib.Path),
    'rel' (str relative to the cwd, which is the tree's parent), 'relb'
    (bytes relative to the cwd), 'dirfd' (str relative to the tree root
    plus dir_fd=<fd of the root>), 'dirfdb' (the same with bytes),
    'absdirfd' (absolute str plus a dir_fd, which is then ignored).
    """

    def __init__(self, workdir: str, name: str = "tree"):
        self.workdir = workdir
        self.name = name
        self.root = os.path.join(workdir, name)
        self._fd = None

    def root_fd(self):
        if self._fd is None:
            self._fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        return self._fd

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def value(self, tok, form):
        """The path argument for token ``tok`` in ``form``."""
        if isinstance(tok, Lit):
            v = tok.value
            if form in ("bytes", "relb", "dirfdb") and isinstance(v, str):
                return os.fsencode(v)
            if form == "path" and isinstance(v, str) and v:
                return pathlib.Path(v)
            return v
        if tok == ROOT_TOKEN:
            rel_root, rel_cwd = ".", self.name
            absp = self.root
        else:
            rel_root, rel_cwd = tok, os.path.join(self.name, tok)
            absp = os.path.join(self.root, tok)
        if form == "abs":
            return absp
        if form == "bytes":
            return os.fsencode(absp)
        if form == "path":
            return pathlib.Path(absp)
        if form == "rel":
            return rel_cwd
        if form == "relb":
            return os.fsencode(rel_cwd)
        if form == "dirfd":
            return rel_root
        if form == "dirfdb":
            return os.fsencode(rel_root)
        if form == "absdirfd":
            return absp
        raise AssertionError(form)

    def target(self, tok, form):
        """A symlink target (text stored in the link, not resolved)."""
        if isinstance(tok, str) and tok.startswith(ABS_PREFIX):
            tok = os.path.join(self.root, tok[len(ABS_PREFIX):])
        if form in ("bytes", "relb", "dirfdb"):
            return os.fsencode(tok)
        if form == "path" and tok:
            return pathlib.Path(tok)
        return tok

    def dirfd_kw(self, form, *names):
        if form in ("dirfd", "dirfdb", "absdirfd"):
            return {n: self.root_fd() for n in names}
        return {}


# --------------------------------------------------------------- normalising


STAT_FIELDS = ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid",
               "st_gid", "st_size", "st_atime", "st_mtime", "st_ctime",
               "st_atime_ns", "st_mtime_ns", "st_ctime_ns", "st_blksize",
               "st_blocks", "st_rdev")
ATIME_FIELDS = ("st_atime", "st_atime_ns")
STATVFS_FIELDS = ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail",
                  "f_files", "f_ffree", "f_favail", "f_flag", "f_namemax",
                  "f_fsid")
STATVFS_VOLATILE = ("f_bfree", "f_bavail", "f_ffree", "f_favail")


def stat_sig(s, skip=()):
    d = {f: getattr(s, f) for f in STAT_FIELDS if f not in skip}
    d["<tuple>"] = tuple(x for i, x in enumerate(tuple(s))
                         if skip == () or i not in (7,))
    d["<len>"] = len(s)
    return ("<stat>", type(s), d)


def statvfs_sig(s, skip=()):
    d = {f: getattr(s, f) for f in STATVFS_FIELDS if f not in skip}
    d["<tuple>"] = tuple(x for i, x in enumerate(tuple(s))
                         if skip == () or i not in (3, 4, 6, 7))
    return ("<statvfs>", type(s), d)


def norm(v, skip_atime=False):
    """A comparable representation (keeps the type)."""
    if isinstance(v, os.stat_result):
        return stat_sig(v, ATIME_FIELDS if skip_atime else ())
    if isinstance(v, os.statvfs_result):
        return statvfs_sig(v)
    return v


def norm_outcome(o: Outcome, **kw) -> Outcome:
    if o.exc is not None:
        return o
    return Outcome(value=norm(o.value, **kw))


def outcome_sig(fn, *args, **kwargs):
    """Call fn and return a hashable/comparable signature of the outcome
    (used inside scandir entries)."""
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as e:  # noqa: BLE001
        return ("exc", tuple(sorted((k, repr(v)) for k, v in
                                    exc_signature(e).items())))


# Entries of the system's root (/tmp, /proc, ...) change while the tests
# run: os.DirEntry stats them when asked, aiofiles_c when listing, so only
# what does not move is compared for them.
VOLATILE_FIELDS = ATIME_FIELDS + ("st_mtime", "st_mtime_ns", "st_ctime",
                                  "st_ctime_ns", "st_size", "st_nlink",
                                  "st_blocks")


def _volatile_sig(s):
    return ("<stat>", type(s), {f: getattr(s, f) for f in STAT_FIELDS
                                if f not in VOLATILE_FIELDS})


def entry_sig(e):
    """Everything observable about a DirEntry-like object (st_atime of the
    entry excluded: reading the directories may move it)."""
    st = outcome_sig(e.stat)
    lst = outcome_sig(e.stat, follow_symlinks=False)
    parent = os.path.dirname(os.fsdecode(e.path))
    volatile = parent != "" and parent.strip("/") == ""  # "/" or "//"
    sig = _volatile_sig if volatile else (
        lambda x: stat_sig(x, ATIME_FIELDS))
    if st[0] == "ok":
        st = ("ok", sig(st[1]))
    if lst[0] == "ok":
        lst = ("ok", sig(lst[1]))
    return (type(e.name), e.name, e.path, os.fspath(e), e.is_dir(),
            e.is_file(), e.is_symlink(), e.is_dir(follow_symlinks=False),
            e.is_file(follow_symlinks=False), e.inode(), st, lst)


def consume_scandir(it):
    """Sorted entry signatures of a scandir iterator, which is closed."""
    try:
        entries = [entry_sig(e) for e in it]
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()
    return ("<scandir>", sorted(entries, key=lambda t: os.fsencode(t[1])))


# --------------------------------------------------------------- reporting


def fmt_call(name, args, kwargs):
    parts = [repr(a) for a in args]
    parts += [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


class Diffs:
    """Collects mismatches so that one test reports all of them."""

    def __init__(self, limit: int | None = None):
        self.items = []
        self.calls = 0
        # AIOFILES_TEST_MISMATCHES=N shows up to N mismatches per test
        self.limit = limit or int(os.environ.get("AIOFILES_TEST_MISMATCHES",
                                                 "10"))

    def check(self, actual: Outcome, expected: Outcome, ctx: str) -> bool:
        self.calls += 1
        try:
            assert_same_outcome(actual, expected, ctx)
        except AssertionError as e:
            self.items.append(str(e))
            return False
        return True

    def fail(self, msg: str):
        self.items.append(msg)

    def assert_clean(self):
        if self.items:
            shown = "\n\n".join(self.items[: self.limit])
            more = len(self.items) - self.limit
            tail = f"\n\n... and {more} more" if more > 0 else ""
            raise AssertionError(
                f"{len(self.items)} mismatch(es) in {self.calls} calls:\n\n"
                f"{shown}{tail}")
