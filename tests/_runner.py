"""asyncio.Runner where the interpreter has it (3.11+), a stand-in with the
part the tests and their subprocess scripts use on 3.9 and 3.10. Imports
nothing but asyncio, so scripts run in child interpreters can use it."""
import asyncio


class _Runner:
    """asyncio.Runner's part the tests use, for Python 3.9 and 3.10: one
    loop made by ``loop_factory``, ``run()`` many times, and a close that
    cancels what is left and shuts the loop down as asyncio.run does."""

    def __init__(self, *, loop_factory=None):
        self._factory = loop_factory or asyncio.new_event_loop
        self._loop = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def get_loop(self):
        if self._loop is None:
            # As asyncio.Runner: the loop is the thread's current loop
            # from first use until close().
            self._loop = self._factory()
            asyncio.set_event_loop(self._loop)
        return self._loop

    def run(self, coro):
        return self.get_loop().run_until_complete(coro)

    def close(self):
        loop, self._loop = self._loop, None
        if loop is None:
            return
        asyncio.set_event_loop(None)
        try:
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in tasks:
                t.cancel()
            if tasks:
                loop.run_until_complete(
                    asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


Runner = getattr(asyncio, "Runner", _Runner)
