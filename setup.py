"""Build the aiofiles_c._cext extension.

Environment switches:
  AIOFILES_C_SANITIZE=1  build with -fsanitize=address,undefined
  AIOFILES_C_TSAN=1      build with -fsanitize=thread (run with libtsan
                         preloaded: see tests/tsan_workload.py, .ci/run)
  AIOFILES_C_DEBUG=1     build with -O0 -g3
"""
import glob
import os

from setuptools import Extension, setup

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

setup(
    ext_modules=[
        Extension(
            "aiofiles_c._cext",
            sources=sorted(glob.glob("cext/*.c")),
            depends=sorted(glob.glob("cext/*.h")),
            extra_compile_args=cflags,
            extra_link_args=ldflags,
        )
    ],
)
