"""pytest configuration for the aiofiles_c test-suite.

* ``impl`` fixture: the implementation module chosen by ``AIOFILES_IMPL``
  (``aiofiles_c`` by default, ``aiofiles`` to validate the tests against the
  real aiofiles package).
* Every ``@pytest.mark.asyncio`` test runs twice, on the default asyncio
  event loop and on uvloop, via pytest-asyncio's
  ``pytest_asyncio_loop_factories`` hook (test ids ``[asyncio]`` and
  ``[uvloop]``).
  pytest-asyncio releases without that hook (the last ones for Python 3.9)
  get the same two loops from a parametrized ``event_loop_policy`` fixture.
* Sync tests that drive coroutines themselves (the hypothesis tests) use the
  module-scoped, parametrized ``runner`` fixture: an ``asyncio.Runner`` (or
  the same thing, from helpers, before Python 3.11) on each of the two loops.
"""
import asyncio
import inspect
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import pytest_asyncio.plugin  # noqa: E402
from helpers import (BACKEND, HAS_EXTRAS, IMPL_NAME,  # noqa: E402
                     IS_C, LOOP_FACTORIES, LOOP_POLICIES, NATIVE_ONLY_REASON,
                     Runner, load_impl)


def pytest_report_header(config):
    backend = f" (backend: {BACKEND})" if BACKEND else ""
    return f"aiofiles implementation under test: {IMPL_NAME}{backend}"


def pytest_collection_modifyitems(config, items):
    # Tests marked ``native`` need aiofiles_c's own engine.
    if IS_C or not HAS_EXTRAS:
        return
    skip = pytest.mark.skip(reason=NATIVE_ONLY_REASON)
    for item in items:
        if item.get_closest_marker("native") is not None:
            item.add_marker(skip)


if hasattr(pytest_asyncio.plugin, "PytestAsyncioSpecs"):
    def pytest_asyncio_loop_factories(config, item):
        return dict(LOOP_FACTORIES)
else:
    @pytest.fixture(scope="session")
    def event_loop_policy(request):
        return LOOP_POLICIES[getattr(request, "param", "asyncio")]()

    def pytest_generate_tests(metafunc):
        # Only the coroutine tests run twice (the fixture is autouse).
        if (inspect.iscoroutinefunction(metafunc.function)
                and "event_loop_policy" in metafunc.fixturenames):
            metafunc.parametrize("event_loop_policy", sorted(LOOP_POLICIES),
                                 indirect=True, scope="session")


@pytest.fixture(scope="session")
def impl():
    return load_impl()


@pytest.fixture(scope="module", params=sorted(LOOP_FACTORIES))
def runner(request):
    with Runner(loop_factory=LOOP_FACTORIES[request.param]) as r:
        yield r


# CI runs are reproducible: the same examples every run (derandomize).
from hypothesis import settings as _hsettings  # noqa: E402

_hsettings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") or os.environ.get("AIOFILES_C_TEST_PROFILE"):
    _hsettings.load_profile("ci")
