"""The coordinator: options, data, busy loops, one worker process per peer,
the interleaved rounds, the report."""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import IO, Any, Optional

from . import _report
from ._peers import PEERS
from ._report import Cell, Results
from ._scenarios import QUICK_SIZES, SCENARIOS, Scenario, Sizes

# The directory holding the aiofiles_c package the coordinator runs, put
# first on the workers' path so that they measure the same one.
PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent.parent)

# A busy loop that also ends when its parent is gone (killed with SIGKILL,
# say), so it can never outlive the benchmark.
BUSY_LOOP = """\
import os, signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
parent = os.getppid()
while os.getppid() == parent:
    for _ in range(100000):
        pass
"""


class BusyLoops:
    """``with BusyLoops(n):`` n CPU-bound processes beside the benchmark,
    stopped on the way out however it goes (error, Ctrl-C, SIGTERM)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> BusyLoops:
        try:
            for _ in range(self.count):
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-c", BUSY_LOOP],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL))
        except BaseException:
            self.stop()
            raise
        if self.procs:
            pids = " ".join(str(p.pid) for p in self.procs)
            print(f"busy: {self.count} busy-loop processes running "
                  f"(pids {pids})", file=sys.stderr, flush=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()
        if self.procs:
            print(f"busy: {len(self.procs)} busy-loop processes stopped",
                  file=sys.stderr, flush=True)
        self.procs = []


# Idle workers are kept stopped (see WorkerProcess.ask); POSIX only.
_SIGSTOP: Optional[int] = getattr(signal, "SIGSTOP", None)
_SIGCONT: Optional[int] = getattr(signal, "SIGCONT", None)


class WorkerProcess:
    """One peer's measuring process (see _worker) and its pipe."""

    def __init__(self, peer: str, config: dict[str, Any]) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
        self.peer = peer
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiofiles_c.bench._worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=env, bufsize=1)
        print(f"{peer}: worker process {self.proc.pid}", file=sys.stderr,
              flush=True)
        self.exit_note = ""
        self.hello = self.ask(dict(config, peer=peer))

    def _signal(self, sig: Optional[int]) -> None:
        if sig is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def ask(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Send one command and wait for its answer. Between its commands
        the process is stopped (SIGSTOP): threads a peer leaves polling or
        spinning when idle must not take CPU from the process measuring."""
        if self.exit_note:
            return {"error": self.exit_note}
        stdin: Optional[IO[str]] = self.proc.stdin
        stdout: Optional[IO[str]] = self.proc.stdout
        assert stdin is not None and stdout is not None
        self._signal(_SIGCONT)
        try:
            stdin.write(json.dumps(msg) + "\n")
            stdin.flush()
            line = stdout.readline()
        except BrokenPipeError:
            line = ""
        self._signal(_SIGSTOP)
        if not line:
            code = self.proc.wait()
            self.exit_note = f"its process ended (exit code {code})"
            return {"error": self.exit_note}
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self, now: bool = False) -> None:
        """End the process: at once if ``now``, else when it has seen its
        stdin close (after its current command)."""
        if now:
            self.proc.kill()
        self._signal(_SIGCONT)
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
    raise SystemExit(128 + signum)


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m aiofiles_c.bench",
        description="Benchmark aiofiles_c and its peers against blocking "
                    "stdlib file I/O: each peer in its own process, which "
                    "measures blocking stdlib too; Markdown table on "
                    "stdout, progress on stderr.")
    parser.add_argument("--only", "--scenarios", metavar="NAME[,NAME]",
                        dest="only",
                        help="comma-separated scenarios (default all): "
                             + ", ".join(SCENARIOS))
    parser.add_argument("--peers", metavar="NAME[,NAME]",
                        help="comma-separated columns (default: every one "
                             "installed): " + ", ".join(PEERS))
    parser.add_argument("--rounds", type=int, metavar="N",
                        help="measured rounds per scenario, after a warm-up "
                             "(default 5; 1 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny workloads and one round: a smoke run of "
                             "the tool, not a measurement")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="run N busy-loop processes beside the benchmark "
                             "while it measures, from after the data is made "
                             "to the end (contended figures; two per CPU is "
                             "a loaded server)")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"],
                        default="asyncio", help="event loop (default asyncio)")
    parser.add_argument("--plot", type=Path, metavar="FILE",
                        help="also draw the ratios and lateness to FILE "
                             "(.png or .svg; needs matplotlib: "
                             "pip install 'aiofiles_c[plot]')")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also dump the raw results as JSON to FILE")
    parser.add_argument("--dir", type=Path, metavar="PATH",
                        help="create the scratch directory (removed at the "
                             "end) inside PATH; default: the system temp dir")
    parser.add_argument("--list", action="store_true",
                        help="list the scenarios and peers, and exit")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.busy < 0:
        parser.error("--busy must be 0 or more")
    args.only = _pick(parser, "scenario", args.only, list(SCENARIOS))
    args.peers = _pick(parser, "peer", args.peers, list(PEERS))
    if args.plot is not None:
        if args.plot.suffix.lower() not in (".png", ".svg"):
            parser.error("--plot FILE must end in .png or .svg")
        try:
            _report.load_pyplot()
        except ImportError as exc:
            parser.error(str(exc))
    if args.loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        parser.error("--loop uvloop needs uvloop installed")
    return args


def _pick(parser: argparse.ArgumentParser, what: str, given: Optional[str],
          known: list[str]) -> list[str]:
    names = list(dict.fromkeys(given.split(","))) if given else known
    unknown = [name for name in names if name not in known]
    if unknown:
        parser.error(f"unknown {what}(s) {', '.join(unknown)}; "
                     f"choose from {', '.join(known)}")
    return names


def list_all() -> str:
    lines = ["Scenarios:"]
    for name, cls in SCENARIOS.items():
        doc = (cls.__doc__ or "").strip().splitlines()
        lines.append(f"  {name}: {doc[0] if doc else ''}")
    lines.append("Peers:")
    for name in PEERS:
        lines.append(f"  {name}: {_availability(name) or 'installed'}")
    return "\n".join(lines)


def _availability(peer: str) -> Optional[str]:
    """Why ``peer`` cannot have a column here, or None."""
    cls = PEERS[peer]
    why = cls.unavailable()
    if why:
        return why
    module = cls.distributions[0] if cls.distributions else peer
    if importlib.util.find_spec(module) is None:
        return "not installed"
    return None


def run(args: argparse.Namespace, root: Path) -> tuple[
        list[Scenario], list[str], Results, dict[str, str], dict[str, str],
        dict[str, str]]:
    """Prepare the data, then measure (with the busy loops going)."""
    sizes = QUICK_SIZES if args.quick else Sizes()
    scenarios = [SCENARIOS[name](root, sizes) for name in args.only]
    print(f"setting up in {root} ...", file=sys.stderr, flush=True)
    for sc in scenarios:
        sc.prepare()
    for sc in scenarios:
        sc.setup()  # describe() needs it
    os.sync()  # no writeback of the fresh data during the timed runs
    # The busy loops start once the data is made, before the workers.
    with BusyLoops(args.busy):
        return _measure(args, root, scenarios)


def _measure(args: argparse.Namespace, root: Path,
             scenarios: list[Scenario]) -> tuple[
        list[Scenario], list[str], Results, dict[str, str], dict[str, str],
        dict[str, str]]:
    """Start a worker per peer and run the interleaved rounds."""
    skipped = {}
    for peer in args.peers:
        why = _availability(peer)
        if why:
            skipped[peer] = why
            print(f"{peer}: {why}, no column", file=sys.stderr)
    config = {"root": str(root), "quick": args.quick, "loop": args.loop,
              "scenarios": args.only}
    workers: list[WorkerProcess] = []
    versions: dict[str, str] = {}
    calls: dict[str, str] = {}
    results: Results = {sc.name: {} for sc in scenarios}
    try:
        for peer in args.peers:
            if peer in skipped:
                continue
            w = WorkerProcess(peer, config)
            workers.append(w)
            if "error" in w.hello:
                skipped[peer] = w.hello["error"]
                print(f"{peer}: cannot run ({w.hello['error']}), no column",
                      file=sys.stderr)
                workers.remove(w)
                w.close()
                continue
            versions[peer] = w.hello["version"]
            calls[peer] = PEERS[peer].calls
        for sc in scenarios:
            _run_scenario(sc, workers, args.rounds, results[sc.name])
    except BaseException:
        for w in workers:
            w.close(now=True)
        raise
    for w in workers:
        w.close()
    return scenarios, [w.peer for w in workers], results, versions, calls, skipped


def _record(cell: Cell, answer: dict[str, Any]) -> None:
    if "error" in answer:
        if cell.status != "error":  # keep the first error's text
            cell.status, cell.error = "error", answer["error"]
    elif answer.get("unsupported"):
        cell.status, cell.n = "unsupported", None
    if answer.get("stdlib"):
        cell.stdlib.append(tuple(answer["stdlib"]))
    if answer.get("peer"):
        cell.peer.append(tuple(answer["peer"]))


def _run_scenario(sc: Scenario, workers: list[WorkerProcess], rounds: int,
                  row: dict[str, Cell]) -> None:
    """Warm-up, then rounds taking the processes in turn; each round
    starts with the next process, so none is always first."""
    for w in workers:
        row[w.peer] = cell = Cell(units=sc.units)
        answer = w.ask({"cmd": "probe", "scenario": sc.name})
        _record(cell, answer)
        if "n" in answer:
            cell.n = answer["n"]
    for r in range(rounds):
        print(f"{sc.name} round {r + 1}/{rounds}:", end="", file=sys.stderr,
              flush=True)
        k = r % len(workers) if workers else 0
        for w in workers[k:] + workers[:k]:
            cell = row[w.peer]
            _record(cell, w.ask({"cmd": "round", "scenario": sc.name,
                                 "round": r}))
            print(f"  {w.peer} {_progress(cell)}", end="", file=sys.stderr,
                  flush=True)
        print(file=sys.stderr, flush=True)


def _progress(cell: Cell) -> str:
    if cell.status == "error":
        return "error"
    base = _report.fmt_time(cell.stdlib[-1][0]) if cell.stdlib else "?"
    if cell.status != "ok" or not cell.peer:
        return f"{_report.DASH} (stdlib {base})"
    took, late = cell.peer[-1]
    return (f"{_report.fmt_time(took * cell.scale)} (stdlib {base}, late "
            f"{late * 1e3:.1f} ms)")


def main(argv: Optional[list[str]] = None) -> None:
    """Run the benchmark and print the report."""
    args = parse_args(argv)
    if args.list:
        print(list_all())
        return
    began = time.perf_counter()
    load = _loadavg()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="aiofiles_c-bench-", dir=args.dir))
    try:
        scenarios, peers, results, versions, calls, skipped = run(args, root)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        shutil.rmtree(root, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
    total = time.perf_counter() - began
    print(f"done in {total:.1f} s", file=sys.stderr)
    cpus = os.cpu_count()
    meta: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(
            timespec="seconds"),
        "machine": f"{platform.platform()}, {cpus} CPUs; load average "
                   f"{_fmt_load(load)} before the run, "
                   f"{_fmt_load(_loadavg())} after it",
        "Python": f"{platform.python_version()}, {args.loop} loop",
        "columns": "; ".join(versions[p] for p in peers) or "none",
    }
    others = _other_load(load, args.busy)
    if others:
        meta["note"] = (f"other work was running (a 1-minute load average "
                        f"of {others:.1f} besides the benchmark's own): "
                        "the figures are only indicative")
    if skipped:
        meta["no column"] = "; ".join(f"{p} ({why})"
                                      for p, why in skipped.items())
    meta["busy"] = (f"{args.busy} busy-loop processes"
                    if args.busy else "none (quiet)")
    meta["rounds"] = (f"{args.rounds} after a warm-up run; medians"
                      + ("; quick workloads (a smoke run, not a measurement)"
                         if args.quick else ""))
    meta["command"] = "python -m aiofiles_c.bench " + " ".join(
        sys.argv[1:] if argv is None else argv)
    meta["total time"] = f"{total:.0f} s"
    print(_report.markdown(scenarios, peers, results, meta, args.busy, cpus,
                           calls), end="")
    if args.json:
        dump = {"meta": meta, "peers": peers, "scenarios": {
            sc.name: {"description": sc.describe(), "units": sc.units,
                      "results": {p: asdict(c)
                                  for p, c in results[sc.name].items()}}
            for sc in scenarios}}
        args.json.write_text(json.dumps(dump, indent=2) + "\n")
    if args.plot:
        _report.plot(args.plot, scenarios, peers, results, args.busy, cpus)
        print(f"plot written to {args.plot}", file=sys.stderr)


def _loadavg() -> Optional[tuple[float, float, float]]:
    try:
        return os.getloadavg()
    except OSError:
        return None


def _fmt_load(load: Optional[tuple[float, float, float]]) -> str:
    return "?" if load is None else " ".join(f"{x:.2f}" for x in load)


def _other_load(before: Optional[tuple[float, float, float]],
                busy: int) -> Optional[float]:
    """The load other programs put on the machine, if it is over half a
    CPU: the 1-minute load average before the run, or after it less the
    benchmark's own (one process measuring, plus the busy loops)."""
    after = _loadavg()
    if before is None or after is None:
        return None
    others = max(before[0], after[0] - 1 - busy)
    return others if others > 0.5 else None
