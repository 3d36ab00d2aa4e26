"""SESAME 5 (OS3) locks: sans-IO client, device emulator and share-URI parser.

Nothing here touches Bluetooth: you move the bytes. Write every packet a method returns to the
lock's write characteristic ``16860002-a5ae-9856-b6d3-dbb4c676993e`` and feed every notification
from ``16860003-a5ae-9856-b6d3-dbb4c676993e`` to :meth:`Client.receive`.

Time is virtual unless you pass ``now`` (seconds, monotonic): each object keeps its own clock that
:meth:`advance` moves forward. Wall-clock time (for registration and TIME) is ``time.time()`` at
construction plus that clock.

Example (client against the built-in emulator)::

    from blecrypt.sesame import Client, Device
    dev, cli = Device(), Client()
    for n in dev.connect():
        cli.receive(n)
    for p in cli.register():
        for n in dev.receive(p):
            cli.receive(n)
    print(cli.events(), cli.secret.hex())
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union, cast

from blecrypt import _native
from blecrypt.errors import (SesameAuthenticationError, SesameError, SesameInvalidArgument, SesameTimeoutError,
                             ShareUriError)
from blecrypt.events import SLOTS, Event

_s = _native.sesame

SERVICE_UUID = "0000fd81-0000-1000-8000-00805f9b34fb"
WRITE_CHARACTERISTIC = "16860002-a5ae-9856-b6d3-dbb4c676993e"
NOTIFY_CHARACTERISTIC = "16860003-a5ae-9856-b6d3-dbb4c676993e"


# SesameError (and its subclasses SesameAuthenticationError, SesameInvalidArgument, ShareUriError,
# SesameTimeoutError) live in blecrypt.errors: the native engine raises them directly.


# ---- typed events ----------------------------------------------------------------------------

@dataclass(frozen=True)
class MechStatus:
    battery_raw: int
    volts: float
    percent: int
    target: Optional[int]
    position: int
    flags: int
    state: str  # locked / unlocked / moving / jammed / between ...

    @property
    def locked(self) -> bool:
        return bool(self.flags & 0x02)

    @property
    def unlocked(self) -> bool:
        return bool(self.flags & 0x04)


@dataclass(frozen=True)
class MechSetting:
    lock_position: int
    unlock_position: int
    auto_lock_seconds: int


@dataclass(frozen=True)
class HistoryTag:
    kind: str  # "text" or "uuid"
    text: str
    uuid_type: int
    uuid: Optional[str]
    description: str


@dataclass(frozen=True)
class HistoryRecord:
    id: int
    type: int
    type_name: str
    unix_time: int
    status: MechStatus
    tag: HistoryTag
    source: str  # ble / wifi_module2 / web


# Client events (sesame::events, include/blecrypt/sesame/client.hpp): the native binding makes them
# from Client::Event. Their names are the ones this module has always published; `kind` is the C++
# event's name (sesame::event_name).

@dataclass(frozen=True, **SLOTS)
class RandomCodeReceived(Event, kind="random_code"):
    random_code: bytes


@dataclass(frozen=True, **SLOTS)
class Registered(Event, kind="registered"):
    secret: bytes = field(repr=False)


@dataclass(frozen=True, **SLOTS)
class LoggedIn(Event, kind="logged_in"):
    device_time: int


@dataclass(frozen=True, **SLOTS)
class MechStatusChanged(Event, kind="mech_status"):
    status: MechStatus


@dataclass(frozen=True, **SLOTS)
class MechSettingChanged(Event, kind="mech_setting"):
    setting: MechSetting


@dataclass(frozen=True, **SLOTS)
class CommandResult(Event, kind="command_result"):
    item: int
    item_name: str
    result: int
    result_name: str

    @property
    def ok(self) -> bool:
        return self.result == 0


@dataclass(frozen=True, **SLOTS)
class HistoryReceived(Event, kind="history"):
    record: HistoryRecord


@dataclass(frozen=True, **SLOTS)
class HistoryEmpty(Event, kind="history_empty"):
    pass


@dataclass(frozen=True, **SLOTS)
class HistoryDeleted(Event, kind="history_deleted"):
    result: int
    result_name: str


@dataclass(frozen=True, **SLOTS)
class VersionReceived(Event, kind="version"):
    version: str


@dataclass(frozen=True, **SLOTS)
class RequestFailed(Event, kind="request_failed"):
    item: int
    item_name: str
    error: str


@dataclass(frozen=True, **SLOTS)
class PublishReceived(Event, kind="publish"):
    item: int
    item_name: str
    payload: bytes


@dataclass(frozen=True, **SLOTS)
class SessionEnded(Event, kind="session_ended"):
    reason: str


@dataclass(frozen=True, **SLOTS)
class ProtocolError(Event, kind="protocol_error"):
    """A notification was rejected (bad segment, tag mismatch...): it was dropped. Made by
    :meth:`Client.receive` (the engine reports it as feed()'s error, not as an event)."""
    error: str


def _packet_size(mtu: Optional[int]) -> int:
    if mtu is None:
        return 20
    if mtu < 5:
        raise SesameInvalidArgument(f"sesame: mtu must be at least 5, got {mtu}")
    return mtu - 3


class _Clock:
    def __init__(self) -> None:
        self._now = 0.0

    def _at(self, now: Optional[float]) -> float:
        if now is not None:
            if now < self._now:
                raise SesameInvalidArgument(f"sesame: time went backwards ({now} < {self._now})")
            self._now = float(now)
        return self._now


# ---- device emulator -------------------------------------------------------------------------

class Device(_Clock):
    """An emulated SESAME lock (registration, login, motor, auto-lock, history, reset).

    ``secret`` (16 bytes) makes it registered; ``uuid`` is 16 bytes or a UUID string.
    Packets are at most 20 bytes unless ``mtu`` is given (packet size = mtu - 3).
    Keyword-only knobs of spec §9: ``advance_decrypt_counter_on_failure``,
    ``reset_counters_on_login``, ``accept_64_byte_registration``; ``seed`` makes it deterministic.
    """

    def __init__(self, model: int = 5, uuid: Union[bytes, str, None] = None, secret: Optional[bytes] = None,
                 mtu: Optional[int] = None, *, seed: Optional[int] = None,
                 advance_decrypt_counter_on_failure: bool = False, reset_counters_on_login: bool = True,
                 accept_64_byte_registration: bool = True, backend: str = "") -> None:
        super().__init__()
        if isinstance(uuid, str):
            uuid = bytes.fromhex(uuid.replace("-", ""))
        self._dev = _s.Device(model, uuid, secret, _packet_size(mtu), int(_time.time()), seed,
                          advance_decrypt_counter_on_failure, reset_counters_on_login, accept_64_byte_registration,
                          backend)

    def advertisement(self) -> bytes:
        """The whole AD payload the lock broadcasts now (flags, service 0xFD81, manufacturer data)."""
        return bytes(self._dev.advertisement())

    def connect(self, now: Optional[float] = None) -> List[bytes]:
        """The client enabled notifications: returns the INITIAL notification (random code)."""
        return list(self._dev.connect(self._at(now)))

    def disconnect(self) -> None:
        self._dev.disconnect()

    def receive(self, packet: bytes, now: Optional[float] = None) -> List[bytes]:
        """One written packet; returns notifications (a response and any publishes due at once).
        A rejected packet returns [] and sets :attr:`last_error`."""
        return list(self._dev.receive(bytes(packet), self._at(now)))

    def advance(self, seconds: float) -> List[bytes]:
        """Runs the motor / auto-lock clock forward; returns the publishes that became due."""
        if seconds < 0:
            raise SesameInvalidArgument("sesame: cannot advance by a negative time")
        self._now += seconds
        return list(self._dev.advance_to(self._now))

    def turn_by_hand(self, position: int) -> List[bytes]:
        return list(self._dev.turn_by_hand(position, self._now))

    def set_battery_raw(self, raw: int) -> None:
        self._dev.set_battery_raw(raw)

    @property
    def last_error(self) -> str:
        return str(self._dev.last_error)

    @property
    def registered(self) -> bool:
        return bool(self._dev.registered)

    @property
    def logged_in(self) -> bool:
        return bool(self._dev.logged_in)

    @property
    def secret(self) -> Optional[bytes]:
        return cast(Optional[bytes], self._dev.secret)

    @property
    def status(self) -> MechStatus:
        return cast(MechStatus, self._dev.status)

    @property
    def setting(self) -> MechSetting:
        return cast(MechSetting, self._dev.setting)

    @property
    def history(self) -> List[HistoryRecord]:
        return list(self._dev.history)

    @property
    def counters(self) -> Dict[str, int]:
        return {"tx": self._dev.tx_counter, "rx": self._dev.rx_counter}


# ---- client ----------------------------------------------------------------------------------

class Client(_Clock):
    """The SESAME 5 client engine for one lock. Every method returns the packets to write.

    Without ``secret`` call :meth:`register` after the INITIAL notification; with it, :meth:`login`.
    ``auto=True`` does that by itself when INITIAL arrives. Results arrive as typed events
    (:meth:`events`); :attr:`state` is what a user wants to know.
    """

    def __init__(self, secret: Optional[bytes] = None, *, mtu: Optional[int] = None, auto: bool = False,
                 auto_time_sync: bool = True, seed: Optional[int] = None, backend: str = "") -> None:
        super().__init__()
        self._cli = _s.Client(secret, _packet_size(mtu), int(_time.time()), auto, auto_time_sync, seed, backend)
        self._connected = False
        # Events taken from the engine early (to keep a rejected notification in its place).
        self._events: List[Event] = []

    def _ensure(self, now: float) -> None:
        if not self._connected:
            self._cli.connect(now)
            self._connected = True

    def connect(self, now: Optional[float] = None) -> None:
        """A new connection (notifications enabled). Implicit on the first :meth:`receive`."""
        self._cli.connect(self._at(now))
        self._connected = True

    def disconnect(self) -> None:
        self._cli.disconnect()
        self._connected = False

    def advertisement(self, ad: bytes, now: Optional[float] = None) -> List[bytes]:
        """Tell the client what the lock advertises (registered / has-history bits)."""
        return list(self._cli.set_advertisement(bytes(ad), self._at(now)))

    def receive(self, notification: bytes, now: Optional[float] = None) -> List[bytes]:
        """One notification; returns packets to write. Rejected input becomes a ProtocolError event."""
        t = self._at(now)
        self._ensure(t)
        packets, error = self._cli.receive(bytes(notification), t)
        if error:
            # The engine's events so far (including any it raised for this notification) come
            # first: events() is oldest first.
            self._events += self._cli.events()
            self._events.append(ProtocolError(error))
        return list(packets)

    def advance(self, seconds: float) -> List[bytes]:
        """Runs request timeouts forward."""
        self._now += seconds
        return list(self._cli.advance_to(self._now))

    def _req(self, name: str, *args: Any) -> List[bytes]:
        return list(getattr(self._cli, name)(*args, self._now))

    def register(self) -> List[bytes]:
        return self._req("register")

    def login(self) -> List[bytes]:
        return self._req("login")

    def lock(self, tag: Union[str, bytes, None] = "") -> List[bytes]:
        """LOCK with a text tag (str), an encoded tag (bytes, e.g. :func:`uuid_tag`) or none."""
        return self._req("lock", tag)

    def unlock(self, tag: Union[str, bytes, None] = "") -> List[bytes]:
        return self._req("unlock", tag)

    def toggle(self, tag: Union[str, bytes, None] = "") -> List[bytes]:
        return self._req("toggle", tag)

    def history(self, drain: bool = True) -> List[bytes]:
        """Read history: ``drain`` reads with flag 1 and deletes with item 18 until none is left."""
        return self._req("drain_history") if drain else self._req("read_history", 1)

    def delete_history(self, record_id: int) -> List[bytes]:
        return self._req("delete_history", record_id)

    def version(self) -> List[bytes]:
        return self._req("version")

    def time(self) -> List[bytes]:
        """TIME: set the lock's clock to this machine's."""
        return self._req("sync_time")

    def set_autolock(self, seconds: int) -> List[bytes]:
        return self._req("set_autolock", seconds)

    def events(self) -> List[Event]:
        """Every event since the last call, oldest first."""
        out: List[Event] = self._events + list(self._cli.events())
        self._events = []
        return out

    @property
    def session(self) -> str:
        """idle / awaiting_initial / connected / registering / logging_in / ready / ended."""
        return str(self._cli.state_name)

    @property
    def ready(self) -> bool:
        return bool(self._cli.state_name == "ready")

    @property
    def state(self) -> Dict[str, Any]:
        """position (locked / unlocked / moving / jammed ...), battery_percent, battery_volts,
        last_history, version, description."""
        return dict(self._cli.lock_state)

    @property
    def secret(self) -> Optional[bytes]:
        """The 16-byte device secret (given, or established by registration)."""
        return cast(Optional[bytes], self._cli.secret)

    @property
    def counters(self) -> Dict[str, int]:
        return {"tx": self._cli.tx_counter, "rx": self._cli.rx_counter}


# ---- helpers ---------------------------------------------------------------------------------

@dataclass
class ShareKey:
    model: int
    model_name: str
    secret: bytes = field(repr=False)
    os2: bool
    public_key: Optional[bytes]
    uuid: Optional[str]
    key_time: Optional[int]
    key_index: Optional[int]
    level: Optional[int]
    level_name: str
    name: str


def parse_share_uri(uri: str) -> ShareKey:
    """Decode ``ssm://UI?t=sk&sk=<base64>&l=<level>&n=<name>`` (the app's share-key QR code).
    Raises :class:`SesameError` with the reason for malformed URIs and server tokens."""
    return ShareKey(**_s.parse_share_uri(uri))


def build_share_uri(secret: bytes, uuid: Union[bytes, str], model: int = 5, level: int = 0, name: str = "") -> str:
    if isinstance(uuid, str):
        uuid = bytes.fromhex(uuid.replace("-", ""))
    return str(_s.build_share_uri(model, secret, uuid, level, name))


def parse_advertisement(ad: bytes) -> Dict[str, Any]:
    """model, model_name, registered, has_history, uuid — or SesameError("... not a SESAME")."""
    return dict(_s.parse_advertisement(bytes(ad)))


def uuid_tag(uuid: Union[bytes, str], tag_type: int = 14) -> bytes:
    """The UUID form of a history tag: 00 type uuid16 (type 14 = Android BLE, 15 = iOS BLE)."""
    if isinstance(uuid, str):
        uuid = bytes.fromhex(uuid.replace("-", ""))
    if len(uuid) != 16:
        raise SesameInvalidArgument("sesame: uuid must be 16 bytes")
    return bytes([0, tag_type]) + uuid


__all__ = [
    "Client", "Device", "SesameError", "SesameAuthenticationError", "SesameInvalidArgument", "SesameTimeoutError",
    "ShareUriError", "parse_share_uri", "build_share_uri", "parse_advertisement", "uuid_tag",
    "Event", "RandomCodeReceived", "Registered", "LoggedIn", "MechStatusChanged", "MechSettingChanged",
    "CommandResult", "HistoryReceived", "HistoryEmpty", "HistoryDeleted", "VersionReceived", "RequestFailed",
    "PublishReceived", "SessionEnded", "ProtocolError", "MechStatus", "MechSetting", "HistoryRecord", "HistoryTag",
    "ShareKey", "SERVICE_UUID", "WRITE_CHARACTERISTIC", "NOTIFY_CHARACTERISTIC",
]
