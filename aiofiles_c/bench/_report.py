"""The benchmark's outputs: the Markdown report and the optional plot."""
from __future__ import annotations

import importlib
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ._scenarios import TICK

DASH = "—"


@dataclass
class Cell:
    """One scenario in one peer's process: its stdlib and peer runs."""

    units: int = 0
    n: Optional[int] = None  # units the peer runs per round (None: no run)
    status: str = "ok"  # ok, unsupported, error
    error: str = ""
    stdlib: list[tuple[float, float]] = field(default_factory=list)
    peer: list[tuple[float, float]] = field(default_factory=list)

    @property
    def scale(self) -> float:
        return self.units / self.n if self.n else 1.0

    def peer_seconds(self) -> Optional[float]:
        """The peer's median time, scaled to the full workload."""
        if self.status != "ok" or not self.peer:
            return None
        return statistics.median(s for s, _ in self.peer) * self.scale

    def stdlib_seconds(self) -> Optional[float]:
        if not self.stdlib:
            return None
        return statistics.median(s for s, _ in self.stdlib)

    def ratio(self) -> Optional[float]:
        peer, base = self.peer_seconds(), self.stdlib_seconds()
        if peer is None or not base:
            return None
        return peer / base

    def lateness(self) -> Optional[float]:
        """The median over the rounds of each round's worst lateness."""
        if self.status != "ok" or not self.peer:
            return None
        return statistics.median(late for _, late in self.peer)


# results[scenario][peer]
Results = dict[str, dict[str, Cell]]


def pooled_stdlib(row: dict[str, Cell]) -> tuple[Optional[float], Optional[float]]:
    """Blocking stdlib's median time and lateness over every process's runs."""
    runs = [run for cell in row.values() for run in cell.stdlib]
    if not runs:
        return None, None
    return (statistics.median(s for s, _ in runs),
            statistics.median(late for _, late in runs))


def fmt_time(seconds: float) -> str:
    """Seconds as '1.23 s' or '45.6 ms'."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.3g} ms"


def fmt_ratio(ratio: float) -> str:
    """A ratio as '0.95x', '12.3x' or '117x'."""
    digits = 2 if ratio < 10 else 1 if ratio < 100 else 0
    return f"{ratio:.{digits}f}x"


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def title(busy: int, cpus: Optional[int]) -> str:
    if not busy:
        return "aiofiles_c benchmark: quiet machine"
    return (f"aiofiles_c benchmark: busy machine, {busy} busy-loop "
            f"process{'es' * (busy != 1)} beside it on {cpus} CPUs")


def markdown(scenarios: list[Any], peers: list[str], results: Results,
             meta: dict[str, Any], busy: int, cpus: Optional[int],
             calls: dict[str, str]) -> str:
    """The report: title, environment, the table, its notes, the legend."""
    lines = [f"## {title(busy, cpus)}", ""]
    lines += [f"- {key}: {value}" for key, value in meta.items()]
    header = ["scenario", "stdlib"] + peers
    lines += ["", "| " + " | ".join(header) + " |",
              "|---|" + "--:|" * (len(header) - 1)]
    scaled: list[str] = []  # per scenario: who ran how much of it
    errors: list[str] = []
    for sc in scenarios:
        row = results[sc.name]
        base, base_late = pooled_stdlib(row)
        cells = [f"`{sc.name}`",
                 DASH if base is None or base_late is None
                 else f"{fmt_time(base)} ({fmt_ms(base_late)})"]
        parts: list[str] = []
        for peer in peers:
            cell = row.get(peer)
            ratio = cell.ratio() if cell else None
            late = cell.lateness() if cell else None
            if cell is not None and cell.status == "error":
                errors.append(f"`{sc.name}` on {peer}: {cell.error}")
                cells.append("error")
            elif cell is None or ratio is None or late is None:
                cells.append(DASH)
            else:
                mark = ""
                if cell.n is not None and cell.n < cell.units:
                    mark = "*"
                    parts.append(f"{peer} {cell.n:,}")
                cells.append(f"{fmt_ratio(ratio)}{mark} ({fmt_ms(late)})")
        lines.append("| " + " | ".join(cells) + " |")
        if parts:
            scaled.append(f"`{sc.name}` {', '.join(parts)} of "
                          f"{sc.units:,}")
    lines += [
        "",
        "Each peer's cell: its median time over the rounds divided by the "
        "median time of blocking stdlib calls measured in the same process "
        "and rounds (below 1x: faster than blocking calls), and in brackets "
        "the worst lateness of the event loop (a "
        f"{TICK * 1e3:g} ms `asyncio.sleep` ticker running beside it; the "
        "median over the rounds of each round's worst). The stdlib column: "
        "the median time of the blocking calls made on the loop, over all "
        "the processes, and how long they blocked the loop. "
        f"{DASH}: the peer has no such call.",
    ]
    if scaled:
        lines += ["", "\\* The peer ran part of the workload per round (the "
                  "whole would have taken over half a second, or over a "
                  "quarter second and 10 times stdlib's time) and "
                  "its time is scaled up to the whole; its lateness is that "
                  "of the shorter run. Units run: "
                  + "; ".join(scaled) + "."]
    if errors:
        lines += ["", "Errors (the traceback is in the log): "
                  + "; ".join(errors) + "."]
    lines += ["", "Scenarios:", ""]
    lines += [f"- `{sc.name}`: {sc.describe()}" for sc in scenarios]
    lines += ["", "Calls used:", ""]
    lines += [f"- {peer}: {calls[peer]}" for peer in peers]
    return "\n".join(lines) + "\n"


LATE_BASE = 0.02  # ms: where the lateness bars start on the log axis
COLOURS = {"stdlib": "#7f7f7f", "aiofiles_c": "#d62728", "aiofiles": "#1f77b4",
           "anyio": "#2ca02c", "ayafileio": "#ff7f0e", "aiofile": "#9467bd",
           "turbofile": "#8c564b"}


def load_pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend; ImportError with the install
    hint if matplotlib is not installed."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError as exc:
        raise ImportError(
            "--plot needs matplotlib, which is not installed: "
            "pip install 'aiofiles_c[plot]' (or pip install matplotlib)"
        ) from exc
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def plot(path: Path, scenarios: list[Any], peers: list[str],
         results: Results, busy: int, cpus: Optional[int]) -> None:
    """Two panels sharing the scenario axis: each peer's time as a ratio
    to blocking stdlib (log axis, bars from 1x), and the worst lateness
    (log axis, blocking stdlib included)."""
    plt = load_pyplot()
    names = [sc.name for sc in scenarios]
    late_series = ["stdlib"] + peers
    group = max(len(late_series), 1)
    height = 0.8 / group
    inches = 1.8 + 0.14 * group * len(names)
    fig, (ax_ratio, ax_late) = plt.subplots(
        1, 2, sharey=True, figsize=(13, inches),
        gridspec_kw={"width_ratios": [3, 2]})
    rows = range(len(names))
    for k, peer in enumerate(late_series):
        ys, ratios, lates, late_ys = [], [], [], []
        for i, name in enumerate(names):
            y = i + (k - (group - 1) / 2) * height
            row = results[name]
            if peer == "stdlib":
                late = pooled_stdlib(row)[1]
            else:
                cell = row.get(peer)
                ratio = cell.ratio() if cell else None
                late = cell.lateness() if cell else None
                if ratio is not None:
                    ys.append(y)
                    ratios.append(ratio)
                elif cell is not None and cell.status == "unsupported":
                    ax_ratio.text(1.03, y, DASH, va="center", fontsize=7,
                                  color=COLOURS.get(peer))
            if late is not None:
                late_ys.append(y)
                lates.append(max(late * 1e3, LATE_BASE))
        colour = COLOURS.get(peer)
        if ratios:
            ax_ratio.barh(ys, [r - 1 for r in ratios], left=1, height=height,
                          color=colour, label=peer)
            for y, r in zip(ys, ratios):
                ax_ratio.text(r * (1.04 if r >= 1 else 0.96), y,
                              fmt_ratio(r), va="center", fontsize=6,
                              ha="left" if r >= 1 else "right")
        if lates:
            ax_late.barh(late_ys, [v - LATE_BASE for v in lates], left=LATE_BASE,
                         height=height, color=colour, label=peer)
    ax_ratio.set_xscale("log")
    ax_ratio.axvline(1, color="black", linewidth=0.8)
    ax_ratio.set_xlabel("time / blocking stdlib time, same process "
                        "(log; left of 1: faster)")
    ax_ratio.set_yticks(list(rows))
    ax_ratio.set_yticklabels(names)
    ax_ratio.invert_yaxis()
    ax_ratio.grid(axis="x", which="both", alpha=0.3)
    ax_ratio.margins(x=0.15)
    ax_late.set_xscale("log")
    ax_late.axvline(1, color="black", linewidth=0.8, linestyle=":")
    ax_late.set_xlim(left=LATE_BASE)
    ax_late.set_xlabel("worst loop lateness, ms (log)")
    ax_late.grid(axis="x", which="both", alpha=0.3)
    handles, labels = ax_late.get_legend_handles_labels()
    # Title and legend take a fixed 0.8 inch at the top.
    fig.suptitle(title(busy, cpus), y=1 - 0.1 / inches, va="top")
    fig.legend(handles, labels, loc="upper center", ncol=len(labels),
               bbox_to_anchor=(0.5, 1 - 0.4 / inches), frameon=False,
               fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.8 / inches))
    fig.savefig(path)
    plt.close(fig)
