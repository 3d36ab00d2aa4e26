"""asyncio + bleak: BLUETTI power stations and SESAME 5 locks from Python and Home Assistant.

    import asyncio
    from blecrypt.ble import BluettiDevice

    async def main() -> None:
        async with BluettiDevice("C4:DE:E2:11:22:33") as dev:
            print(await dev.read_telemetry())

    asyncio.run(main())

The C++ engines do the protocol work (handshake, encryption, requests, timeouts); this package
moves their bytes over a bleak client on the running event loop. docs/python.md has the guide.
"""

from .bluetti import BluettiDevice, Identity, Pack, Telemetry
from .errors import (BleError, CommandError, DeviceNotFoundError, HandshakeError, InvalidArgument, KeyFormatError,
                     LicenceError,
                     NotConnectedError, TimeoutError, WriteNotConfirmed)
from .scan import Advertisement, scan
from .sesame import LockStatus, SesameLock
from ._session import ClientFactory, GattClient

__all__ = [
    "BluettiDevice", "Telemetry", "Pack", "Identity", "SesameLock", "LockStatus", "scan", "Advertisement", "GattClient", "ClientFactory",
    "BleError", "NotConnectedError", "DeviceNotFoundError", "HandshakeError", "TimeoutError", "CommandError",
    "WriteNotConfirmed", "LicenceError", "InvalidArgument", "KeyFormatError",
]
