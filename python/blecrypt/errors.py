"""The one exception hierarchy of blecrypt.

Everything the package raises for a failure of its own is a :class:`blecrypt.Error`; each module
has its subclass (:class:`BluettiError`, :class:`SesameError`, :class:`SmpError`,
:class:`ChannelError`, :class:`LinkError`) and a few finer classes where a caller would act
differently (a wrong key, a timeout, an unreadable key file). Some also derive from the builtin
a caller would catch anyway: every timeout is a ``builtins.TimeoutError``, every bad argument a
``ValueError``, every channel and link failure a ``ConnectionError``.

An error that comes from the C++ core carries its ``std::error_code``: ``.code`` (the number),
``.category`` (``"blecrypt.smp"``...) and ``.name`` (the enumerator, where the binding knows it:
``"wrong_psk"``). The native extension picks the class (python/src/bindings.hpp,
``error_class``); this module only defines them.

    try:
        client.login()
    except blecrypt.AuthenticationError:   # wrong secret, wrong PSK, signature mismatch
        ...
    except blecrypt.TimeoutError:          # also a builtins.TimeoutError
        ...
    except blecrypt.Error as e:            # anything else blecrypt reports
        print(e, e.category, e.code)
"""

from __future__ import annotations

import builtins
from typing import Optional


class Error(Exception):
    """Something blecrypt could not do; the message says what and, where it can, what to do."""

    def __init__(self, message: str = "", *, code: Optional[int] = None, category: Optional[str] = None,
                 name: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.category = category
        self.name = name

    def with_message(self, message: str) -> "Error":
        """This error with another message (same class, code, category and name), for a caller
        that knows what was being done."""
        self.args = (message,)
        self.message = message
        return self


# ---- causes shared by every module (mixins: catch them across modules) ------------------------

class InvalidArgument(Error, ValueError):
    """A value passed in is out of range or malformed (size, format, unknown name)."""


class TimeoutError(Error, builtins.TimeoutError):  # noqa: A001 - blecrypt.TimeoutError on purpose
    """A deadline passed: a handshake step, a request, a pairing, a socket wait."""


class HandshakeError(Error):
    """Setting up the secure session failed (BLUETTI handshake, SMP pairing, TLS handshake)."""


class AuthenticationError(Error):
    """The other side could not prove it holds the right key (signature, MAC, PSK, secret)."""


class CryptoError(Error):
    """The crypto backend failed or its self-test did not pass."""


class UnsupportedError(Error):
    """The operation is not available here (backend, platform)."""


# ---- BLUETTI -----------------------------------------------------------------------------------

class BluettiError(Error):
    """A BLUETTI handshake failure, a Modbus exception or a failed request, with the reason."""


class BluettiHandshakeError(BluettiError, HandshakeError):
    """The ``**`` handshake failed (frame, challenge, key exchange)."""


class BluettiAuthenticationError(BluettiError, HandshakeError, AuthenticationError):
    """The unit's or the client's key did not verify (wrong device key, not a BLUETTI unit)."""


class ModbusError(BluettiError):
    """The unit answered a Modbus request with an exception (``.exception`` = its code) or garbled."""

    exception: Optional[int] = None


class LicenceError(BluettiError):
    """The licence file is missing, unsafe, too large or does not list this unit."""


class BluettiInvalidArgument(BluettiError, InvalidArgument):
    """A key, register, count, model or protocol name out of range."""


class BluettiTimeoutError(BluettiError, TimeoutError):
    """A handshake step or a request got no answer in time."""


# ---- SESAME 5 ----------------------------------------------------------------------------------

class SesameError(Error):
    """A request the SESAME engine refused (not logged in, request pending...) or a failed session."""


class SesameAuthenticationError(SesameError, AuthenticationError):
    """Wrong or missing device secret: login rejected, CCM tag mismatch, session keys differ."""


class SesameInvalidArgument(SesameError, InvalidArgument):
    """A secret, UUID, tag, MTU or time value out of range."""


class ShareUriError(SesameInvalidArgument):
    """A share URI (``ssm://UI?...``) that cannot be read."""


class SesameTimeoutError(SesameError, TimeoutError):
    """The lock did not answer in time (INITIAL, login, a request)."""


# ---- SMP ---------------------------------------------------------------------------------------

class SmpError(Error):
    """The Security Manager refused a call or a pairing failed."""


class PairingError(SmpError, HandshakeError):
    """The pairing ended with Pairing Failed or an invalid peer value."""


class BondStoreError(SmpError):
    """A bond file could not be read or written (unsafe mode, symlink, corrupt, too large)."""


class SmpInvalidArgument(SmpError, InvalidArgument):
    """An address, key, role or parameter out of range (the toolbox's wrong input sizes too)."""


class SmpTimeoutError(SmpError, TimeoutError):
    """The 30 s SMP timer expired; no more SMP on this link."""


# ---- encrypted channel (TLS 1.3) ---------------------------------------------------------------

class ChannelError(Error, ConnectionError):
    """The channel failed; ``.name`` says why (``wrong_psk``, ``fingerprint_mismatch``,
    ``record_tampered``, ``handshake_timeout``, ``peer_stalled``, ``truncated_record``...)."""


class ChannelHandshakeError(ChannelError, HandshakeError):
    """The TLS handshake failed."""


class ChannelAuthenticationError(ChannelError, HandshakeError, AuthenticationError):
    """Wrong PSK, unknown PSK identity, a certificate that is not the pinned one, or a tampered record."""


class ChannelInvalidArgument(ChannelError, InvalidArgument):
    """A channel setting, PSK text, fingerprint text or socket address that is malformed."""


class KeyFileError(ChannelError):
    """A key, PSK or identity file that is unreadable, unsafe (group/other access) or malformed."""


class ChannelTimeoutError(ChannelError, TimeoutError):
    """The handshake did not finish in time, the peer stalled, or a socket wait expired."""


# ---- link (GATT link seam, transports) ---------------------------------------------------------

class LinkError(Error, ConnectionError):
    """The Bluetooth link failed or is not usable (not connected, characteristic missing)."""


class BluetoothUnavailable(LinkError):
    """No Bluetooth here: no bluetoothd, no adapter, adapter off, or no permission."""


class LinkTimeoutError(LinkError, TimeoutError):
    """Connect, discovery or a link operation took too long."""


__all__ = [
    "Error", "InvalidArgument", "TimeoutError", "HandshakeError", "AuthenticationError", "CryptoError",
    "UnsupportedError",
    "BluettiError", "BluettiHandshakeError", "BluettiAuthenticationError", "ModbusError", "LicenceError",
    "BluettiInvalidArgument", "BluettiTimeoutError",
    "SesameError", "SesameAuthenticationError", "SesameInvalidArgument", "ShareUriError", "SesameTimeoutError",
    "SmpError", "PairingError", "BondStoreError", "SmpInvalidArgument", "SmpTimeoutError",
    "ChannelError", "ChannelHandshakeError", "ChannelAuthenticationError", "ChannelInvalidArgument", "KeyFileError",
    "ChannelTimeoutError",
    "LinkError", "BluetoothUnavailable", "LinkTimeoutError",
]
