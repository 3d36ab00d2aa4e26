"""blecrypt.ble end to end, twice: through real bleak (its BlueZ backend, Debian python3-bleak
0.20 + dbus-fast) against the project's BlueZ mock on a private bus, and through the fake bleak
client (blecrypt.ble.testing, no D-Bus). Devices are the project's emulators either way.

Run: PYTHONPATH=build/dev/python /usr/bin/python3 -m pytest -q tests/python/test_ble.py
"""

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest

from blecrypt.ble import (BleError, BluettiDevice, CommandError, HandshakeError, InvalidArgument, KeyFormatError,
                          LicenceError,
                          NotConnectedError, SesameLock, Telemetry)
from blecrypt.ble import _compat
from blecrypt.ble import TimeoutError as BleTimeoutError
from blecrypt.ble.testing import EmulatedBluetti, EmulatedSesame, FakeBleakClient, factory
from blecrypt.errors import Error

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bluez"))

AC180 = "C4:DE:E2:11:22:33"
EB3A = "C4:DE:E2:44:55:66"
LOCK = "E1:5E:5A:00:00:05"
BLUETTI_WRITE = "/service000a/char000e"   # handles as the mock lays them out (test_bluez_mock.py)
SESAME_WRITE = "/service000a/char000b"

try:
    import bleak  # noqa: F401
    import dbus  # noqa: F401
    import dbusmock  # noqa: F401
    HAVE_BLUEZ = shutil.which("dbus-daemon") is not None
except ImportError:
    HAVE_BLUEZ = False


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# ---- two rigs: the same tests over real bleak + BlueZ mock, and over the fake client -----------

class FakeRig:
    kind = "fake"

    def __init__(self):
        self.peers = {}
        self.made = {}
        self.factories = {}

    def add_bluetti(self, address, model="AC180", mtu=23):
        peer = EmulatedBluetti(model, seed=7)
        self.peers[address] = peer
        self.factories[address], self.made[address] = factory(peer, mtu=mtu)
        return peer.verify_key

    def add_sesame(self, address, mtu=23, secret=None):
        peer = EmulatedSesame(secret=secret, seed=5)
        self.peers[address] = peer
        self.factories[address], self.made[address] = factory(peer, mtu=mtu)

    def client(self, address):
        return self.factories[address]

    def drop(self, address):
        self.made[address][-1].drop()

    def drop_after_writes(self, address, n):
        self.made[address][-1].drop_after_writes = n

    def set_silent(self, address, on=True):
        self.made[address][-1].silent = on

    def written(self, address):
        return [(w[1], w[2]) for c in self.made[address] for w in c.writes]

    def emulator(self, address):
        return self.peers[address].device


class BluezRig:
    kind = "bluez"

    def __init__(self, bz):
        self.bz = bz
        self.paths = {}

    def add_bluetti(self, address, model="AC180", mtu=23):
        self.paths[address] = self.bz.add_bluetti(model, address, mtu=mtu, seed=7)
        return bytes.fromhex(self.bz.emulator_state(self.paths[address])["verify_key"])

    def add_sesame(self, address, mtu=23, secret=None):
        opts = {"mtu": mtu, "seed": 5}
        if secret is not None:
            opts["secret"] = secret
        self.paths[address] = self.bz.add_sesame("5", address, **opts)

    def client(self, address):
        return None   # blecrypt.ble makes its own bleak.BleakClient

    def drop(self, address):
        self.bz.drop_link(self.paths[address])

    def drop_after_writes(self, address, n):
        self.bz.drop_link_after(self.paths[address], "writes", n)

    def set_silent(self, address, on=True):
        self.bz.set_silent(self.paths[address], on)

    def written(self, address):
        char = BLUETTI_WRITE if self.bz.emulator_state(self.paths[address])["kind"] == "bluetti" else SESAME_WRITE
        return [(w, None) for w in self.bz.written(self.paths[address] + char)]

    def emulator(self, address):
        return self.bz.emulator_state(self.paths[address])


@pytest.fixture(params=["fake", "bluez"])
def rig(request, monkeypatch):
    if request.param == "fake":
        yield FakeRig()
        return
    if not HAVE_BLUEZ:
        pytest.skip("python3-bleak, python3-dbusmock or dbus-daemon missing (scripts/bootstrap)")
    from harness import BluezMock
    with BluezMock() as bz:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bz.address)   # where dbus-fast finds the system bus
        yield BluezRig(bz)


# ---- BLUETTI -------------------------------------------------------------------------------

@pytest.mark.parametrize("mtu", [23, 517])
def test_bluetti_handshake_telemetry_and_outputs(rig, mtu):
    key = rig.add_bluetti(AC180, mtu=mtu)

    async def session():
        async with BluettiDevice(AC180, device_verify_key=key.hex(), client=rig.client(AC180)) as dev:
            assert dev.connected and dev.att_payload == min(mtu - 3, 512)   # a value is at most 512 bytes
            t = await dev.read_telemetry()
            assert isinstance(t, Telemetry)
            assert (t.device_type, t.total_battery_percent, t.ac_output_on, t.protocol) == ("AC180", 80, False, "v2")
            assert set(t.as_dict()) >= {"device_type", "serial_number", "total_battery_percent", "ac_output_power",
                                        "dc_output_power", "ac_input_power", "dc_input_power", "ac_output_on",
                                        "dc_output_on"}
            await dev.set_output(ac=True, dc=True)
            t = await dev.read_telemetry()
            assert t.ac_output_on and t.dc_output_on
            await dev.set_output(dc=False)
            assert not (await dev.read_telemetry()).dc_output_on
            serial = await dev.read_registers(11006, 4)
            assert len(serial) == 4
            return dev
    dev = run(session())
    assert not dev.connected
    sizes = [len(w) for w, _ in rig.written(AC180)] if rig.kind == "fake" else None
    if sizes is not None:
        assert max(sizes) <= mtu - 3
        assert all(resp for _, resp in rig.written(AC180))   # BLUETTI writes FF02 with response
        if mtu == 517:
            assert max(sizes) > 20   # whole frames, not 20-byte pieces


def test_bluetti_write_register_is_read_back(rig):
    key = rig.add_bluetti(AC180)

    async def session():
        async with BluettiDevice(AC180, device_verify_key=key, client=rig.client(AC180)) as dev:
            reg = 2011   # AC output switch (IoT V2)
            await dev.write_register(reg, 1)
            assert (await dev.read_registers(reg, 1)) == [1]
            with pytest.raises(CommandError) as e:
                await dev.write_register(1, 5)   # read-only / unknown register: Modbus exception
            assert isinstance(e.value, Error) and e.value.code is not None
            assert (await dev.read_telemetry()).ac_output_on   # the session is fine afterwards
    run(session())


def test_bluetti_wrong_key_is_a_handshake_error(rig):
    rig.add_bluetti(AC180)
    wrong = EmulatedBluetti("AC180", signing_key=b"\x01" * 32).verify_key   # another unit's key

    async def session():
        dev = BluettiDevice(AC180, device_verify_key=wrong, client=rig.client(AC180))
        with pytest.raises(HandshakeError, match="device_verify_key"):
            await dev.connect()
        assert not dev.connected
    run(session())


def test_bluetti_link_drop_mid_request_then_reconnect(rig):
    key = rig.add_bluetti(AC180)

    async def session():
        dev = BluettiDevice(AC180, device_verify_key=key, client=rig.client(AC180))
        lost = []
        dev.on_disconnect(lambda d: lost.append(d))
        await dev.connect()
        await dev.read_telemetry()
        rig.drop_after_writes(AC180, 1)   # the next request reaches the unit, then the link drops
        with pytest.raises(NotConnectedError) as e:
            await dev.read_telemetry()
        assert isinstance(e.value, Error) and "reconnect" in str(e.value)
        for _ in range(100):
            if lost:
                break
            await asyncio.sleep(0.02)
        assert lost == [dev] and not dev.connected
        with pytest.raises(NotConnectedError):
            await dev.read_registers(0, 1)
        await dev.connect()   # a new session on a new link
        assert (await dev.read_telemetry()).device_type == "AC180"
        await dev.close()
        assert lost == [dev]   # close() is not a drop
    run(session())


def test_two_devices_concurrently_on_one_loop(rig):
    key = rig.add_bluetti(AC180)
    key2 = rig.add_bluetti(EB3A, model="EB3A")
    rig.add_sesame(LOCK)

    async def one_bluetti(address, k, model):
        async with BluettiDevice(address, device_verify_key=k, client=rig.client(address)) as dev:
            out = []
            for _ in range(3):
                out.append((await dev.read_telemetry()).device_type)
            await dev.set_output(ac=True)
            return out

    async def one_lock():
        async with SesameLock(LOCK, client=rig.client(LOCK)) as lock:
            secret = await lock.register()
            await lock.unlock("both")
            return secret

    async def both():
        return await asyncio.gather(one_bluetti(AC180, key, "AC180"), one_bluetti(EB3A, key2, "EB3A"), one_lock())
    a, b, secret = run(both())
    assert a == ["AC180"] * 3 and b == ["EB3A"] * 3 and len(secret) == 16


def test_stale_disconnect_callback_leaves_the_current_link_alone(rig):
    key = rig.add_bluetti(AC180)
    handed = []   # (disconnected_callback, client) of every connection, as bleak got them
    inner = rig.client(AC180)

    async def recording_factory(device, disconnected):
        handed.append(disconnected)
        if inner is not None:
            client = await inner(device, disconnected)
        else:
            client = _compat.make_client(await _compat.resolve_device(device, 20.0), disconnected, 20.0)
            await client.connect()
        handed[-1] = (disconnected, client)
        return client

    async def session():
        dev = BluettiDevice(AC180, device_verify_key=key, client=recording_factory)
        await dev.connect()
        await dev.close()
        await dev.connect()
        first_cb, first_client = handed[0]
        first_cb(first_client)                    # late callback of the first connection
        dev.connection_lost(first_client)         # and a forwarded one about the old client
        await asyncio.sleep(0.05)
        assert dev.connected
        assert (await dev.read_telemetry()).device_type == "AC180"
        second_cb, second_client = handed[1]
        rig.drop(AC180)                           # a real drop of the current link still counts
        for _ in range(100):
            if not dev.connected:
                break
            await asyncio.sleep(0.02)
        assert not dev.connected
        await dev.close()
    run(session())


def test_cancelled_request_leaves_the_session_consistent(rig):
    key = rig.add_bluetti(AC180)

    async def session():
        async with BluettiDevice(AC180, device_verify_key=key, client=rig.client(AC180)) as dev:
            await dev.read_telemetry()
            task = asyncio.ensure_future(dev.read_telemetry())
            await asyncio.sleep(0)            # started: its first request is on its way
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await dev.set_output(ac=True)     # queued behind the cancelled job, answered in order
            t = await dev.read_telemetry()
            assert t.ac_output_on and dev.connected
    run(session())


def test_cancelled_connect_can_be_retried(rig):
    key = rig.add_bluetti(AC180)

    async def session():
        dev = BluettiDevice(AC180, device_verify_key=key, client=rig.client(AC180))
        task = asyncio.ensure_future(dev.connect())
        await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not dev.connected
        await dev.connect()
        assert (await dev.read_telemetry()).device_type == "AC180"
        await dev.close()
    run(session())


def test_close_during_connect_is_not_a_cancellation():
    peer = EmulatedBluetti("AC180", seed=7)
    release = asyncio.Event()

    async def session():
        async def slow_factory(device, disconnected):
            await release.wait()
            return FakeBleakClient(peer, mtu=23)
        dev = BluettiDevice(AC180, device_verify_key=peer.verify_key, client=slow_factory)
        task = asyncio.ensure_future(dev.connect())
        await asyncio.sleep(0.01)
        await dev.close()                 # from another task, while connect() waits for its client
        release.set()
        with pytest.raises(NotConnectedError, match="closed while connecting"):
            await task
        assert not task.cancelled() and not dev.connected
    run(session())


def test_a_write_failure_leaves_a_client_passed_in_connected():
    peer = EmulatedBluetti("AC180", seed=7)
    client = FakeBleakClient(peer, mtu=23)

    async def session():
        async with BluettiDevice(AC180, device_verify_key=peer.verify_key, client=client) as dev:
            real_write = client.write_gatt_char

            async def failing_write(*a, **kw):
                client.write_gatt_char = real_write
                raise RuntimeError("write refused (test)")
            client.write_gatt_char = failing_write
            with pytest.raises(NotConnectedError):
                await dev.read_telemetry()
            for _ in range(5):
                await asyncio.sleep(0.01)   # a disconnect task, if one was made, has run by now
            assert client.is_connected       # the caller's client: the caller disconnects it
            await dev.connect()
            assert (await dev.read_telemetry()).device_type == "AC180"
    run(session())


def test_on_telemetry_refreshes_by_itself(rig):
    key = rig.add_bluetti(AC180)

    async def session():
        async with BluettiDevice(AC180, device_verify_key=key, client=rig.client(AC180)) as dev:
            got = asyncio.Queue()
            stop = dev.on_telemetry(got.put_nowait, every=0.05)
            first = await asyncio.wait_for(got.get(), 10)
            second = await asyncio.wait_for(got.get(), 10)
            stop()
            assert first.device_type == second.device_type == "AC180"
            assert dev.telemetry is not None
    run(session())


# ---- SESAME --------------------------------------------------------------------------------

@pytest.mark.parametrize("mtu", [23, 517])
def test_sesame_register_lock_unlock_history_pushes(rig, mtu):
    rig.add_sesame(LOCK, mtu=mtu)

    async def first():
        async with SesameLock(LOCK, client=rig.client(LOCK)) as lock:
            assert not lock.connected      # linked, not logged in
            with pytest.raises(NotConnectedError, match="register"):
                await lock.lock()
            secret = await lock.register()
            assert len(secret) == 16 and lock.connected
            return secret

    async def second(secret):
        async with SesameLock(LOCK, secret=secret.hex(), client=rig.client(LOCK)) as lock:
            states = []
            lock.on_state(lambda s: states.append(s.state))
            assert (await lock.status()).state in ("unlocked", "locked")
            await lock.lock("pytest")
            while not states or states[-1] != "locked":
                await asyncio.sleep(0.02)
            assert "locking" in states
            assert (await lock.status()).locked
            await lock.unlock("pytest")
            while states[-1] != "unlocked":
                await asyncio.sleep(0.02)
            assert "unlocking" in states
            records = [r async for r in lock.history()]
            tags = [r.tag.text for r in records]
            assert "pytest" in tags and [r.type_name for r in records if r.tag.text == "pytest"]
            assert [r async for r in lock.history()] == []   # read and deleted, as the app does
            assert isinstance(await lock.version(), str)
    secret = run(first())
    run(second(secret))
    if rig.kind == "fake":
        sizes = [len(w) for w, _ in rig.written(LOCK)]
        assert max(sizes) <= mtu - 3 and not any(resp for _, resp in rig.written(LOCK))
        if mtu == 517:
            assert max(sizes) > 20


def test_sesame_wrong_secret_and_bad_keys(rig):
    rig.add_sesame(LOCK, secret=bytes(range(16)))

    async def session():
        with pytest.raises(HandshakeError, match="secret"):
            async with SesameLock(LOCK, secret=bytes(16), client=rig.client(LOCK)):
                pass
        async with SesameLock(LOCK, secret=bytes(range(16)).hex(), client=rig.client(LOCK)) as lock:
            await lock.toggle()
    run(session())


def test_sesame_pushes_from_the_lock_reach_the_state_callback():
    peer = EmulatedSesame(secret=bytes(range(16)))
    client = FakeBleakClient(peer, mtu=23)

    async def session():
        async with SesameLock(LOCK, secret=bytes(range(16)), client=client) as lock:
            seen = asyncio.Queue()
            lock.on_state(seen.put_nowait)
            client.push(peer.turn_by_hand(-90))   # someone turns the knob
            while True:
                s = await asyncio.wait_for(seen.get(), 5)
                if s.state == "locked":
                    break
            assert (await lock.status()).locked and s.battery_percent == 100
        assert client.is_connected      # a client passed in connected stays connected
    run(session())


def test_sesame_link_drop_and_cancelled_command(rig):
    rig.add_sesame(LOCK, secret=bytes(range(16)))

    async def session():
        lock = SesameLock(LOCK, secret=bytes(range(16)), client=rig.client(LOCK))
        await lock.connect()
        task = asyncio.ensure_future(lock.lock("cancelled"))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await lock.unlock("after")         # waits for the cancelled LOCK to settle, then runs
        rig.drop_after_writes(LOCK, 1)
        with pytest.raises(NotConnectedError):
            await lock.lock("dropped")
        await lock.connect()
        await lock.toggle("again")
        await lock.close()
    run(session())


def test_sesame_cancelled_queued_command_does_not_run_and_failed_call_does_not_wedge():
    peer = EmulatedSesame(secret=bytes(range(16)))
    client = FakeBleakClient(peer, mtu=23)

    async def session():
        async with SesameLock(LOCK, secret=bytes(range(16)), client=client) as lock:
            first = asyncio.ensure_future(lock.unlock("first"))
            await asyncio.sleep(0)                        # UNLOCK "first" is in flight
            queued = asyncio.ensure_future(lock.unlock("queued"))
            await asyncio.sleep(0)                        # waits for "first" to settle
            queued.cancel()
            with pytest.raises(asyncio.CancelledError):
                await queued
            assert queued.cancelled()
            await first
            await lock.lock("later")
            tags = [r.tag.text for r in peer.device.history]
            assert "first" in tags and "later" in tags and "queued" not in tags
            # a command the engine refuses before sending (a garbled encoded tag) leaves nothing pending
            with pytest.raises(CommandError):
                await lock.unlock(b"\x05")
            with pytest.raises(TypeError):
                await lock.unlock(42)
            await asyncio.wait_for(lock.unlock("next"), 10)
    run(session())


def test_sesame_history_left_early_keeps_the_unread_records():
    peer = EmulatedSesame(secret=bytes(range(16)))
    client = FakeBleakClient(peer, mtu=23)

    async def session():
        async with SesameLock(LOCK, secret=bytes(range(16)), client=client) as lock:
            for i in range(3):
                await lock.lock(f"l{i}")
                await lock.unlock(f"u{i}")
            on_lock = [r.tag.text for r in peer.device.history]
            assert len(on_lock) >= 6
            async for r in lock.history():
                first = r
                break
            # nothing was deleted: the record handed over is deleted only when the next is asked for
            assert [r.tag.text for r in peer.device.history] == on_lock
            it = lock.history().__aiter__()
            assert (await it.__anext__()).id == first.id
            second = await it.__anext__()                 # asking for it deleted the first
            await it.aclose()
            assert first.id not in [r.id for r in peer.device.history]
            assert len(peer.device.history) == len(on_lock) - 1
            rest = [r async for r in lock.history()]
            assert rest[0].id == second.id and len(rest) == len(on_lock) - 1
            assert peer.device.history == []
    run(session())


def test_sesame_history_link_lost_while_the_consumer_holds_a_record():
    peer = EmulatedSesame(secret=bytes(range(16)))
    client = FakeBleakClient(peer, mtu=23)

    async def session():
        lock = SesameLock(LOCK, secret=bytes(range(16)), client=client)
        await lock.connect()
        await lock.lock("a")
        await lock.unlock("b")
        before = [r.id for r in peer.device.history]
        with pytest.raises(NotConnectedError):
            async for _ in lock.history():
                client.drop()
                await asyncio.sleep(0.05)
        assert [r.id for r in peer.device.history] == before   # the record in hand was not deleted
        await lock.close()
    run(session())


def test_sesame_status_without_a_push_times_out():
    peer = EmulatedSesame(secret=bytes(range(16)))
    client = FakeBleakClient(peer, mtu=23)

    async def session():
        async with SesameLock(LOCK, secret=bytes(range(16)), client=client) as lock:
            lock.STATUS_TIMEOUT = 0.2
            client.silent = True        # the lock goes quiet ...
            lock._status = None         # ... before its first status push reached us
            with pytest.raises(BleTimeoutError, match="pushed no status"):
                await asyncio.wait_for(lock.status(), 10)
            assert lock._status_waiters == []
    run(session())


# ---- keys, licence, API edges (no transport involved) ---------------------------------------

def test_keys_accept_bytes_and_hex(tmp_path):
    key = EmulatedBluetti().verify_key
    BluettiDevice(AC180, device_verify_key=key.hex().upper())
    BluettiDevice(AC180, device_verify_key="04" + key.hex())
    BluettiDevice(AC180, device_verify_key=bytearray(key))
    with pytest.raises(KeyFormatError):
        BluettiDevice(AC180, device_verify_key="zz")
    with pytest.raises(KeyFormatError, match="64"):
        BluettiDevice(AC180, device_verify_key=b"\x01" * 10)
    with pytest.raises(KeyFormatError, match="P-256"):
        BluettiDevice(AC180, device_verify_key=b"\x01" * 64)   # not a point on the curve
    secret = bytes(range(16))
    assert SesameLock(LOCK, secret=secret.hex()).secret == secret
    assert SesameLock(LOCK, secret="00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f").secret == secret
    uri = "ssm://UI?t=sk&sk=BQABAgMEBQYHCAkKCwwNDg8A8VNlAQCMvj8Qa0xNHp96KjtMXW5%2F&l=1&n=Front%20door"
    assert SesameLock(LOCK, qr=uri).secret == secret
    f = tmp_path / "lock.key"
    f.write_text(secret.hex() + "\n")
    f.chmod(0o644)
    with pytest.raises(KeyFormatError, match="chmod 600"):
        SesameLock(LOCK, key_file=f)
    f.chmod(0o600)
    assert SesameLock(LOCK, key_file=f).secret == secret
    link = tmp_path / "link.key"
    link.symlink_to(f)
    with pytest.raises(KeyFormatError, match="symbolic"):
        SesameLock(LOCK, key_file=link)
    with pytest.raises(KeyFormatError, match="one of"):
        SesameLock(LOCK, secret=secret, qr=uri)
    with pytest.raises(KeyFormatError):
        SesameLock(LOCK, qr="ssm://nonsense")
    assert issubclass(KeyFormatError, Error) and issubclass(KeyFormatError, ValueError)


def test_keys_refuse_os2_uris_long_tags_and_explain_open_errors(tmp_path, monkeypatch):
    import base64
    from blecrypt.sesame import build_share_uri
    os2 = bytes([0]) + bytes(16) + bytes(range(64)) + bytes(18)        # a SESAME 3 (OS2) share key
    with pytest.raises(KeyFormatError, match="only OS3 keys of the SESAME 5 family"):
        SesameLock(LOCK, qr="ssm://UI?t=sk&sk=" + base64.b64encode(os2).decode())
    secret = bytes(range(16))
    for model in (5, 7, 16):                                            # SESAME 5, 5 Pro, 5 US
        assert SesameLock(LOCK, qr=build_share_uri(secret, bytes(16), model)).secret == secret
    # an error opening a key file names the cause; only ELOOP is about symbolic links; ~ is expanded
    with pytest.raises(KeyFormatError) as missing:
        SesameLock(LOCK, key_file=tmp_path / "absent.key")
    assert "No such file" in str(missing.value) and "symbolic" not in str(missing.value)
    monkeypatch.setenv("HOME", str(tmp_path))
    f = tmp_path / "home.key"
    f.write_text(secret.hex())
    f.chmod(0o600)
    assert SesameLock(LOCK, key_file="~/home.key").secret == secret
    # a text tag the lock cannot keep whole is refused, not cut
    peer = EmulatedSesame(secret=secret)
    client = FakeBleakClient(peer, mtu=23)

    async def session():
        async with SesameLock(LOCK, secret=secret, client=client) as lock:
            with pytest.raises(InvalidArgument, match="at most 29"):
                await lock.unlock("x" * 30)
            with pytest.raises(InvalidArgument, match="at most 29"):
                await lock.lock("é" * 15)                          # 30 bytes of UTF-8
            await lock.unlock("y" * 29)
            assert [r.tag.text for r in peer.device.history] == ["y" * 29]
    run(session())


def test_licence_allows_listed_serial_and_refuses_others(tmp_path):
    async def attempt(licence):
        peer = EmulatedBluetti("AC180")
        dev = BluettiDevice(AC180, device_verify_key=peer.verify_key, licence_path=licence,
                            client=factory(peer)[0])
        try:
            await dev.connect()
            return dev.iot_serial
        finally:
            await dev.close()
    iot = EmulatedBluetti("AC180").device.iot_serial
    ok = tmp_path / "ok.csv"
    ok.write_text(f"iot_serial,label\n{iot},garage\n")
    assert run(attempt(ok)) == iot
    other = tmp_path / "other.csv"
    other.write_text("1234\n")
    with pytest.raises(LicenceError, match=str(iot)):
        run(attempt(other))
    with pytest.raises(LicenceError):
        run(attempt(tmp_path / "missing.csv"))

    # #15 item 7: the refusal quotes the bad line: non-UTF-8 and control bytes escaped, bounded
    # (it was a UnicodeDecodeError, and a 5000-byte line came back whole).
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe\x1b[31m" + b"9" * 5000 + b"\n")
    with pytest.raises(LicenceError) as e:
        run(attempt(bad))
    msg = str(e.value)
    assert "\\xff\\xfe\\x1b[31m" in msg and msg.isprintable() and msg.isascii() and len(msg) < 512, msg


def test_not_connected_and_bad_arguments():
    async def session():
        dev = BluettiDevice(AC180)
        with pytest.raises(NotConnectedError, match="async with"):
            await dev.read_telemetry()
        with pytest.raises(InvalidArgument):
            await dev.read_registers(0, 0)
        with pytest.raises(ValueError):
            await dev.set_output()
        await dev.close()   # closing what never opened is fine
    run(session())
    with pytest.raises(TypeError):
        BluettiDevice(AC180, client=42)
    with pytest.raises(ValueError):
        BluettiDevice("")


def test_a_device_without_the_service_is_refused():
    peer = EmulatedSesame()
    client = FakeBleakClient(peer, connected=True)

    async def session():
        with pytest.raises(BleError, match="no BLUETTI service"):
            await BluettiDevice(AC180, client=client).connect()
    run(session())


def test_compat_mtu_rules():
    class Char:
        max_write_without_response_size = 244

    class Backend:
        _mtu_size = None

    class Bleak020:   # bleak 0.20 BlueZ before _acquire_mtu(): mtu_size is a guess
        _backend = Backend()
        mtu_size = 23

    class Proxy:      # a client that knows its MTU (ESPHome proxy, newer bleak)
        mtu_size = 185

    assert _compat.att_payload(Bleak020(), Char()) == 244
    assert _compat.att_payload(Proxy(), None) == 182
    assert _compat.att_payload(Proxy(), Char()) == 244
    assert _compat.att_payload(object(), None) == 20
    if _compat.bleak_version():
        assert _compat.bleak_version() >= (0, 20)


def test_scan_classifies_advertisements():
    from blecrypt.ble.scan import classify
    b = classify(AC180, "AC1802524610159690", -50, {0x4C42: b"BLUETTF"}, ["0000ff00-0000-1000-8000-00805f9b34fb"])
    assert b.kind == "bluetti" and b.details["link"] == "encrypted"
    dev = EmulatedSesame().device
    from blecrypt.sesame import parse_advertisement  # noqa: F401
    import sys as _sys
    _sys.path.insert(0, str(HERE.parent / "bluez"))
    from emulated import parse_ad
    ad = parse_ad(dev.advertisement())
    md = {m[0] | (m[1] << 8): m[2:] for m in ad.get(0xFF, [])}
    uuids = [f"0000{u[i] | (u[i + 1] << 8):04x}-0000-1000-8000-00805f9b34fb"
             for u in ad.get(0x03, []) + ad.get(0x02, []) for i in range(0, len(u) - 1, 2)]
    s = classify(LOCK, None, -60, md, uuids)
    assert s.kind == "sesame" and s.details["model"] == 5
    # as docs/python.md shows it: the model name once
    assert "  SESAME 5, not registered, uuid 00010203-" in s.describe() and "SESAME SESAME" not in s.describe()
    assert classify("00:11:22:33:44:55", "x", None, {}, []).kind == "other"


@pytest.mark.skipif(not HAVE_BLUEZ, reason="python3-bleak / dbusmock missing")
def test_python_m_blecrypt_ble_scan(tmp_path):
    import subprocess
    from harness import BluezMock
    with BluezMock() as bz:
        bz.add_bluetti("AC180", AC180)
        bz.add_sesame("5", LOCK)
        env = bz.env
        env["PYTHONPATH"] = os.pathsep.join([os.environ.get("PYTHONPATH", ""), env.get("PYTHONPATH", "")])
        out = subprocess.run([sys.executable, "-m", "blecrypt.ble", "scan", "--timeout", "1.5"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert AC180 in out.stdout and "BLUETTI encrypted firmware" in out.stdout
        assert LOCK in out.stdout and "SESAME" in out.stdout
        bad = subprocess.run([sys.executable, "-m", "blecrypt.ble", "scan", "--timeout", "0"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2


@pytest.mark.skipif(not HAVE_BLUEZ, reason="python3-bleak missing")
def test_python_m_blecrypt_ble_scan_without_a_system_bus_and_interrupted(tmp_path, monkeypatch):
    import subprocess
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={tmp_path}/no-bus")
    out = subprocess.run([sys.executable, "-m", "blecrypt.ble", "scan", "--timeout", "1"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 3, out.stderr
    assert "bluetoothd running" in out.stderr and "Traceback" not in out.stderr
    from blecrypt.ble import __main__ as ble_main

    async def interrupted(*a, **kw):
        raise KeyboardInterrupt
    monkeypatch.setattr(ble_main, "scan", interrupted)
    assert ble_main.main(["scan", "--timeout", "1"]) == 130


# ---- the examples in docs/python.md run as written (against the BlueZ mock) ----------------

REPO = HERE.parent.parent


@pytest.mark.skipif(not HAVE_BLUEZ, reason="python3-bleak / dbusmock missing")
def test_examples_run_as_written():
    import subprocess
    from harness import BluezMock
    with BluezMock() as bz:
        dev = bz.add_bluetti("AC180", AC180)
        secret = bytes(range(16))
        bz.add_sesame("5", LOCK, secret=secret)
        env = bz.env
        env["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH", ""), env.get("PYTHONPATH", ""))
                                            if p)
        env["BLECRYPT_BLUETTI_DEVICE_KEY"] = bz.emulator_state(dev)["verify_key"]   # the emulator's key, not K2
        out = subprocess.run([sys.executable, str(REPO / "examples/python/bluetti_status.py"), AC180], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("AC180 ") and "80 %" in out.stdout
        out = subprocess.run([sys.executable, str(REPO / "examples/python/sesame_unlock.py"), LOCK, secret.hex()],
                             env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "lock is unlock" in out.stdout and "unlock python" in out.stdout   # unlocking or unlocked


def test_mypy_strict_on_blecrypt_ble_and_examples():
    if shutil.which("mypy") is None:
        pytest.skip("mypy is not installed (Debian package mypy, scripts/bootstrap)")
    import subprocess
    for target in (["-p", "blecrypt.ble", "-m", "blecrypt.bench"], [str(REPO / "examples/python")]):
        out = subprocess.run(["mypy", "--strict", "--config-file", str(REPO / "pyproject.toml"), *target], cwd=REPO,
                             capture_output=True, text=True, timeout=300,
                             env=dict(os.environ, MYPYPATH=str(REPO / "python")))
        assert out.returncode == 0, out.stdout + out.stderr


def test_the_fake_client_sample_in_docs_runs(capsys):
    import re
    text = (REPO / "docs/python.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "blecrypt.ble.testing" in b]
    assert blocks, "docs/python.md lost its fake-client sample"
    for b in blocks:
        exec(compile(b, "docs/python.md", "exec"), {"__name__": "__main__"})
    assert "Telemetry(device_type='AC180'" in capsys.readouterr().out


def test_bench_reports_both_scenarios():
    import json
    import subprocess
    out = subprocess.run([sys.executable, "-m", "blecrypt.bench", "--count", "5", "--json", "--mtu", "185"],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["mtu"] == 185 and r["count"] == 5
    for name in ("bluetti_telemetry_refresh", "sesame_lock_command"):
        assert r[name]["total_us"] > 0 and r[name]["peer_us"] > 0
        assert r[name]["client_us"] == pytest.approx(r[name]["total_us"] - r[name]["peer_us"], abs=0.2)
    bad = subprocess.run([sys.executable, "-m", "blecrypt.bench", "--count", "0"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2


@pytest.mark.skipif(not HAVE_BLUEZ, reason="python3-bleak / dbusmock missing")
def test_an_address_nobody_advertises_is_device_not_found(monkeypatch):
    from harness import BluezMock
    from blecrypt.ble import DeviceNotFoundError
    with BluezMock() as bz:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bz.address)
        bz.add_bluetti("AC180", AC180)

        async def session():
            dev = BluettiDevice("C4:DE:E2:99:99:99")
            dev.CONNECT_TIMEOUT = 1.0
            with pytest.raises(DeviceNotFoundError, match="in range"):
                await dev.connect()
            assert not dev.connected
        run(session())
