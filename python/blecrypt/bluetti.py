"""BLUETTI encrypted link: sans-IO client and device emulator (see docs/bluetti.md).

Nothing here does IO. A ``Device`` turns client writes into notifications; a ``Client`` turns
notifications into writes. Wire them to a BLE library (bleak, ...) or to each other::

    from blecrypt.bluetti import Client, Device
    dev = Device(model="AC180")
    cli = Client(device_verify_key=dev.verify_key)
    cli.connect(dev.connect(), dev.receive)          # handshake
    print(cli.telemetry(dev.receive))                # {'model': 'AC180', 'soc_percent': 80, ...}
    cli.set_output("ac", True, dev.receive)

``exchange`` arguments are callables that take one write (bytes) and return the notifications it
produced (``Device.receive`` has exactly that shape; a real transport writes to FF02 and collects
FF01 notifications).
"""

from __future__ import annotations

import math
import time
import types
from dataclasses import dataclass, field as _dc_field
from typing import Any, Callable, Dict, Generator, Iterable, List, Mapping, Optional, Sequence, Tuple, Union, cast

from blecrypt import _native
from blecrypt.errors import (BluettiAuthenticationError, BluettiError, BluettiHandshakeError, BluettiInvalidArgument,
                             BluettiTimeoutError, Error, LicenceError, ModbusError)
from blecrypt.events import SLOTS, Event

_b = _native.bluetti

K2: bytes = _b.K2
L1_PUBLIC_KEY: bytes = _b.L1_PUBLIC_KEY
TEST_DEVICE_SIGNING_KEY: bytes = _b.TEST_DEVICE_SIGNING_KEY
TEST_DEVICE_VERIFY_KEY: bytes = _b.TEST_DEVICE_VERIFY_KEY
IOT_SERIAL_REGISTER: int = _b.IOT_SERIAL_REGISTER
crc16 = _b.crc16
BluettiCrypt = _b.BluettiCrypt

Exchange = Callable[[bytes], List[bytes]]


# ---- the model table (C++ bluetti/models.hpp; docs/bluetti-models.md) ------------------------

#: A decoded field value: bool (switches, states), int or float (raw * scale, in the field's unit),
#: str (model names; an enumeration by the name of its choice), tuple of float (cell voltages).
Value = Union[bool, int, float, str, Tuple[float, ...]]
#: What ``set`` accepts: True/False or "on"/"off" for switches, a choice name (or its number) for
#: selects, a number in the field's unit for numbers.
SettingValue = Union[bool, int, float, str]
Registers = Mapping[int, int]


@dataclass(frozen=True)
class Field:
    """One field of a model, read-only. ``range`` is the settable range in the field's unit
    (settable numbers only); ``choices`` maps names to register values (enumerations)."""

    name: str
    mqtt_name: str                       # bluetti_mqtt's name ("" when it has none)
    address: int
    type: str                            # uint16, int16, bool, enum, string, serial, version, cells, ...
    words: int
    scale: float                         # value = raw * scale
    unit: str
    settable: bool
    range: Optional[Tuple[float, float]]
    raw_range: Optional[Tuple[int, int]]
    choices: Mapping[str, int] = _dc_field(hash=False)
    component: str = "sensor"            # Home Assistant: sensor, binary_sensor, switch, select, number
    device_class: str = ""
    state_class: str = ""
    pack: bool = False                   # a battery-pack field (Model.pack_fields)
    role: str = ""                       # what the emulator computes it from ("" = a constant)


@dataclass(frozen=True)
class Model:
    """One model of the table, read-only: what to poll, every field, the battery-pack layout.
    Decoding and setting encoding run in C++ (the same code as the CLI and the gateway)."""

    name: str
    protocol: str                        # "v1" (IoT V1) or "v2" (IoT V2)
    verified: str
    sources: str
    blocks: Tuple[Tuple[int, int], ...]  # (address, count) reads of a full refresh
    fields: Tuple[Field, ...]            # the unit's fields, in table order
    pack_fields: Tuple[Field, ...]       # per battery pack
    max_packs: int                       # 0: no pack data in the table
    pack_selector: int                   # IoT V1: register selecting the pack (0: none)
    pack_blocks: Tuple[Tuple[int, int], ...]
    pack_settle: float                   # seconds to wait after selecting a pack

    def field(self, name: str) -> Field:
        """The field named ``name``, else the one with that bluetti_mqtt name (a settable one
        first, as the C++ lookup does). Raises BluettiInvalidArgument for an unknown name."""
        for candidates in ((f for f in self.fields if f.name == name),
                           (f for f in self.fields if f.settable and f.mqtt_name and f.mqtt_name == name),
                           (f for f in self.fields if f.mqtt_name and f.mqtt_name == name),
                           (f for f in self.pack_fields if f.name == name)):
            for f in candidates:
                return f
        raise BluettiInvalidArgument(f"{self.name} has no field '{name}' (blecrypt bluetti fields {self.name!r})",
                                     name="field_unknown")

    @property
    def settable(self) -> Tuple[Field, ...]:
        return tuple(f for f in self.fields if f.settable)

    def decode(self, registers: Registers) -> Dict[str, Value]:
        """Every unit field whose registers are all in ``registers`` ({address: value}), by name,
        in table order."""
        return _values(_b.model_decode(self.name, _regs(registers)))

    def decode_pack(self, registers: Registers, pack: int = 1) -> Dict[str, Value]:
        """Every pack field whose registers are all in ``registers``."""
        return _values(_b.model_decode_pack(self.name, int(pack), _regs(registers)))

    def encode_setting(self, field: str, value: SettingValue) -> Tuple[int, int]:
        """(register, raw value) of the write that sets ``field`` (name or bluetti_mqtt name) to
        ``value``, after the range check. Raises BluettiInvalidArgument (``.name``:
        field_unknown, field_not_settable, setting_invalid, setting_out_of_range)."""
        a, v = _b.model_encode_setting(self.name, str(field), _setting_text(value))
        return int(a), int(v)

    def select_pack(self, pack: int) -> Tuple[int, int]:
        """(register, value) of the IoT V1 write selecting battery pack ``pack`` (1-based)."""
        a, v = _b.model_select_pack(self.name, int(pack))
        return int(a), int(v)

    def legacy_telemetry(self, registers: Registers) -> Optional[Dict[str, Any]]:
        """The nine bluetti_mqtt telemetry fields from ``registers`` by the legacy decoder (None
        when a register of its layout is missing)."""
        try:
            return dict(_b.decode_telemetry(self.protocol, _regs(registers)))
        except BluettiInvalidArgument:
            return None

    def legacy_requests(self) -> List[Tuple[int, int]]:
        """The reads the legacy nine-field telemetry decodes."""
        return [(int(a), int(n)) for a, n in _b.telemetry_requests(self.protocol)]


@dataclass(frozen=True)
class Pack:
    """One battery pack: its number (1-based), SOC (%), voltage (V), cell voltages (V) and every
    pack field of the table by name."""

    number: int
    soc: Optional[float]
    voltage: Optional[float]
    cells: Tuple[float, ...]
    fields: Mapping[str, Value] = _dc_field(hash=False)


@dataclass(frozen=True)
class Identity:
    """What detection found: the model the device-type register names (the table used), what
    the advertised name said, and whether the two agree."""

    model: Model
    protocol: str
    reported: str
    serial: int
    advertised: Optional[str]
    confirmed: bool


def _regs(registers: Registers) -> Dict[int, int]:
    return {int(a): int(v) for a, v in registers.items()}


def _values(readings: Sequence[Tuple[str, Any]]) -> Dict[str, Value]:
    return {str(n): (tuple(v) if isinstance(v, list) else v) for n, v in readings}


def _setting_text(value: SettingValue) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "nan"  # refused as setting_invalid
        return f"{value:.6f}".rstrip("0").rstrip(".")
    if isinstance(value, str):
        return value
    raise BluettiInvalidArgument(f"a setting is a bool, number or str, not {type(value).__name__}", name="setting_invalid")


def _field(d: Mapping[str, Any]) -> Field:
    settable_number = bool(d["settable"]) and d["type"] in ("uint16", "int16")
    lo, hi, scale = int(d["min"]), int(d["max"]), float(d["scale"])

    def eng(raw: int) -> float:
        return raw if scale == 1 else round(raw * scale, 6)
    return Field(name=str(d["name"]), mqtt_name=str(d["mqtt_name"]), address=int(d["address"]), type=str(d["type"]),
                 words=int(d["words"]), scale=scale, unit=str(d["unit"]), settable=bool(d["settable"]),
                 range=(eng(lo), eng(hi)) if settable_number else None,
                 raw_range=(lo, hi) if settable_number else None,
                 choices=types.MappingProxyType({str(k): int(v) for k, v in dict(d["choices"]).items()}),
                 component=str(d["component"]), device_class=str(d["device_class"]), state_class=str(d["state_class"]),
                 pack=bool(d["pack"]), role=str(d["role"]))


def _model(d: Mapping[str, Any]) -> Model:
    fields = [_field(f) for f in d["fields"]]
    return Model(name=str(d["model"]), protocol=str(d["protocol"]), verified=str(d["verified"]), sources=str(d["sources"]),
                 blocks=tuple((int(a), int(n)) for a, n in d["blocks"]),
                 fields=tuple(f for f in fields if not f.pack), pack_fields=tuple(f for f in fields if f.pack),
                 max_packs=int(d["max_packs"]), pack_selector=int(d["pack_selector"]),
                 pack_blocks=tuple((int(a), int(n)) for a, n in d["pack_blocks"]),
                 pack_settle=int(d["pack_settle_ms"]) / 1000.0)


_MODELS: Optional[Tuple[Model, ...]] = None


def models() -> Tuple[Model, ...]:
    """Every model of the table, in the order of docs/bluetti-models.md (each one the emulator
    can play too). Read-only objects built once from the C++ table."""
    global _MODELS
    if _MODELS is None:
        _MODELS = tuple(_model(d) for d in _b.model_table())
    return _MODELS


def model_names() -> List[str]:
    """The names of every model of the table."""
    return [m.name for m in models()]


def model(name: str) -> Model:
    """The model named ``name`` (case-insensitive). Raises BluettiInvalidArgument (model_unknown)."""
    for m in models():
        if m.name.lower() == str(name).lower():
            return m
    raise BluettiInvalidArgument(f"unknown BLUETTI model '{name}' ({', '.join(model_names())})", name="model_unknown")


def _as_model(m: Union[Model, str]) -> Model:
    return m if isinstance(m, Model) else model(m)


def model_from_advertised_name(name: str) -> Optional[Model]:
    """The model an advertised name announces ("AC1802524610159690" -> AC180), or None."""
    found = _b.model_from_advertised_name(str(name))
    return None if found is None else model(str(found))


#: The device-type registers detection reads: IoT V2 (110, 10 words), then IoT V1 (10, 11 words).
DETECT_READS: Tuple[Tuple[int, int], Tuple[int, int]] = ((int(_b.V2_TYPE_REGISTER), int(_b.V2_TYPE_WORDS)),
                                                         (int(_b.V1_TYPE_REGISTER), int(_b.V1_TYPE_WORDS)))


def identify(registers: Registers, advertised_name: str = "") -> Identity:
    """The model from the device-type registers (whatever of DETECT_READS was read), checked
    against the advertised name. Raises BluettiInvalidArgument (model_unknown) when the
    registers name no model of the table."""
    d = _b.model_identify(str(advertised_name or ""), _regs(registers))
    return Identity(model=model(str(d["model"])), protocol=str(d["protocol"]), reported=str(d["reported"]),
                    serial=int(d["serial"]), advertised=None if d["advertised"] is None else str(d["advertised"]),
                    confirmed=bool(d["confirmed"]))


def _pack_of(m: Model, number: int, fields: Mapping[str, Value]) -> Pack:
    def by_role(role: str) -> Optional[Value]:
        for f in m.pack_fields:
            if f.role == role and f.name in fields:
                return fields[f.name]
        return None
    soc, volts, cells = by_role("pack_soc"), by_role("pack_voltage"), by_role("pack_cells")
    return Pack(number=number, soc=float(soc) if isinstance(soc, (int, float)) else None,
                voltage=float(volts) if isinstance(volts, (int, float)) else None,
                cells=tuple(cells) if isinstance(cells, tuple) else (), fields=types.MappingProxyType(dict(fields)))


def _pack_count(m: Model, unit_fields: Mapping[str, Value]) -> int:
    """How many packs to page through: the unit's pack-count field when read, else max_packs."""
    if not m.pack_selector:
        return 1 if m.max_packs else 0
    for f in m.fields:
        if f.role == "pack_count" and isinstance(unit_fields.get(f.name), int):
            return max(0, min(int(cast(int, unit_fields[f.name])), m.max_packs))
    return m.max_packs


def _pack_selected(m: Model, fields: Mapping[str, Value]) -> Optional[int]:
    for f in m.pack_fields:
        v = fields.get(f.name)
        if f.role == "pack_selected" and isinstance(v, int) and not isinstance(v, bool):
            return v
    return None


# ---- reads as steps: one plan for the blocking Client and the asyncio BluettiDevice ----------
# A plan is a generator: it yields _Read (sent back: the values, or None when the unit answered a
# Modbus exception: a block this unit does not have), _Write and _Settle steps, and returns its
# result. Client._drive runs one over an exchange, blecrypt.ble's BluettiDevice over bleak.
@dataclass(frozen=True)
class _Read:
    address: int
    count: int


@dataclass(frozen=True)
class _Write:
    address: int
    value: int


@dataclass(frozen=True)
class _Settle:
    seconds: float


_Step = Union[_Read, _Write, _Settle]
_Plan = Generator[_Step, Optional[Sequence[int]], Any]


def _read_into(registers: Dict[int, int], address: int, count: int) -> Generator[_Step, Optional[Sequence[int]], None]:
    values = yield _Read(address, count)
    if values is not None:
        registers.update((address + i, int(v)) for i, v in enumerate(values))


def _detect_plan(advertised_name: str) -> _Plan:
    """Returns the Identity; raises BluettiInvalidArgument (model_unknown) when the device-type
    registers name no model of the table."""
    regs: Dict[int, int] = {}
    (a2, n2), (a1, n1) = DETECT_READS
    yield from _read_into(regs, a2, n2)
    try:
        return identify(regs, advertised_name)
    except BluettiInvalidArgument:
        yield from _read_into(regs, a1, n1)
    return identify(regs, advertised_name)


def _blocks_plan(m: Model, legacy: bool = False) -> _Plan:
    """Returns the registers of the model's poll blocks (with ``legacy``, also those of the nine
    bluetti_mqtt fields the blocks leave out)."""
    regs: Dict[int, int] = {}
    for a, n in m.blocks:
        yield from _read_into(regs, a, n)
    for a, n in m.legacy_requests() if legacy else ():
        if any(r not in regs for r in range(a, a + n)):
            yield from _read_into(regs, a, n)
    return regs


def _packs_plan(m: Model, settle: Optional[float]) -> _Plan:
    """Returns every battery pack: IoT V1 selects each pack, settles and reads the pack blocks;
    IoT V2 and single-pack units read the pack blocks once. Raises BluettiError
    (pack_out_of_range) when the unit still shows another pack after the settle."""
    unit: Dict[str, Value] = {}
    if m.pack_selector:
        regs: Dict[int, int] = {}
        for f in m.fields:
            if f.role == "pack_count":
                yield from _read_into(regs, f.address, f.words)
        unit = m.decode(regs)
    out: List[Pack] = []
    for number in range(1, _pack_count(m, unit) + 1):
        if m.pack_selector:
            address, value = m.select_pack(number)
            yield _Write(address, value)
            yield _Settle(m.pack_settle if settle is None else settle)
        pregs: Dict[int, int] = {}
        for a, n in m.pack_blocks:
            yield from _read_into(pregs, a, n)
        fields = m.decode_pack(pregs, number)
        shown = _pack_selected(m, fields)
        if m.pack_selector and shown is not None and shown != number:
            raise BluettiError(f"pack {number}: the unit still shows pack {shown}: give it longer to switch "
                               f"(settle=...)", name="pack_out_of_range")
        out.append(_pack_of(m, number, fields))
    return out


def _same_setting(m: Model, f: Field, written: int, read_back: int) -> bool:
    """A read-back confirms a write when it decodes to the same value (AC2P reads 3 for a 0)."""
    if written == read_back:
        return True
    a = m.decode({f.address: written}).get(f.name)
    b = m.decode({f.address: read_back}).get(f.name)
    return a is not None and a == b


def model_table() -> List[Dict[str, Any]]:
    """The table as plain dicts (fresh copies): per model its protocol ('v1'/'v2'), poll blocks
    and fields (name, mqtt_name, address, type, scale, unit, settable, min, max, choices, Home
    Assistant component/device_class/state_class, pack, role). ``models()`` has the same as typed
    objects; the CLI's `bluetti fields MODEL --json` lists the same fields."""
    return list(_b.model_table())


def classify_advertisement(ad: bytes) -> Dict[str, Any]:
    """Raw advertising data -> {'kind': 'encrypted'|'plaintext'|'not_bluetti', 'marker', 'name', ...}."""
    return dict(_b.classify_advertisement(bytes(ad)))


def _now(now: Optional[float]) -> float:
    return time.monotonic() if now is None else float(now)


@dataclass
class Telemetry:
    model: str
    serial: int
    soc_percent: int
    dc_input_w: int
    ac_input_w: int
    ac_output_w: int
    dc_output_w: int
    ac_output_on: bool
    dc_output_on: bool


# ---- client events (bluetti::events, include/blecrypt/bluetti/client.hpp) --------------------
# Made by the native binding from Client::Event; Client.events() returns them.

@dataclass(frozen=True, **SLOTS)
class ChallengeAnswered(Event):
    """The device's CHALLENGE arrived; the CHALLENGE_RESPONSE is queued."""


@dataclass(frozen=True, **SLOTS)
class ChallengeAccepted(Event):
    """CHALLENGE_ACCEPTED with status 0."""


@dataclass(frozen=True, **SLOTS)
class DeviceKeyVerified(Event):
    """The DEVICE_PUBKEY signature verified; CLIENT_PUBKEY is queued."""


@dataclass(frozen=True, **SLOTS)
class Established(Event):
    """PUBKEY_ACCEPTED: the session key is in use."""


@dataclass(frozen=True, **SLOTS)
class Data(Event):
    """A session record that answers no outstanding request (decrypted)."""
    plaintext: bytes


@dataclass(frozen=True, **SLOTS)
class Response(Event):
    """The answer to an outstanding Modbus request: ``function``/``address``/``count`` of the
    request, the register ``values`` read (empty for writes) or the Modbus ``exception`` code, and
    the decrypted record (``adu``)."""
    function: int
    address: int
    count: int
    values: Tuple[int, ...]
    exception: Optional[int]
    adu: bytes


@dataclass(frozen=True, **SLOTS)
class RequestFailed(Event):
    """A request got no valid answer (bad CRC, garbled, timeout, link down): ``error`` is the
    :class:`blecrypt.Error` (a :class:`BluettiError`) it would raise; ``adu`` the decrypted record
    when one arrived."""
    function: int
    address: int
    count: int
    error: Error
    adu: bytes


@dataclass(frozen=True, **SLOTS)
class Failed(Event):
    """The handshake failed: ``error`` (a :class:`BluettiError`) says why; the next connection retries."""
    error: Error


ClientEvent = Union[ChallengeAnswered, ChallengeAccepted, DeviceKeyVerified, Established, Data, Response,
                    RequestFailed, Failed]


class Device:
    """The device emulator: a BLUETTI unit that runs the ``**`` handshake and answers Modbus.

    ``signing_key`` is a 32-byte big-endian P-256 scalar (default: the documented test key,
    ``TEST_DEVICE_SIGNING_KEY``); clients verify with ``.verify_key``. ``registers`` maps addresses
    to a value or ``(value, writable)``. ``mtu=N`` splits notifications into N-3 byte pieces.
    """

    def __init__(self, signing_key: Optional[bytes] = None, model: str = "AC180", serial: Optional[int] = None,
                 registers: Optional[Dict[int, Union[int, Tuple[int, bool]]]] = None, mtu: Optional[int] = None,
                 iot_serial: Optional[int] = None, backend: str = "", seed: Optional[int] = None):
        if mtu is not None and mtu < 4:
            raise BluettiInvalidArgument("mtu must be at least 4 (payload = mtu - 3)")
        self._d = _b.DeviceEngine(None if signing_key is None else bytes(signing_key), model, backend, seed)
        if serial is not None or iot_serial is not None:
            self._d.set_serials(self._d.serial if serial is None else int(serial),
                                self._d.iot_serial if iot_serial is None else int(iot_serial))
        for address, spec in (registers or {}).items():
            value, writable = spec if isinstance(spec, tuple) else (spec, False)
            self._d.define_register(int(address), int(value), bool(writable))
        self.mtu = mtu

    verify_key = property(lambda self: self._d.verify_key, doc="64-byte X||Y public key of the signing key")
    model = property(lambda self: self._d.model)
    protocol = property(lambda self: self._d.protocol, doc="'v2' (IoT V2) or 'v1'")
    serial = property(lambda self: self._d.serial)
    iot_serial = property(lambda self: self._d.iot_serial)
    established = property(lambda self: self._d.established)
    state = property(lambda self: self._d.state)
    failure = property(lambda self: self._d.failure)

    def register(self, address: int) -> Optional[int]:
        return cast(Optional[int], self._d.get_register(address))

    def _drain(self) -> List[bytes]:
        out: List[bytes] = []
        while True:
            t = self._d.poll_transmit()
            if t is None:
                return out
            if self.mtu is None:
                out.append(t)
            else:
                n = self.mtu - 3
                out.extend(t[i:i + n] for i in range(0, len(t), n))

    def connect(self, now: Optional[float] = None) -> List[bytes]:
        """Notifications sent when the client subscribes (the challenge)."""
        self._d.on_link_up(_now(now))
        return self._drain()

    def receive(self, write: bytes, now: Optional[float] = None) -> List[bytes]:
        """Notifications answering one client write (which may be a fragment)."""
        self._d.feed(bytes(write), _now(now))
        return self._drain()

    def next_deadline(self) -> Optional[float]:
        return cast(Optional[float], self._d.next_deadline())

    def on_deadline(self, now: Optional[float] = None) -> List[bytes]:
        """Fire timers (challenge repeats, timeouts); returns notifications to send."""
        self._d.on_deadline(_now(now))
        return self._drain()

    def reset(self) -> None:
        self._d.reset()


class Client:
    """The client engine: feeds on notifications, produces writes.

    ``device_verify_key`` (64 bytes X||Y) checks the device's signature: default K2 (real units);
    pass ``Device.verify_key`` for the emulator.
    """

    def __init__(self, device_verify_key: Optional[bytes] = None, backend: str = "", seed: Optional[int] = None):
        self._c = _b.ClientEngine(None if device_verify_key is None else bytes(device_verify_key), backend, seed)
        self._started = False
        self._events: List[ClientEvent] = []

    ready = property(lambda self: self._c.established, doc="True once the session key is in use")
    state = property(lambda self: self._c.state)
    failure = property(lambda self: self._c.failure)

    def _writes(self) -> List[bytes]:
        out: List[bytes] = []
        while True:
            t = self._c.poll_transmit()
            if t is None:
                return out
            out.append(t)

    def _collect_events(self) -> None:
        while True:
            e = self._c.poll_event()
            if e is None:
                return
            self._events.append(e)

    def receive(self, notification: bytes, now: Optional[float] = None) -> List[bytes]:
        """Writes to send in answer to one notification. Raises BluettiError if the handshake fails."""
        now = _now(now)
        if not self._started:
            self._c.on_link_up(now)
            self._started = True
        self._c.feed(bytes(notification), now)
        self._collect_events()
        if self._c.failed:
            raise self._c.failure_error
        return self._writes()

    def events(self) -> List[ClientEvent]:
        """Events since the last call, oldest first (handshake steps, responses, unsolicited data,
        failures): the dataclasses above, see docs/python.md "Events"."""
        out, self._events = self._events, []
        return out

    def reset(self) -> None:
        """Wipes every key and IV; the next notification must be a new challenge."""
        self._c.reset()
        self._started = False
        self._events = []

    def next_deadline(self) -> Optional[float]:
        return cast(Optional[float], self._c.next_deadline())

    def on_deadline(self, now: Optional[float] = None) -> None:
        self._c.on_deadline(_now(now))
        self._collect_events()

    def connect(self, notifications: Iterable[bytes], exchange: Exchange, now: Optional[float] = None) -> None:
        """Runs the handshake: ``notifications`` are the first ones (``Device.connect()``)."""
        queue = list(notifications)
        while queue and not self.ready:
            for w in self.receive(queue.pop(0), now):
                queue.extend(exchange(w))
        if not self.ready:
            raise BluettiHandshakeError(f"handshake incomplete: {self.state}")

    # ---- requests: the C++ request layer (bluetti::Requests) does the work ----------------
    def _run(self, job: int, exchange: Exchange, now: Optional[float], what: str) -> Dict[str, Any]:
        """Carries the job's writes through ``exchange`` until the job completes. When nothing
        is left to send and no answer came, the outstanding request is let time out (its
        deadline is fired): the request layer then reads an unechoed write back."""
        for _ in range(10000):
            done = self._c.take_completion(job)
            if done is not None:
                if done["kind"] != "failed":
                    return cast(Dict[str, Any], done)
                error = done["error_object"]
                if done["exception"] is not None:
                    error.exception = done["exception"]
                    raise error.with_message(f"Modbus exception {done['exception']} for {what}")
                raise error.with_message(f"{what} failed: {done['error']}")
            writes = self._writes()
            if writes:
                while writes:  # an answer may queue the job's next request: send it too
                    for n in exchange(writes.pop(0)):
                        writes.extend(self.receive(n, now))
                continue
            deadline = self._c.next_deadline()
            if deadline is None:
                break
            self._c.on_deadline(deadline)
            self._collect_events()
        raise BluettiTimeoutError(f"no answer from the device for {what}", name="timeout")

    def read_registers(self, address: int, count: int, exchange: Exchange, now: Optional[float] = None) -> List[int]:
        job = self._c.request_read(address, count, _now(now))
        return list(self._run(job, exchange, now, f"register {address}")["values"])

    def write_register(self, address: int, value: int, exchange: Exchange, now: Optional[float] = None) -> None:
        """FC06. Without an echo (EL30V2 reportedly sends none) the write is confirmed by reading
        the register back; a value that did not take raises BluettiError."""
        job = self._c.request_write(address, value, _now(now))
        self._run(job, exchange, now, f"write of {value} to register {address}")

    def write_registers(self, address: int, values: List[int], exchange: Exchange, now: Optional[float] = None) -> None:
        job = self._c.request_write_many(address, [int(v) for v in values], _now(now))
        self._run(job, exchange, now, f"register {address}")

    def iot_serial(self, exchange: Exchange, now: Optional[float] = None) -> int:
        w = self.read_registers(IOT_SERIAL_REGISTER, 4, exchange, now)
        return w[0] | (w[1] << 16) | (w[2] << 32) | (w[3] << 48)

    def detect_protocol(self, exchange: Exchange, now: Optional[float] = None) -> str:
        """'v2' (IoT V2: registers 110.. name the model) or 'v1'."""
        return str(self._run(self._c.request_detect(_now(now)), exchange, now, "protocol detection")["protocol"])

    def telemetry(self, exchange: Exchange, protocol: Optional[str] = None, now: Optional[float] = None) -> Telemetry:
        done = self._run(self._c.request_telemetry(protocol or "", _now(now)), exchange, now, "telemetry")
        return _telemetry(done["telemetry"])

    def telemetry_fields(self, exchange: Exchange, protocol: Optional[str] = None, now: Optional[float] = None) -> Dict[str, Any]:
        """Telemetry with bluetti_mqtt's field names (device_type, serial_number,
        total_battery_percent, ac_output_power, dc_output_power, ac_input_power, dc_input_power,
        ac_output_on, dc_output_on)."""
        return dict(self._run(self._c.request_telemetry(protocol or "", _now(now)), exchange, now, "telemetry")["telemetry"])

    def set_output(self, output: str, on: bool, exchange: Exchange, protocol: Optional[str] = None,
                   now: Optional[float] = None) -> None:
        """Switch the 'ac' or 'dc' output on or off."""
        job = self._c.request_output(output, bool(on), protocol or "", _now(now))
        self._run(job, exchange, now, f"{output} output")

    # ---- the model table: every field, every setting, battery packs -----------------------
    def _drive(self, plan: _Plan, exchange: Exchange, now: Optional[float],
               sleep: Callable[[float], None] = time.sleep) -> Any:
        """Runs a read plan over ``exchange``; its result."""
        reply: Optional[Sequence[int]] = None
        try:
            while True:
                step = plan.send(reply)
                reply = None
                if isinstance(step, _Read):
                    try:
                        reply = self.read_registers(step.address, step.count, exchange, now)
                    except ModbusError as e:
                        if e.exception is None:
                            raise
                elif isinstance(step, _Write):
                    self.write_register(step.address, step.value, exchange, now)
                else:
                    sleep(step.seconds)
        except StopIteration as done:
            return done.value

    def identify(self, exchange: Exchange, advertised_name: str = "", now: Optional[float] = None) -> Identity:
        """The model: the device-type register (IoT V2 at 110, else IoT V1 at 10), checked
        against ``advertised_name``. Raises BluettiInvalidArgument (model_unknown)."""
        return cast(Identity, self._drive(_detect_plan(advertised_name), exchange, now))

    def read_fields(self, model: Union[Model, str], exchange: Exchange, now: Optional[float] = None) -> Dict[str, Value]:
        """One refresh of every field of ``model`` (its poll blocks; a block the unit refuses
        leaves its fields out), by field name."""
        m = _as_model(model)
        return m.decode(self._drive(_blocks_plan(m), exchange, now))

    def set(self, model: Union[Model, str], field: str, value: SettingValue, exchange: Exchange,
            now: Optional[float] = None) -> None:
        """Sets a settable field (name or bluetti_mqtt name): range-checked before anything is
        written (BluettiInvalidArgument), then written (FC06) and read back (BluettiError
        write_not_confirmed when the unit kept another value)."""
        m = _as_model(model)
        address, raw = m.encode_setting(field, value)
        f = next(x for x in m.fields if x.address == address and x.settable)
        self.write_register(address, raw, exchange, now)
        got = self.read_registers(address, 1, exchange, now)[0]
        if not _same_setting(m, f, raw, got):
            raise BluettiError(f"{f.name}: wrote {raw} to register {address}, read back {got}", name="write_not_confirmed")

    def packs(self, model: Union[Model, str], exchange: Exchange, settle: Optional[float] = None,
              sleep: Callable[[float], None] = time.sleep, now: Optional[float] = None) -> List[Pack]:
        """Every battery pack: IoT V1 selects each pack (register ``pack_selector``), waits
        ``settle`` seconds (default: the model's ``pack_settle``, via ``sleep``) and reads the
        pack blocks; IoT V2 and single-pack units read the pack blocks once."""
        return cast(List[Pack], self._drive(_packs_plan(_as_model(model), settle), exchange, now, sleep))


def _telemetry(fields: Dict[str, Any]) -> Telemetry:
    return Telemetry(model=fields["device_type"], serial=fields["serial_number"],
                     soc_percent=fields["total_battery_percent"], dc_input_w=fields["dc_input_power"],
                     ac_input_w=fields["ac_input_power"], ac_output_w=fields["ac_output_power"],
                     dc_output_w=fields["dc_output_power"], ac_output_on=fields["ac_output_on"],
                     dc_output_on=fields["dc_output_on"])


__all__ = ["Client", "Device", "Telemetry", "ChallengeAnswered", "ChallengeAccepted", "DeviceKeyVerified",
           "Established", "Data", "Response", "RequestFailed", "Failed", "ClientEvent", "BluettiCrypt", "BluettiError", "BluettiHandshakeError",
           "BluettiAuthenticationError", "BluettiInvalidArgument", "BluettiTimeoutError", "ModbusError", "LicenceError", "K2", "L1_PUBLIC_KEY",
           "TEST_DEVICE_SIGNING_KEY", "TEST_DEVICE_VERIFY_KEY", "IOT_SERIAL_REGISTER", "crc16", "models", "model_table",
           "classify_advertisement", "Model", "Field", "Pack", "Identity", "Value", "SettingValue", "model",
           "model_names", "model_from_advertised_name", "identify", "DETECT_READS"]
