"""Exceptions of :mod:`blecrypt.ble`. Every one is a :class:`blecrypt.errors.Error`; the message
says what failed and what to do about it. Each also derives from the package-wide class of the
same cause (``blecrypt.HandshakeError``, ``blecrypt.TimeoutError``, ``blecrypt.InvalidArgument``,
``blecrypt.LicenceError``, ``blecrypt.LinkError``), so one ``except`` catches it from any module.

    Error
     └─ BleError                      anything blecrypt.ble raises
         ├─ NotConnectedError         (also ConnectionError) no link, or it dropped: connect again
         ├─ DeviceNotFoundError       the address was not seen in a scan
         ├─ HandshakeError            the BLUETTI handshake / SESAME login failed (wrong key or secret?)
         ├─ TimeoutError              (also builtins.TimeoutError) the device did not answer in time
         ├─ CommandError              the device answered with a refusal (Modbus exception, result code)
         │   └─ WriteNotConfirmed     the value read back differs from the one written
         ├─ LicenceError              the unit's IoT serial is not in the licence file
         └─ InvalidArgument           (also ValueError) an argument out of range
             └─ KeyFormatError        a key, secret, QR text or key file that cannot be used
"""

from __future__ import annotations

import builtins
from typing import Optional

from blecrypt import errors as _core
from blecrypt.errors import Error


class BleError(Error):
    """Base of every error raised by :mod:`blecrypt.ble`."""


class NotConnectedError(BleError, _core.LinkError):
    """There is no link to the device (never connected, closed, or it dropped): ``await connect()``
    (or enter ``async with`` again) and retry."""


class DeviceNotFoundError(BleError):
    """The address was not seen advertising: check it is in range, powered and not connected to
    another phone or hub."""


class HandshakeError(BleError, _core.HandshakeError):
    """The secure session could not be set up (BLUETTI handshake, SESAME registration or login)."""


class TimeoutError(BleError, _core.TimeoutError):  # noqa: A001 - blecrypt.ble.TimeoutError on purpose
    """The device did not answer in time (a request timeout of the engine, or connect)."""


class CommandError(BleError):
    """The device refused a request. ``code`` is the device's own code where it sent one (the Modbus
    exception code for BLUETTI, the result code for SESAME)."""

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.code = code


class WriteNotConfirmed(CommandError):
    """A register write was accepted but reading it back gave another value."""


class LicenceError(BleError, _core.LicenceError):
    """The unit's IoT serial is not listed in the licence file given as ``licence_path``."""


class InvalidArgument(BleError, _core.InvalidArgument):
    """An argument out of range (register address or count, an empty address, a timeout)."""


class KeyFormatError(InvalidArgument):
    """A key, secret, share URI or key file that cannot be used (size, hex digits, permissions)."""


__all__ = ["BleError", "NotConnectedError", "DeviceNotFoundError", "HandshakeError", "TimeoutError",
           "CommandError", "WriteNotConfirmed", "LicenceError", "InvalidArgument", "KeyFormatError"]
