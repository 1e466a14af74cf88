"""pytest configuration for the aiofiles_c test-suite.

* The implementation under test is a pytest option, as multidict's suite
  chooses its C or pure-Python implementation:

  - ``--backend auto|native|portable|python`` (default: $AIOFILES_C_BACKEND,
    else ``auto``, whatever the built extension is) picks aiofiles_c's
    backend; ``python`` runs the pure-Python backend with the extension
    built. Tests marked ``native`` skip there, with the reason.
  - ``--impl aiofiles_c|aiofiles`` (default: $AIOFILES_IMPL, else
    aiofiles_c): ``aiofiles`` runs the suite against the real aiofiles
    package, to validate the tests themselves.

  aiofiles_c fixes its backend once, at import, for the whole process, so
  one run tests one backend: ``pytest_configure`` turns the options into the
  package's own switches (``AIOFILES_C_BACKEND``, and ``AIOFILES_IMPL`` for
  tests.helpers) before any test module imports aiofiles_c; the scripts the
  tests run in subprocesses inherit them. Test code gets the choice from the
  session fixtures ``backend`` and ``impl`` (the module under test), or
  from tests.helpers (``IS_C``, ``BACKEND``) at import time.
* Every ``@pytest.mark.asyncio`` test runs twice, on the default asyncio
  event loop and on uvloop, via pytest-asyncio's
  ``pytest_asyncio_loop_factories`` hook (test ids ``[asyncio]`` and
  ``[uvloop]``).
  pytest-asyncio releases without that hook (the last ones for Python 3.9)
  get the same two loops from a parametrized ``event_loop_policy`` fixture.
* Sync tests that drive coroutines themselves (the hypothesis tests) use the
  module-scoped, parametrized ``runner`` fixture: an ``asyncio.Runner`` (or
  the same thing, from helpers, before Python 3.11) on each of the two loops.

This module imports tests.helpers (which imports the implementation) only
inside hooks and fixtures, after the options are applied.
"""
import asyncio
import dataclasses
import inspect
import os
import sys
import types

import pytest
import pytest_asyncio.plugin

BACKENDS = ("auto", "native", "portable", "python")
IMPLS = ("aiofiles_c", "aiofiles")


def pytest_addoption(parser):
    group = parser.getgroup("aiofiles_c", "implementation under test")
    env_backend = os.environ.get("AIOFILES_C_BACKEND", "").strip().lower()
    group.addoption(
        "--backend", choices=BACKENDS, default=env_backend or "auto",
        help="aiofiles_c backend to test (default: $AIOFILES_C_BACKEND or "
             "auto, the built extension's)")
    group.addoption(
        "--impl", choices=IMPLS,
        default=os.environ.get("AIOFILES_IMPL") or "aiofiles_c",
        help="package under test: aiofiles_c, or aiofiles to validate the "
             "tests (default: $AIOFILES_IMPL or aiofiles_c)")


def pytest_configure(config):
    backend = config.getoption("backend")
    impl_name = config.getoption("impl")
    loaded = sys.modules.get("aiofiles_c")
    if loaded is not None and backend not in ("auto", loaded.backend):
        raise pytest.UsageError(
            f"--backend {backend}: aiofiles_c was imported before the "
            f"option could apply (backend {loaded.backend})")
    if backend == "auto":
        os.environ.pop("AIOFILES_C_BACKEND", None)
    else:
        os.environ["AIOFILES_C_BACKEND"] = backend
    os.environ["AIOFILES_IMPL"] = impl_name


@dataclasses.dataclass(frozen=True)
class Implementation:
    """What a test runs against: ``name`` is the package (aiofiles_c or
    aiofiles), ``backend`` aiofiles_c's backend (None for aiofiles), and
    ``native`` whether aiofiles_c's own engine runs the I/O."""

    name: str
    backend: "str | None"
    module: types.ModuleType

    @property
    def native(self) -> bool:
        return self.backend in ("native", "portable")


def pytest_report_header(config):
    from tests import helpers
    backend = f" (backend: {helpers.BACKEND})" if helpers.BACKEND else ""
    return f"aiofiles implementation under test: {helpers.IMPL_NAME}{backend}"


def pytest_collection_modifyitems(config, items):
    # Tests marked ``native`` need aiofiles_c's own engine.
    from tests import helpers
    if helpers.IS_C or not helpers.HAS_EXTRAS:
        return
    skip = pytest.mark.skip(reason=helpers.NATIVE_ONLY_REASON)
    for item in items:
        if item.get_closest_marker("native") is not None:
            item.add_marker(skip)


if hasattr(pytest_asyncio.plugin, "PytestAsyncioSpecs"):
    def pytest_asyncio_loop_factories(config, item):
        from tests.helpers import LOOP_FACTORIES
        return dict(LOOP_FACTORIES)
else:
    # These releases save and restore the thread's current loop around each
    # test with asyncio.get_event_loop(), which on Python 3.9 makes one (and
    # nobody closes it) where none was ever set: say "none" up front.
    asyncio.set_event_loop(None)

    @pytest.fixture(scope="session")
    def event_loop_policy(request):
        from tests.helpers import LOOP_POLICIES
        return LOOP_POLICIES[getattr(request, "param", "asyncio")]()

    def pytest_generate_tests(metafunc):
        # Only the coroutine tests run twice (the fixture is autouse).
        if (inspect.iscoroutinefunction(metafunc.function)
                and "event_loop_policy" in metafunc.fixturenames):
            from tests.helpers import LOOP_POLICIES
            metafunc.parametrize("event_loop_policy", sorted(LOOP_POLICIES),
                                 indirect=True, scope="session")


@pytest.fixture(scope="session")
def backend():
    """The implementation under test (an ``Implementation``)."""
    from tests import helpers
    return Implementation(helpers.IMPL_NAME, helpers.BACKEND,
                          helpers.load_impl())


@pytest.fixture(scope="session")
def impl(backend):
    """The module under test: aiofiles_c (on the chosen backend) or
    aiofiles."""
    return backend.module


LOOP_NAMES = ("asyncio", "uvloop")


@pytest.fixture(scope="module", params=LOOP_NAMES)
def runner(request):
    from tests.helpers import LOOP_FACTORIES, Runner
    with Runner(loop_factory=LOOP_FACTORIES[request.param]) as r:
        yield r


# CI runs are reproducible: the same examples every run (derandomize).
from hypothesis import settings as _hsettings  # noqa: E402

_hsettings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") or os.environ.get("AIOFILES_C_TEST_PROFILE"):
    _hsettings.load_profile("ci")
