"""BLE Security Manager (SMP) with a blatann-style API.

Sans-IO: PDUs go in with :meth:`SecurityManager.feed` and come out of
:meth:`SecurityManager.poll_transmit`; a real link layer plugs in through the
``on_start_encryption`` / ``on_ltk_reply`` hooks and :meth:`ltk_request` /
:meth:`encryption_changed`. :func:`pair_in_memory` joins two managers in one process (what the
demo and the tests do) with the C++ link-layer model (smp::LinkLayerModel) and link::Pipe.

Toolbox functions (``ah c1 s1 f4 f5 f6 g2 h6 h7``, ``ltk_to_link_key``, ``link_key_to_ltk``)
take and return bytes in the Core Specification's printed order (most significant octet first).
"""
from __future__ import annotations

import asyncio
import enum
import threading
import time
import weakref
from typing import Any, Callable, Generator, List, Optional, Tuple, Union, cast

from blecrypt import _native
from blecrypt.errors import (BondStoreError, PairingError, SmpError, SmpInvalidArgument, SmpTimeoutError)

_smp = _native.smp

ah, c1, s1, f4, f5, f6, g2, h6, h7 = (_smp.ah, _smp.c1, _smp.s1, _smp.f4, _smp.f5, _smp.f6, _smp.g2,
                                     _smp.h6, _smp.h7)
ltk_to_link_key, link_key_to_ltk = _smp.ltk_to_link_key, _smp.link_key_to_ltk


class IoCapabilities(enum.IntEnum):
    DISPLAY_ONLY = 0
    DISPLAY_YESNO = 1
    KEYBOARD_ONLY = 2
    NONE = 3
    KEYBOARD_DISPLAY = 4


class SecurityLevel(enum.IntEnum):
    NO_ACCESS = 0
    OPEN = 1
    JUST_WORKS = 2
    MITM = 3
    LESC_MITM = 4


class PairingPolicy(enum.IntFlag):
    allow_all = 0
    reject_new_pairing_requests = 1
    reject_nonbonded_peripheral_requests = 2
    reject_bonded_peripheral_requests = 4
    reject_bonded_device_repairing_requests = 8

    @staticmethod
    def combine(*policies: "PairingPolicy") -> "PairingPolicy":
        value = PairingPolicy.allow_all
        for p in policies:
            value |= p
        return value


class PeripheralSecurityRequestResponse(enum.Enum):
    accept = "accept"
    reject = "reject"
    force_repair = "force_repair"


class SecurityParameters:
    def __init__(self, passcode_pairing: bool = False,
                 io_capabilities: Union[IoCapabilities, int] = IoCapabilities.KEYBOARD_DISPLAY, bond: bool = False,
                 out_of_band: bool = False, reject_pairing_requests: bool = False, lesc_pairing: bool = False) -> None:
        self.passcode_pairing = passcode_pairing
        self.io_capabilities = IoCapabilities(io_capabilities)
        self.bond = bond
        self.out_of_band = out_of_band
        self.reject_pairing_requests = reject_pairing_requests
        self.lesc_pairing = lesc_pairing

    def __repr__(self) -> str:
        return ("SecurityParameters(passcode_pairing=%r, io_capabilities=%s, bond=%r, out_of_band=%r, "
                "reject_pairing_requests=%r, lesc_pairing=%r)" % (
                    self.passcode_pairing, self.io_capabilities.name, self.bond, self.out_of_band,
                    self.reject_pairing_requests, self.lesc_pairing))


Handler = Callable[[Any, Any], None]  # handler(sender, args)


class Event:
    """blatann-style event: ``register(handler)``; handlers are called as ``handler(sender, args)``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._handlers: List[Handler] = []

    def register(self, handler: Handler) -> Handler:
        self._handlers.append(handler)
        return handler

    def deregister(self, handler: Handler) -> None:
        self._handlers.remove(handler)

    def __bool__(self) -> bool:
        return bool(self._handlers)

    def notify(self, sender: Any, args: Any) -> None:
        for h in list(self._handlers):
            h(sender, args)


# Default addresses per role (the same as `blecrypt smp peer`): two managers left on their
# defaults know each other's address, so they pair.
DEFAULT_ADDRESSES = {"central": "C0:00:00:00:00:01/random", "peripheral": "C0:00:00:00:00:02/random"}

# SMP reasons a disagreement about the two addresses produces: LESC f5/f6 -> DHKey Check Failed,
# legacy c1 -> Confirm Value Failed.
_ADDRESS_SENSITIVE_REASONS = {0x0B: "DHKey Check Failed", 0x04: "Confirm Value Failed"}


# ---- event arguments (blatann names) ----
class PairingCompleteEventArgs:
    """``message`` explains a failure; for the failures a wrong address causes it names the
    addresses this side used. ``bond_error`` is set when pairing worked but the bond was not saved."""

    def __init__(self, success: bool, reason: int, timeout: bool, security_level: int, bond_error: str = "",
                 addresses: Optional[Tuple[str, str]] = None) -> None:
        self.success, self.reason, self.timeout = success, reason, timeout
        self.status = "success" if success else ("timeout" if timeout else "failed")
        self.security_level = SecurityLevel(security_level)
        self.bond_error: Optional[str] = bond_error or None
        if success:
            self.message = "paired" if not self.bond_error else "paired, but the bond was not saved: " + self.bond_error
        elif timeout:
            self.message = "pairing timed out (30 s SMP timer)"
        elif reason in _ADDRESS_SENSITIVE_REASONS and addresses:
            local, peer = addresses
            self.message = ("pairing failed: %s (0x%02X); a common cause is the two sides disagreeing about the "
                            "addresses: this side used local_address=%s peer_address=%s, the peer must use the "
                            "same two the other way round" % (_ADDRESS_SENSITIVE_REASONS[reason], reason, local, peer))
        elif reason == 0 and not timeout:
            self.message = "link-layer encryption failed"
        else:
            self.message = "pairing failed: reason 0x%02X" % reason

    def __repr__(self) -> str:
        return "PairingCompleteEventArgs(status=%r, reason=0x%02X, security_level=%s, message=%r)" % (
            self.status, self.reason, self.security_level.name, self.message)


class PairingWaitable:
    """What :meth:`SecurityManager.pair` returns (blatann's EventWaitable shape):
    ``wait(timeout)`` blocks until the pairing completes (another thread drives the link, or it
    already completed) and returns the :class:`PairingCompleteEventArgs`; ``await waitable``
    works in asyncio. ``then(callback)`` runs ``callback(sender, args)`` on completion."""

    def __init__(self, manager: "SecurityManager") -> None:
        self._sender = weakref.ref(manager)
        self._done = threading.Event()
        self._args: Optional[PairingCompleteEventArgs] = None
        self._lock = threading.Lock()
        self._callbacks: List[Handler] = []
        self._futures: List[Tuple[asyncio.AbstractEventLoop, "asyncio.Future[PairingCompleteEventArgs]"]] = []

    def _complete(self, args: PairingCompleteEventArgs) -> None:
        with self._lock:
            if self._done.is_set():
                return
            self._args = args
            self._done.set()
            callbacks, futures = self._callbacks, self._futures
            self._callbacks, self._futures = [], []
        for cb in callbacks:
            cb(self._sender(), args)
        for loop, fut in futures:
            loop.call_soon_threadsafe(_resolve, fut, args)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: Optional[float] = None,
             exception_on_timeout: bool = True) -> Optional[PairingCompleteEventArgs]:
        if not self._done.wait(timeout):
            if exception_on_timeout:
                raise SmpTimeoutError("pairing did not complete within %s s" % timeout)
            return None
        return self._args

    def then(self, callback: Handler) -> "PairingWaitable":
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return self
        callback(self._sender(), self._args)
        return self

    def __await__(self) -> Generator[Any, None, PairingCompleteEventArgs]:
        loop = asyncio.get_running_loop()
        fut: "asyncio.Future[PairingCompleteEventArgs]" = loop.create_future()
        with self._lock:
            if self._done.is_set():
                assert self._args is not None
                fut.set_result(self._args)
            else:
                self._futures.append((loop, fut))
        return fut.__await__()


def _resolve(fut: "asyncio.Future[PairingCompleteEventArgs]", args: PairingCompleteEventArgs) -> None:
    if not fut.done():
        fut.set_result(args)


class SecurityLevelChangedEventArgs:
    def __init__(self, security_level: int) -> None:
        self.security_level = SecurityLevel(security_level)


class PasskeyDisplayEventArgs:
    """``match_request`` True: numeric comparison, answer with ``match_confirm(bool)``.
    False: passkey entry, the user types ``passkey`` on the peer. Never confused (Method Confusion)."""

    def __init__(self, manager: "SecurityManager", passkey: int, match_request: bool) -> None:
        self._m = manager
        self.passkey = "%06d" % passkey
        self.match_request = match_request

    def match_confirm(self, keys_match: bool) -> None:
        if not self.match_request:
            raise SmpError("match_confirm: this event is a passkey display, not a numeric comparison")
        self._m._native.match_confirm(bool(keys_match), self._m._now())


class PasskeyEntryEventArgs:
    def __init__(self, manager: "SecurityManager") -> None:
        self._m = manager
        self.key_type = "passkey"

    def resolve(self, passkey: Union[str, int, None]) -> None:
        """The 6 digits the peer shows (str or int); None rejects (Passkey Entry Failed)."""
        value = None if passkey is None else int(passkey)
        self._m._native.passkey_reply(value, self._m._now())


class PeripheralSecurityRequestEventArgs:
    def __init__(self, manager: "SecurityManager", auth_req: int, is_bonded_device: bool) -> None:
        self._m = manager
        self.bond = bool(auth_req & 0x01)
        self.mitm = bool(auth_req & 0x04)
        self.lesc = bool(auth_req & 0x08)
        self.keypress = bool(auth_req & 0x10)
        self.is_bonded_device = is_bonded_device
        self._resolved = False

    def accept(self) -> None:
        self.resolve(PeripheralSecurityRequestResponse.accept)

    def reject(self) -> None:
        self.resolve(PeripheralSecurityRequestResponse.reject)

    def force_repair(self) -> None:
        self.resolve(PeripheralSecurityRequestResponse.force_repair)

    def resolve(self, response: PeripheralSecurityRequestResponse) -> None:
        if self._resolved:
            return
        self._resolved = True
        self._m._native.security_request_reply(PeripheralSecurityRequestResponse(response).value, self._m._now())


class PairingRejectedEventArgs:
    def __init__(self, reason: int) -> None:
        self.reason = reason


def _weak_callbacks(manager: "SecurityManager", *names: str) -> List[Callable[..., None]]:
    """Callbacks for the native object that reach ``manager`` through a weak reference only: the
    native side holds them where the garbage collector cannot see, so a strong reference (a bound
    method) would keep the manager, its native object and its keys alive forever."""
    ref = weakref.ref(manager)

    def make(name: str) -> Callable[..., None]:
        def call(*args: Any) -> None:
            m = ref()
            if m is not None:
                getattr(m, name)(*args)
        return call

    return [make(n) for n in names]


class SecurityManager:
    """One link's Security Manager. ``role`` is "central" or "peripheral"; ``bond_db`` a directory
    for the bond store (one file per peer, mode 0600) or None for in-memory bonds. The addresses
    default per role (central C0:00:00:00:00:01/random, peripheral C0:00:00:00:00:02/random), so two
    managers on default settings pair; each side's ``peer_address`` must be the other's
    ``local_address``."""

    def __init__(self, role: str = "central", local_address: Optional[str] = None, peer_address: Optional[str] = None,
                 bond_db: Optional[str] = None, backend: str = "", seed: Optional[int] = None,
                 min_key_size: int = 16, sc_only: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        if role not in DEFAULT_ADDRESSES:
            raise SmpInvalidArgument("role must be 'central' or 'peripheral', got %r" % (role,))
        other = "peripheral" if role == "central" else "central"
        self.role = role
        self.local_address = local_address or DEFAULT_ADDRESSES[role]
        self.peer_address = peer_address or DEFAULT_ADDRESSES[other]
        self._now = clock
        self._waitables: List[PairingWaitable] = []
        self._native = _smp.SecurityManager(role, self.local_address, self.peer_address, bond_db or "", backend, seed,
                                            min_key_size, sc_only)
        self._params = SecurityParameters()
        self.on_pairing_complete = Event("on_pairing_complete")
        self.on_security_level_changed = Event("on_security_level_changed")
        self.on_passkey_display_required = Event("on_passkey_display_required")
        self.on_passkey_required = Event("on_passkey_required")
        self.on_peripheral_security_request = Event("on_peripheral_security_request")
        self.on_pairing_request_rejected = Event("on_pairing_request_rejected")
        # Link-layer hooks: (ltk, ediv, rand, key_size) for a central, (ltk or None) for a peripheral.
        self.on_start_encryption: Optional[Callable[[bytes, int, bytes, int], None]] = None
        self.on_ltk_reply: Optional[Callable[[Optional[bytes]], None]] = None
        self._native.set_callbacks(*_weak_callbacks(self, "_complete", "_level", "_display", "_entry", "_sec_req",
                                                    "_rejected", "_start_enc", "_ltk_reply"))
        self.set_security_params(self._params)

    # ---- blatann API ----
    @property
    def security_params(self) -> SecurityParameters:
        return self._params

    def set_security_params(self, passcode_pairing: Union[bool, SecurityParameters] = False,
                            io_capabilities: Union[IoCapabilities, int] = IoCapabilities.KEYBOARD_DISPLAY,
                            bond: bool = False, out_of_band: bool = False, reject_pairing_requests: bool = False,
                            lesc_pairing: bool = False) -> None:
        if isinstance(passcode_pairing, SecurityParameters):
            p = passcode_pairing
        else:
            p = SecurityParameters(passcode_pairing, io_capabilities, bond, out_of_band, reject_pairing_requests,
                                   lesc_pairing)
        self._params = p
        self._native.set_security_params(p.passcode_pairing, int(p.io_capabilities), p.bond, p.out_of_band,
                                         p.reject_pairing_requests, p.lesc_pairing)

    @property
    def pairing_policy(self) -> PairingPolicy:
        return PairingPolicy(self._native.pairing_policy())

    @pairing_policy.setter
    def pairing_policy(self, policy: PairingPolicy) -> None:
        self.set_pairing_policy(policy)

    def set_pairing_policy(self, policy: PairingPolicy) -> None:
        self._native.set_pairing_policy(int(policy))

    def use_debug_lesc_key(self) -> None:
        """Use the published LESC debug key pair AND accept a peer's debug key (sniffable links)."""
        self._native.use_debug_lesc_key()

    def set_legacy_oob_tk(self, tk: Optional[bytes]) -> None:
        self._native.set_legacy_oob_tk(tk)

    def local_oob_data(self) -> Tuple[bytes, bytes]:
        """(C, R) of this side for LESC OOB, wire order."""
        c, r = self._native.local_oob_data()
        return bytes(c), bytes(r)

    def set_peer_oob_data(self, c: bytes, r: bytes) -> None:
        self._native.set_peer_oob_data(c, r)

    def pair(self, force_repairing: bool = False) -> PairingWaitable:
        """Central: pair (or encrypt with the bond). Peripheral: send a Security Request.
        Returns a waitable for the outcome: ``sm.pair().wait(timeout)`` (blatann style) or
        ``await sm.pair()``."""
        waitable = PairingWaitable(self)
        self._waitables.append(waitable)
        try:
            self._native.pair(self._now(), force_repairing)
        except Exception:
            self._waitables.remove(waitable)
            raise
        return waitable

    def delete_bonding_data(self) -> None:
        self._native.delete_bonding_data()

    @property
    def is_previously_bonded(self) -> bool:
        return bool(self._native.is_previously_bonded())

    @property
    def pairing_in_process(self) -> bool:
        return bool(self._native.pairing_in_process())

    @property
    def security_level(self) -> SecurityLevel:
        return SecurityLevel(self._native.security_level())

    # ---- sans-IO plumbing ----
    def feed(self, pdu: bytes) -> str:
        return str(self._native.feed(bytes(pdu), self._now()))

    def poll_transmit(self) -> Optional[bytes]:
        return cast(Optional[bytes], self._native.poll_transmit())

    def next_deadline(self) -> Optional[float]:
        return cast(Optional[float], self._native.next_deadline())

    def on_deadline(self) -> None:
        self._native.on_deadline(self._now())

    def ltk_request(self, ediv: int, rand: bytes) -> None:
        self._native.ltk_request(ediv, rand, self._now())

    def encryption_changed(self) -> None:
        self._native.encryption_changed(self._now())

    def encryption_failed(self, status: int) -> None:
        self._native.encryption_failed(status, self._now())

    def disconnected(self) -> None:
        self._native.disconnected()

    # ---- native callbacks -> events ----
    def _complete(self, success: bool, reason: int, timeout: bool, level: int, bond_error: str = "") -> None:
        args = PairingCompleteEventArgs(success, reason, timeout, level, bond_error,
                                        (self.local_address, self.peer_address))
        self.on_pairing_complete.notify(self, args)
        waitables, self._waitables = self._waitables, []
        for w in waitables:
            w._complete(args)

    def _level(self, level: int) -> None:
        self.on_security_level_changed.notify(self, SecurityLevelChangedEventArgs(level))

    def _display(self, passkey: int, match_request: bool) -> None:
        self.on_passkey_display_required.notify(self, PasskeyDisplayEventArgs(self, passkey, match_request))

    def _entry(self) -> None:
        self.on_passkey_required.notify(self, PasskeyEntryEventArgs(self))

    def _sec_req(self, auth_req: int, bonded: bool) -> None:
        args = PeripheralSecurityRequestEventArgs(self, auth_req, bonded)
        self.on_peripheral_security_request.notify(self, args)
        if not self.on_peripheral_security_request:
            args.accept()  # blatann's default: accept

    def _rejected(self, reason: int) -> None:
        self.on_pairing_request_rejected.notify(self, PairingRejectedEventArgs(reason))

    def _start_enc(self, ltk: bytes, ediv: int, rand: bytes, key_size: int) -> None:
        if self.on_start_encryption:
            self.on_start_encryption(ltk, ediv, rand, key_size)

    def _ltk_reply(self, ltk: Optional[bytes]) -> None:
        if self.on_ltk_reply:
            self.on_ltk_reply(ltk)


def pair_in_memory(central: SecurityManager, peripheral: SecurityManager, max_steps: int = 10000) -> None:
    """Join two managers with a model of the link layer (like smp_relay.py) and run them until
    neither has anything more to send (call central.pair() or peripheral.pair() first)."""
    connect(central, peripheral)
    pump(central, peripheral, max_steps)


def connect(central: SecurityManager, peripheral: SecurityManager) -> None:
    """Joins the two managers' link layers in memory (smp::LinkLayerModel, the one model in the
    C++ core): the central's encryption start becomes an LTK request at the peripheral; equal keys
    switch encryption on for both, a negative reply fails it (0x06 PIN or Key Missing), a
    different key is a MIC failure (0x3D) that drops the link. The two managers'
    ``on_start_encryption`` / ``on_ltk_reply`` hooks are not called while joined."""
    _smp.connect(central._native, peripheral._native, central._now)


def pump(central: SecurityManager, peripheral: SecurityManager, max_steps: int = 10000) -> None:
    """Moves PDUs both ways (link::Pipe) until both sides are quiet."""
    _smp.pump(central._native, peripheral._native, central._now(), max_steps)


__all__ = ["SecurityManager", "SecurityParameters", "PairingWaitable", "PairingCompleteEventArgs", "DEFAULT_ADDRESSES", "IoCapabilities", "SecurityLevel", "PairingPolicy",
           "PeripheralSecurityRequestResponse", "Event", "SmpError", "PairingError", "BondStoreError",
           "SmpInvalidArgument", "SmpTimeoutError", "pair_in_memory", "connect", "pump", "ah", "c1", "s1",
           "f4", "f5", "f6", "g2", "h6", "h7", "ltk_to_link_key", "link_key_to_ltk"]
