"""Benchmark aiofiles_c against blocking stdlib file I/O and aiofiles.

Run ``python -m aiofiles_c.bench --help``. Each scenario runs for every
implementation in interleaved rounds; the Markdown table on stdout shows the
median time per scenario and implementation, its ratio to blocking stdlib, and
the worst event-loop lateness a concurrent 1 ms ticker saw (how long the loop
was blocked). Progress goes to stderr.

To add a scenario, subclass :class:`Scenario`, decorate it with ``@register``
and fill in ``setup``/``describe``/``expected``/``stdlib``/``async_api``.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import importlib
import importlib.metadata
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

MiB = 1 << 20
TICK = 0.001  # period of the lateness ticker, seconds


@dataclass(frozen=True)
class Sizes:
    """Workload sizes, full or ``--quick``."""

    big_file: int = 64 * MiB
    small_writes: int = 100_000
    small_files: int = 2000
    dir_entries: int = 10_000
    text_lines: int = 200_000


QUICK_SIZES = Sizes(big_file=16 * MiB, small_writes=20_000, small_files=500,
                    dir_entries=2000, text_lines=50_000)


class Scenario:
    """One benchmark: data made once by ``setup``, one coroutine per implementation.

    A run does ``n`` units of work (reads, writes, files...; ``n == units``
    except for a reduced aiofiles run) and returns a count that must equal
    ``expected(n)``, so a broken implementation cannot look fast.
    """

    name: ClassVar[str]
    # If set, aiofiles runs only this many units (it is too slow for the full
    # workload) and its time is scaled up to ``units``; the table says so.
    aiofiles_units: ClassVar[int | None] = None

    def __init__(self, root: Path, sizes: Sizes) -> None:
        self.root = root
        self.sizes = sizes
        self.units = 1

    def setup(self) -> None:
        """Create the data files (untimed) and set ``self.units``."""

    def describe(self) -> str:
        """One line saying what a run does, with the actual sizes."""
        raise NotImplementedError

    def expected(self, n: int) -> int:
        """The count a correct run of ``n`` units returns."""
        raise NotImplementedError

    async def stdlib(self, n: int) -> int:
        """Run with blocking stdlib calls made directly on the loop."""
        raise NotImplementedError

    async def async_api(self, aio: ModuleType, n: int) -> int:
        """Run with the aiofiles API of ``aio`` (aiofiles_c or aiofiles)."""
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
    """The shared random-content file of ``size`` bytes, created on first use."""
    path = root / f"big-{size}.bin"
    if not path.exists():
        with open(path, "wb") as f:
            for _ in range(size // MiB):
                f.write(os.urandom(MiB))
            f.write(os.urandom(size % MiB))
    return path


class ChunkedRead(Scenario):
    """``read(chunk)`` calls through the big file until EOF, opened once, 'rb'."""

    chunk: ClassVar[int]

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

    async def async_api(self, aio: ModuleType, n: int) -> int:
        total = 0
        async with aio.open(self.path, "rb") as f:
            for _ in range(n):
                total += len(await f.read(self.chunk))
        return total


@register
class Read4k(ChunkedRead):
    name = "read4k"
    chunk = 4096


@register
class ReadAll(Scenario):
    """One ``read()`` of the whole big file (a single unit)."""

    name = "readall64m"

    def setup(self) -> None:
        self.path = big_file(self.root, self.sizes.big_file)

    held: bytes = b""

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

    async def async_api(self, aio: ModuleType, n: int) -> int:
        async with aio.open(self.path, "rb") as f:
            self.held = await f.read()
        return len(self.held)

    def after_run(self, n: int) -> None:
        self.held = b""


@register
class Read1m(ChunkedRead):
    name = "read1m"
    chunk = MiB


@register
class WriteSmall(Scenario):
    """Many small binary ``write()`` calls to a new file opened 'wb', then close."""

    name = "write_small"
    record = bytes(range(32))

    def setup(self) -> None:
        self.path = self.root / "write_small.out"
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

    async def async_api(self, aio: ModuleType, n: int) -> int:
        total = 0
        async with aio.open(self.path, "wb") as f:
            for _ in range(n):
                total += await f.write(self.record)
        return total

    def after_run(self, n: int) -> None:
        size = self.path.stat().st_size
        if size != self.expected(n):
            raise AssertionError(f"{self.name}: file has {size} bytes, "
                                 f"expected {self.expected(n)}")
        self.path.unlink()


def text_file(root: Path, lines: int) -> Path:
    """A UTF-8 text file of ``lines`` lines (~45 characters, some non-ASCII),
    made once and shared."""
    path = root / f"lines-{lines}.txt"
    if not path.exists():
        with open(path, "w", encoding="utf-8") as f:
            for i in range(lines):
                f.write(f"line {i} of the text file, héllo wörld {i * 7}\n")
    return path


class TextLines(Scenario):
    """Every line of a text file opened 'r' (UTF-8, universal newlines)."""

    aiofiles_units = 20_000

    def setup(self) -> None:
        self.path = text_file(self.root, self.sizes.text_lines)
        self.units = self.sizes.text_lines

    def expected(self, n: int) -> int:
        return n


@register
class TextFor(TextLines):
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

    async def async_api(self, aio: ModuleType, n: int) -> int:
        count = 0
        async with aio.open(self.path, encoding="utf-8") as f:
            async for _ in f:
                count += 1
                if count == n:
                    break
        return count


@register
class TextReadline(TextLines):
    name = "text_readline"

    def describe(self) -> str:
        return (f"`readline()` calls through a {self.units:,}-line UTF-8 "
                "text file")

    async def stdlib(self, n: int) -> int:
        with open(self.path, encoding="utf-8") as f:
            for _ in range(n):
                f.readline()
        return n

    async def async_api(self, aio: ModuleType, n: int) -> int:
        count = 0
        async with aio.open(self.path, encoding="utf-8") as f:
            for _ in range(n):
                if await f.readline():
                    count += 1
        return count


@register
class TextWriteSmall(Scenario):
    """Many small text ``write()`` calls to a new file opened 'w', then close."""

    name = "text_write_small"
    aiofiles_units = 20_000
    record = "a line of text, héllo\n"

    def setup(self) -> None:
        self.path = self.root / "text_write_small.out"
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

    async def async_api(self, aio: ModuleType, n: int) -> int:
        total = 0
        async with aio.open(self.path, "w", encoding="utf-8") as f:
            for _ in range(n):
                total += await f.write(self.record)
        return total

    def after_run(self, n: int) -> None:
        size = self.path.stat().st_size
        want = n * len(self.record.encode("utf-8"))
        if size != want:
            raise AssertionError(f"{self.name}: file has {size} bytes, "
                                 f"expected {want}")
        self.path.unlink()


@register
class SmallFiles(Scenario):
    """Small files each opened, fully read and closed, 64 at once via gather."""

    name = "smallfiles"
    concurrency = 64

    def setup(self) -> None:
        rng = random.Random(0)
        folder = self.root / "smallfiles"
        folder.mkdir()
        self.paths: list[Path] = []
        self.file_sizes: list[int] = []
        for i in range(self.sizes.small_files):
            path = folder / f"{i:05d}.bin"
            size = rng.randint(1024, 4096)
            path.write_bytes(rng.randbytes(size))
            self.paths.append(path)
            self.file_sizes.append(size)
        self.units = len(self.paths)

    def describe(self) -> str:
        return (f"{self.units:,} files of 1-4 KiB each opened, read whole and "
                f"closed by {self.concurrency} workers started with "
                "`asyncio.gather`")

    def expected(self, n: int) -> int:
        return sum(self.file_sizes[:n])

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

    async def async_api(self, aio: ModuleType, n: int) -> int:
        async def read_one(path: Path) -> int:
            async with aio.open(path, "rb") as f:
                return len(await f.read())

        return await self._workers(n, read_one)


def os_module(aio: ModuleType) -> Any:
    """The implementation's ``os`` submodule (aiofiles.os must be imported)."""
    return importlib.import_module(aio.__name__ + ".os")


def entries_dir(root: Path, n: int) -> Path:
    """A directory of ``n`` empty files, made once and shared."""
    folder = root / f"entries{n}"
    if not folder.exists():
        folder.mkdir()
        for i in range(n):
            (folder / f"{i:06d}").touch()
    return folder


@register
class StatMany(Scenario):
    """Sequential awaited ``os.stat`` of every file in a directory."""

    name = "stat10k"

    def setup(self) -> None:
        folder = entries_dir(self.root, self.sizes.dir_entries)
        self.paths = [str(folder / f"{i:06d}")
                      for i in range(self.sizes.dir_entries)]
        self.units = len(self.paths)

    def describe(self) -> str:
        return f"{self.units:,} `os.stat` calls, awaited one after another"

    def expected(self, n: int) -> int:
        return n

    async def stdlib(self, n: int) -> int:
        return sum(1 for p in self.paths[:n] if os.stat(p).st_size == 0)

    async def async_api(self, aio: ModuleType, n: int) -> int:
        stat = os_module(aio).stat
        count = 0
        for p in self.paths[:n]:
            count += (await stat(p)).st_size == 0
        return count


@register
class ListDir(Scenario):
    """``os.listdir`` of a directory with many entries."""

    name = "listdir10k"

    def setup(self) -> None:
        self.folder = str(entries_dir(self.root, self.sizes.dir_entries))

    def describe(self) -> str:
        return (f"one `os.listdir` of a directory of "
                f"{self.sizes.dir_entries:,} entries")

    def expected(self, n: int) -> int:
        return self.sizes.dir_entries

    async def stdlib(self, n: int) -> int:
        return len(os.listdir(self.folder))

    async def async_api(self, aio: ModuleType, n: int) -> int:
        return len(await os_module(aio).listdir(self.folder))


@register
class ScanDir(Scenario):
    """Every entry of a directory with many entries, with ``is_dir()``."""

    name = "scandir10k"

    def setup(self) -> None:
        self.folder = str(entries_dir(self.root, self.sizes.dir_entries))

    def describe(self) -> str:
        return (f"`scandir` of a directory of {self.sizes.dir_entries:,} "
                "entries, `is_dir()` of each (aiofiles_c: `async for`)")

    def expected(self, n: int) -> int:
        return self.sizes.dir_entries

    async def stdlib(self, n: int) -> int:
        with os.scandir(self.folder) as it:
            return sum(1 for e in it if not e.is_dir())

    async def async_api(self, aio: ModuleType, n: int) -> int:
        osm = os_module(aio)
        it = osm.scandir(self.folder)
        if hasattr(it, "__aiter__"):
            return sum([1 async for e in it if not e.is_dir()])
        with await it as entries:
            return sum(1 for e in entries if not e.is_dir())


@register
class CopyFile(Scenario):
    """``copyfile`` of the big file (``shutil.copyfile`` for blocking
    stdlib; aiofiles has none, so its column runs ``shutil.copyfile`` in
    its executor through ``aiofiles.os.wrap``)."""

    name = "copyfile64m"

    def setup(self) -> None:
        self.path = big_file(self.root, self.sizes.big_file)
        self.dst = self.root / "copy.out"

    def describe(self) -> str:
        return (f"`copyfile` of a {fmt_size(self.sizes.big_file)} file "
                "(aiofiles: `wrap(shutil.copyfile)`)")

    def expected(self, n: int) -> int:
        return self.sizes.big_file

    async def stdlib(self, n: int) -> int:
        shutil.copyfile(self.path, self.dst)
        return self.dst.stat().st_size

    async def async_api(self, aio: ModuleType, n: int) -> int:
        osm = os_module(aio)
        if hasattr(osm, "copyfile"):
            await osm.copyfile(self.path, self.dst)
        else:
            await osm.wrap(shutil.copyfile)(self.path, self.dst)
        return self.dst.stat().st_size

    def after_run(self, n: int) -> None:
        self.dst.unlink()



@register
class ReadAtConcurrent(Scenario):
    """64 tasks doing random page-cached 4 KiB positional reads on one file.

    Blocking stdlib: 64 threads doing ``os.pread`` on one descriptor (the
    loop waits for them). aiofiles_c: ``await f.read_at(off, 4096)`` from
    64 tasks on one file. aiofiles has no positional read: its column runs
    ``os.pread`` through ``aiofiles.os.wrap`` (the executor), 64 at once.
    """

    name = "read_at_64"
    workers = 64
    size = 4096

    def setup(self) -> None:
        self.path = big_file(self.root, self.sizes.big_file)
        self.units = 20_000 if self.sizes.big_file >= 64 * MiB else 5_000
        rnd = random.Random(13)
        top = self.sizes.big_file - self.size
        self.offsets = [rnd.randrange(top // self.size) * self.size
                        for _ in range(self.units)]
        with open(self.path, "rb") as f:  # cached, as the scenario says
            while f.read(MiB):
                pass

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
        import threading
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

    async def async_api(self, aio: ModuleType, n: int) -> int:
        async with aio.open(self.path, "rb") as f:
            if hasattr(f, "read_at"):
                async def worker(share: list[int]) -> int:
                    t = 0
                    for off in share:
                        t += len(await f.read_at(off, self.size))
                    return t
            else:
                pread = os_module(aio).wrap(os.pread)
                fd = f.fileno()

                async def worker(share: list[int]) -> int:
                    t = 0
                    for off in share:
                        t += len(await pread(fd, self.size, off))
                    return t
            got = await asyncio.gather(*[worker(share)
                                         for share in self._shares(n)])
        return sum(got)


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


@dataclass(frozen=True)
class Impl:
    """A benchmarked implementation: a table column and its module (None: stdlib)."""

    label: str
    module: ModuleType | None


@dataclass
class Series:
    """Every round of one scenario for one implementation."""

    units_run: int
    scale: float  # measured time is multiplied by this (full units / units run)
    seconds: list[float] = field(default_factory=list)
    lateness_seconds: list[float] = field(default_factory=list)


async def run_once(sc: Scenario, impl: Impl, series: Series) -> None:
    """Time one run with the ticker going, verify it and append to ``series``."""
    n = series.units_run
    gc.collect()
    async with Ticker() as ticker:
        start = time.perf_counter()
        if impl.module is None:
            result = await sc.stdlib(n)
        else:
            result = await sc.async_api(impl.module, n)
        elapsed = time.perf_counter() - start
    if result != sc.expected(n):
        raise AssertionError(f"{sc.name}/{impl.label}: got {result}, "
                             f"expected {sc.expected(n)}")
    sc.after_run(n)
    series.seconds.append(elapsed * series.scale)
    series.lateness_seconds.append(ticker.worst)


def fmt_time(seconds: float) -> str:
    """Seconds as '1.23 s' or '45.6 ms'."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.3g} ms"


def fmt_ratio(ratio: float) -> str:
    """A ratio as '0.95x', '12.3x' or '117x'."""
    digits = 2 if ratio < 10 else 1 if ratio < 100 else 0
    return f"{ratio:.{digits}f}x"


async def run_all(scenarios: list[Scenario], impls: list[Impl],
                  rounds: int) -> dict[str, dict[str, Series]]:
    """Run every scenario for ``rounds`` rounds of A B C ..., with progress."""
    results: dict[str, dict[str, Series]] = {}
    for sc in scenarios:
        results[sc.name] = row = {}
        for impl in impls:
            n = sc.units
            if impl.label == "aiofiles" and sc.aiofiles_units is not None:
                n = min(n, sc.aiofiles_units)
            row[impl.label] = Series(units_run=n, scale=sc.units / n)
        for r in range(1, rounds + 1):
            print(f"{sc.name} round {r}/{rounds}:", end="", file=sys.stderr,
                  flush=True)
            for impl in impls:
                series = row[impl.label]
                await run_once(sc, impl, series)
                print(f"  {impl.label} {fmt_time(series.seconds[-1])} "
                      f"(late {series.lateness_seconds[-1] * 1e3:.1f} ms)",
                      end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)
    return results


def module_version(module: ModuleType) -> str:
    """'name version' of an imported package."""
    try:
        version = importlib.metadata.version(module.__name__)
    except importlib.metadata.PackageNotFoundError:
        version = getattr(module, "__version__", "(version unknown)")
    return f"{module.__name__} {version}"


def markdown(scenarios: list[Scenario], impls: list[Impl],
             results: dict[str, dict[str, Series]], meta: dict[str, Any]) -> str:
    """The report: environment, the results table, footnotes, scenario legend."""
    labels = [impl.label for impl in impls]
    others = labels[1:]
    lines = ["## aiofiles_c benchmark", ""]
    lines += [f"- {key}: {value}" for key, value in meta.items()]
    header = (["scenario"] + labels + [f"{lab}/stdlib" for lab in others]
              + [f"worst lateness ms ({' / '.join(labels)})"])
    lines += ["", "| " + " | ".join(header) + " |",
              "|" + "---|" + "--:|" * (len(header) - 2) + "---|"]
    footnotes: list[str] = []
    for sc in scenarios:
        row = results[sc.name]
        medians = {lab: statistics.median(row[lab].seconds) for lab in labels}
        cells = [sc.name]
        for lab in labels:
            cell = fmt_time(medians[lab])
            if row[lab].scale != 1:
                footnotes.append(
                    f"{sc.name}: {lab} ran {row[lab].units_run:,} of "
                    f"{sc.units:,} units per round; its time is scaled "
                    f"x{row[lab].scale:.3g} to the full workload.")
                cell += f" [{len(footnotes)}]"
            cells.append(cell)
        cells += [fmt_ratio(medians[lab] / medians["stdlib"]) for lab in others]
        cells.append(" / ".join(f"{max(row[lab].lateness_seconds) * 1e3:.1f}"
                                for lab in labels))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for i, note in enumerate(footnotes, 1):
        lines += [f"[{i}] {note}", ""]
    lines += ["Times are medians over the rounds; worst lateness is the "
              f"maximum over all rounds of a {TICK * 1e3:g} ms "
              "`asyncio.sleep` ticker run alongside.", "", "Scenarios:", ""]
    lines += [f"- `{sc.name}`: {sc.describe()}" for sc in scenarios]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m aiofiles_c.bench",
        description="Benchmark aiofiles_c against blocking stdlib I/O and "
                    "aiofiles; Markdown table on stdout, progress on stderr.")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"],
                        default="asyncio", help="event loop (default asyncio)")
    parser.add_argument("--rounds", type=int, metavar="N",
                        help="rounds per scenario (default 5, 3 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds and smaller workloads")
    parser.add_argument("--only", metavar="NAME[,NAME]",
                        help="comma-separated scenarios: " + ", ".join(SCENARIOS))
    parser.add_argument("--dir", type=Path, metavar="PATH",
                        help="create the scratch directory (removed at the "
                             "end) inside PATH; default: the system temp dir")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also dump raw results as JSON to FILE")
    parser.add_argument("--impl", choices=["aiofiles_c", "aiofiles"],
                        default="aiofiles_c",
                        help="what runs in the aiofiles_c column (default "
                             "aiofiles_c; aiofiles is for trying the benchmark)")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    names = list(dict.fromkeys(args.only.split(","))) if args.only else list(SCENARIOS)
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; "
                     f"choose from {', '.join(SCENARIOS)}")
    args.only = names
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            parser.error("--loop uvloop needs uvloop installed")
        args.loop_factory = uvloop.new_event_loop
    else:
        args.loop_factory = None
    try:
        args.impl_module = importlib.import_module(args.impl)
    except ImportError as exc:
        hint = "; --impl aiofiles runs aiofiles instead" * (args.impl != "aiofiles")
        parser.error(f"cannot import {args.impl} ({exc}){hint}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Set up the data, run the benchmark, print the report."""
    args = parse_args(argv)
    began = time.perf_counter()
    impls = [Impl("stdlib", None), Impl("aiofiles_c", args.impl_module)]
    try:
        aiofiles = importlib.import_module("aiofiles")
    except ImportError:
        aiofiles_version = "not installed (column skipped)"
        print("aiofiles is not installed: skipping its column", file=sys.stderr)
    else:
        aiofiles_version = module_version(aiofiles)
        impls.append(Impl("aiofiles", aiofiles))
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="aiofiles_c-bench-", dir=args.dir))
    try:
        sizes = QUICK_SIZES if args.quick else Sizes()
        print(f"setting up in {root} ...", file=sys.stderr, flush=True)
        scenarios = [SCENARIOS[name](root, sizes) for name in args.only]
        for sc in scenarios:
            sc.setup()
        os.sync()  # no writeback of the fresh data during the timed runs
        with _Runner(loop_factory=args.loop_factory) as runner:
            loop_type = type(runner.get_loop())
            results = runner.run(run_all(scenarios, impls, args.rounds))
    finally:
        shutil.rmtree(root)
    total = time.perf_counter() - began
    print(f"done in {total:.1f} s", file=sys.stderr)
    meta = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "CPUs": os.cpu_count(),
        "Python": platform.python_version(),
        "loop": f"{args.loop} ({loop_type.__module__}.{loop_type.__qualname__})",
        "aiofiles_c column": module_version(args.impl_module)
        + ("" if args.impl == "aiofiles_c" else " (--impl aiofiles)"),
        "aiofiles column": aiofiles_version,
        "rounds": args.rounds,
        "workload": "quick" if args.quick else "full",
        "total benchmark time": f"{total:.0f} s",
    }
    print(markdown(scenarios, impls, results, meta))
    if args.json:
        dump = {"meta": meta, "scenarios": {
            sc.name: {"description": sc.describe(), "units": sc.units,
                      "results": {lab: asdict(series)
                                  for lab, series in results[sc.name].items()}}
            for sc in scenarios}}
        args.json.write_text(json.dumps(dump, indent=2) + "\n")



class _OneLoop:
    """asyncio.Runner's part used here, for Python 3.9 and 3.10."""

    def __init__(self, *, loop_factory: Any) -> None:
        self._loop = (loop_factory or asyncio.new_event_loop)()

    def __enter__(self) -> _OneLoop:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._loop.close()

    def get_loop(self) -> Any:
        return self._loop

    def run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)


_Runner: Any = getattr(asyncio, "Runner", _OneLoop)

if __name__ == "__main__":
    main()
