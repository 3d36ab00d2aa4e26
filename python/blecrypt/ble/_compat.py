"""The few places where bleak releases differ, in one file.

Checked against Debian's python3-bleak 0.20.2 (the one the tests run) and the current bleak API
(0.21 .. 1.x) as documented:

* ATT MTU. bleak 0.20's BlueZ backend returns a default 23 from ``BleakClient.mtu_size`` (with a
  warning) unless ``_acquire_mtu()`` ran, but fills each characteristic's
  ``max_write_without_response_size`` from BlueZ's ``MTU`` property (BlueZ >= 5.62) at service
  discovery. Later releases (and Home Assistant's proxy clients) report ``mtu_size`` properly, and
  from 0.21 on ``max_write_without_response_size`` may follow the MTU as it changes. The payload
  is the larger of what the two say (each is a lower bound of the truth): never a call to
  ``_acquire_mtu()``, whose AcquireWrite would keep BlueZ from accepting WriteValue for a moment.
* ``BleakClient(..., disconnected_callback=)`` exists in both; ``set_disconnected_callback`` is
  deprecated in 0.20 and gone later, so it is never used.
* ``write_gatt_char(response=...)``: a bool in 0.20, ``Optional[bool]`` later; always passed.
* Importing bleak is deferred: ``blecrypt.ble`` works without it when the caller supplies a client.
"""

from __future__ import annotations

import asyncio
import warnings
import weakref
from typing import Any, Callable, Optional, Tuple

DEFAULT_ATT_MTU = 23


def bleak_version() -> Tuple[int, ...]:
    """(major, minor, ...) of the installed bleak, () when it is not installed."""
    try:
        from importlib.metadata import version
        text = version("bleak")
    except Exception:  # not installed, or installed without metadata
        return ()
    parts = []
    for p in text.split("."):
        digits = "".join(ch for ch in p if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def require_bleak() -> Any:
    """The bleak module, or a clear error when it is missing."""
    try:
        import bleak
    except ImportError as e:  # pragma: no cover - depends on the machine
        from .errors import BleError
        raise BleError("bleak is not installed: apt-get install python3-bleak (or pip install bleak), "
                       "or pass a connected client with client=") from e
    return bleak


def _int_or_none(value: Any) -> Optional[int]:
    if callable(value):  # some backends expose it as a method
        try:
            value = value()
        except Exception:
            return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def reported_mtu(client: Any) -> Optional[int]:
    """``client.mtu_size`` unless the backend only guesses it (bleak 0.20 BlueZ without
    ``_acquire_mtu``: it warns and returns 23)."""
    backend = getattr(client, "_backend", None)
    if backend is not None and hasattr(backend, "_mtu_size") and getattr(backend, "_mtu_size") is None:
        return None  # bleak's BlueZ backend has not learnt the MTU: its 23 is a default, not a fact
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _int_or_none(getattr(client, "mtu_size", None))
        except Exception:
            return None


def att_payload(client: Any, characteristic: Any) -> int:
    """Bytes per ATT write / notification on this link: MTU - 3 (at least 20)."""
    sizes = [DEFAULT_ATT_MTU - 3]
    mtu = reported_mtu(client)
    if mtu is not None and mtu > 3:
        sizes.append(mtu - 3)
    if characteristic is not None:
        mw = _int_or_none(getattr(characteristic, "max_write_without_response_size", None))
        if mw is not None:
            sizes.append(mw)
    return min(max(sizes), 512)  # an attribute value is at most 512 bytes (Core Vol 3 Part F 3.2.9)


def get_characteristic(client: Any, uuid: str) -> Any:
    """The characteristic object for ``uuid`` from the client's resolved services, or None."""
    services = getattr(client, "services", None)
    if services is None:
        return None
    try:
        return services.get_characteristic(uuid)
    except Exception:
        return None


_scan_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = weakref.WeakKeyDictionary()


async def resolve_device(device: Any, timeout: float) -> Any:
    """A BLEDevice for an address. bleak scans when a BleakClient gets a bare address, and two
    such scans at once on one bus fail (BlueZ: "InProgress"), so the scans of this loop take turns."""
    if not isinstance(device, str):
        return device
    bleak = require_bleak()
    loop = asyncio.get_running_loop()
    lock = _scan_locks.get(loop)
    if lock is None:
        lock = _scan_locks[loop] = asyncio.Lock()
    async with lock:
        found = await bleak.BleakScanner.find_device_by_address(device, timeout=timeout)
    if found is None:
        from .errors import DeviceNotFoundError
        raise DeviceNotFoundError(f"{device} was not found in a {timeout:g} s scan: is it in range, powered, and "
                                  f"not connected to another phone or hub?")
    return found


def make_client(device: Any, disconnected: Callable[[Any], None], timeout: float) -> Any:
    """A new bleak.BleakClient for a BLEDevice (or an address: then bleak scans itself)."""
    bleak = require_bleak()
    return bleak.BleakClient(device, disconnected_callback=disconnected, timeout=timeout)


def is_bleak_error(e: BaseException) -> bool:
    """True for bleak's own exceptions (BleakError and its subclasses, BleakDBusError...)."""
    try:
        from bleak.exc import BleakError
    except ImportError:
        return False
    return isinstance(e, BleakError)
