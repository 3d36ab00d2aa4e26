"""blecrypt.channel: an authenticated, encrypted TLS 1.3 channel over any Bluetooth byte stream.

Wrap a connected socket (RFCOMM ``SOCK_STREAM``, LE L2CAP CoC ``SOCK_SEQPACKET``, Unix, TCP)::

    import socket
    from blecrypt import channel

    sock = socket.socket(socket.AF_BLUETOOTH, socket.SOCK_STREAM, socket.BTPROTO_RFCOMM)
    sock.connect(("00:1A:7D:DA:71:13", 3))
    ch = channel.wrap(sock, psk=channel.load_psk("device.psk"))
    ch.send(b"hello")
    print(ch.recv())
    ch.close()

Two modes (see docs/channel.md): a 32-byte pre-shared key (``psk=``), or a self-signed identity
(``identity=`` path or PEM bytes) with the peer's certificate pinned by ``peer_fingerprint=``
(or ``accept_any_peer=True`` for trust on first use: read ``ch.peer_fingerprint`` and keep it).
The TLS engine is the C++ one (OpenSSL); this module only moves bytes and waits.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import time
from dataclasses import dataclass
from typing import Any, Optional, Tuple, Union

from blecrypt import _native
from blecrypt.errors import (ChannelAuthenticationError, ChannelError, ChannelHandshakeError, ChannelInvalidArgument,
                             ChannelTimeoutError, KeyFileError)
from blecrypt.events import SLOTS, Event

_c = _native.channel

DEFAULT_PSK_IDENTITY = "blecrypt"
_SOL_BLUETOOTH = 274  # Linux include/net/bluetooth/bluetooth.h
_BT_SNDMTU = 12
_BT_RCVMTU = 13

IdentitySource = Union[str, bytes, "os.PathLike[str]"]  # a file path or the PEM bytes


# ---- events (channel::Event, include/blecrypt/channel/channel.hpp) -----------------------------
# Made by the native binding from the engine's event variant.

@dataclass(frozen=True, **SLOTS)
class HandshakeComplete(Event):
    """The TLS 1.3 handshake completed (kept as ``SecureChannel.handshake``)."""
    version: str              # "TLSv1.3"
    cipher: str               # e.g. "TLS_AES_128_GCM_SHA256"
    psk: bool                 # authenticated by the PSK (else by the peer's certificate)
    peer_fingerprint: bytes   # identity mode: SHA-256 of the peer's DER certificate


Handshake = HandshakeComplete  # the name SecureChannel.handshake's class had before the events were unified


@dataclass(frozen=True, **SLOTS)
class DataReceived(Event):
    """Authenticated plaintext, in order."""
    data: bytes


@dataclass(frozen=True, **SLOTS)
class ClosedByPeer(Event):
    """The peer sent close_notify: everything it sent has arrived."""


@dataclass(frozen=True, **SLOTS)
class Failed(Event):
    """The channel failed: ``error`` is the :class:`ChannelError` to raise (its message says what
    to check and never contains key material)."""
    error: ChannelError


def _now() -> float:
    return time.monotonic()


# ---- keys ------------------------------------------------------------------------------------

def generate_psk() -> bytes:
    """32 random bytes from OpenSSL's DRBG."""
    return bytes(_c.generate_psk())


def psk_to_qr_string(key: bytes) -> str:
    """The QR-friendly ``BLECRYPT-PSK1:...`` form of a PSK (see docs/channel.md)."""
    return str(_c.psk_to_qr_string(key))


def parse_psk(text: str) -> bytes:
    """A PSK from 64 hex digits or a ``BLECRYPT-PSK1:`` string."""
    return bytes(_c.parse_psk(text))


def load_psk(path: Union[str, "os.PathLike[str]"]) -> bytes:
    """Reads a PSK file (mode 0600, hex or BLECRYPT-PSK1 string); refuses group/other access."""
    return bytes(_c.parse_psk(_c.read_private_file(os.fspath(path)).decode("ascii", "replace")))


def generate_identity(path: Union[str, "os.PathLike[str]"], name: str = "blecrypt channel") -> bytes:
    """Writes a new P-256 identity (key + self-signed certificate) to ``path`` with mode 0600
    (never overwrites) and returns its fingerprint."""
    pem, fp = _c.generate_identity(name)
    _c.write_private_file(os.fspath(path), pem)
    return bytes(fp)


def format_fingerprint(fp: bytes) -> str:
    """``AB:CD:...`` as ``openssl x509 -fingerprint -sha256`` shows it."""
    return str(_c.format_fingerprint(fp))


def parse_fingerprint(text: str) -> bytes:
    return bytes(_c.parse_fingerprint(text))


def _identity_pem(identity: Union[str, bytes, "os.PathLike[str]"]) -> bytes:
    if isinstance(identity, bytes):
        return identity
    return bytes(_c.read_private_file(os.fspath(identity)))


def _engine(server_side: bool, psk: Union[bytes, str, None], psk_identity: str, identity: Optional[IdentitySource],
            peer_fingerprint: Union[bytes, str, None], accept_any_peer: bool, handshake_timeout: float,
            max_transmit: int) -> Any:
    if (psk is None) == (identity is None):
        raise ChannelInvalidArgument("channel: give exactly one of psk= or identity=", name="invalid_config")
    kwargs: dict[str, Any] = dict(server_side=server_side, handshake_timeout=handshake_timeout, max_transmit=max_transmit)
    if psk is not None:
        if isinstance(psk, str):
            psk = parse_psk(psk)
        if peer_fingerprint is not None or accept_any_peer:
            raise ChannelInvalidArgument("channel: peer_fingerprint/accept_any_peer belong to identity mode",
                                         name="invalid_config")
        kwargs.update(psk=bytes(psk), psk_identity=psk_identity)
    else:
        if isinstance(peer_fingerprint, str):
            peer_fingerprint = parse_fingerprint(peer_fingerprint)
        if peer_fingerprint is None and not accept_any_peer:
            raise ChannelInvalidArgument("channel: identity mode needs peer_fingerprint= (or accept_any_peer=True for "
                                         "trust on first use: then check and keep ch.peer_fingerprint)",
                                         name="invalid_config")
        assert identity is not None
        kwargs.update(identity_pem=_identity_pem(identity), peer_fingerprint=peer_fingerprint)
    return _c.Channel(**kwargs)


class _Events:
    """What the blocking and asyncio wrappers share: events, deadlines, input, the receive buffer."""

    _engine: Any  # the native Channel

    def _init_events(self) -> None:
        self.handshake: Optional[HandshakeComplete] = None
        self._inbox = bytearray()
        self._peer_closed = False
        self._link_down = False
        self._failure: Optional[ChannelError] = None

    def _take_events(self) -> None:
        while True:
            ev = self._engine.poll_event()
            if ev is None:
                return
            if isinstance(ev, HandshakeComplete):
                self.handshake = ev
            elif isinstance(ev, DataReceived):
                self._inbox += ev.data
            elif isinstance(ev, ClosedByPeer):
                self._peer_closed = True
            elif isinstance(ev, Failed) and self._failure is None:
                self._failure = ev.error

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure

    # The steps both wrappers share; only waiting for the socket differs between them.
    def _wait_seconds(self, until: Optional[float]) -> Optional[float]:
        """How long to wait for input: until the engine's next deadline or ``until``."""
        limits = [t for t in (self._engine.next_deadline(), until) if t is not None]
        return max(0.0, min(limits) - _now()) if limits else None

    def _input(self, data: Optional[bytes], now: float) -> None:
        """Feeds what arrived (``None``: nothing; ``b""``: the stream closed), then runs a due deadline."""
        if data:
            self._engine.feed(data, now)
        elif data == b"" and not self._link_down:
            self._link_down = True
            self._engine.link_down()
        d = self._engine.next_deadline()
        if d is not None and now >= d:
            self._engine.on_deadline(now)

    def _queue(self, data: bytes) -> None:
        self._raise_if_failed()
        self._engine.send(bytes(data))

    def _received(self, bufsize: int, until: Optional[float]) -> Optional[bytes]:
        """What recv() returns now, or ``None`` when it has to wait for more input."""
        if self._inbox:
            out = bytes(self._inbox[:bufsize])
            del self._inbox[:bufsize]
            return out
        self._raise_if_failed()
        if self._peer_closed:
            return b""
        if self._link_down:
            raise ChannelError("channel: the stream closed", name="link_down")
        if until is not None and _now() >= until:
            raise ChannelTimeoutError("channel: no data within the timeout", name="io_timeout")
        return None

    def _check_handshake(self) -> bool:
        """True once the handshake completed; raises if it failed or the stream closed."""
        self._raise_if_failed()
        if self.handshake is not None:
            return True
        if self._link_down:
            raise ChannelError("channel: the stream closed during the handshake", name="link_down")
        return False

    @property
    def peer_fingerprint(self) -> bytes:
        return self.handshake.peer_fingerprint if self.handshake else b""

    @property
    def cipher(self) -> str:
        return self.handshake.cipher if self.handshake else ""


# ---- blocking --------------------------------------------------------------------------------

class SecureChannel(_Events):
    """A TLS 1.3 channel over a connected socket (blocking). Use :func:`wrap`."""

    def __init__(self, sock: socket.socket, engine: Any, seqpacket: bool, recv_size: int) -> None:
        self._sock = sock
        self._engine = engine
        self._seqpacket = seqpacket
        self._recv_size = recv_size
        self._init_events()
        sock.setblocking(True)
        engine.link_up(_now())
        self._flush()

    def _flush(self) -> None:
        while True:
            out = self._engine.poll_transmit()
            if out is None:
                return
            try:
                if self._seqpacket:
                    self._sock.send(out)  # one packet, at most the MTU
                else:
                    self._sock.sendall(out)
            except OSError as e:
                self._down()
                raise ChannelError(f"channel: send failed: {e}", name="socket_error") from None

    def _down(self) -> None:
        self._input(b"", _now())
        self._take_events()

    def _step(self, until: Optional[float]) -> None:
        """Waits for bytes or the next deadline, feeds them, flushes, collects events."""
        ready, _, _ = select.select([self._sock], [], [], self._wait_seconds(until))
        data = None
        if ready:
            try:
                if self._seqpacket:  # one packet per read: a cut one is an error, as in SocketChannel
                    data, _, flags, _ = self._sock.recvmsg(self._recv_size)
                    if flags & socket.MSG_TRUNC:
                        self._down()
                        raise ChannelError("channel: a SEQPACKET packet larger than the receive MTU arrived and was cut",
                                           name="socket_error")
                else:
                    data = self._sock.recv(self._recv_size)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
        self._input(data, _now())
        if not self._link_down:
            self._flush()
        self._take_events()

    def _handshake(self) -> None:
        while not self._check_handshake():
            self._step(None)

    def send(self, data: bytes) -> None:
        """Encrypts and sends ``data`` (any size)."""
        self._queue(data)
        self._flush()
        self._take_events()
        self._raise_if_failed()

    sendall = send

    def recv(self, bufsize: int = 65536, timeout: Optional[float] = None) -> bytes:
        """Up to ``bufsize`` bytes of authenticated data; ``b""`` once the peer closed cleanly.
        Raises :class:`ChannelError` on failure, :class:`ChannelTimeoutError` (a ``TimeoutError``)
        after ``timeout`` seconds."""
        until = None if timeout is None else _now() + timeout
        while (out := self._received(bufsize, until)) is None:
            self._step(until)
        return out

    def close(self) -> None:
        """Sends close_notify and closes the socket."""
        try:
            if not self._link_down:
                self._engine.close()
                self._flush()
        except ChannelError:
            pass
        finally:
            self._sock.close()
            self._engine.reset()

    def fileno(self) -> int:
        return self._sock.fileno()

    def __enter__(self) -> "SecureChannel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _socket_mtus(sock: socket.socket, mtu: Optional[int]) -> Tuple[bool, int, int]:
    seqpacket = sock.type == socket.SOCK_SEQPACKET
    if not seqpacket:
        return False, 0, 65536
    send_mtu, recv_mtu = 512, 65535
    if sock.family == getattr(socket, "AF_BLUETOOTH", 31):
        try:
            send_mtu = int.from_bytes(sock.getsockopt(_SOL_BLUETOOTH, _BT_SNDMTU, 2), "little")
            recv_mtu = int.from_bytes(sock.getsockopt(_SOL_BLUETOOTH, _BT_RCVMTU, 2), "little")
        except OSError:
            pass
    if mtu is not None:
        send_mtu = mtu
    return True, send_mtu, max(recv_mtu, 23)


def wrap(sock: socket.socket, *, psk: Union[bytes, str, None] = None, identity: Optional[IdentitySource] = None,
         peer_fingerprint: Union[bytes, str, None] = None, accept_any_peer: bool = False, server_side: bool = False,
         psk_identity: str = DEFAULT_PSK_IDENTITY, handshake_timeout: float = 15.0, mtu: Optional[int] = None) -> SecureChannel:
    """Runs a TLS 1.3 handshake over the connected ``sock`` and returns a :class:`SecureChannel`.

    ``psk``: 32 bytes, or their hex / BLECRYPT-PSK1 text. ``identity``: an identity file path (mode
    0600) or its PEM bytes, with ``peer_fingerprint`` (bytes or ``AB:CD:..`` text) or
    ``accept_any_peer=True``. For ``SOCK_SEQPACKET`` sockets (LE L2CAP) every packet stays within
    the send MTU (the socket's, or ``mtu``)."""
    seqpacket, send_mtu, recv_size = _socket_mtus(sock, mtu)
    engine = _engine(server_side, psk, psk_identity, identity, peer_fingerprint, accept_any_peer, handshake_timeout, send_mtu)
    ch = SecureChannel(sock, engine, seqpacket, recv_size)
    try:
        ch._handshake()
    except BaseException:
        ch._sock.close()
        raise
    return ch


# ---- asyncio ---------------------------------------------------------------------------------

class AsyncChannel(_Events):
    """The channel over an asyncio (reader, writer) stream pair. Use :func:`open_stream`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, engine: Any) -> None:
        self._reader, self._writer, self._engine = reader, writer, engine
        self._init_events()

    async def _flush(self) -> None:
        wrote = False
        while True:
            out = self._engine.poll_transmit()
            if out is None:
                break
            self._writer.write(out)
            wrote = True
        if wrote:
            await self._writer.drain()

    async def _step(self, until: Optional[float]) -> None:
        try:
            data = await asyncio.wait_for(self._reader.read(65536), self._wait_seconds(until))
        except asyncio.TimeoutError:
            data = None
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        self._input(data, _now())
        if not self._link_down:
            await self._flush()
        self._take_events()

    async def _handshake(self) -> None:
        self._engine.link_up(_now())
        await self._flush()
        while not self._check_handshake():
            await self._step(None)

    async def send(self, data: bytes) -> None:
        self._queue(data)
        await self._flush()
        self._take_events()
        self._raise_if_failed()

    async def recv(self, bufsize: int = 65536, timeout: Optional[float] = None) -> bytes:
        until = None if timeout is None else _now() + timeout
        while (out := self._received(bufsize, until)) is None:
            await self._step(until)
        return out

    async def close(self) -> None:
        if not self._link_down:
            self._engine.close()
            try:
                await self._flush()
            except (ConnectionError, OSError):
                pass
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass
        self._engine.reset()


async def open_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, **kwargs: Any) -> AsyncChannel:
    """The asyncio variant of :func:`wrap` (same keyword arguments except ``mtu``): runs the
    handshake over the stream pair and returns an :class:`AsyncChannel` with ``await send()``,
    ``await recv()`` and ``await close()``."""
    server_side = kwargs.pop("server_side", False)
    engine = _engine(server_side, kwargs.pop("psk", None), kwargs.pop("psk_identity", DEFAULT_PSK_IDENTITY),
                     kwargs.pop("identity", None), kwargs.pop("peer_fingerprint", None), kwargs.pop("accept_any_peer", False),
                     kwargs.pop("handshake_timeout", 15.0), 0)
    if kwargs:
        raise TypeError(f"open_stream: unexpected arguments {sorted(kwargs)}")
    ch = AsyncChannel(reader, writer, engine)
    try:
        await ch._handshake()
    except BaseException:
        writer.close()
        raise
    return ch


__all__ = ["ChannelError", "ChannelAuthenticationError", "ChannelHandshakeError", "ChannelInvalidArgument",
           "ChannelTimeoutError", "KeyFileError", "Handshake", "HandshakeComplete", "DataReceived", "ClosedByPeer", "Failed",
           "SecureChannel", "AsyncChannel", "wrap", "open_stream", "generate_psk", "load_psk",
           "parse_psk", "psk_to_qr_string", "generate_identity", "format_fingerprint", "parse_fingerprint"]
