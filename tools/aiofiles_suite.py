"""Run aiofiles' own test suite against aiofiles_c (or against aiofiles).

The tests are not kept in this repository: the aiofiles sdist is fetched
with pip each time (CI reaches PyPI), unpacked in a temporary directory and
its ``tests/`` run with aiofiles' own pytest settings. A conftest placed
next to them calls ``aiofiles_c.install()`` first, so every ``import
aiofiles`` in the tests gives aiofiles_c.

    python tools/aiofiles_suite.py [--against aiofiles] [--sdist FILE] [pytest args]

``--against aiofiles`` runs the same tests on the real package (to tell
its own failures, such as ``test_access`` as root, from ours).
``AIOFILES_SUITE_SDIST`` or ``--sdist`` names an sdist already downloaded.
The exit status is pytest's.
"""
from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tarfile
import tempfile

VERSION = "25.1.0"

CONFTEST = '''\
import aiofiles_c

aiofiles_c.install()
'''


def fetch(dest: str) -> str:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q",
                    "--no-deps", "--no-binary", ":all:",
                    f"aiofiles=={VERSION}", "-d", dest], check=True)
    found = glob.glob(os.path.join(dest, f"aiofiles-{VERSION}.tar.gz"))
    if not found:
        sys.exit(f"pip did not give aiofiles-{VERSION}.tar.gz")
    return found[0]


def unpack(sdist: str, dest: str) -> str:
    root = f"aiofiles-{VERSION}/"
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.startswith(root + "tests/")
                   or m.name == root + "pyproject.toml"]
        for m in members:
            if not (m.isfile() or m.isdir()):
                continue
            tar.extract(m, dest)
    return os.path.join(dest, root.rstrip("/"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", choices=("aiofiles_c", "aiofiles"),
                    default="aiofiles_c")
    ap.add_argument("--sdist", default=os.environ.get("AIOFILES_SUITE_SDIST"))
    args, pytest_args = ap.parse_known_args()
    with tempfile.TemporaryDirectory(prefix="aiofiles-suite-") as tmp:
        sdist = args.sdist or fetch(tmp)
        tree = unpack(sdist, tmp)
        if args.against == "aiofiles_c":
            with open(os.path.join(tree, "tests", "conftest.py"), "w") as f:
                f.write(CONFTEST)
        env = dict(os.environ)
        # The package under test comes from wherever this interpreter finds
        # it (the installed one, or the checkout given in PYTHONPATH); the
        # tests' own directory must not shadow it.
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
               "--rootdir", tree, "-c", os.path.join(tree, "pyproject.toml"),
               os.path.join(tree, "tests")] + pytest_args
        print(f"aiofiles {VERSION} test suite against {args.against}:",
              " ".join(cmd[3:7]), flush=True)
        return subprocess.run(cmd, cwd=tree, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
