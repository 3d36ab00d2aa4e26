"""Drop-in replacement for BLUETTI's closed ``bluetti_crypt`` module (see docs/bluetti.md).

Same names as the official module, on any platform blecrypt builds on::

    import bluetti_crypt
    c = bluetti_crypt.BluettiCrypt()                 # or BluettiCrypt(device_verify_key, licence_path)
    resp, status = c.ble_crypt_link_handler(notification)
    if resp: write_ff02(resp)
    if status == 3: write_ff02(c.encrypt_data(read_11006_x4))   # its reply goes back to the handler -> 4
    plain = c.decrypt_data(notification)                          # only after status 4

Statuses: 0 challenge stage, 1 device key arriving or rejected, 2 signed client key returned,
3 session up and serial check pending, 4 complete. Failures return b"" and ``last_error()`` says why.
The device verification key (64 bytes X||Y) defaults to the environment variable
BLECRYPT_BLUETTI_DEVICE_KEY (128 hex digits), else K2. The licence is
``bluetti_device_licence.csv`` in the working directory (optional; open format) or ``licence_path``.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple, Union, cast

from blecrypt import _native as _native_mod

_Native: Any = _native_mod.bluetti.BluettiCrypt


def _as_bytes(data: Union[bytes, bytearray, memoryview, str]) -> bytes:
    if isinstance(data, str):
        return data.encode("latin-1")
    return bytes(data)


class BluettiCrypt:
    """The official module's class: ``ble_crypt_link_handler``, ``encrypt_data``, ``decrypt_data``."""

    def __init__(self, device_verify_key: Optional[bytes] = None, licence_path: Optional[str] = None) -> None:
        self._c = _Native(None if device_verify_key is None else bytes(device_verify_key),
                          None if licence_path is None else str(licence_path))

    def ble_crypt_link_handler(self, data: bytes) -> Tuple[bytes, int]:
        resp, status = self._c.ble_crypt_link_handler(_as_bytes(data))
        return resp, status

    def encrypt_data(self, data: bytes) -> bytes:
        return bytes(self._c.encrypt_data(_as_bytes(data)))

    def decrypt_data(self, data: bytes) -> bytes:
        return bytes(self._c.decrypt_data(_as_bytes(data)))

    def get_software_version(self) -> str:
        return str(self._c.get_software_version())

    # Not in the official module.
    def last_error(self) -> str:
        return str(self._c.last_error())

    @property
    def status(self) -> int:
        return int(self._c.status)

    @property
    def iot_serial(self) -> Optional[int]:
        return cast(Optional[int], self._c.iot_serial)

    def reset(self) -> None:
        """Back to status 0 with every key wiped (call on disconnect)."""
        self._c.reset()


__all__ = ["BluettiCrypt"]
