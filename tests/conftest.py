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
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import pytest_asyncio.plugin  # noqa: E402
from helpers import (IMPL_NAME, LOOP_FACTORIES, LOOP_POLICIES,  # noqa: E402
                     Runner, load_impl)


def pytest_report_header(config):
    return f"aiofiles implementation under test: {IMPL_NAME}"


if hasattr(pytest_asyncio.plugin, "PytestAsyncioSpecs"):
    def pytest_asyncio_loop_factories(config, item):
        return dict(LOOP_FACTORIES)
else:
    @pytest.fixture(scope="session", params=sorted(LOOP_POLICIES))
    def event_loop_policy(request):
        return LOOP_POLICIES[request.param]()


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
