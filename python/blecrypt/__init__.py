"""blecrypt: encrypted Bluetooth LE links (BLUETTI, SESAME 5, SMP) with built-in emulators.

The heavy lifting is in the native extension ``_blecrypt``; this package gives it a Python face.
"""

from __future__ import annotations

import importlib
from typing import Any, List


def _load_native() -> Any:
    try:  # installed as a package (pip): blecrypt/_blecrypt*.so
        return importlib.import_module("._blecrypt", __name__)
    except ImportError:  # build tree: build/python/_blecrypt*.so next to this package
        return importlib.import_module("_blecrypt")


_native: Any = _load_native()  # untyped: the typed API is this package

from blecrypt import errors as _errors
from blecrypt.errors import *  # noqa: F401,F403 - blecrypt.Error and its subclasses
from blecrypt.errors import CryptoError

__version__: str = _native.__version__


def default_backend() -> str:
    """Name of the crypto backend chosen at build time: ``"openssl"`` or ``"mbedtls"``."""
    return str(_native.default_backend())


def backends() -> List[str]:
    """Every crypto backend compiled in."""
    return [str(b) for b in _native.backends()]


def self_test(backend: str = "") -> None:
    """Run the known-answer self-test; raises :class:`blecrypt.CryptoError` naming the failing check
    (:class:`blecrypt.InvalidArgument` for a backend that is not compiled in)."""
    failure = _native.self_test(backend)
    if failure:
        raise CryptoError(f"blecrypt crypto self-test failed: {failure}")


__all__ = ["__version__", "default_backend", "backends", "self_test"]
__all__ += _errors.__all__
