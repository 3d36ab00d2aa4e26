"""A bleak-shaped client whose peer is one of blecrypt's emulators, for tests and benchmarks
without a radio or D-Bus.

    from blecrypt.ble import BluettiDevice
    from blecrypt.ble.testing import FakeBleakClient, EmulatedBluetti

    peer = EmulatedBluetti("AC180")
    async with BluettiDevice("C4:DE:E2:11:22:33", device_verify_key=peer.verify_key,
                             client=FakeBleakClient(peer, mtu=23)) as dev:
        print(await dev.read_telemetry())

It behaves as bleak does where the session depends on it: notifications arrive later on the
loop (never inside the write that caused them), split to MTU - 3; a write longer than MTU - 3
without response is refused like BlueZ refuses it; ``drop()`` loses the link (pending and later
writes fail, the disconnect callback runs on the loop).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from blecrypt import bluetti as _bluetti
from blecrypt import sesame as _sesame

from .bluetti import NOTIFY_CHARACTERISTIC as BLUETTI_NOTIFY
from .bluetti import SERVICE_UUID as BLUETTI_SERVICE
from .bluetti import WRITE_CHARACTERISTIC as BLUETTI_WRITE
from .sesame import NOTIFY_CHARACTERISTIC as SESAME_NOTIFY
from .sesame import SERVICE_UUID as SESAME_SERVICE
from .sesame import WRITE_CHARACTERISTIC as SESAME_WRITE


class Peripheral:
    """The device side: what a fake client talks to."""

    service = ""
    write_uuid = ""
    notify_uuid = ""

    def link_up(self, now: float) -> None: ...

    def link_down(self) -> None: ...

    def subscribe(self, now: float) -> List[bytes]:
        return []

    def write(self, data: bytes, now: float) -> List[bytes]:
        return []

    def next_deadline(self) -> Optional[float]:
        return None

    def on_deadline(self, now: float) -> List[bytes]:
        return []


class EmulatedBluetti(Peripheral):
    """A BLUETTI power station (blecrypt.bluetti.Device): any model of the table
    (blecrypt.bluetti.model_names())."""

    service, write_uuid, notify_uuid = BLUETTI_SERVICE, BLUETTI_WRITE, BLUETTI_NOTIFY

    def __init__(self, model: str = "AC180", *, seed: Optional[int] = None, **kw: Any) -> None:
        self.device = _bluetti.Device(model=model, seed=seed, **kw)

    @property
    def verify_key(self) -> bytes:
        key: bytes = self.device.verify_key
        return key

    def link_up(self, now: float) -> None:
        self.device.reset()

    def link_down(self) -> None:
        self.device.reset()

    def subscribe(self, now: float) -> List[bytes]:
        return list(self.device.connect(now))

    def write(self, data: bytes, now: float) -> List[bytes]:
        return list(self.device.receive(data, now))

    def next_deadline(self) -> Optional[float]:
        d: Optional[float] = self.device.next_deadline()
        return d

    def on_deadline(self, now: float) -> List[bytes]:
        return list(self.device.on_deadline(now))


class EmulatedSesame(Peripheral):
    """A SESAME 5 lock (blecrypt.sesame.Device); ``secret`` makes it registered already."""

    service, write_uuid, notify_uuid = SESAME_SERVICE, SESAME_WRITE, SESAME_NOTIFY

    def __init__(self, model: int = 5, *, secret: Optional[bytes] = None, uuid: Optional[bytes] = None,
                 seed: Optional[int] = None) -> None:
        self.device = _sesame.Device(model=model, uuid=uuid or bytes(range(16)), secret=secret, seed=seed)
        self._t0: Optional[float] = None
        self._t = 0.0

    def _advance(self, now: float) -> List[bytes]:
        if self._t0 is None:
            self._t0 = now
        t = now - self._t0
        if t <= self._t:
            return []
        out = list(self.device.advance(t - self._t))
        self._t = t
        return out

    def link_down(self) -> None:
        self.device.disconnect()

    def subscribe(self, now: float) -> List[bytes]:
        out = self._advance(now)
        return out + list(self.device.connect(self._t))

    def write(self, data: bytes, now: float) -> List[bytes]:
        out = self._advance(now)
        return out + list(self.device.receive(data, self._t))

    def next_deadline(self) -> Optional[float]:
        d = self.device._dev.next_deadline()
        if d is None or self._t0 is None:
            return None
        return float(d) + self._t0

    def on_deadline(self, now: float) -> List[bytes]:
        return self._advance(now)

    def turn_by_hand(self, position: int) -> List[bytes]:
        return list(self.device.turn_by_hand(position))


@dataclass
class FakeCharacteristic:
    uuid: str
    properties: List[str]
    max_write_without_response_size: int


class FakeServices:
    def __init__(self, chars: Dict[str, FakeCharacteristic]) -> None:
        self.characteristics = chars

    def get_characteristic(self, uuid: Any) -> Optional[FakeCharacteristic]:
        return self.characteristics.get(str(uuid).lower())


class FakeBleakClient:
    """The BleakClient API blecrypt.ble uses, over an emulator. ``writes`` records every
    (characteristic, data, response) the session wrote."""

    def __init__(self, peer: Peripheral, *, mtu: int = 23, address: str = "00:00:00:00:00:00",
                 disconnected_callback: Optional[Callable[[Any], None]] = None,
                 connected: bool = False) -> None:
        self.peer = peer
        self.address = address
        self._mtu = mtu
        self._cb = disconnected_callback
        self._connected = False
        self._notify: Optional[Callable[[Any, bytearray], None]] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self.writes: List[Tuple[str, bytes, bool]] = []
        self.notifications = 0
        self.connects = 0
        self.silent = False   # swallow writes, answer nothing (a device that went quiet)
        self.drop_after_writes: Optional[int] = None
        n = mtu - 3
        self.services = FakeServices({
            peer.write_uuid: FakeCharacteristic(peer.write_uuid, ["write", "write-without-response"], n),
            peer.notify_uuid: FakeCharacteristic(peer.notify_uuid, ["notify"], n),
        })
        if connected:
            self._link_up()

    # ---- bleak API ------------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self._connected

    @property
    def mtu_size(self) -> int:
        return self._mtu

    async def connect(self, **kwargs: Any) -> bool:
        await asyncio.sleep(0)
        self._link_up()
        return True

    async def disconnect(self) -> bool:
        await asyncio.sleep(0)
        self._link_down(notify=True)
        return True

    async def start_notify(self, char_specifier: Any, callback: Any, **kwargs: Any) -> None:
        self._need()
        if str(char_specifier).lower() != self.peer.notify_uuid:
            raise RuntimeError(f"characteristic {char_specifier} does not notify")
        self._notify = callback
        await asyncio.sleep(0)
        self._send(self.peer.subscribe(self._now()))

    async def stop_notify(self, char_specifier: Any) -> None:
        self._need()
        self._notify = None

    async def write_gatt_char(self, char_specifier: Any, data: Any, response: bool = False) -> None:
        self._need()
        data = bytes(data)
        if str(char_specifier).lower() != self.peer.write_uuid:
            raise RuntimeError(f"characteristic {char_specifier} is not writable")
        if len(data) > self._mtu - 3:
            raise RuntimeError(f"write of {len(data)} bytes on MTU {self._mtu}: Failed to initiate write")
        self.writes.append((str(char_specifier), data, bool(response)))
        if response:
            await asyncio.sleep(0)   # the ATT write response
            self._need()
        if self.drop_after_writes is not None:
            self.drop_after_writes -= 1
            if self.drop_after_writes <= 0:
                self.drop_after_writes = None
                self.drop()
                return
        if not self.silent:
            self._send(self.peer.write(data, self._now()))

    # ---- test controls --------------------------------------------------------------------
    def drop(self) -> None:
        """The link is lost now (the radio or the peer): disconnect callback on the loop."""
        self._link_down(notify=True)

    def push(self, messages: List[bytes]) -> None:
        """Notifications the peer sends by itself (e.g. ``EmulatedSesame.turn_by_hand``)."""
        self._send(messages)

    def fire_disconnected_callback(self) -> None:
        """Run this client's disconnect callback now, whatever the link state (a late callback)."""
        if self._cb is not None:
            self._cb(self)

    # ---- internals ------------------------------------------------------------------------
    def _now(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:  # made connected outside a loop: the default loop's clock
            return time.monotonic()

    def _need(self) -> None:
        if not self._connected:
            raise EOFError("Not connected")   # what bleak's BlueZ backend raises on a dead bus

    def _link_up(self) -> None:
        if self._connected:
            return
        self._connected = True
        self.connects += 1
        self.peer.link_up(self._now())

    def _link_down(self, notify: bool) -> None:
        if not self._connected:
            return
        self._connected = False
        self._notify = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.peer.link_down()
        if notify and self._cb is not None:
            asyncio.get_running_loop().call_soon(self._cb, self)

    def _send(self, messages: List[bytes]) -> None:
        loop = asyncio.get_running_loop()
        n = self._mtu - 3
        for m in messages:
            for off in range(0, max(len(m), 1), n):
                loop.call_soon(self._deliver, m[off:off + n])
        self._arm()

    def _deliver(self, chunk: bytes) -> None:
        if self._connected and self._notify is not None and not self.silent:
            self.notifications += 1
            self._notify(self.services.get_characteristic(self.peer.notify_uuid), bytearray(chunk))

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        d = self.peer.next_deadline() if self._connected else None
        if d is not None:
            self._timer = asyncio.get_running_loop().call_at(d, self._deadline)

    def _deadline(self) -> None:
        self._timer = None
        if self._connected:
            self._send(self.peer.on_deadline(self._now()))


def factory(peer: Peripheral, *, mtu: int = 23) -> Tuple[Callable[[Any, Callable[[Any], None]], Any],
                                                        List[FakeBleakClient]]:
    """A client factory (like Home Assistant's establish_connection) making a new connected fake
    client per call; the list collects every client it made."""
    made: List[FakeBleakClient] = []

    async def make(device: Any, disconnected: Callable[[Any], None]) -> FakeBleakClient:
        c = FakeBleakClient(peer, mtu=mtu, address=str(getattr(device, "address", device)),
                            disconnected_callback=disconnected)
        await c.connect()
        made.append(c)
        return c
    return make, made


__all__ = ["FakeBleakClient", "EmulatedBluetti", "EmulatedSesame", "Peripheral", "factory"]
