"""Builds the native extension blecrypt._blecrypt with the project's CMake (offline, no PyPI).

    python3 -m pip install --no-build-isolation --no-index .
"""
import os
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
        subprocess.check_call(["cmake", "--build", build_dir, "--target", "_blecrypt",
                               "-j", str(os.cpu_count() or 2)])


setup(ext_modules=[Extension("blecrypt._blecrypt", sources=[])], cmdclass={"build_ext": CMakeBuild})
