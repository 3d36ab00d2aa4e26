"""SESAME 5 / 5 Pro / 5 US locks over bleak: registration, login, lock, unlock, history, pushes."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Union

from blecrypt import sesame as _sesame

from .. import errors as _core_errors
from ._native import native as _native
from ._keys import KeyLike, sesame_secret
from ._session import ClientArg, Session
from .errors import BleError, CommandError, HandshakeError, InvalidArgument, NotConnectedError, TimeoutError

log = logging.getLogger("blecrypt.ble")

_s = _native.sesame

SERVICE_UUID = _sesame.SERVICE_UUID
WRITE_CHARACTERISTIC = _sesame.WRITE_CHARACTERISTIC
NOTIFY_CHARACTERISTIC = _sesame.NOTIFY_CHARACTERISTIC

# Item codes (docs/specs/sesame.md §7; include/blecrypt/sesame/messages.hpp).
REGISTRATION, LOGIN, HISTORY, VERSION_TAG, HISTORY_DELETE = 1, 2, 4, 5, 18
LOCK, UNLOCK, TOGGLE = 82, 83, 88
MAX_TAG_BYTES = 29   # HistoryTag::kMaxTextBytes (include/blecrypt/sesame/messages.hpp)

Tag = Union[str, bytes, None]
HistoryRecord = _sesame.HistoryRecord


@dataclass(frozen=True)
class LockStatus:
    """What the lock last reported. ``state``: locked, unlocked, locking, unlocking, moving,
    jammed, between or unknown."""

    state: str
    battery_percent: int
    battery_volts: float
    position: Optional[int]
    target: Optional[int]

    @property
    def locked(self) -> bool:
        return self.state == "locked"

    @property
    def unlocked(self) -> bool:
        return self.state == "unlocked"


StateCallback = Callable[[LockStatus], None]


class SesameLock(Session):
    """A SESAME 5 lock. The secret (16 bytes, 32 hex digits) comes from ``secret``, ``qr`` (the
    app's share URI ``ssm://UI?...``) or ``key_file`` (a private file holding either); without one,
    ``await register()`` registers this client as the lock's owner and returns the new secret
    (only on a lock that is not registered yet). ``client`` as for :class:`BluettiDevice`.

        async with SesameLock(address, secret="00112233445566778899aabbccddeeff") as lock:
            await lock.unlock("front door")
    """

    SERVICE = SERVICE_UUID
    WRITE = WRITE_CHARACTERISTIC
    NOTIFY = NOTIFY_CHARACTERISTIC
    WITH_RESPONSE = False  # SESAME writes without response (sesame::kGattProfile)
    KIND = "SESAME"
    STATUS_TIMEOUT = 10.0  # seconds status() waits for the lock's first push

    def __init__(self, device: Any, *, secret: Optional[KeyLike] = None, qr: Optional[str] = None,
                 key_file: Optional[Union[str, "os.PathLike[str]"]] = None, client: ClientArg = None,
                 backend: str = "") -> None:
        super().__init__(device, client)
        self._secret = sesame_secret(secret, qr, key_file)
        self._backend = backend
        self._engine: Any = None
        self._tx: List[bytes] = []
        self._initial: Optional["asyncio.Future[None]"] = None
        self._auth: Optional["asyncio.Future[None]"] = None   # login or registration
        self._inflight: Dict[int, "asyncio.Future[Any]"] = {}
        self._history: Optional["asyncio.Queue[Any]"] = None
        self._history_lock: Optional[asyncio.Lock] = None
        self._status: Optional[LockStatus] = None
        self._status_waiters: List["asyncio.Future[LockStatus]"] = []
        self._state_callbacks: List[StateCallback] = []
        self._setting: Optional[_sesame.MechSetting] = None
        self._logged_in = False

    @property
    def secret(self) -> Optional[bytes]:
        """The 16-byte device secret (given, or made by register()). Keep it private."""
        return self._secret

    # ---- engine hooks ---------------------------------------------------------------------
    def _engine_start(self, now: float) -> None:
        offset = int(time.time() - now)
        try:
            self._engine = _s.Client(self._secret, self._payload, offset, False, True, None, self._backend)
        except _core_errors.Error as e:
            raise BleError(f"SESAME: {e}") from None
        self._logged_in = False
        # INITIAL may arrive while start_notify is still awaited: wait for it from here on.
        self._initial = self._future()
        self._engine.connect(now)

    def _engine_feed(self, data: bytes, now: float) -> None:
        packets, error = self._engine.receive(data, now)
        self._tx += [bytes(p) for p in packets]
        if error:
            log.debug("%s: notification refused: %s", self.address, error)

    def _engine_stop(self) -> None:
        if self._engine is not None:
            self._engine.disconnect()
        self._tx = []

    def _engine_deadline(self, now: float) -> None:
        self._tx += [bytes(p) for p in self._engine.advance_to(now)]

    def _engine_next_deadline(self) -> Optional[float]:
        if self._engine is None:
            return None
        d: Optional[float] = self._engine.next_deadline()
        return d

    def _engine_transmit(self) -> List[bytes]:
        out, self._tx = self._tx, []
        return out

    def _ready(self) -> bool:
        return self._logged_in

    def _call(self, what: str, method: str, *args: Any) -> None:
        try:
            self._tx += [bytes(p) for p in getattr(self._engine, method)(*args, self._now())]
        except _core_errors.Error as e:
            raise CommandError(f"SESAME {self.address}: {what}: {e}") from None

    # ---- events ---------------------------------------------------------------------------
    def _dispatch(self) -> None:
        if self._engine is None:
            return
        for ev in self._engine.events():
            self._event(ev)

    @staticmethod
    def _settle(fut: Optional["asyncio.Future[Any]"], result: Any = None,
                error: Optional[BaseException] = None) -> None:
        if fut is None or fut.done():
            return
        if error is not None:
            fut.set_exception(error)
            fut.exception()  # retrieved even if the caller went away
        else:
            fut.set_result(result)

    def _event(self, ev: Any) -> None:
        s = _sesame
        if isinstance(ev, s.RandomCodeReceived):
            self._settle(self._initial)
        elif isinstance(ev, s.Registered):
            self._secret = bytes(ev.secret)
            self._logged_in = True
            self._settle(self._auth, self._secret)
        elif isinstance(ev, s.LoggedIn):
            self._logged_in = True
            self._settle(self._auth)
        elif isinstance(ev, s.MechSettingChanged):
            self._setting = ev.setting
        elif isinstance(ev, s.MechStatusChanged):
            self._new_status(ev.status)
        elif isinstance(ev, s.CommandResult) and ev.item in (HISTORY, HISTORY_DELETE):
            if self._history is not None:   # only failures come here (busy, ...)
                self._history.put_nowait(CommandError(
                    f"SESAME {self.address}: {ev.item_name} refused: {ev.result_name}", ev.result))
        elif isinstance(ev, s.CommandResult):
            fut = self._inflight.get(ev.item)
            if ev.ok:
                self._settle(fut, ev)
            else:
                self._settle(fut, error=CommandError(
                    f"SESAME {self.address}: {ev.item_name} refused: {ev.result_name}", ev.result))
        elif isinstance(ev, s.HistoryReceived):
            if self._history is not None:
                self._history.put_nowait(ev.record)
        elif isinstance(ev, s.HistoryEmpty):
            if self._history is not None:
                self._history.put_nowait(None)
        elif isinstance(ev, s.HistoryDeleted):
            if self._history is not None:
                # "not found": the record is gone already (a lock whose HISTORY(1) pops it)
                if ev.result in (0, 5):   # success, not found (messages.hpp ResultCode)
                    self._history.put_nowait(True)
                else:
                    self._history.put_nowait(CommandError(
                        f"SESAME {self.address}: deleting a history record refused: {ev.result_name}", ev.result))
        elif isinstance(ev, s.VersionReceived):
            self._settle(self._inflight.get(VERSION_TAG), ev.version)
        elif isinstance(ev, s.RequestFailed):
            self._request_failed(ev)
        elif isinstance(ev, s.SessionEnded):
            self._session_ended(ev.reason)

    def _request_failed(self, ev: Any) -> None:
        text = str(ev.error)
        if "time" in text:
            err: BleError = TimeoutError(f"SESAME {self.address}: {ev.item_name}: no answer in time ({text}); retry")
        elif not self._up:
            err = NotConnectedError(f"SESAME {self.address}: {ev.item_name}: link lost ({text}); reconnect")
        else:
            err = CommandError(f"SESAME {self.address}: {ev.item_name} failed: {text}")
        if ev.item in (REGISTRATION, LOGIN):
            self._settle(self._auth, error=HandshakeError(self._auth_advice(ev.item, text)))
        elif ev.item in (HISTORY, HISTORY_DELETE):
            if self._history is not None:
                self._history.put_nowait(err)
        else:
            self._settle(self._inflight.get(ev.item), error=err)

    def _auth_advice(self, item: int, text: str) -> str:
        if item == LOGIN:
            return (f"SESAME {self.address}: login failed ({text}): the secret does not belong to this lock "
                    f"(take it again from the app's share QR code)")
        return (f"SESAME {self.address}: registration failed ({text}): the lock is registered already "
                f"(reset it, or log in with its secret)")

    def _session_ended(self, reason: str) -> None:
        why = reason or "session ended"
        if self._auth is not None and not self._auth.done():
            self._settle(self._auth, error=HandshakeError(
                f"SESAME {self.address}: {why}: " + ("login refused (wrong secret?)" if self._secret
                                                     else "registration refused (registered already?)")))
        if self._initial is not None and not self._initial.done():
            self._settle(self._initial, error=TimeoutError(
                f"SESAME {self.address}: the lock sent no INITIAL notification ({why}); retry"))
        if self._up:  # the engine is done with this link: drop it (reconnect starts a new session)
            gen, client = self._gen, self._client
            self._get_loop().call_soon(self._link_lost, gen, why)
            if client is not None and self._owns_client:
                self._drop_later(client)

    def _new_status(self, st: Any) -> None:
        state = str(st.state)
        if state == "moving" and st.target is not None and self._setting is not None:
            if st.target == self._setting.lock_position:
                state = "locking"
            elif st.target == self._setting.unlock_position:
                state = "unlocking"
        if state.startswith("between"):
            state = "between"
        status = LockStatus(state=state, battery_percent=int(st.percent), battery_volts=float(st.volts),
                            position=int(st.position), target=None if st.target is None else int(st.target))
        self._status = status
        waiters, self._status_waiters = self._status_waiters, []
        for w in waiters:
            self._settle(w, status)
        for cb in list(self._state_callbacks):
            try:
                cb(status)
            except Exception:
                log.exception("%s: state callback failed", self.address)

    def _after_link_lost(self) -> None:
        self._logged_in = False
        q = self._history
        if q is not None:
            q.put_nowait(NotConnectedError(f"SESAME {self.address}: link lost while reading history; reconnect"))

    # ---- session --------------------------------------------------------------------------
    async def _establish(self) -> None:
        assert self._initial is not None
        self._dispatch()
        await self._initial
        if self._secret is not None:
            self._auth = self._future()
            self._call("login", "login")
            self._pump()
            await self._auth
            log.info("%s: SESAME logged in", self.address)

    async def register(self) -> bytes:
        """Registers this client with a lock that has no owner yet; returns the new 16-byte secret
        (store it: it is the only key to the lock). The session is logged in afterwards."""
        self._need_link("register")
        if self._logged_in:
            raise CommandError(f"SESAME {self.address}: already logged in; register() is for an unregistered lock")
        self._auth = self._future()
        self._call("register", "register")
        self._pump()
        await self._auth
        assert self._secret is not None
        return self._secret

    def _need_ready(self, what: str) -> None:
        self._need_link(what)
        if not self._logged_in:
            raise NotConnectedError(f"SESAME {self.address}: cannot {what} before login: pass secret=/qr=/key_file=, "
                                    f"or register() a new lock")

    @staticmethod
    def _check_tag(tag: Tag) -> None:
        if tag is not None and not isinstance(tag, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"SESAME tag: str (text), bytes (an encoded tag) or None, not {type(tag).__name__}")
        if isinstance(tag, str) and len(tag.encode("utf-8")) > MAX_TAG_BYTES:
            raise InvalidArgument(f"SESAME tag: {len(tag.encode('utf-8'))} bytes of UTF-8, at most "
                                  f"{MAX_TAG_BYTES} (the lock keeps no more)")

    async def _command(self, item: int, what: str, method: str, *args: Any) -> Any:
        self._need_ready(what)
        prev = self._inflight.get(item)
        if prev is not None and not prev.done():
            # A cancelled caller's request is still in flight in the engine: let it settle first.
            # asyncio.wait never raises prev's error but lets this caller's cancellation through.
            await asyncio.wait({prev})
            self._need_ready(what)
        fut = self._future()
        self._inflight[item] = fut
        try:
            self._call(what, method, *args)
        except BaseException:
            if self._inflight.get(item) is fut:
                del self._inflight[item]
            fut.cancel()
            raise
        self._pump()
        # Shielded: cancelling the caller does not cancel the engine's request; it completes or
        # times out inside the session, and the next command on this item waits for that.
        return await asyncio.shield(fut)

    async def lock(self, tag: Tag = "") -> None:
        """LOCK; ``tag`` (text, or an encoded tag as bytes) is what the lock's history shows."""
        self._check_tag(tag)
        await self._command(LOCK, "lock", "lock", tag)

    async def unlock(self, tag: Tag = "") -> None:
        self._check_tag(tag)
        await self._command(UNLOCK, "unlock", "unlock", tag)

    async def toggle(self, tag: Tag = "") -> None:
        self._check_tag(tag)
        await self._command(TOGGLE, "toggle", "toggle", tag)

    async def version(self) -> str:
        return str(await self._command(VERSION_TAG, "read the version", "version"))

    async def status(self) -> LockStatus:
        """The lock's state as it last pushed it (it pushes after login and on every change);
        waits for the first push if none came yet, at most ``STATUS_TIMEOUT`` seconds (then
        :class:`~blecrypt.ble.errors.TimeoutError`)."""
        self._need_ready("read the status")
        if self._status is not None:
            return self._status
        fut: "asyncio.Future[LockStatus]" = self._future()
        self._status_waiters.append(fut)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.STATUS_TIMEOUT)
        except asyncio.TimeoutError:
            if fut.done() and not fut.cancelled():
                raise   # not the wait timing out
            raise TimeoutError(f"SESAME {self.address}: the lock pushed no status in {self.STATUS_TIMEOUT:g} s "
                               f"after login; retry, or reconnect") from None
        finally:
            if not fut.done():
                fut.cancel()
            if fut in self._status_waiters:
                self._status_waiters.remove(fut)

    def on_state(self, callback: StateCallback) -> Callable[[], None]:
        """``callback(LockStatus)`` on every push of the lock (locking, unlocking, locked, unlocked,
        jammed, battery changes). Returns a function that removes it."""
        self._state_callbacks.append(callback)

        def remove() -> None:
            if callback in self._state_callbacks:
                self._state_callbacks.remove(callback)
        return remove

    async def history(self) -> AsyncIterator[HistoryRecord]:
        """The lock's history records, oldest first. Like the SESAME app, each record is deleted
        on the lock once read -- but only once it has been handed over: a record is deleted when
        the consumer asks for the next one, so leaving the ``async for`` early (``break``, an
        exception, cancellation) leaves the record last yielded and every later one on the lock."""
        self._need_ready("read history")
        if self._history_lock is None:
            self._history_lock = asyncio.Lock()
        async with self._history_lock:
            q: "asyncio.Queue[Any]" = asyncio.Queue()
            self._history = q
            try:
                gone: Optional[int] = None   # the record deleted last
                self._call("read history", "read_history", 1)
                while True:
                    self._pump()
                    item = await self._history_next(q)
                    if item is None:
                        return
                    if gone is not None and item.id == gone:
                        # A lock that hands out the record it just deleted cannot delete it: stop
                        # instead of looping (as the engine's own drain does).
                        return
                    yield item
                    # The consumer asked for the next record: the one it has is now safe to delete.
                    self._need_ready("delete a history record")
                    self._call("delete a history record", "delete_history", item.id)
                    self._pump()
                    await self._history_next(q, deleted=True)
                    gone = item.id
                    self._need_ready("read history")
                    self._call("read history", "read_history", 1)
            finally:
                if self._history is q:
                    self._history = None

    async def _history_next(self, q: "asyncio.Queue[Any]", deleted: bool = False) -> Any:
        """The next answer for history(): a record, None (no more records) or, for a delete,
        True. Errors are raised."""
        item = await q.get()
        if isinstance(item, BaseException):
            raise item
        if deleted != (item is True):
            raise CommandError(f"SESAME {self.address}: history: unexpected answer from the lock")
        return item

__all__ = ["SesameLock", "LockStatus", "HistoryRecord", "SERVICE_UUID", "WRITE_CHARACTERISTIC",
           "NOTIFY_CHARACTERISTIC"]
