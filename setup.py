"""Builds the native extension blecrypt._blecrypt and the `blecrypt` CLI with the project's CMake
(offline, no PyPI). The CLI binary is shipped inside the package (blecrypt/_bin/blecrypt) and run
by the `blecrypt` console command (blecrypt._cli); docs/python.md, "Installing".

    python3 -m pip install --no-build-isolation --no-index .
"""
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        out_dir = os.path.dirname(os.path.abspath(self.get_ext_fullpath(ext.name)))
        build_dir = os.path.join(os.path.abspath(self.build_temp), "cmake")
        source_dir = os.path.dirname(os.path.abspath(__file__))
        subprocess.check_call([
            "cmake", "-S", source_dir, "-B", build_dir, "-G", "Ninja",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={out_dir}",
            "-DCMAKE_BUILD_TYPE=Release",
            "-DBLECRYPT_BUILD_TESTS=OFF", "-DBLECRYPT_BUILD_BENCH=OFF",
        ])
        subprocess.check_call(["cmake", "--build", build_dir, "--target", "_blecrypt", "blecrypt_cli",
                               "-j", str(os.cpu_count() or 2)])
        bin_dir = os.path.join(out_dir, "_bin")
        os.makedirs(bin_dir, exist_ok=True)
        shutil.copy2(os.path.join(build_dir, "blecrypt"), os.path.join(bin_dir, "blecrypt"))


setup(ext_modules=[Extension("blecrypt._blecrypt", sources=[])], cmdclass={"build_ext": CMakeBuild})
