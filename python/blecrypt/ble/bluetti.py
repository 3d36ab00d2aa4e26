"""BLUETTI power stations over bleak: the encrypted handshake, telemetry, registers, outputs."""

from __future__ import annotations

import asyncio
import logging
import os
import types
from dataclasses import dataclass, field as _dc_field
from typing import Any, Callable, Dict, List, Mapping, Optional, Union, cast


from .. import bluetti as _table
from .. import errors as _core_errors
from ..bluetti import Identity, Model, Pack, SettingValue, Value
from ._native import native as _native
from ._keys import KeyLike, key_bytes
from ._session import ClientArg, Session
from .errors import BleError, CommandError, HandshakeError, InvalidArgument, KeyFormatError, LicenceError, \
    NotConnectedError, TimeoutError, WriteNotConfirmed

log = logging.getLogger("blecrypt.ble")

_b = _native.bluetti

SERVICE_UUID = "0000ff00-0000-1000-8000-00805f9b34fb"
WRITE_CHARACTERISTIC = "0000ff02-0000-1000-8000-00805f9b34fb"
NOTIFY_CHARACTERISTIC = "0000ff01-0000-1000-8000-00805f9b34fb"
IOT_SERIAL_REGISTER: int = _b.IOT_SERIAL_REGISTER
DEVICE_KEY_ENV: str = _b.DEVICE_KEY_ENV


_LEGACY_KEYS = ("device_type", "serial_number", "total_battery_percent", "dc_input_power", "ac_input_power",
                "ac_output_power", "dc_output_power", "ac_output_on", "dc_output_on")


@dataclass(frozen=True)
class Telemetry:
    """One telemetry refresh: nine fields with the names bluetti_mqtt publishes (as ever), and
    ``fields``: every field of the model's table that the unit answered, by table field name
    (``blecrypt.bluetti.model(name).fields`` says unit, range and choices of each)."""

    device_type: str
    serial_number: int
    total_battery_percent: int
    dc_input_power: int
    ac_input_power: int
    ac_output_power: int
    dc_output_power: int
    ac_output_on: bool
    dc_output_on: bool
    protocol: str = "v2"  # the register layout: "v2" (IoT V2) or "v1"
    model: str = ""       # the table used ("" when the unit named no model of the table)
    fields: Mapping[str, Value] = _dc_field(default_factory=lambda: types.MappingProxyType({}), hash=False)

    def as_dict(self) -> Dict[str, Any]:
        """The nine bluetti_mqtt fields and ``protocol``: the same keys as before the table."""
        d: Dict[str, Any] = {k: getattr(self, k) for k in _LEGACY_KEYS}
        d["protocol"] = self.protocol
        return d


TelemetryCallback = Callable[[Telemetry], None]


def _verify_key(value: Optional[KeyLike]) -> Optional[bytes]:
    if value is None:
        env = os.environ.get(DEVICE_KEY_ENV)
        if not env:
            return None  # K2: what real units sign with
        value = env
    raw = key_bytes(value, (64, 65), "BLUETTI device_verify_key")
    if len(raw) == 65:
        if raw[0] != 4:
            raise KeyFormatError("BLUETTI device_verify_key: 65 bytes must start with 04 (uncompressed point)")
        raw = raw[1:]
    return raw


class BluettiDevice(Session):
    """A BLUETTI power station, encrypted or not-yet-encrypted firmware alike.

    ``device``: a bleak ``BLEDevice`` or an address. ``device_verify_key``: the unit's public key
    (64 bytes X||Y or 128 hex digits; default ``$BLECRYPT_BLUETTI_DEVICE_KEY``, then BLUETTI's K2
    that real units use). ``licence_path``: an open-format licence file (docs/bluetti.md); when
    given, the unit's IoT serial must be listed in it. ``client``: a connected bleak client, or a
    factory ``async (device, disconnected_callback) -> client`` (Home Assistant's
    ``establish_connection``); default: a ``bleak.BleakClient`` of our own.

        async with BluettiDevice("C4:DE:E2:11:22:33") as dev:
            t = await dev.read_telemetry()
    """

    SERVICE = SERVICE_UUID
    WRITE = WRITE_CHARACTERISTIC
    NOTIFY = NOTIFY_CHARACTERISTIC
    WITH_RESPONSE = True  # BLUETTI writes FF02 with response (bluetti::kGattProfile)
    KIND = "BLUETTI"

    def __init__(self, device: Any, *, device_verify_key: Optional[KeyLike] = None,
                 licence_path: Optional[Union[str, "os.PathLike[str]"]] = None, client: ClientArg = None,
                 backend: str = "", model: Optional[str] = None) -> None:
        super().__init__(device, client)
        self._model: Optional[Model] = None
        self._identity: Optional[Identity] = None
        self._detected = False   # detection ran (a unit naming no model of the table: legacy telemetry only)
        if model is not None:
            try:
                self._model = _table.model(model)
            except _core_errors.Error as e:
                raise InvalidArgument(f"BluettiDevice: {e}") from None
            self._detected = True
        self._key = _verify_key(device_verify_key)
        self._licence = os.fspath(licence_path) if licence_path is not None else None
        try:
            self._engine = _b.ClientEngine(self._key, backend, None)
        except _core_errors.Error as e:  # not a point on P-256, unknown crypto backend
            raise KeyFormatError(f"BLUETTI: {e}") from None
        self._jobs: Dict[int, "asyncio.Future[Dict[str, Any]]"] = {}
        self._established: Optional["asyncio.Future[None]"] = None
        self._telemetry_callbacks: List[TelemetryCallback] = []
        self._last: Optional[Telemetry] = None
        self._poll_every: Optional[float] = None
        self._poll_timer: Optional[asyncio.TimerHandle] = None
        self._poll_task: Optional["asyncio.Task[None]"] = None
        self.iot_serial: Optional[int] = None

    # ---- engine hooks ---------------------------------------------------------------------
    def _engine_start(self, now: float) -> None:
        self._engine.reset()
        self._engine.on_link_up(now)

    def _engine_feed(self, data: bytes, now: float) -> None:
        error = self._engine.feed(data, now)
        if error:
            log.debug("%s: notification refused: %s", self.address, error)

    def _engine_stop(self) -> None:
        self._engine.on_link_down()

    def _engine_deadline(self, now: float) -> None:
        self._engine.on_deadline(now)

    def _engine_next_deadline(self) -> Optional[float]:
        d: Optional[float] = self._engine.next_deadline()
        return d

    def _engine_transmit(self) -> List[bytes]:
        out: List[bytes] = []
        while True:
            t = self._engine.poll_transmit()
            if t is None:
                return out
            out.append(bytes(t))

    def _ready(self) -> bool:
        return bool(self._engine.established)

    def _dispatch(self) -> None:
        while self._engine.poll_event() is not None:
            pass  # handshake steps and unsolicited records: the state below is what counts
        est = self._established
        if est is not None and not est.done():
            if self._engine.established:
                est.set_result(None)
            elif self._engine.failed:
                est.set_exception(HandshakeError(
                    f"BLUETTI {self.address}: handshake failed: {self._engine.failure} "
                    f"(wrong device_verify_key? real units need none, the emulator its own)"))
        for job, fut in list(self._jobs.items()):
            done = self._engine.take_completion(job)
            if done is None:
                continue
            del self._jobs[job]
            if not fut.done():  # a cancelled caller: the result is dropped, the session goes on
                fut.set_result(dict(done))

    async def _establish(self) -> None:
        self._established = self._future()
        self._dispatch()
        await self._established
        if self._licence is not None:
            await self._check_licence()
        log.info("%s: BLUETTI session established (ATT payload %d)", self.address, self._payload)
        self._start_polling()

    def _after_link_lost(self) -> None:
        self._stop_polling()

    async def _check_licence(self) -> None:
        try:
            allowed = set(_native.bluetti_licence_serials(self._licence))
        except _core_errors.LicenceError as e:
            raise LicenceError(f"BLUETTI licence: {e}") from None
        w = await self.read_registers(IOT_SERIAL_REGISTER, 4)
        serial = w[0] | (w[1] << 16) | (w[2] << 32) | (w[3] << 48)
        self.iot_serial = serial
        if serial not in allowed:
            raise LicenceError(f"BLUETTI {self.address}: IoT serial {serial} is not listed in {self._licence}: "
                               f"add it (one serial per line) if this unit is yours")

    # ---- requests -------------------------------------------------------------------------
    async def _job(self, start: Callable[[float], int], what: str) -> Dict[str, Any]:
        self._need_link(what)
        if not self._engine.established:
            raise NotConnectedError(f"BLUETTI {self.address}: the session is not established yet")
        try:
            job = start(self._now())
        except _core_errors.Error as e:
            raise BleError(f"BLUETTI {what}: {e}") from None
        fut: "asyncio.Future[Dict[str, Any]]" = self._future()
        self._jobs[job] = fut
        self._pump()
        done = await fut
        if done["kind"] == "failed":
            error = str(done["error"])
            if done.get("exception") is not None:
                raise CommandError(f"BLUETTI {self.address}: {what}: the unit answered Modbus exception "
                                   f"{done['exception']} (illegal address or value for this model?)",
                                   int(done["exception"]))
            if done.get("not_confirmed"):
                raise WriteNotConfirmed(f"BLUETTI {self.address}: {what}: {error}")
            if "timed out" in error or "timeout" in error or "no answer" in error:
                raise TimeoutError(f"BLUETTI {self.address}: {what}: no answer in time ({error}); "
                                   f"the link may be weak: retry")
            if not self._up:
                raise NotConnectedError(f"BLUETTI {self.address}: {what}: link lost ({error}); reconnect")
            raise CommandError(f"BLUETTI {self.address}: {what} failed: {error}")
        return done

    async def read_registers(self, address: int, count: int = 1) -> List[int]:
        """FC03: ``count`` holding registers from ``address`` (1..125)."""
        if not 0 <= address <= 0xFFFF or not 1 <= count <= 125:
            raise InvalidArgument("read_registers: address 0..65535, count 1..125")
        done = await self._job(lambda now: int(self._engine.request_read(address, count, now)),
                               f"read of {count} register(s) at {address}")
        return [int(v) for v in done["values"]]

    async def write_register(self, address: int, value: int) -> None:
        """FC06, then the register is read back: raises WriteNotConfirmed when it did not take."""
        if not 0 <= address <= 0xFFFF or not 0 <= value <= 0xFFFF:
            raise InvalidArgument("write_register: address and value 0..65535")
        done = await self._job(lambda now: int(self._engine.request_write(address, value, now)),
                               f"write of {value} to register {address}")
        await self._confirm(int(done["address"]), value, bool(done.get("read_back")), f"register {address}")

    async def _confirm(self, address: int, value: int, already: bool, what: str) -> None:
        if already:
            return  # the request layer confirmed it by reading back (no echo came)
        got = (await self.read_registers(address, 1))[0]
        if got != value:
            raise WriteNotConfirmed(f"BLUETTI {self.address}: {what}: wrote {value}, read back {got} "
                                    f"(the unit refused the value: out of range, or locked by its own settings)",
                                    got)

    async def set_output(self, *, ac: Optional[bool] = None, dc: Optional[bool] = None) -> None:
        """Switch the AC and/or DC output; each switch is confirmed by reading its register back."""
        if ac is None and dc is None:
            raise InvalidArgument("set_output: give ac=True/False and/or dc=True/False")
        for name, on in (("ac", ac), ("dc", dc)):
            if on is None:
                continue
            def start(now: float, n: str = name, o: bool = bool(on)) -> int:
                return int(self._engine.request_output(n, o, "", now))
            done = await self._job(start, f"{name.upper()} output {'on' if on else 'off'}")
            await self._confirm(int(done["address"]), int(done["value"]), bool(done.get("read_back")),
                                f"{name.upper()} output")

    # ---- the model table -------------------------------------------------------------------
    @property
    def model(self) -> Optional[Model]:
        """The table this object uses: the ``model=`` argument, else what ``detect()`` found
        (None before detection, or when the unit named no model of the table)."""
        return self._model

    @property
    def identity(self) -> Optional[Identity]:
        """What ``detect()`` found (None before, or with ``model=``)."""
        return self._identity

    async def _drive(self, plan: Any) -> Any:
        """Runs one of the table's read plans (blecrypt.bluetti) over this link: FC03 reads (a
        Modbus exception answers None: a block this unit does not have), FC06 writes, settles."""
        reply = None
        try:
            while True:
                step = plan.send(reply)
                reply = None
                if isinstance(step, _table._Read):
                    try:
                        reply = await self.read_registers(step.address, step.count)
                    except WriteNotConfirmed:
                        raise
                    except CommandError as e:
                        if e.code is None:
                            raise
                elif isinstance(step, _table._Write):
                    await self.write_register(step.address, step.value)
                else:
                    await asyncio.sleep(step.seconds)
        except StopIteration as done:
            return done.value

    def _advertised_name(self) -> str:
        name = getattr(self._device, "name", None)
        return name if isinstance(name, str) else ""

    async def detect(self, advertised_name: Optional[str] = None) -> Identity:
        """Which model this is: the device-type register (IoT V2 at 110, else IoT V1 at 10),
        confirmed against the advertised name (``advertised_name``, default the bleak
        BLEDevice's name). Sets ``model``. Raises CommandError when the registers name no model
        of the table (``blecrypt bluetti dump`` reads such a unit's map for contributing it)."""
        advertised = self._advertised_name() if advertised_name is None else advertised_name
        try:
            ident = cast(Identity, await self._drive(_table._detect_plan(advertised)))
        except _core_errors.BluettiInvalidArgument as e:  # model_unknown, from the table
            self._detected = True
            raise CommandError(f"BLUETTI {self.address}: {e}; `blecrypt bluetti models` lists the known "
                               f"models") from None
        self._identity, self._model, self._detected = ident, ident.model, True
        if ident.advertised is not None and not ident.confirmed:
            log.warning("%s: advertised as %s but the device-type register says %s: using the %s table",
                        self.address, ident.advertised, ident.reported, ident.model.name)
        return ident

    async def _table_model(self) -> Optional[Model]:
        if not self._detected:
            try:
                await self.detect()
            except CommandError as e:
                if e.code is not None:
                    raise
                log.info("%s: %s: telemetry without the table", self.address, e)
        return self._model

    async def _need_model(self, what: str) -> Model:
        m = await self._table_model()
        if m is None:
            raise CommandError(f"BLUETTI {self.address}: {what}: the unit named no model of the table; "
                               f"pass model= (blecrypt.bluetti.model_names())")
        return m

    async def set(self, field: str, value: SettingValue) -> None:
        """Sets a settable field of the model's table (its name or bluetti_mqtt name): switches
        take True/False or "on"/"off", selects a choice name, numbers a value in the field's
        unit. The range is checked before anything is written (InvalidArgument); the register is
        read back after the write (WriteNotConfirmed when the unit kept another value)."""
        m = await self._need_model(f"set {field}")
        try:
            address, raw = m.encode_setting(field, value)
        except _core_errors.Error as e:
            raise InvalidArgument(f"BLUETTI {m.name}: {e}") from None
        f = next(x for x in m.fields if x.address == address and x.settable)
        done = await self._job(lambda now: int(self._engine.request_write(address, raw, now)),
                               f"{f.name} = {value!r} (register {address})")
        got = int(done["value"]) if done.get("read_back") else (await self.read_registers(address, 1))[0]
        if not _table._same_setting(m, f, raw, got):
            raise WriteNotConfirmed(f"BLUETTI {self.address}: {f.name}: wrote {raw}, read back {got} (the unit "
                                    f"refused the value: locked by its own settings?)", got)

    async def packs(self, settle: Optional[float] = None) -> List[Pack]:
        """Every battery pack of the unit with its SOC, voltage and cell voltages. IoT V1: each
        pack is selected (a write to the model's selector register), then after ``settle``
        seconds (default the model's ``pack_settle``; real units need seconds to switch the
        page) its blocks are read; IoT V2 and single-pack units: the pack blocks are read once.
        An empty list when the table has no pack data for the model."""
        m = await self._need_model("packs")
        try:
            return cast(List[Pack], await self._drive(_table._packs_plan(m, settle)))
        except _core_errors.BluettiError as e:  # pack_out_of_range, from the table
            if isinstance(e, BleError):
                raise
            raise CommandError(f"BLUETTI {self.address}: {e}") from None

    async def read_telemetry(self) -> Telemetry:
        """One refresh: the model's poll blocks (every field of its table) plus the nine
        bluetti_mqtt fields. The model is detected once (``detect()``); a unit that names no
        model of the table gets the nine fields only, as before the table."""
        m = await self._table_model()
        if m is None:
            done = await self._job(lambda now: int(self._engine.request_telemetry("", now)), "telemetry")
            t = Telemetry(protocol=str(done["protocol"]), **dict(done["telemetry"]))
        else:
            t = await self._table_telemetry(m)
        self._last = t
        for cb in list(self._telemetry_callbacks):
            try:
                cb(t)
            except Exception:  # a subscriber's bug must not break the session
                log.exception("%s: on_telemetry callback failed", self.address)
        return t

    async def _table_telemetry(self, m: Model) -> Telemetry:
        regs = await self._drive(_table._blocks_plan(m, legacy=True))
        legacy = m.legacy_telemetry(regs)
        fields = m.decode(regs)
        if legacy is None:  # the nine from the table's roles (the unit refused a legacy block)
            legacy = _legacy_from_roles(m, fields)
        return Telemetry(protocol=m.protocol, model=m.name, fields=types.MappingProxyType(fields), **legacy)

    @property
    def telemetry(self) -> Optional[Telemetry]:
        """The last telemetry read on this object (None before the first)."""
        return self._last

    # ---- persistent connections -----------------------------------------------------------
    def on_telemetry(self, callback: TelemetryCallback, every: Optional[float] = None) -> Callable[[], None]:
        """``callback(telemetry)`` after every refresh. With ``every`` (seconds) the device also
        refreshes by itself while connected (a ``loop.call_at`` timer; it resumes after a
        reconnect). Returns a function that unsubscribes."""
        if every is not None and every <= 0:
            raise InvalidArgument("on_telemetry: every must be > 0 seconds")
        self._telemetry_callbacks.append(callback)
        if every is not None:
            self._poll_every = float(every) if self._poll_every is None else min(self._poll_every, float(every))
            if self.connected:
                self._start_polling()

        def remove() -> None:
            if callback in self._telemetry_callbacks:
                self._telemetry_callbacks.remove(callback)
            if not self._telemetry_callbacks:
                self._poll_every = None
                self._stop_polling()
        return remove

    def _start_polling(self) -> None:
        self._stop_polling()
        if self._poll_every is not None and self._up:
            self._poll_timer = self._get_loop().call_at(self._now(), self._poll, self._gen)

    def _stop_polling(self) -> None:
        if self._poll_timer is not None:
            self._poll_timer.cancel()
            self._poll_timer = None

    def _poll(self, gen: int) -> None:
        self._poll_timer = None
        if gen != self._gen or not self._up or self._poll_every is None:
            return
        if self._poll_task is None or self._poll_task.done():
            self._poll_task = self._get_loop().create_task(self._poll_once())
        self._poll_timer = self._get_loop().call_at(self._now() + self._poll_every, self._poll, gen)

    async def _poll_once(self) -> None:
        try:
            await self.read_telemetry()
        except BleError as e:
            log.info("%s: telemetry refresh failed: %s", self.address, e)

    async def close(self) -> None:
        self._stop_polling()
        task, self._poll_task = self._poll_task, None
        await super().close()
        if task is not None and not task.done():
            task.cancel()


_ROLE_OF_LEGACY = {"device_type": ("model_name",), "serial_number": ("serial",), "total_battery_percent": ("soc",),
                   "dc_input_power": ("dc_input_power",), "ac_input_power": ("ac_input_power",),
                   "ac_output_power": ("ac_output_power",), "dc_output_power": ("dc_output_power",),
                   "ac_output_on": ("ac_state", "ac_switch"), "dc_output_on": ("dc_state", "dc_switch")}


def _legacy_from_roles(m: Model, fields: Mapping[str, Value]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, roles in _ROLE_OF_LEGACY.items():
        found: Any = None
        for role in roles:
            for f in m.fields:
                if found is None and f.role == role and f.name in fields:
                    found = fields[f.name]
        if found is None:
            found = "" if key == "device_type" else False if key.endswith("_on") else 0
        out[key] = found
    return out


__all__ = ["BluettiDevice", "Telemetry", "Pack", "Identity", "Model", "SERVICE_UUID", "WRITE_CHARACTERISTIC", "NOTIFY_CHARACTERISTIC"]
