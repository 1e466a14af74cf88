"""The benchmark's workloads, each run the blocking stdlib way and through a
peer's API (see _peers), and the ticker that measures the loop's lateness.

A scenario's data is made once by ``prepare`` (in the coordinating process,
untimed, left in the page cache); ``setup`` only computes paths, offsets and
sizes, so every worker process can do it over the same files.
"""
from __future__ import annotations

import asyncio
import gc
import os
import random
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ._peers import Peer, Unsupported

MiB = 1 << 20
TICK = 0.001  # period of the lateness ticker, seconds


@dataclass(frozen=True)
class Sizes:
    """Workload sizes: the full ones, or ``QUICK_SIZES`` for ``--quick``."""

    big_file: int = 64 * MiB
    random_reads: int = 20_000
    small_writes: int = 100_000
    small_files: int = 2000
    stats: int = 10_000
    dir_entries: int = 10_000
    text_lines: int = 200_000
    positional_reads: int = 20_000


# Tiny: a smoke run of every scenario and peer, not a measurement.
QUICK_SIZES = Sizes(big_file=2 * MiB, random_reads=500, small_writes=2000,
                    small_files=100, stats=300, dir_entries=300,
                    text_lines=3000, positional_reads=512)


class Scenario:
    """One workload. A run does ``n`` units of work (reads, writes, files...;
    ``n == units`` unless a slow peer runs a part, see _worker) and returns
    a count that must equal ``expected(n)``, so a broken run cannot look
    fast. ``needs`` names the peer call the async side uses: a peer without
    it shows "—"."""

    name: ClassVar[str]
    needs: ClassVar[str] = "open"

    def __init__(self, root: Path, sizes: Sizes, tag: str = "") -> None:
        self.root = root
        self.sizes = sizes
        self.tag = tag  # keeps the files a process writes apart
        self.units = 1

    def prepare(self) -> None:
        """Create the shared data files (once, untimed)."""

    def setup(self) -> None:
        """Set paths and ``units`` over the prepared files (every process)."""

    def describe(self) -> str:
        """One line saying what a run does, with the actual sizes."""
        raise NotImplementedError

    def expected(self, n: int) -> int:
        """The count a correct run of ``n`` units returns."""
        raise NotImplementedError

    async def stdlib(self, n: int) -> int:
        """Run with blocking stdlib calls made directly on the loop."""
        raise NotImplementedError

    async def run(self, peer: Peer, n: int) -> int:
        """Run through ``peer``'s API."""
        raise NotImplementedError

    def after_run(self, n: int) -> None:
        """Check and remove what a run of ``n`` units left behind (untimed)."""


SCENARIOS: dict[str, type[Scenario]] = {}


def register(cls: type[Scenario]) -> type[Scenario]:
    """Class decorator adding a scenario to the registry, in definition order."""
    SCENARIOS[cls.name] = cls
    return cls


def fmt_size(nbytes: int) -> str:
    """Human size: 64 MiB, 4 KiB, 100 B."""
    for unit, scale in (("MiB", MiB), ("KiB", 1024)):
        if nbytes >= scale and nbytes % scale == 0:
            return f"{nbytes // scale} {unit}"
    return f"{nbytes} B"


def big_file(root: Path, size: int) -> Path:
    """The shared random-content file of ``size`` bytes."""
    return root / f"big-{size}.bin"


def make_big_file(root: Path, size: int) -> Path:
    """Create the big file on first use and read it once, so it is cached."""
    path = big_file(root, size)
    if not path.exists():
        with open(path, "wb") as f:
            for _ in range(size // MiB):
                f.write(os.urandom(MiB))
            f.write(os.urandom(size % MiB))
    with open(path, "rb") as f:
        while f.read(MiB):
            pass
    return path


def small_files_dir(root: Path) -> Path:
    return root / "smallfiles"


def make_small_files(root: Path, count: int) -> None:
    """``count`` files of 1-4 KiB random content, made once and shared."""
    folder = small_files_dir(root)
    if folder.exists():
        return
    folder.mkdir()
    rng = random.Random(0)
    for i in range(count):
        (folder / f"{i:05d}.bin").write_bytes(
            rng.randbytes(rng.randint(1024, 4096)))


class SmallFileSet(Scenario):
    """Base of the scenarios that read the shared small files whole."""

    def prepare(self) -> None:
        make_small_files(self.root, self.sizes.small_files)

    def setup(self) -> None:
        folder = small_files_dir(self.root)
        self.paths = [folder / f"{i:05d}.bin"
                      for i in range(self.sizes.small_files)]
        self.file_sizes = [p.stat().st_size for p in self.paths]
        self.units = len(self.paths)

    def expected(self, n: int) -> int:
        return sum(self.file_sizes[:n])

    async def stdlib(self, n: int) -> int:
        total = 0
        for p in self.paths[:n]:
            with open(p, "rb") as f:
                total += len(f.read())
        return total


class ChunkedRead(Scenario):
    """``read(chunk)`` calls through the big file until EOF, opened once 'rb'."""

    chunk: ClassVar[int]

    def prepare(self) -> None:
        make_big_file(self.root, self.sizes.big_file)

    def setup(self) -> None:
        self.path = big_file(self.root, self.sizes.big_file)
        # Full chunks, then the short or empty read that reports EOF.
        self.units = self.sizes.big_file // self.chunk + 1

    def describe(self) -> str:
        return (f"`read({self.chunk})` calls until EOF through a "
                f"{fmt_size(self.sizes.big_file)} file opened once 'rb'")

    def expected(self, n: int) -> int:
        return min(n * self.chunk, self.sizes.big_file)

    async def stdlib(self, n: int) -> int:
        total = 0
        with open(self.path, "rb") as f:
            for _ in range(n):
                total += len(f.read(self.chunk))
        return total

    async def run(self, peer: Peer, n: int) -> int:
        total = 0
        async with peer.open(self.path, "rb") as f:
            for _ in range(n):
                total += len(await f.read(self.chunk))
        return total


@register
class Read4k(ChunkedRead):
    """``read(4096)`` calls through the big file until EOF."""

    name = "read4k"
    chunk = 4096


@register
class RandomRead4k(Scenario):
    """``seek`` to a random 4 KiB-aligned offset, then ``read(4096)``."""

    name = "random4k"
    size = 4096

    def prepare(self) -> None:
        make_big_file(self.root, self.sizes.big_file)

    def setup(self) -> None:
        self.path = big_file(self.root, self.sizes.big_file)
        self.units = self.sizes.random_reads
        rng = random.Random(7)
        pages = self.sizes.big_file // self.size
        self.offsets = [rng.randrange(pages) * self.size
                        for _ in range(self.units)]

    def describe(self) -> str:
        return (f"{self.units:,} random reads: `seek` to a 4 KiB-aligned "
                f"offset, then `read(4096)`, in a cached "
                f"{fmt_size(self.sizes.big_file)} file opened once 'rb'")

    def expected(self, n: int) -> int:
        return n * self.size

    async def stdlib(self, n: int) -> int:
        total = 0
        with open(self.path, "rb") as f:
            for off in self.offsets[:n]:
                f.seek(off)
                total += len(f.read(self.size))
        return total

    async def run(self, peer: Peer, n: int) -> int:
        total = 0
        size = self.size
        async with peer.open(self.path, "rb") as f:
            if peer.sync_seek:
                for off in self.offsets[:n]:
                    f.seek(off)
                    total += len(await f.read(size))
            else:
                for off in self.offsets[:n]:
                    await f.seek(off)
                    total += len(await f.read(size))
        return total


@register
class ReadAll(Scenario):
    """One ``read()`` of the whole big file (a single unit)."""

    name = "readall64m"
    held: bytes = b""

    def prepare(self) -> None:
        make_big_file(self.root, self.sizes.big_file)

    def setup(self) -> None:
        self.path = big_file(self.root, self.sizes.big_file)

    def describe(self) -> str:
        return (f"one `read()` of a whole {fmt_size(self.sizes.big_file)} "
                "file (the result is released after the run: freeing it "
                "takes ~2 ms of unmapping for every implementation)")

    def expected(self, n: int) -> int:
        return self.sizes.big_file

    async def stdlib(self, n: int) -> int:
        with open(self.path, "rb") as f:
            self.held = f.read()
        return len(self.held)

    async def run(self, peer: Peer, n: int) -> int:
        async with peer.open(self.path, "rb") as f:
            self.held = await f.read()
        return len(self.held)

    def after_run(self, n: int) -> None:
        self.held = b""


@register
class Read1m(ChunkedRead):
    """``read(1 MiB)`` calls through the big file until EOF."""

    name = "read1m"
    chunk = MiB


@register
class WriteSmall(Scenario):
    """Many small binary ``write()`` calls to a new file opened 'wb', then close."""

    name = "write_small"
    record = bytes(range(32))

    def setup(self) -> None:
        self.path = self.root / f"write_small-{self.tag}.out"
        self.units = self.sizes.small_writes

    def describe(self) -> str:
        return (f"{self.units:,} `write()` calls of {len(self.record)} bytes "
                "to a new file opened 'wb', then close")

    def expected(self, n: int) -> int:
        return n * len(self.record)

    async def stdlib(self, n: int) -> int:
        total = 0
        with open(self.path, "wb") as f:
            for _ in range(n):
                total += f.write(self.record)
        return total

    async def run(self, peer: Peer, n: int) -> int:
        total = 0
        async with peer.open(self.path, "wb") as f:
            for _ in range(n):
                # What write() returns differs among peers; after_run
                # checks the file's size.
                await f.write(self.record)
                total += len(self.record)
        return total

    def after_run(self, n: int) -> None:
        size = self.path.stat().st_size
        if size != self.expected(n):
            raise AssertionError(f"{self.name}: file has {size} bytes, "
                                 f"expected {self.expected(n)}")
        self.path.unlink()


def text_file(root: Path, lines: int) -> Path:
    return root / f"lines-{lines}.txt"


class TextLines(Scenario):
    """Every line of a UTF-8 text file (~45 characters a line, some
    non-ASCII) opened 'r' (universal newlines)."""

    def prepare(self) -> None:
        path = text_file(self.root, self.sizes.text_lines)
        if not path.exists():
            with open(path, "w", encoding="utf-8") as f:
                for i in range(self.sizes.text_lines):
                    f.write(f"line {i} of the text file, héllo wörld {i * 7}\n")

    def setup(self) -> None:
        self.path = text_file(self.root, self.sizes.text_lines)
        self.units = self.sizes.text_lines

    def expected(self, n: int) -> int:
        return n


@register
class TextFor(TextLines):
    """``async for line in f`` over a UTF-8 text file."""

    name = "text_for"

    def describe(self) -> str:
        return (f"`async for line in f` over a {self.units:,}-line UTF-8 "
                "text file (stdlib: `for line in f`)")

    async def stdlib(self, n: int) -> int:
        count = 0
        with open(self.path, encoding="utf-8") as f:
            for _ in f:
                count += 1
                if count == n:
                    break
        return count

    async def run(self, peer: Peer, n: int) -> int:
        count = 0
        async with peer.open(self.path, "r", encoding="utf-8") as f:
            async for _ in f:
                count += 1
                if count == n:
                    break
        return count


@register
class TextReadline(TextLines):
    """``readline()`` calls through a UTF-8 text file."""

    name = "text_readline"

    def describe(self) -> str:
        return (f"`readline()` calls through a {self.units:,}-line UTF-8 "
                "text file")

    async def stdlib(self, n: int) -> int:
        count = 0
        with open(self.path, encoding="utf-8") as f:
            for _ in range(n):
                if f.readline():
                    count += 1
        return count

    async def run(self, peer: Peer, n: int) -> int:
        count = 0
        async with peer.open(self.path, "r", encoding="utf-8") as f:
            for _ in range(n):
                if await f.readline():
                    count += 1
        return count


@register
class TextWriteSmall(Scenario):
    """Many small text ``write()`` calls to a new file opened 'w', then close."""

    name = "text_write_small"
    record = "a line of text, héllo\n"

    def setup(self) -> None:
        self.path = self.root / f"text_write_small-{self.tag}.out"
        self.units = self.sizes.small_writes

    def describe(self) -> str:
        return (f"{self.units:,} `write()` calls of a {len(self.record)}-"
                "character line to a new UTF-8 file opened 'w', then close")

    def expected(self, n: int) -> int:
        return n * len(self.record)

    async def stdlib(self, n: int) -> int:
        total = 0
        with open(self.path, "w", encoding="utf-8") as f:
            for _ in range(n):
                total += f.write(self.record)
        return total

    async def run(self, peer: Peer, n: int) -> int:
        total = 0
        async with peer.open(self.path, "w", encoding="utf-8") as f:
            for _ in range(n):
                # aiofile's text write returns the encoded size: count
                # characters for every peer alike (after_run checks the
                # file's size).
                await f.write(self.record)
                total += len(self.record)
        return total

    def after_run(self, n: int) -> None:
        size = self.path.stat().st_size
        want = n * len(self.record.encode("utf-8"))
        if size != want:
            raise AssertionError(f"{self.name}: file has {size} bytes, "
                                 f"expected {want}")
        self.path.unlink()


@register
class SmallFilesSeq(SmallFileSet):
    """Small files opened, read whole and closed, one after another."""

    name = "smallfiles_seq"

    def describe(self) -> str:
        return (f"{self.units:,} files of 1-4 KiB each opened 'rb', read "
                "whole and closed, one at a time")

    async def run(self, peer: Peer, n: int) -> int:
        total = 0
        for p in self.paths[:n]:
            async with peer.open(p, "rb") as f:
                total += len(await f.read())
        return total


@register
class SmallFiles(SmallFileSet):
    """Small files each opened, fully read and closed, 64 at once via gather."""

    name = "smallfiles"
    concurrency = 64

    def describe(self) -> str:
        return (f"{self.units:,} files of 1-4 KiB each opened, read whole and "
                f"closed by {self.concurrency} workers started with "
                "`asyncio.gather`")

    async def _workers(self, n: int, read_one: Any) -> int:
        """``concurrency`` workers started with one ``gather``, each taking
        the next path until none is left (all 64 always busy)."""
        paths = iter(self.paths[:n])

        async def worker() -> int:
            return sum([await read_one(p) for p in paths])

        return sum(await asyncio.gather(
            *(worker() for _ in range(self.concurrency))))

    async def stdlib(self, n: int) -> int:
        async def read_one(path: Path) -> int:
            with open(path, "rb") as f:
                return len(f.read())

        return await self._workers(n, read_one)

    async def run(self, peer: Peer, n: int) -> int:
        async def read_one(path: Path) -> int:
            async with peer.open(path, "rb") as f:
                return len(await f.read())

        return await self._workers(n, read_one)


@register
class ReadBytes(SmallFileSet):
    """A one-call whole-file read of each small file, one after another."""

    name = "read_bytes"
    needs = "read_bytes"

    def describe(self) -> str:
        return (f"`read_bytes(path)` of {self.units:,} files of 1-4 KiB, one "
                "at a time (stdlib: `open(path, 'rb').read()`)")

    async def run(self, peer: Peer, n: int) -> int:
        read_bytes = peer.read_bytes
        if read_bytes is None:
            raise Unsupported
        total = 0
        for p in self.paths[:n]:
            total += len(await read_bytes(p))
        return total


def entries_dir(root: Path, n: int) -> Path:
    return root / f"entries{n}"


def make_entries_dir(root: Path, n: int) -> None:
    """A directory of ``n`` empty files, made once and shared."""
    folder = entries_dir(root, n)
    if not folder.exists():
        folder.mkdir()
        for i in range(n):
            (folder / f"{i:06d}").touch()


@register
class StatMany(Scenario):
    """Sequential awaited ``os.stat`` of many files."""

    name = "stat10k"
    needs = "stat"

    def prepare(self) -> None:
        make_entries_dir(self.root, self.sizes.stats)

    def setup(self) -> None:
        folder = entries_dir(self.root, self.sizes.stats)
        self.paths = [str(folder / f"{i:06d}") for i in range(self.sizes.stats)]
        self.units = len(self.paths)

    def describe(self) -> str:
        return f"{self.units:,} `os.stat` calls, awaited one after another"

    def expected(self, n: int) -> int:
        return n

    async def stdlib(self, n: int) -> int:
        return sum(1 for p in self.paths[:n] if os.stat(p).st_size == 0)

    async def run(self, peer: Peer, n: int) -> int:
        stat = peer.stat
        if stat is None:
            raise Unsupported
        count = 0
        for p in self.paths[:n]:
            count += (await stat(p)).st_size == 0
        return count


class DirScenario(Scenario):
    def prepare(self) -> None:
        make_entries_dir(self.root, self.sizes.dir_entries)

    def setup(self) -> None:
        self.folder = str(entries_dir(self.root, self.sizes.dir_entries))

    def expected(self, n: int) -> int:
        return self.sizes.dir_entries


@register
class ListDir(DirScenario):
    """``os.listdir`` of a directory with many entries."""

    name = "listdir10k"
    needs = "listdir"

    def describe(self) -> str:
        return (f"one `os.listdir` of a directory of "
                f"{self.sizes.dir_entries:,} entries")

    async def stdlib(self, n: int) -> int:
        return len(os.listdir(self.folder))

    async def run(self, peer: Peer, n: int) -> int:
        if peer.listdir is None:
            raise Unsupported
        return await peer.listdir(self.folder)


@register
class ScanDir(DirScenario):
    """Every entry of a directory with many entries, with ``is_dir()``."""

    name = "scandir10k"
    needs = "scandir_files"

    def describe(self) -> str:
        return (f"`scandir` of a directory of {self.sizes.dir_entries:,} "
                "entries, `is_dir()` of each (aiofiles_c: `async for`)")

    async def stdlib(self, n: int) -> int:
        with os.scandir(self.folder) as it:
            return sum(1 for e in it if not e.is_dir())

    async def run(self, peer: Peer, n: int) -> int:
        if peer.scandir_files is None:
            raise Unsupported
        return await peer.scandir_files(self.folder)


@register
class CopyFile(Scenario):
    """``copyfile`` of the big file (blocking stdlib: ``shutil.copyfile``)."""

    name = "copyfile64m"
    needs = "copyfile"

    def prepare(self) -> None:
        make_big_file(self.root, self.sizes.big_file)

    def setup(self) -> None:
        self.path = big_file(self.root, self.sizes.big_file)
        self.dst = self.root / f"copy-{self.tag}.out"

    def describe(self) -> str:
        return (f"`copyfile` of a {fmt_size(self.sizes.big_file)} file "
                "(aiofiles: `wrap(shutil.copyfile)`)")

    def expected(self, n: int) -> int:
        return self.sizes.big_file

    async def stdlib(self, n: int) -> int:
        shutil.copyfile(self.path, self.dst)
        return self.dst.stat().st_size

    async def run(self, peer: Peer, n: int) -> int:
        if peer.copyfile is None:
            raise Unsupported
        await peer.copyfile(self.path, self.dst)
        return self.dst.stat().st_size

    def after_run(self, n: int) -> None:
        self.dst.unlink()


@register
class ReadAtConcurrent(Scenario):
    """64 tasks doing random page-cached 4 KiB positional reads on one file.

    Blocking stdlib: 64 threads doing ``os.pread`` on one descriptor (the
    loop waits for them). Peers: ``await f.read_at(off, 4096)`` (aiofile:
    ``f.file.read_bytes(4096, off)``; aiofiles, which has no positional
    read: ``os.pread`` through ``aiofiles.os.wrap``) from 64 tasks on one
    file.
    """

    name = "read_at_64"
    needs = "read_at"
    workers = 64
    size = 4096

    def prepare(self) -> None:
        make_big_file(self.root, self.sizes.big_file)

    def setup(self) -> None:
        self.path = big_file(self.root, self.sizes.big_file)
        self.units = self.sizes.positional_reads
        rnd = random.Random(13)
        top = self.sizes.big_file - self.size
        self.offsets = [rnd.randrange(top // self.size) * self.size
                        for _ in range(self.units)]

    def describe(self) -> str:
        return (f"{self.units:,} random 4 KiB positional reads of a cached "
                f"{fmt_size(self.sizes.big_file)} file by {self.workers} "
                "concurrent tasks (`read_at`; stdlib: 64 threads doing "
                "`os.pread`; aiofiles: `wrap(os.pread)`)")

    def expected(self, n: int) -> int:
        return n * self.size

    def _shares(self, n: int) -> list[list[int]]:
        offs = self.offsets[:n]
        return [offs[i::self.workers] for i in range(self.workers)]

    async def stdlib(self, n: int) -> int:
        fd = os.open(self.path, os.O_RDONLY)
        totals = [0] * self.workers

        def work(i: int, share: list[int]) -> None:
            t = 0
            for off in share:
                t += len(os.pread(fd, self.size, off))
            totals[i] = t

        try:
            threads = [threading.Thread(target=work, args=(i, share))
                       for i, share in enumerate(self._shares(n))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            os.close(fd)
        return sum(totals)

    async def run(self, peer: Peer, n: int) -> int:
        async with peer.open(self.path, "rb") as f:
            read_at = peer.read_at(f)

            async def worker(share: list[int]) -> int:
                t = 0
                for off in share:
                    t += len(await read_at(off, self.size))
                return t

            got = await asyncio.gather(*[worker(share)
                                         for share in self._shares(n)])
        return sum(got)


@register
class Idle(Scenario):
    """No file work at all: the loop only sleeps while the ticker runs.

    Its lateness is what the machine costs the ticker by itself (the
    scheduler, on a busy machine), the floor under every other row's."""

    name = "idle"
    needs = "open"
    SLEEP = 0.1

    def describe(self) -> str:
        return (f"no I/O: `asyncio.sleep({self.SLEEP})` on every side; the "
                "lateness column is the ticker's own floor on this machine")

    def expected(self, n: int) -> int:
        return n

    async def stdlib(self, n: int) -> int:
        await asyncio.sleep(self.SLEEP)
        return n

    async def run(self, peer: Peer, n: int) -> int:
        await asyncio.sleep(self.SLEEP)
        return n


class Ticker:
    """Async context manager running a 1 ms sleep loop; records the worst lateness.

    Lateness is measured with ``time.perf_counter`` rather than ``loop.time()``,
    whose resolution is 1 ms under uvloop.
    """

    def __init__(self) -> None:
        self.worst = 0.0
        self._stop = False
        self._task: asyncio.Task[None]

    async def _tick(self) -> None:
        while not self._stop:
            start = time.perf_counter()
            await asyncio.sleep(TICK)
            self.worst = max(self.worst, time.perf_counter() - start - TICK)

    async def __aenter__(self) -> "Ticker":
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)  # let the ticker start its first sleep
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # Wait for one more wake-up so a workload that never yielded is seen.
        self._stop = True
        await self._task


async def measure(sc: Scenario, peer: Peer | None, n: int) -> tuple[float, float]:
    """One timed run of ``n`` units with the ticker going (``peer`` None:
    blocking stdlib), checked and cleaned up: (seconds, worst lateness)."""
    gc.collect()
    async with Ticker() as ticker:
        start = time.perf_counter()
        if peer is None:
            result = await sc.stdlib(n)
        else:
            result = await sc.run(peer, n)
        elapsed = time.perf_counter() - start
    if result != sc.expected(n):
        who = "stdlib" if peer is None else peer.name
        raise AssertionError(f"{sc.name}/{who}: got {result}, "
                             f"expected {sc.expected(n)}")
    sc.after_run(n)
    return elapsed, ticker.worst
