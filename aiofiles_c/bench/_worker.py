"""One peer's measuring process: ``python -m aiofiles_c.bench._worker``.

The coordinator (_main) starts one per peer and talks to it in JSON lines:
the first line on stdin is the configuration, then one command a line; each
answer is one line on stdout. The process imports only its own peer, and
measures blocking stdlib itself, in the same process and the same rounds,
so every peer's ratio has its own baseline beside it.

Commands and answers:

- ``{"cmd": "probe", "scenario": S}``: a warm-up run of each side; for a
  peer far slower than stdlib, the part of the workload it runs per round
  (see ``SLOW_FACTOR``). Answer ``{"n": units run, "units": full units}``,
  ``{"unsupported": true}`` or ``{"error": text}``.
- ``{"cmd": "round", "scenario": S, "round": R}``: one stdlib run and one
  peer run (which goes first alternates with R). Answer
  ``{"stdlib": [s, late], "peer": [s, late] or null, "n": units run}`` or
  ``{"error": text}``.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, Optional

from ._peers import PEERS, Peer, Unsupported
from ._runner import Runner
from ._scenarios import QUICK_SIZES, SCENARIOS, Scenario, Sizes, measure

# A peer whose full workload would take longer than SLOW_FACTOR times this
# process's stdlib run (but at least SLOW_FLOOR, at most SLOW_CAP seconds)
# runs only a part of it per round, and its time is scaled up (the table
# marks the cell): a peer 100 times slower than stdlib is not made more so
# by running it longer, and the whole benchmark stays a few minutes, with
# --busy too.
SLOW_FACTOR = 10
SLOW_FLOOR = 0.25  # seconds
SLOW_CAP = 0.5  # seconds
PROBE_PART = 20  # the probe runs 1/PROBE_PART of the units


class Worker:
    def __init__(self, config: dict[str, Any]) -> None:
        self.peer: Peer = PEERS[config["peer"]]()
        self.peer.load()
        sizes = QUICK_SIZES if config["quick"] else Sizes()
        root = Path(config["root"])
        self.scenarios: dict[str, Scenario] = {}
        for name in config["scenarios"]:
            sc = SCENARIOS[name](root, sizes, tag=self.peer.name)
            sc.setup()
            self.scenarios[name] = sc
        self.n: dict[str, int] = {}
        self.failed: set[str] = set()

    def hello(self) -> dict[str, Any]:
        return {"version": self.peer.version(),
                "units": {k: sc.units for k, sc in self.scenarios.items()}}

    async def probe(self, name: str) -> dict[str, Any]:
        sc = self.scenarios[name]
        stdlib_s, _ = await measure(sc, None, sc.units)
        if not self.peer.supports(sc.needs):
            return {"unsupported": True}
        n = sc.units
        if n > 1 and not self.peer.full_workload:
            part = max(1, n // PROBE_PART)
            took, _ = await measure(sc, self.peer, part)
            budget = min(max(SLOW_FLOOR, SLOW_FACTOR * stdlib_s), SLOW_CAP)
            estimate = took * n / part
            if estimate > budget:
                n = max(part, int(n * budget / estimate))
        else:
            await measure(sc, self.peer, n)
        self.n[name] = n
        return {"n": n, "units": sc.units}

    async def round(self, name: str, rnd: int) -> dict[str, Any]:
        sc = self.scenarios[name]
        n = self.n.get(name)
        got: dict[str, Any] = {"n": n, "peer": None}
        order: list[Optional[Peer]] = [None, self.peer] if n else [None]
        if rnd % 2:
            order.reverse()
        for who in order:
            took = await measure(sc, who, sc.units if who is None else n or 0)
            got["stdlib" if who is None else "peer"] = list(took)
        return got

    async def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        name = msg["scenario"]
        if name in self.failed:
            return {"error": "failed earlier"}
        try:
            if msg["cmd"] == "probe":
                return await self.probe(name)
            return await self.round(name, msg["round"])
        except Unsupported:
            self.n.pop(name, None)
            return {"unsupported": True}
        except Exception as exc:  # a peer's failure is a result, not a crash
            self.failed.add(name)
            traceback.print_exc(file=sys.stderr)
            return {"error": f"{type(exc).__name__}: {exc}"}


_answers: Any = None  # the protocol's stream: the process's first stdout


def _reply(obj: dict[str, Any]) -> None:
    _answers.write(json.dumps(obj) + "\n")
    _answers.flush()


def main() -> None:
    global _answers
    # Ctrl-C is the coordinator's to handle: it ends this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Answers go to the inherited stdout; anything a peer prints goes to
    # stderr instead of into the protocol.
    _answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    config = json.loads(sys.stdin.readline())
    try:
        worker = Worker(config)
    except Exception as exc:
        _reply({"error": f"{type(exc).__name__}: {exc}"})
        return
    _reply(worker.hello())
    loop_factory = None
    if config["loop"] == "uvloop":
        loop_factory = __import__("uvloop").new_event_loop
    with Runner(loop_factory=loop_factory) as runner:
        for line in sys.stdin:
            _reply(runner.run(worker.handle(json.loads(line))))


if __name__ == "__main__":
    main()
