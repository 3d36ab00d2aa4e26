"""The one module of the BlueZ mock that touches blecrypt's emulators (Python API of today).

The mock (bluez_mock.py) sees a peripheral only through the small shape below, so when the
emulators' Python API changes only this file follows:

    p = make_peripheral(kind, model, address, options)
    p.name, p.manufacturer_data {company: bytes}, p.service_data {uuid: bytes}, p.service_uuids,
    p.gatt            [(service_uuid, [(char_uuid, [flags...])...])...]
    p.link_up(now) / p.link_down()                      connection events
    p.subscribe(char_uuid, now) -> [(char_uuid, bytes)]  CCCD written (StartNotify / AcquireNotify)
    p.unsubscribe(char_uuid)
    p.write(char_uuid, data, now) -> [(char_uuid, bytes)]
    p.read(char_uuid) -> bytes
    p.next_deadline() -> float | None                   monotonic seconds, same clock as `now`
    p.on_deadline(now) -> [(char_uuid, bytes)]
    p.state() -> {str: bool|int|str}                    for tests (GetEmulatorState)

Notifications are whole emulator messages; the mock splits them to MTU - 3.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Dict, List, Optional, Tuple

Out = List[Tuple[str, bytes]]


def uuid16(short: int) -> str:
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


# docs/specs/bluetti.md §1-2
BLUETTI_SERVICE = uuid16(0xFF00)
BLUETTI_NOTIFY = uuid16(0xFF01)
BLUETTI_WRITE = uuid16(0xFF02)
BLUETTI_COMPANY = 0x4C42
BLUETTI_MARKER_ENCRYPTED = b"BLUETTF"

# docs/specs/sesame.md §2-3
SESAME_SERVICE = uuid16(0xFD81)
SESAME_WRITE = "16860002-a5ae-9856-b6d3-dbb4c676993e"
SESAME_NOTIFY = "16860003-a5ae-9856-b6d3-dbb4c676993e"
SESAME_MODELS = {"5": 5, "SESAME5": 5, "5PRO": 7, "SESAME5PRO": 7, "5US": 16, "SESAME5US": 16}


def parse_ad(ad: bytes) -> Dict[int, List[bytes]]:
    """AD structures (len, type, data...) -> {type: [data, ...]}; stops at a malformed one."""
    out: Dict[int, List[bytes]] = {}
    i = 0
    while i < len(ad):
        n = ad[i]
        if n == 0 or i + 1 + n > len(ad):
            break
        out.setdefault(ad[i + 1], []).append(bytes(ad[i + 2:i + 1 + n]))
        i += 1 + n
    return out


class BluettiPeripheral:
    """A BLUETTI power station (blecrypt.bluetti.Device) behind service FF00."""

    def __init__(self, model: str, address: str, options: dict):
        from blecrypt import bluetti
        kw = {"model": model}
        if "seed" in options:
            kw["seed"] = int(options["seed"])
        self.dev = bluetti.Device(**kw)   # mtu=None: whole frames; the mock splits to MTU - 3
        self.name = str(options.get("name", f"{self.dev.model}{self.dev.serial}"))
        self.manufacturer_data = {BLUETTI_COMPANY: BLUETTI_MARKER_ENCRYPTED}
        self.service_data: Dict[str, bytes] = {}
        self.service_uuids = [BLUETTI_SERVICE]
        # Flags: FF02 offers both write kinds (ESPHome writes with response, others without).
        self.gatt = [(BLUETTI_SERVICE, [(BLUETTI_NOTIFY, ["notify"]),
                                        (BLUETTI_WRITE, ["write-without-response", "write"])])]
        self.subscribed = False

    def link_up(self, now: float) -> None:
        self.dev.reset()

    def link_down(self) -> None:
        self.subscribed = False
        self.dev.reset()

    def subscribe(self, char: str, now: float) -> Out:
        if char != BLUETTI_NOTIFY or self.subscribed:
            return []
        self.subscribed = True
        return [(BLUETTI_NOTIFY, n) for n in self.dev.connect(now)]

    def unsubscribe(self, char: str) -> None:
        if char == BLUETTI_NOTIFY:
            self.subscribed = False

    def write(self, char: str, data: bytes, now: float) -> Out:
        if char != BLUETTI_WRITE:
            return []
        return [(BLUETTI_NOTIFY, n) for n in self.dev.receive(data, now)]

    def read(self, char: str) -> bytes:
        return b""

    def next_deadline(self) -> Optional[float]:
        return self.dev.next_deadline() if self.subscribed else None

    def on_deadline(self, now: float) -> Out:
        return [(BLUETTI_NOTIFY, n) for n in self.dev.on_deadline(now)]

    def state(self) -> dict:
        # pack_registers: the model's battery-pack blocks as the unit holds them now (JSON
        # {"address": value}; the selected pack on paging units), for the gateway's pack tests.
        from blecrypt import bluetti
        regs = {}
        for a, n in bluetti.model(self.dev.model).pack_blocks:
            for r in range(a, a + n):
                v = self.dev.register(r)
                if v is not None:
                    regs[str(r)] = int(v)
        return {"kind": "bluetti", "model": self.dev.model, "state": str(self.dev.state),
                "established": bool(self.dev.established), "serial": str(self.dev.serial),
                "iot_serial": str(self.dev.iot_serial), "verify_key": self.dev.verify_key.hex(),
                "pack_registers": json.dumps(regs)}


class _SesameGatt:
    """What the SESAME peripherals share: service FD81 (write + notify), the subscription, the
    mock time of the emulator's t = 0, and the link events."""

    def _init_gatt(self) -> None:
        self.gatt = [(SESAME_SERVICE, [(SESAME_WRITE, ["write-without-response", "write"]),
                                       (SESAME_NOTIFY, ["notify"])])]
        self.subscribed = False
        self.clock: Optional[float] = None   # mock time of the emulator's t = 0

    def _t(self, now: float) -> float:
        if self.clock is None:
            self.clock = now
        return max(0.0, now - self.clock)

    def link_up(self, now: float) -> None:
        self.subscribed = False

    def link_down(self) -> None:
        self.subscribed = False
        self.dev.disconnect()

    def unsubscribe(self, char: str) -> None:
        if char == SESAME_NOTIFY:
            self.subscribed = False

    def read(self, char: str) -> bytes:
        return b""


class SesamePeripheral(_SesameGatt):
    """A SESAME 5 lock (blecrypt.sesame.Device) behind service FD81; its clock is virtual and
    advanced to the mock's monotonic time on every event."""

    TICK = 0.05   # the Python Device exposes no deadline: poll its clock while connected

    def __init__(self, model: str, address: str, options: dict):
        from blecrypt import sesame
        number = SESAME_MODELS.get(str(model).upper().replace(" ", "").replace("_", ""), None)
        if number is None:
            number = int(model)
        uuid = options.get("uuid")
        if uuid is None:   # stable per address, so a restarted mock shows the same lock
            uuid = hashlib.sha256(b"blecrypt bluez mock " + address.encode()).digest()[:16]
        elif isinstance(uuid, str):
            uuid = bytes.fromhex(uuid.replace("-", ""))
        kw = {}
        if "seed" in options:
            kw["seed"] = int(options["seed"])
        secret = options.get("secret")
        self.dev = sesame.Device(model=number, uuid=bytes(uuid), secret=None if secret is None else bytes(secret),
                                 **kw)
        ad = parse_ad(self.dev.advertisement())
        self.manufacturer_data = {}
        for md in ad.get(0xFF, []):
            if len(md) >= 2:
                self.manufacturer_data[md[0] | (md[1] << 8)] = md[2:]
        self.service_uuids = [uuid16(u[i] | (u[i + 1] << 8)) for u in ad.get(0x03, []) + ad.get(0x02, [])
                              for i in range(0, len(u) - 1, 2)]
        self.service_data = {}
        # Scan response name: the first 22 characters of base64(UUID) (spec §3).
        self.name = str(options.get("name", base64.b64encode(bytes(uuid)).decode()[:22]))
        self._init_gatt()
        self.emu_t = 0.0                      # the emulator's virtual time

    def _advance(self, now: float) -> Out:
        t = self._t(now)
        if t <= self.emu_t:
            return []
        out = [(SESAME_NOTIFY, n) for n in self.dev.advance(t - self.emu_t)]
        self.emu_t = t
        return out

    def subscribe(self, char: str, now: float) -> Out:
        if char != SESAME_NOTIFY or self.subscribed:
            return []
        self.subscribed = True
        out = self._advance(now)
        return out + [(SESAME_NOTIFY, n) for n in self.dev.connect(self.emu_t)]

    def write(self, char: str, data: bytes, now: float) -> Out:
        if char != SESAME_WRITE:
            return []
        out = self._advance(now)
        return out + [(SESAME_NOTIFY, n) for n in self.dev.receive(data, self.emu_t)]

    def next_deadline(self) -> Optional[float]:
        if not self.subscribed or self.clock is None:
            return None
        return self.clock + self.emu_t + self.TICK

    def on_deadline(self, now: float) -> Out:
        return self._advance(now)

    def refresh_advertisement(self) -> None:
        ad = parse_ad(self.dev.advertisement())
        for md in ad.get(0xFF, []):
            if len(md) >= 2:
                self.manufacturer_data[md[0] | (md[1] << 8)] = md[2:]

    def state(self) -> dict:
        st = self.dev.status
        return {"kind": "sesame", "registered": bool(self.dev.registered), "logged_in": bool(self.dev.logged_in),
                "locked": bool(st.locked), "unlocked": bool(st.unlocked),
                "secret": (self.dev.secret or b"").hex()}


SESAME_OS2_MODELS = {"3": 0, "SESAME3": 0, "BOT": 2, "BOT1": 2, "BIKE": 3, "BIKE1": 3, "4": 4, "SESAME4": 4}


class SesameOs2Peripheral(_SesameGatt):
    """An OS2 device (blecrypt.sesame.Os2Device: SESAME 3 / 4, bot 1, Bike 1) behind service FD81.
    options: secret (16 bytes, required: the emulator's key pair derives from it), key_index,
    uuid, seed. Its share URI (what the owner's QR code holds) is in state()["share_uri"]."""

    def __init__(self, model: str, address: str, options: dict):
        from blecrypt import sesame
        key = str(model).upper().replace(" ", "").replace("_", "")
        number = SESAME_OS2_MODELS.get(key, None)
        if number is None:
            number = int(model)
        uuid = options.get("uuid")
        if uuid is None:
            uuid = hashlib.sha256(b"blecrypt bluez mock " + address.encode()).digest()[:16]
        kw = {}
        if "seed" in options:
            kw["seed"] = int(options["seed"])
        self.dev = sesame.Os2Device(model=number, secret=bytes(options["secret"]), uuid=bytes(uuid),
                                    key_index=int(options.get("key_index", 0)), **kw)
        self.share_uri = self.dev.share_key(0, str(options.get("key_name", "mock")))
        # Manufacturer data 0x055A: model u16 LE, then "registered" (enough for a scan to see a SESAME).
        self.manufacturer_data = {0x055A: bytes([number, 0, 1])}
        self.service_uuids = [SESAME_SERVICE]
        self.service_data: Dict[str, bytes] = {}
        self.name = str(options.get("name", base64.b64encode(bytes(uuid)).decode()[:22]))
        self._init_gatt()

    def subscribe(self, char: str, now: float) -> Out:
        if char != SESAME_NOTIFY or self.subscribed:
            return []
        self.subscribed = True
        return [(SESAME_NOTIFY, n) for n in self.dev.connect(self._t(now))]

    def write(self, char: str, data: bytes, now: float) -> Out:
        if char != SESAME_WRITE:
            return []
        return [(SESAME_NOTIFY, n) for n in self.dev.receive(data, self._t(now))]

    def next_deadline(self) -> Optional[float]:
        return None   # the OS2 emulator moves at once: nothing timed

    def on_deadline(self, now: float) -> Out:
        return []

    def state(self) -> dict:
        st = self.dev.status
        return {"kind": "sesame_os2", "model": self.dev.model, "logged_in": bool(self.dev.logged_in),
                "locked": bool(st.locked), "unlocked": bool(st.unlocked), "share_uri": self.share_uri,
                "history": len(self.dev.history)}


def make_peripheral(kind: str, model: str, address: str, options: dict):
    kind = kind.lower()
    if kind == "bluetti":
        return BluettiPeripheral(model or "AC180", address, options)
    if kind == "sesame":
        return SesamePeripheral(model or "5", address, options)
    if kind == "sesame_os2":
        return SesameOs2Peripheral(model or "4", address, options)
    raise ValueError(f"unknown emulator kind {kind!r} (bluetti, sesame, sesame_os2)")
