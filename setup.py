"""Build the aiofiles_c._cext extension.

Environment switches (at build time):
  AIOFILES_C_SANITIZE=1  build with -fsanitize=address,undefined
  AIOFILES_C_TSAN=1      build with -fsanitize=thread (run with libtsan
                         preloaded: see tests/tsan_workload.py, .ci/run)
  AIOFILES_C_DEBUG=1     build with -O0 -g3
  AIOFILES_C_PORTABLE=1  the portable POSIX backend even where the Linux
                         calls exist (self-pipe, pread, a copy loop)
  AIOFILES_C_NO_EXTENSION=1  build no extension: the pure-Python backend
  AIOFILES_C_STRICT=1    a failed compile fails the build (CI, development)

The extension is optional: when it cannot be compiled (no compiler, no
headers, another platform's failure) the package installs without it and
runs on its pure-Python backend (aiofiles_c.backend == "python").
"""
import glob
import os
import shutil
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

cflags = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE",
          "-Wno-missing-field-initializers", "-Wno-cast-function-type"]
ldflags = ["-pthread"]

if os.environ.get("AIOFILES_C_SANITIZE"):
    cflags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
               "-fno-sanitize-recover=undefined", "-O1", "-g"]
    ldflags += ["-fsanitize=address,undefined"]
elif os.environ.get("AIOFILES_C_TSAN"):
    cflags += ["-fsanitize=thread", "-fno-omit-frame-pointer", "-O1", "-g"]
    ldflags += ["-fsanitize=thread"]
elif os.environ.get("AIOFILES_C_DEBUG"):
    cflags += ["-O0", "-g3"]
else:
    cflags += ["-O2"]
    ldflags += ["-s"]  # a release build ships no symbol tables

# The Linux-only calls of the native backend, each with a program that
# compiles and links only where the call is there.
PROBES = {
    "EVENTFD": """#include <sys/eventfd.h>
int main(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }""",
    "PREADV2": """#define _GNU_SOURCE
#include <sys/uio.h>
int main(void) { struct iovec v = {0, 0};
  return (int)preadv2(0, &v, 1, 0, RWF_NOWAIT); }""",
    "COPY_FILE_RANGE": """#define _GNU_SOURCE
#include <unistd.h>
int main(void) { return (int)copy_file_range(0, 0, 1, 0, 1, 0); }""",
    "SENDFILE": """#include <sys/sendfile.h>
int main(void) { return (int)sendfile(1, 0, 0, 1); }""",
    # openat2 (Linux 5.6; RESOLVE_CACHED 5.12, checked at run time) and
    # statx (glibc 2.28): the inline opens and stats of fastpath.c.
    "OPENAT2": """#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) { struct open_how h = {0, 0, RESOLVE_CACHED};
  struct statx sx;
  return (int)syscall(SYS_openat2, AT_FDCWD, ".", &h, sizeof h) +
         statx(AT_FDCWD, ".", AT_STATX_DONT_SYNC, STATX_TYPE, &sx); }""",
}


class BuildExt(build_ext):
    """Probe for the Linux-only calls before compiling."""

    def build_extension(self, ext):
        if os.environ.get("AIOFILES_C_PORTABLE"):
            found = []
        else:
            found = [name for name, src in PROBES.items()
                     if self._compiles(src)]
        ext.define_macros = [("AFC_PROBED", "1")] + [
            ("AFC_HAVE_" + name, "1") for name in found]
        missing = sorted(set(PROBES) - set(found))
        print("aiofiles_c: backend %s%s" % (
            "native" if not missing else "portable",
            "" if not missing else " (no %s)" % ", ".join(missing)))
        super().build_extension(ext)

    def _compiles(self, src):
        tmp = tempfile.mkdtemp(prefix="afc-probe-")
        try:
            path = os.path.join(tmp, "probe.c")
            with open(path, "w") as f:
                f.write(src + "\n")
            objs = self.compiler.compile([path], output_dir=tmp,
                                         extra_postargs=["-Werror"])
            self.compiler.link_executable(objs, "probe", output_dir=tmp)
            return True
        except Exception:  # CompileError, LinkError
            return False
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


ext_modules = []
if not os.environ.get("AIOFILES_C_NO_EXTENSION"):
    ext_modules.append(Extension(
        "aiofiles_c._cext",
        sources=sorted(glob.glob("cext/*.c")),
        depends=sorted(glob.glob("cext/*.h")),
        extra_compile_args=cflags,
        extra_link_args=ldflags,
        # A failed build installs the package anyway (pure-Python backend).
        optional=not os.environ.get("AIOFILES_C_STRICT"),
    ))

setup(ext_modules=ext_modules, cmdclass={"build_ext": BuildExt})
