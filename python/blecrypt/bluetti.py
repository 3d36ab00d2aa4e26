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

import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union, cast

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


def models() -> List[str]:
    """Models the emulator can play: every model of the table (docs/bluetti-models.md)."""
    return list(_b.models())


def model_table() -> List[Dict[str, Any]]:
    """The BLUETTI model table, read-only copies: per model its protocol ('v1'/'v2'), poll blocks
    and fields (name, mqtt_name, address, type, scale, unit, settable, min, max, choices, Home
    Assistant component/device_class/state_class, pack). The CLI's `bluetti fields MODEL --json`
    lists the same fields."""
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
           "classify_advertisement"]
