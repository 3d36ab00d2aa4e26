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

import os as _os
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


@dataclass
class Credential:
    """A card / fingerprint / passcode as a Touch or Face lists it."""
    kind: str  # card / fingerprint / passcode
    type: int
    id: bytes
    name: bytes
    name_uuid: Optional[str]  # the name when it is a 16-byte UUID (what the current apps store)
    description: str


@dataclass
class Bot2Script:
    """A Bot 2 script: name (1-20 bytes) and up to 20 (action, time) pairs; action 0 forward,
    1 reverse, 2 stop, 3 sleep."""
    name: str
    actions: List["tuple[int, int]"]


@dataclass
class KeySlot:
    """A lock key an accessory holds (PUB_KEY_SESAME, item 102)."""
    uuid: str
    os2: bool
    status: str
    status_code: int


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


# ---- OS2 (SESAME 3 / 4, bot 1, Bike 1) values and events ------------------------------------

@dataclass
class Os2MechStatus:
    """8-byte OS2 mech status. ``volts``/``percent`` use the model's scale (bot 1: 3.6 V)."""
    battery_raw: int
    volts: float
    percent: int
    target: Optional[int]
    position: int  # bot 1: the low byte is the motor state (0 idle, 1 locking, 2 holding, 3 unlocking)
    retcode: int
    flags: int

    @property
    def locked(self) -> bool:
        return bool(self.flags & 0x02)

    @property
    def unlocked(self) -> bool:
        return bool(self.flags & 0x04)


@dataclass
class Os2MechSetting:
    """SESAME 3 / 4: lock and unlock positions and their ranges."""
    lock: int
    unlock: int
    lock_min: int
    lock_max: int
    unlock_min: int
    unlock_max: int


@dataclass
class BotSetting:
    """bot 1 (button_mode 0 click, 1 toggle; user_pref_dir 0 normal, 1 reversed; seconds)."""
    user_pref_dir: int = 0
    lock_sec: int = 3
    unlock_sec: int = 3
    click_lock_sec: int = 3
    click_hold_sec: int = 1
    click_unlock_sec: int = 3
    button_mode: int = 0


@dataclass
class Os2HistoryRecord:
    id: int
    type: int
    type_name: str
    unix_ms: int
    tag: str
    source: str  # ble / wifi_module2 / web


@dataclass(frozen=True, **SLOTS)
class Os2LoggedIn(Event, kind="os2_logged_in"):
    device_time: int
    fw_version: int
    history_count: int
    status: Os2MechStatus
    setting: Union[Os2MechSetting, BotSetting]


@dataclass(frozen=True, **SLOTS)
class Os2MechStatusChanged(Event, kind="os2_mech_status"):
    status: Os2MechStatus


@dataclass(frozen=True, **SLOTS)
class Os2SettingChanged(Event, kind="os2_mech_setting"):
    setting: Union[Os2MechSetting, BotSetting]


@dataclass(frozen=True, **SLOTS)
class Os2HistoryReceived(Event, kind="os2_history"):
    record: Os2HistoryRecord


@dataclass(frozen=True, **SLOTS)
class AutolockReceived(Event, kind="autolock"):
    seconds: int


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

    # Touch / Touch Pro / Face (model 10, 9, 19, 18 ...): the accessory's own side.
    def present_credential(self, kind: str, credential_id: bytes) -> "tuple[bool, List[bytes]]":
        """A card swipe / finger / typed passcode (kind: card, fingerprint, passcode). In add mode
        it is enrolled and published (the returned notifications); in verify mode returns whether
        it matched (the accessory would then operate the locks it holds)."""
        matched, notes = self._dev.present_credential(kind, bytes(credential_id), self._now)
        return bool(matched), list(notes)

    def credentials(self, kind: str) -> List[Credential]:
        return list(self._dev.credentials(kind))

    def credential_mode(self, kind: str) -> int:
        """0 verify, 1 add."""
        return int(self._dev.credential_mode(kind))

    @property
    def key_slots(self) -> List[KeySlot]:
        return list(self._dev.key_slots)

    # Bot 2 / bot 3 (model 17 / 35).
    @property
    def scripts(self) -> List[Bot2Script]:
        return list(self._dev.scripts)

    @property
    def current_script(self) -> int:
        return int(self._dev.current_script)

    @property
    def last_script_run(self) -> Optional[int]:
        return cast(Optional[int], self._dev.last_script_run)

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

    # Lock settings (SESAME 5 family).
    def set_mech_setting(self, lock_position: int, unlock_position: int) -> List[bytes]:
        """MECH_SETTING (80): the lock and unlock angles."""
        return self._req("set_mech_setting", lock_position, unlock_position)

    def magnet(self) -> List[bytes]:
        """MAGNET (17): angle calibration."""
        return self._req("magnet")

    def set_ops_timer(self, seconds: int) -> List[bytes]:
        """OPS_TIMER (92): lock this long after an Open Sensor reports the door closed."""
        return self._req("set_ops_timer", seconds)

    def click(self, tag: Union[str, bytes, None] = "") -> List[bytes]:
        """Bot 2: run the current script (CLICK 89)."""
        return self._req("click", tag)

    def run_script(self, n: int, tag: Union[str, bytes, None] = "") -> List[bytes]:
        """Bot 2: run script n (0-9; item 170 + n)."""
        return self._req("run_script", n, tag)

    def select_script(self, n: int) -> List[bytes]:
        """Bot 2: SCRIPT_SELECT (the script CLICK runs)."""
        return self._req("select_script", n)

    def script(self, n: Optional[int] = None) -> List[bytes]:
        """Bot 2: SCRIPT_CURRENT (default: the selected one) into ``accessory["bot2_script"]``."""
        return self._req("read_script", n)

    def script_names(self) -> List[bytes]:
        """Bot 2: SCRIPT_NAME_LIST into ``accessory["bot2_scripts"]`` / ``["bot2_current_script"]``."""
        return self._req("read_script_names")

    def edit_script(self, n: int, script: Bot2Script) -> List[bytes]:
        """Bot 2: EDIT_SCRIPT (181) stores script n."""
        return self._req("edit_script", n, script.name, [tuple(a) for a in script.actions])

    # Accessories (Touch / Touch Pro / Face; kind: "card", "fingerprint", "passcode").
    def add_sesame(self, uuid: Union[bytes, str], secret: bytes) -> List[bytes]:
        """ADD_SESAME (101): give the accessory an OS3 lock's key."""
        if isinstance(uuid, str):
            uuid = bytes.fromhex(uuid.replace("-", ""))
        return self._req("add_sesame", uuid, bytes(secret))

    def remove_sesame(self, uuid: Union[bytes, str]) -> List[bytes]:
        if isinstance(uuid, str):
            uuid = bytes.fromhex(uuid.replace("-", ""))
        return self._req("remove_sesame", uuid)

    def list_credentials(self, kind: str) -> List[bytes]:
        """GET: the list arrives as FIRST / NOTIFY... / LAST publishes into :attr:`accessory`."""
        return self._req("list_credentials", kind)

    def rename_credential(self, kind: str, credential_id: bytes, name: Union[bytes, str]) -> List[bytes]:
        """CHANGE (107 / 115 / 123): name a credential (a 16-byte UUID, as the apps do, or text)."""
        return self._req("rename_credential", kind, bytes(credential_id),
                         name.encode() if isinstance(name, str) else bytes(name))

    def delete_credential(self, kind: str, credential_id: bytes) -> List[bytes]:
        return self._req("delete_credential", kind, bytes(credential_id))

    def credential_mode(self, kind: str) -> List[bytes]:
        """MODE_GET: the answer lands in ``accessory[kind + "_mode"]``."""
        return self._req("get_credential_mode", kind)

    def set_credential_mode(self, kind: str, mode: int) -> List[bytes]:
        """MODE_SET: 0 verify, 1 add (the next presented credential is enrolled)."""
        return self._req("set_credential_mode", kind, mode)

    @property
    def accessory(self) -> Dict[str, Any]:
        """What the accessory told: key_slots, cards / fingerprints / passcodes (lists of
        :class:`Credential`, ``*_complete`` after LAST), card_mode ..., ops_timer_seconds."""
        return dict(self._cli.accessory_state)

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


# ---- OS2 ---------------------------------------------------------------------------------------

class Os2Device(_Clock):
    """An emulated OS2 device: SESAME 3 (model 0), bot 1 (2), Bike 1 (3) or SESAME 4 (4).

    Its key pair is derived from ``secret`` (blecrypt's emulator convention), so the share key of
    :meth:`share_key` logs in to any emulator made with the same secret and key index.
    """

    def __init__(self, model: int = 4, secret: Optional[bytes] = None, uuid: Union[bytes, str, None] = None,
                 key_index: int = 0, mtu: Optional[int] = None, *, seed: Optional[int] = None,
                 backend: str = "") -> None:
        super().__init__()
        if isinstance(uuid, str):
            uuid = bytes.fromhex(uuid.replace("-", ""))
        if secret is None:
            secret = _os.urandom(16)
        self.model = model
        self._dev = _s.Device2(model, uuid, secret, key_index, _packet_size(mtu), int(_time.time()), seed, backend)

    def share_key(self, level: int = 0, name: str = "") -> str:
        """The owner's share URI (99-byte OS2 key) a :class:`Os2Client` logs in with."""
        return str(self._dev.share_key(level, name))

    def connect(self, now: Optional[float] = None) -> List[bytes]:
        """The client enabled notifications: returns the INITIAL notification (sesame token)."""
        return list(self._dev.connect(self._at(now)))

    def disconnect(self) -> None:
        self._dev.disconnect()

    def receive(self, packet: bytes, now: Optional[float] = None) -> List[bytes]:
        """One written packet; returns notifications. A rejected packet returns [] and sets :attr:`last_error`."""
        return list(self._dev.receive(bytes(packet), self._at(now)))

    def add_history(self, type: int, tag: str = "") -> None:  # noqa: A002 (the protocol's word)
        """A record as the firmware logs it (7 manual locked, 8 manual unlocked, 6 auto-lock ...)."""
        self._dev.add_history(type, tag, self._now)

    @property
    def last_error(self) -> str:
        return str(self._dev.last_error)

    @property
    def logged_in(self) -> bool:
        return bool(self._dev.logged_in)

    @property
    def status(self) -> Os2MechStatus:
        return cast(Os2MechStatus, self._dev.status)

    @property
    def setting(self) -> Union[Os2MechSetting, BotSetting]:
        return cast(Union[Os2MechSetting, BotSetting], self._dev.setting)

    @property
    def autolock_seconds(self) -> int:
        return int(self._dev.autolock_seconds)

    @property
    def history(self) -> List[Os2HistoryRecord]:
        return list(self._dev.history)


class Os2Client(_Clock):
    """The OS2 client for one device, logged in with its 99-byte share key (``ssm://`` URI).

    Login runs by itself when the INITIAL notification arrives. Every method returns the packets
    to write; results arrive as typed events (:meth:`events`). Tags are text (at most 21 bytes).
    Commands a model lacks (LOCK on a Bike 1, CLICK on anything but a bot 1 ...) raise
    :class:`SesameError` with ``name == "not_supported_by_model"``.
    """

    def __init__(self, share_uri: str, *, mtu: Optional[int] = None, seed: Optional[int] = None,
                 backend: str = "") -> None:
        super().__init__()
        self._cli = _s.Client2(share_uri, _packet_size(mtu), seed, backend)
        self._connected = False
        self._events: List[Event] = []

    def connect(self, now: Optional[float] = None) -> None:
        self._cli.connect(self._at(now))
        self._connected = True

    def disconnect(self) -> None:
        self._cli.disconnect()
        self._connected = False

    def receive(self, notification: bytes, now: Optional[float] = None) -> List[bytes]:
        """One notification; returns packets to write. Rejected input becomes a ProtocolError event."""
        t = self._at(now)
        if not self._connected:
            self.connect(t)
        packets, error = self._cli.receive(bytes(notification), t)
        if error:
            self._events += self._cli.events()
            self._events.append(ProtocolError(error))
        return list(packets)

    def advance(self, seconds: float) -> List[bytes]:
        self._now += seconds
        return list(self._cli.advance_to(self._now))

    def _req(self, name: str, *args: Any) -> List[bytes]:
        return list(getattr(self._cli, name)(*args, self._now))

    def lock(self, tag: Optional[str] = "") -> List[bytes]:
        return self._req("lock", tag)

    def unlock(self, tag: Optional[str] = "") -> List[bytes]:
        return self._req("unlock", tag)

    def toggle(self, tag: Optional[str] = "") -> List[bytes]:
        return self._req("toggle", tag)

    def click(self, tag: Optional[str] = "") -> List[bytes]:
        """bot 1: run its click (push, hold, return)."""
        return self._req("click", tag)

    def history(self, drain: bool = True) -> List[bytes]:
        """``drain``: pop records (flag 0) until none is left; else peek at the oldest (flag 1)."""
        return self._req("drain_history") if drain else self._req("read_history", 1)

    def autolock(self) -> List[bytes]:
        """Read the auto-lock seconds (AutolockReceived)."""
        return self._req("read_autolock")

    def set_autolock(self, seconds: int, tag: Optional[str] = "") -> List[bytes]:
        return self._req("set_autolock", seconds, tag)

    def set_lock_positions(self, lock: int, unlock: int, tag: Optional[str] = "") -> List[bytes]:
        """SESAME 3 / 4: the lock and unlock angles (ranges +/-150 around them)."""
        return self._req("set_lock_positions", lock, unlock, tag)

    def set_bot_setting(self, setting: BotSetting, tag: Optional[str] = "") -> List[bytes]:
        v = [setting.user_pref_dir, setting.lock_sec, setting.unlock_sec, setting.click_lock_sec,
             setting.click_hold_sec, setting.click_unlock_sec, setting.button_mode]
        return self._req("set_bot_setting", v, tag)

    def time(self, unix_seconds: Optional[int] = None) -> List[bytes]:
        """Set the device clock (default: this machine's)."""
        return self._req("sync_time", int(_time.time()) if unix_seconds is None else unix_seconds)

    def version(self) -> List[bytes]:
        return self._req("version")

    def events(self) -> List[Event]:
        out: List[Event] = self._events + list(self._cli.events())
        self._events = []
        return out

    @property
    def ready(self) -> bool:
        return bool(self._cli.ready)

    @property
    def model(self) -> int:
        return int(self._cli.model)

    @property
    def status(self) -> Optional[Os2MechStatus]:
        return cast(Optional[Os2MechStatus], self._cli.status)

    @property
    def setting(self) -> Union[Os2MechSetting, BotSetting, None]:
        return cast(Union[Os2MechSetting, BotSetting, None], self._cli.setting)


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
    "Credential", "KeySlot", "Bot2Script", "Os2Device", "Os2Client", "Os2MechStatus", "Os2MechSetting", "BotSetting", "Os2HistoryRecord", "Os2LoggedIn",
    "Os2MechStatusChanged", "Os2SettingChanged", "Os2HistoryReceived", "AutolockReceived",
]
