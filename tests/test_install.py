"""aiofiles_c.install(): a program written for aiofiles, unmodified, runs on
aiofiles_c with the same output. Every run is a subprocess (install() changes
the importing process for good)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers import subprocess_env

HERE = Path(__file__).parent
PROGRAM = HERE / "programs" / "aiofiles_program.py"
STDIN = b"line one\ntail\n"
INSTALL = "import aiofiles_c; aiofiles_c.install(); "


def _run(code: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run([sys.executable, "-c", code], input=stdin,
                          capture_output=True, env=subprocess_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc


def test_program_output_is_the_same_under_install():
    run_program = (f"import runpy; runpy.run_path({str(PROGRAM)!r}, "
                   f"run_name='__main__')")
    real = _run(run_program, STDIN)
    ours = _run(INSTALL + run_program, STDIN)
    assert real.stdout.count(b"\n") > 30
    assert ours.stdout == real.stdout
    assert ours.stderr == real.stderr == b"to stderr\n"


def _check(code: str) -> str:
    return _run(textwrap.dedent(code)).stdout.decode()


def test_every_module_resolves_to_aiofiles_c():
    out = _check(f"""
        {INSTALL}
        import aiofiles, aiofiles.os, aiofiles.ospath, aiofiles.base
        import aiofiles.threadpool, aiofiles.threadpool.binary
        import aiofiles.threadpool.text, aiofiles.tempfile
        from aiofiles import tempfile
        from aiofiles.tempfile import temptypes
        import aiofiles_c
        assert aiofiles is aiofiles_c
        assert aiofiles.os is aiofiles_c.os
        assert aiofiles.ospath is aiofiles_c.ospath
        assert aiofiles.base is aiofiles_c.base
        assert tempfile is aiofiles_c.tempfile
        assert temptypes is aiofiles_c.tempfile.temptypes
        assert aiofiles.threadpool.binary is aiofiles_c.threadpool.binary
        assert aiofiles.threadpool.text is aiofiles_c.threadpool.text
        assert aiofiles_c.__spec__.name == "aiofiles_c"
        aiofiles_c.install()  # again: nothing changes
        import sys
        assert sys.modules["aiofiles.os"] is aiofiles_c.os
        assert sum(type(f).__name__ == "AliasFinder"
                   for f in sys.meta_path) == 1
        print("ok")
    """)
    assert out == "ok\n"


def test_install_replaces_an_aiofiles_imported_before():
    out = _check(f"""
        import aiofiles, aiofiles.os, aiofiles.tempfile
        real = aiofiles
        {INSTALL}
        import aiofiles, aiofiles.os
        from aiofiles import tempfile
        import aiofiles_c
        assert real is not aiofiles_c
        assert aiofiles is aiofiles_c and aiofiles.os is aiofiles_c.os
        assert tempfile is aiofiles_c.tempfile
        import sys
        assert all(m.__name__.startswith("aiofiles_c") for n, m in
                   sys.modules.items() if n.split(".")[0] == "aiofiles")
        print("ok")
    """)
    assert out == "ok\n"


def test_finder_answers_imports_made_later():
    out = _check(f"""
        {INSTALL}
        import sys, importlib
        for name in [n for n in sys.modules if n.split(".")[0] == "aiofiles"]:
            del sys.modules[name]
        import aiofiles.threadpool.utils as u
        import aiofiles_c.threadpool.utils
        assert u is aiofiles_c.threadpool.utils
        assert importlib.import_module("aiofiles.ospath") is \\
            sys.modules["aiofiles_c.ospath"]
        try:
            import aiofiles.no_such_module
        except ModuleNotFoundError:
            print("ok")
    """)
    assert out == "ok\n"
