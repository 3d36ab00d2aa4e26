"""The Python package is typed: `mypy --strict` passes on python/blecrypt and bluetti_crypt, and
the package ships py.typed (PEP 561) so users' type checkers read its hints."""
import pathlib
import subprocess
import sys

import pytest

import blecrypt

PYTHON_DIR = pathlib.Path(__file__).resolve().parents[2] / "python"


def test_package_ships_py_typed():
    assert (pathlib.Path(blecrypt.__file__).parent / "py.typed").is_file()
    assert (PYTHON_DIR / "blecrypt" / "py.typed").is_file()


def test_mypy_strict_passes():
    pytest.importorskip("mypy", reason="Debian package mypy (scripts/bootstrap installs it)")
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir=/dev/null", "-p", "blecrypt", "-m",
                        "bluetti_crypt"], cwd=PYTHON_DIR, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success: no issues found" in r.stdout
