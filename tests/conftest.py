"""pytest configuration for the aiofiles_c test-suite.

* ``impl`` fixture: the implementation module chosen by ``AIOFILES_IMPL``
  (``aiofiles_c`` by default, ``aiofiles`` to validate the tests against the
  real aiofiles package).
* Every ``@pytest.mark.asyncio`` test runs twice, on the default asyncio
  event loop and on uvloop, via pytest-asyncio's
  ``pytest_asyncio_loop_factories`` hook (test ids ``[asyncio]`` and
  ``[uvloop]``).
* Sync tests that drive coroutines themselves (the hypothesis tests) use the
  module-scoped, parametrized ``runner`` fixture: an ``asyncio.Runner`` on
  each of the two loops.
"""
import asyncio
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from helpers import IMPL_NAME, LOOP_FACTORIES, load_impl  # noqa: E402


def pytest_report_header(config):
    return f"aiofiles implementation under test: {IMPL_NAME}"


def pytest_asyncio_loop_factories(config, item):
    return dict(LOOP_FACTORIES)


@pytest.fixture(scope="session")
def impl():
    return load_impl()


@pytest.fixture(scope="module", params=sorted(LOOP_FACTORIES))
def runner(request):
    with asyncio.Runner(loop_factory=LOOP_FACTORIES[request.param]) as r:
        yield r


# CI runs are reproducible: the same examples every run (derandomize).
from hypothesis import settings as _hsettings  # noqa: E402

_hsettings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") or os.environ.get("AIOFILES_C_TEST_PROFILE"):
    _hsettings.load_profile("ci")
