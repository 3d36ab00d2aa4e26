"""The root of blecrypt's exceptions: everything the package raises for a failure of its own is a
:class:`blecrypt.errors.Error`. Modules add their subclasses (``blecrypt.ble`` has its own, in
``blecrypt/ble/errors.py``)."""

from __future__ import annotations


class Error(Exception):
    """Something blecrypt could not do; the message says what and, where it can, what to do."""


__all__ = ["Error"]
