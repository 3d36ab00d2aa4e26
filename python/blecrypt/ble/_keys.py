"""Keys and secrets as users have them: bytes, or the hex strings SESAME and BLUETTI tools print,
or a private key file."""

from __future__ import annotations

import errno
import os
import stat
from typing import Optional, Tuple, Union

from ..errors import Error
from .errors import KeyFormatError

KeyLike = Union[bytes, bytearray, memoryview, str]

MAX_KEY_FILE = 4096

# The locks this package drives: SESAME 5, 5 Pro, 5 US (sesame::is_os3_lock, src/sesame/advertisement.cpp).
OS3_LOCK_MODELS = (5, 7, 16)


def key_bytes(value: KeyLike, sizes: Tuple[int, ...], what: str) -> bytes:
    """bytes (any buffer) or hex text (spaces, colons, dashes and a 0x prefix allowed) -> bytes
    of one of the allowed sizes."""
    if isinstance(value, str):
        text = value.strip()
        if text[:2].lower() == "0x":
            text = text[2:]
        for sep in (" ", ":", "-", "\n", "\t"):
            text = text.replace(sep, "")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise KeyFormatError(f"{what}: not hex digits (expected {' or '.join(str(2 * s) for s in sizes)} "
                                 f"hex digits or bytes)") from None
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    else:
        raise KeyFormatError(f"{what}: expected bytes or a hex string, got {type(value).__name__}")
    if len(raw) not in sizes:
        raise KeyFormatError(f"{what}: {len(raw)} bytes, expected {' or '.join(str(s) for s in sizes)}")
    return raw


def read_private_file(path: Union[str, "os.PathLike[str]"], what: str) -> str:
    """The text of a small key file that only its owner can read (no symlink, regular file,
    at most 4 KiB, no group/other permissions)."""
    path = os.path.expanduser(os.fspath(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        hint = " (a symbolic link is refused)" if e.errno == errno.ELOOP else ""
        raise KeyFormatError(f"{what} {path!r}: {e.strerror}{hint}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyFormatError(f"{what} {os.fspath(path)!r}: not a regular file")
        if st.st_mode & 0o077:
            raise KeyFormatError(f"{what} {os.fspath(path)!r} is readable by group or others "
                                 f"(mode {stat.S_IMODE(st.st_mode):04o}): chmod 600 it")
        if st.st_size > MAX_KEY_FILE:
            raise KeyFormatError(f"{what} {os.fspath(path)!r}: {st.st_size} bytes, at most {MAX_KEY_FILE}")
        data = os.read(fd, MAX_KEY_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_FILE:
        raise KeyFormatError(f"{what} {os.fspath(path)!r}: larger than {MAX_KEY_FILE} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyFormatError(f"{what} {os.fspath(path)!r}: not text (hex digits or a share URI)") from None


def sesame_secret(secret: Optional[KeyLike], qr: Optional[str],
                  key_file: Optional[Union[str, "os.PathLike[str]"]]) -> Optional[bytes]:
    """The 16-byte device secret from exactly one of: secret (bytes / 32 hex digits), qr (the
    ``ssm://UI?...`` share URI the app shows as a QR code), key_file (a private file holding either)."""
    given = [n for n, v in (("secret", secret), ("qr", qr), ("key_file", key_file)) if v is not None]
    if len(given) > 1:
        raise KeyFormatError(f"give one of secret, qr, key_file (got {', '.join(given)})")
    if key_file is not None:
        text = read_private_file(key_file, "SESAME key file").strip()
        if text.startswith("ssm:"):
            qr = text
        else:
            secret = text
    if qr is not None:
        from blecrypt import sesame
        try:
            key = sesame.parse_share_uri(qr.strip())
        except (ValueError, Error) as e:
            raise KeyFormatError(f"SESAME share URI: {e}") from None
        if key.os2 or key.model not in OS3_LOCK_MODELS:
            raise KeyFormatError(f"SESAME share URI: the key is for a {key.model_name}"
                                 f"{' (OS2)' if key.os2 else ''}; only OS3 keys of the SESAME 5 family "
                                 f"(SESAME 5, 5 Pro, 5 US) work here (OS2 devices such as SESAME 3/4 and the "
                                 f"bot speak an older protocol)")
        return bytes(key.secret)
    if secret is not None:
        return key_bytes(secret, (16,), "SESAME secret")
    return None
