"""What is near: a bleak scan, each advertisement run through the project's classifiers
(BLUETTI: encrypted / plaintext firmware; SESAME: model, registered, UUID)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from blecrypt import bluetti as _bluetti
from blecrypt import sesame as _sesame

from . import _compat
from ..errors import Error
from .errors import BleError


@dataclass
class Advertisement:
    address: str
    name: str
    rssi: Optional[int]
    kind: str                      # "bluetti", "sesame" or "other"
    details: Dict[str, Any] = field(default_factory=dict)
    device: Any = None             # the bleak BLEDevice: pass it to BluettiDevice / SesameLock

    def describe(self) -> str:
        d = self.details
        if self.kind == "bluetti":
            what = f"BLUETTI {d.get('link', '?')} firmware"
        elif self.kind == "sesame":
            what = (f"{d.get('model_name', 'SESAME ?')}, "
                    f"{'registered' if d.get('registered') else 'not registered'}, uuid {d.get('uuid', '?')}")
        else:
            what = "other"
        rssi = "" if self.rssi is None else f" {self.rssi} dBm"
        return f"{self.address}{rssi}  {self.name or '-'}  {what}"


def _uuid16(uuid: str) -> Optional[int]:
    u = uuid.lower()
    if len(u) == 36 and u.startswith("0000") and u.endswith("-0000-1000-8000-00805f9b34fb"):
        return int(u[4:8], 16)
    return None


def raw_advertisement(name: Optional[str], manufacturer_data: Dict[int, bytes], service_uuids: List[str]) -> bytes:
    """The AD structures a scanner reassembles from bleak's parsed AdvertisementData."""
    out = bytearray()

    def put(kind: int, data: bytes) -> None:
        data = data[:253]
        out.extend(bytes([len(data) + 1, kind]) + data)
    short = [u for u in (_uuid16(s) for s in service_uuids) if u is not None]
    if short:
        put(0x03, b"".join(u.to_bytes(2, "little") for u in short))
    for company, data in manufacturer_data.items():
        put(0xFF, int(company).to_bytes(2, "little") + bytes(data))
    if name:
        put(0x09, name.encode("utf-8", "replace"))
    return bytes(out)


def classify(address: str, name: Optional[str], rssi: Optional[int], manufacturer_data: Dict[int, bytes],
             service_uuids: List[str], device: Any = None) -> Advertisement:
    """One advertisement -> Advertisement(kind=bluetti/sesame/other, details)."""
    raw = raw_advertisement(name, manufacturer_data, service_uuids)
    ad = Advertisement(address=address, name=name or "", rssi=rssi, kind="other", device=device)
    try:
        b = _bluetti.classify_advertisement(raw)
        if b["kind"] != "not_bluetti":
            ad.kind = "bluetti"
            ad.details = {"link": b["kind"], "marker": b["marker"], "company_id": b["company_id"]}
            return ad
    except (ValueError, Error):
        pass
    try:
        ad.details = dict(_sesame.parse_advertisement(raw))
        ad.kind = "sesame"
    except (ValueError, Error):
        ad.details = {}
    return ad


async def scan(timeout: float = 5.0, *, all_devices: bool = False, **scanner_kwargs: Any) -> List[Advertisement]:
    """Scans for ``timeout`` seconds with bleak; returns BLUETTI and SESAME devices (every device
    with ``all_devices``), strongest first. Extra keyword arguments go to ``bleak.BleakScanner``."""
    bleak = _compat.require_bleak()
    seen: Dict[str, Advertisement] = {}

    def found(device: Any, adv: Any) -> None:
        seen[device.address] = classify(device.address, adv.local_name or device.name, adv.rssi,
                                        dict(adv.manufacturer_data), list(adv.service_uuids), device)
    try:
        async with bleak.BleakScanner(found, **scanner_kwargs):
            await asyncio.sleep(timeout)  # the scan window itself, not a protocol wait
    except Exception as e:
        if _compat.is_bleak_error(e):
            raise BleError(f"scan failed: {e} (is bluetoothd running and the adapter powered on?)") from e
        if isinstance(e, OSError):   # also ConnectionError: no system D-Bus to reach BlueZ on
            raise BleError(f"scan failed: cannot reach BlueZ on the system D-Bus ({e}): is bluetoothd "
                           f"running? (systemctl status bluetooth)") from e
        raise
    out = [a for a in seen.values() if all_devices or a.kind != "other"]
    out.sort(key=lambda a: -(a.rssi if a.rssi is not None else -999))
    return out


__all__ = ["Advertisement", "scan", "classify", "raw_advertisement"]
