"""The Python package skeleton: import, version, backends, self-test."""

import subprocess
import sys

import pytest

import blecrypt


def test_version_is_a_release_string():
    parts = blecrypt.__version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)


def test_both_backends_are_built_and_the_default_is_one_of_them():
    assert sorted(blecrypt.backends()) == ["mbedtls", "openssl"]
    assert blecrypt.default_backend() in blecrypt.backends()


@pytest.mark.parametrize("backend", ["openssl", "mbedtls"])
def test_self_test_passes(backend):
    blecrypt.self_test(backend)


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown crypto backend"):
        blecrypt.self_test("nope")


def test_drop_in_module_imports():
    import bluetti_crypt  # noqa: F401


def test_imports_in_a_fresh_interpreter():
    # The same build works from a clean process (no state left over from this one).
    out = subprocess.run([sys.executable, "-c", "import blecrypt; print(blecrypt.default_backend())"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() in ("openssl", "mbedtls")
