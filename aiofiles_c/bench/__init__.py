"""Benchmark aiofiles_c and its peers against blocking stdlib file I/O.

Run ``python -m aiofiles_c.bench --help``. Each peer (aiofiles_c, aiofiles,
anyio, ayafileio, aiofile, turbofile: those installed) runs in its own
worker process, which also measures blocking stdlib calls made on the loop,
so each ratio has a baseline from the same process and the same rounds; the
rounds take the processes in turn. The Markdown table on stdout gives, per
scenario and peer, the median time as a ratio to blocking stdlib and the
worst lateness of the event loop seen by a 1 ms ticker. ``--busy N`` runs N
busy-loop processes beside it for contended figures, ``--plot FILE`` draws
the same figures (matplotlib: the ``[plot]`` extra).

The benchmark ships inside the installed package on purpose: a user can
run it after ``pip install aiofiles_c``, on their own machine, file system
and Python, against the peers they have installed. It costs nothing at
import time: ``import aiofiles_c`` does not import it.

To add a scenario, subclass ``_scenarios.Scenario`` and decorate it with
``@register``; to add a peer, subclass ``_peers.Peer`` and list it in
``PEERS``.
"""
from ._main import main

__all__ = ["main"]
