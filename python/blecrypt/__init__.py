"""blecrypt: encrypted Bluetooth LE links (BLUETTI, SESAME 5, SMP) with built-in emulators.

The heavy lifting is in the native extension ``_blecrypt``; this package gives it a Python face.
"""

try:  # installed as a package (pip): blecrypt/_blecrypt*.so
    from . import _blecrypt as _native  # type: ignore[attr-defined]
except ImportError:  # build tree: build/python/_blecrypt*.so next to this package
    import _blecrypt as _native  # type: ignore[no-redef]

__version__ = _native.__version__


def default_backend() -> str:
    """Name of the crypto backend chosen at build time: ``"openssl"`` or ``"mbedtls"``."""
    return _native.default_backend()


def backends() -> list:
    """Every crypto backend compiled in."""
    return list(_native.backends())


def self_test(backend: str = "") -> None:
    """Run the known-answer self-test; raises ``RuntimeError`` naming the failing check."""
    failure = _native.self_test(backend)
    if failure:
        raise RuntimeError(f"blecrypt crypto self-test failed: {failure}")


__all__ = ["__version__", "default_backend", "backends", "self_test"]
