"""One engine over one bleak connection, on the asyncio loop (the Python twin of link::Session).

The engine (C++, sans-IO) gets every notification and the loop's time; what it wants to send is
split into ATT payloads and written in order by one writer task; its next deadline is one
``loop.call_at`` timer. Nothing here sleeps.

Every connection gets a generation number. The callbacks handed to bleak for that connection
(notifications, disconnect) carry it, so a late callback from an earlier connection (or an
earlier attempt) never touches the current one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, List, Optional, Protocol, Set, TypeVar, Union, cast

from . import _compat
from .errors import BleError, DeviceNotFoundError, InvalidArgument, NotConnectedError, TimeoutError

log = logging.getLogger("blecrypt.ble")

T = TypeVar("T")


class GattClient(Protocol):
    """What blecrypt.ble uses of a bleak ``BleakClient`` (any backend, Home Assistant's wrappers,
    ESPHome proxies): connected state, services, notifications, writes, MTU."""

    @property
    def is_connected(self) -> bool: ...

    @property
    def mtu_size(self) -> int: ...

    @property
    def services(self) -> Any: ...

    async def start_notify(self, char_specifier: Any, callback: Any, **kwargs: Any) -> None: ...

    async def stop_notify(self, char_specifier: Any) -> None: ...

    async def write_gatt_char(self, char_specifier: Any, data: Any, response: bool = ...) -> None: ...

    async def disconnect(self) -> Any: ...


DisconnectedCallback = Callable[[Any], None]
ClientFactory = Callable[[Any, DisconnectedCallback], Awaitable[GattClient]]
"""``async def factory(device, disconnected_callback) -> connected client`` — how Home Assistant's
``bleak_retry_connector.establish_connection`` is plugged in."""

ClientArg = Union[GattClient, ClientFactory, None]


def _is_client(obj: Any) -> bool:
    return hasattr(obj, "write_gatt_char") and hasattr(obj, "start_notify")


class Session:
    """Base of BluettiDevice and SesameLock: the connection, the writer, the deadline timer and
    the futures the API methods wait on. Subclasses plug in their engine."""

    SERVICE = ""
    WRITE = ""
    NOTIFY = ""
    WITH_RESPONSE = False
    KIND = "device"
    CONNECT_TIMEOUT = 20.0

    def __init__(self, device: Any, client: ClientArg = None) -> None:
        if device is None or (isinstance(device, str) and not device.strip()):
            raise InvalidArgument("device: a bleak BLEDevice or an address")
        if client is not None and not _is_client(client) and not callable(client):
            raise TypeError("client: a connected bleak client, a factory (device, disconnected_callback) -> client, "
                            "or None")
        self._device = device
        self._client_arg = client
        self._client: Optional[GattClient] = None
        self._owns_client = False
        self._gen = 0
        self._up = False
        self._payload = _compat.DEFAULT_ATT_MTU - 3
        self._writer: Optional["asyncio.Task[None]"] = None
        self._outbox: "Optional[asyncio.Queue[Optional[bytes]]]" = None
        self._session_ok = False  # the last connect() completed its handshake / login
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_at: Optional[float] = None
        self._waiters: Set["asyncio.Future[Any]"] = set()
        self._drop_tasks: Set["asyncio.Task[None]"] = set()   # disconnects under way (kept referenced)
        self._disconnect_callbacks: List[Callable[["Session"], None]] = []
        self._connect_lock: Optional[asyncio.Lock] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    # ---- identity -------------------------------------------------------------------------
    @property
    def address(self) -> str:
        if isinstance(self._device, str):
            return self._device.upper()
        return str(getattr(self._device, "address", self._device))

    @property
    def connected(self) -> bool:
        """True while the link is up and the session usable (after the handshake / login)."""
        return self._up and self._ready()

    @property
    def att_payload(self) -> int:
        """Bytes per write / notification on the current link (ATT MTU - 3)."""
        return self._payload

    @property
    def generation(self) -> int:
        """Counts connection attempts; callbacks of older ones are ignored."""
        return self._gen

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<{type(self).__name__} {self.address} {state}>"

    # ---- callbacks ------------------------------------------------------------------------
    def on_disconnect(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        """``callback(device)`` runs on the loop when an established link drops (not on close()).
        Returns a function that removes it."""
        self._disconnect_callbacks.append(callback)

        def remove() -> None:
            if callback in self._disconnect_callbacks:
                self._disconnect_callbacks.remove(callback)
        return remove

    def connection_lost(self, client: Any = None) -> None:
        """Tell the session its client disconnected. Needed only for a client you passed in
        already connected (its ``disconnected_callback`` is yours): forward it here. A call about
        another client object than the current one is ignored."""
        if client is not None and client is not self._client:
            log.debug("%s: disconnect of an earlier client ignored", self.address)
            return
        self._link_lost(self._gen, "the device disconnected")

    # ---- engine hooks (subclasses) --------------------------------------------------------
    def _engine_start(self, now: float) -> None:
        raise NotImplementedError

    def _engine_feed(self, data: bytes, now: float) -> None:
        raise NotImplementedError

    def _engine_stop(self) -> None:
        raise NotImplementedError

    def _engine_deadline(self, now: float) -> None:
        raise NotImplementedError

    def _engine_next_deadline(self) -> Optional[float]:
        raise NotImplementedError

    def _engine_transmit(self) -> List[bytes]:
        raise NotImplementedError

    def _dispatch(self) -> None:
        """Hand engine events / completions to the futures waiting for them."""
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    async def _establish(self) -> None:
        """Runs after notifications are on: the handshake / login. Raise on failure."""
        raise NotImplementedError

    def _after_link_lost(self) -> None:
        """Subclass cleanup after the engine was told the link is down."""

    # ---- loop helpers ---------------------------------------------------------------------
    def _now(self) -> float:
        return self._get_loop().time()

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:  # called from outside the loop (a user's sync code): the loop we run on
            if self._loop is None:
                raise
        return self._loop

    def _future(self) -> "asyncio.Future[Any]":
        f: "asyncio.Future[Any]" = self._get_loop().create_future()
        self._waiters.add(f)
        f.add_done_callback(self._waiters.discard)
        return f

    def _need_link(self, what: str) -> None:
        if not self._up:
            raise NotConnectedError(f"{self.KIND} {self.address}: not connected, cannot {what}: "
                                    f"use 'async with' or await connect() first")

    def _pump(self) -> None:
        """After anything touched the engine: queue its writes, deliver its results, re-arm the timer."""
        for message in self._engine_transmit():
            if self._up and self._outbox is not None:
                self._outbox.put_nowait(message)
        self._dispatch()
        self._arm_timer()

    def _arm_timer(self) -> None:
        when = self._engine_next_deadline() if self._up else None
        if when == self._timer_at and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None:
            self._timer = self._get_loop().call_at(when, self._on_timer, self._gen)

    def _on_timer(self, gen: int) -> None:
        self._timer = None
        self._timer_at = None
        if gen != self._gen or not self._up:
            return
        self._engine_deadline(self._now())
        self._pump()

    def _on_notification(self, gen: int, data: Any) -> None:
        if gen != self._gen or not self._up:
            return
        self._engine_feed(bytes(data), self._now())
        self._pump()

    async def _write_loop(self, gen: int, client: GattClient, outbox: "asyncio.Queue[Optional[bytes]]") -> None:
        while True:
            message = await outbox.get()
            if message is None or gen != self._gen:
                return
            n = self._payload
            try:
                for off in range(0, len(message), n):
                    await client.write_gatt_char(self.WRITE, message[off:off + n], response=self.WITH_RESPONSE)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # bleak / D-Bus / EOF: the frame is broken, so is the session
                if gen == self._gen:
                    owned = self._owns_client and self._client is client
                    self._link_lost(gen, f"write failed: {e}")
                    if owned:  # a client passed in stays connected: it is the caller's to drop
                        self._drop_later(client)
                return

    # ---- connecting -----------------------------------------------------------------------
    async def __aenter__(self: T) -> T:
        await cast(Session, self).connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def connect(self) -> None:
        """Connect (or use the client given), subscribe, and set up the secure session. Raises a
        :class:`~blecrypt.ble.errors.BleError`. Calling it while connected does nothing; after a
        drop it connects again."""
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._up and self._session_ok:
                return
            if self._up:  # half-open session (a cancelled attempt): start over
                await self._teardown(disconnect=True)
            self._gen += 1
            gen = self._gen
            self._session_ok = False
            try:
                await self._open(gen)
                await self._establish()
                self._session_ok = True
            except BaseException as e:
                await asyncio.shield(self._teardown(disconnect=True))
                if isinstance(e, (BleError, asyncio.CancelledError)) or not isinstance(e, Exception):
                    raise
                raise self._connect_error(e) from e

    def _connect_error(self, e: Exception) -> BleError:
        text = str(e) or type(e).__name__
        if "not found" in text.lower():
            return DeviceNotFoundError(f"{self.KIND} {self.address} was not found: is it in range, powered, "
                                       f"and not connected to another phone or hub? ({text})")
        if isinstance(e, asyncio.TimeoutError):
            return TimeoutError(f"{self.KIND} {self.address}: connecting timed out; move closer or retry")
        return NotConnectedError(f"{self.KIND} {self.address}: could not connect ({text}); retry, "
                                 f"or power-cycle the adapter if it keeps failing")

    def _closed_while_connecting(self) -> NotConnectedError:
        return NotConnectedError(f"{self.KIND} {self.address}: closed while connecting (close() was called "
                                 f"before connect() finished)")

    async def _get_client(self, gen: int) -> GattClient:
        def disconnected(client: Any, gen: int = gen) -> None:
            self._on_disconnected(gen, client)

        arg = self._client_arg
        if arg is None:
            device = await _compat.resolve_device(self._device, self.CONNECT_TIMEOUT)
            if gen != self._gen:
                raise self._closed_while_connecting()
            made: GattClient = _compat.make_client(device, disconnected, self.CONNECT_TIMEOUT)
            self._client, self._owns_client = made, True
            await asyncio.wait_for(getattr(made, "connect")(), self.CONNECT_TIMEOUT)
            return made
        if _is_client(arg):
            given = cast(GattClient, arg)
            self._client, self._owns_client = given, False
            if not given.is_connected:
                connect = getattr(given, "connect", None)
                if connect is None:
                    raise NotConnectedError(f"{self.KIND} {self.address}: the client passed in is not connected")
                await asyncio.wait_for(connect(), self.CONNECT_TIMEOUT)
            return given
        factory = cast(ClientFactory, arg)
        client = await factory(self._device, disconnected)
        self._client, self._owns_client = client, True
        return client

    async def _open(self, gen: int) -> None:
        client = await self._get_client(gen)
        if gen != self._gen:
            raise self._closed_while_connecting()
        write = _compat.get_characteristic(client, self.WRITE)
        notify = _compat.get_characteristic(client, self.NOTIFY)
        if write is None or notify is None:
            raise BleError(f"{self.address} has no {self.KIND} service ({self.SERVICE}): wrong device?")
        self._payload = _compat.att_payload(client, write)
        outbox: "asyncio.Queue[Optional[bytes]]" = asyncio.Queue()
        self._outbox = outbox
        self._up = True
        self._engine_start(self._now())
        self._writer = self._get_loop().create_task(self._write_loop(gen, client, outbox))

        def notified(_sender: Any, data: Any, gen: int = gen) -> None:
            self._on_notification(gen, data)
        await client.start_notify(self.NOTIFY, notified)
        if not self._up or gen != self._gen:
            raise NotConnectedError(f"{self.KIND} {self.address}: the link dropped while subscribing; retry")
        self._pump()
        log.debug("%s: subscribed, ATT payload %d", self.address, self._payload)

    # ---- losing and closing ---------------------------------------------------------------
    def _on_disconnected(self, gen: int, client: Any) -> None:
        if gen != self._gen or (client is not None and self._client is not None and client is not self._client):
            log.debug("%s: stale disconnect callback (generation %d, now %d) ignored", self.address, gen, self._gen)
            return
        self._link_lost(gen, "the device disconnected")

    def _fail_waiters(self, error: BaseException) -> None:
        for f in list(self._waiters):
            if not f.done():
                f.set_exception(error)
                f.exception()  # retrieved: no "never retrieved" warning when nobody waits any more

    def _link_lost(self, gen: int, why: str) -> None:
        if gen != self._gen or not self._up:
            return
        was_ready = self._ready()
        self._up = False
        self._stop_io()
        self._engine_stop()
        self._dispatch()
        self._after_link_lost()
        self._fail_waiters(NotConnectedError(f"{self.KIND} {self.address}: link lost ({why}); reconnect with "
                                             f"await connect() and retry"))
        if was_ready:
            log.info("%s: link lost (%s)", self.address, why)
            for cb in list(self._disconnect_callbacks):
                self._get_loop().call_soon(cb, self)

    def _stop_io(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None
        if self._outbox is not None:
            self._outbox.put_nowait(None)
        self._outbox = None
        self._writer = None

    def _drop_later(self, client: GattClient) -> None:
        """Disconnects a client this session made, from a task it keeps a reference to (the loop
        holds tasks weakly only)."""
        task = self._get_loop().create_task(self._drop_client(client))
        self._drop_tasks.add(task)
        task.add_done_callback(self._drop_tasks.discard)

    async def _drop_client(self, client: GattClient) -> None:
        try:
            await client.disconnect()
        except Exception as e:  # already gone
            log.debug("%s: disconnect: %s", self.address, e)

    async def _teardown(self, disconnect: bool) -> None:
        client, owned = self._client, self._owns_client
        writer = self._writer
        if self._up:
            self._up = False
            self._stop_io()
            self._engine_stop()
            self._dispatch()
            self._after_link_lost()
        self._gen += 1  # every callback of the closed connection is stale from now on
        self._fail_waiters(NotConnectedError(f"{self.KIND} {self.address}: closed"))
        if writer is not None:
            writer.cancel()
        self._client = None
        if client is None:
            return
        try:
            if client.is_connected:
                await client.stop_notify(self.NOTIFY)
        except Exception as e:
            log.debug("%s: stop_notify: %s", self.address, e)
        if disconnect and owned:
            await self._drop_client(client)

    async def close(self) -> None:
        """Ends the session and disconnects a client this object connected (a client passed in
        connected stays connected). Safe to call twice."""
        await self._teardown(disconnect=True)


__all__ = ["Session", "GattClient", "ClientFactory", "ClientArg"]
