"""The BlueZ mock (tests/bluez) seen from a client: dbus-python, busctl and real bleak (Debian 0.20).

Run: PYTHONPATH=build/dev/python /usr/bin/python3 -m pytest -q tests/python/test_bluez_mock.py

Every test starts its own dbus-daemon (system-bus config, unix socket in a temp dir) and mock,
and tears both down. Emulated devices need the built blecrypt package on PYTHONPATH.
"""

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

dbus = pytest.importorskip("dbus")
pytest.importorskip("dbusmock")
from dbus.mainloop.glib import DBusGMainLoop  # noqa: E402
from gi.repository import GLib  # noqa: E402

HERE = Path(__file__).resolve().parent
BLUEZ_TESTS = HERE.parent / "bluez"
sys.path.insert(0, str(BLUEZ_TESTS))
from harness import BluezMock, device_path  # noqa: E402

from blecrypt import bluetti, sesame  # noqa: E402

ADAPTER = "/org/bluez/hci0"
DEV = "org.bluez.Device1"
CHRC = "org.bluez.GattCharacteristic1"
AC180 = "C4:DE:E2:11:22:33"
LOCK = "E1:5E:5A:00:00:05"
FF01 = "0000ff01-0000-1000-8000-00805f9b34fb"
FF02 = "0000ff02-0000-1000-8000-00805f9b34fb"
SESAME_WRITE = "16860002-a5ae-9856-b6d3-dbb4c676993e"
SESAME_NOTIFY = "16860003-a5ae-9856-b6d3-dbb4c676993e"
# Handles as the mock lays out every emulated device: service 0x000a, first char 0x000b (its
# CCCD 0x000d when it notifies), second char after it.
BLUETTI_NOTIFY = "/service000a/char000b"
BLUETTI_WRITE = "/service000a/char000e"

if shutil.which("dbus-daemon") is None:
    pytest.skip("dbus-daemon is not installed (scripts/bootstrap)", allow_module_level=True)

needs_busctl = pytest.mark.skipif(not Path("/usr/bin/busctl").exists(), reason="busctl (systemd) missing")


@pytest.fixture
def bz():
    with BluezMock() as mock:
        yield mock


class Central:
    """A dbus-python BlueZ client on the private bus; signals are collected by a GLib loop that
    spin() iterates."""

    def __init__(self, bz):
        self.bz = bz
        self.bus = dbus.bus.BusConnection(bz.address, mainloop=DBusGMainLoop())
        self.signals = []
        self.bus.add_signal_receiver(self._on_signal, bus_name="org.bluez", path_keyword="path",
                                     member_keyword="member", interface_keyword="interface")
        self.bus.add_signal_receiver(self._on_owner, "NameOwnerChanged", "org.freedesktop.DBus",
                                     arg0="org.bluez")

    def _on_signal(self, *args, path=None, member=None, interface=None):
        self.signals.append((member, str(path), args))

    def _on_owner(self, name, old, new):
        self.signals.append(("NameOwnerChanged", "", (str(old) != "", str(new) != "")))

    def close(self):
        self.bus.close()

    def spin(self, predicate=lambda: False, timeout=5.0, what="condition"):
        ctx = GLib.MainContext.default()
        deadline = time.monotonic() + timeout
        while True:
            while ctx.pending():
                ctx.iteration(False)
            value = predicate()
            if value:
                while ctx.pending():      # signals queued behind a synchronous reply
                    ctx.iteration(False)
                return value
            if time.monotonic() > deadline:
                if what is None:
                    return value
                raise TimeoutError(f"timed out waiting for {what}")
            time.sleep(0.005)

    def iface(self, path, interface):
        return dbus.Interface(self.bus.get_object("org.bluez", path, introspect=False), interface)

    def call(self, path, interface, method, *args, timeout=5.0):
        return self.iface(path, interface).get_dbus_method(method)(*args, timeout=timeout)

    def error(self, path, interface, method, *args, timeout=5.0):
        with pytest.raises(dbus.exceptions.DBusException) as info:
            self.call(path, interface, method, *args, timeout=timeout)
        return info.value.get_dbus_name(), info.value.get_dbus_message()

    def get(self, path, interface, name):
        return self.call(path, "org.freedesktop.DBus.Properties", "Get", interface, name)

    def objects(self):
        return self.call("/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")

    def changes(self, path, name):
        return [a[1][name] for m, p, a in self.signals if m == "PropertiesChanged" and p == path and name in a[1]]

    def added(self, path):
        return [a[1] for m, _, a in self.signals if m == "InterfacesAdded" and str(a[0]) == path]

    def removed(self, path):
        return [list(a[1]) for m, _, a in self.signals if m == "InterfacesRemoved" and str(a[0]) == path]

    # ---- common steps
    def discover(self, *paths, filter=None):
        self.call(ADAPTER, "org.bluez.Adapter1", "SetDiscoveryFilter",
                  dbus.Dictionary(filter or {"Transport": "le", "DuplicateData": True}, signature="sv"))
        self.call(ADAPTER, "org.bluez.Adapter1", "StartDiscovery")
        self.spin(lambda: all(self.added(p) for p in paths), what=f"InterfacesAdded {paths}")

    def connect(self, path):
        self.call(path, DEV, "Connect", timeout=30)
        self.spin(lambda: self.get(path, DEV, "ServicesResolved"), what="ServicesResolved")

    def notifications(self, path):
        return [bytes(v) for v in self.changes(path, "Value")]

    def write(self, path, data, kind="command"):
        self.call(path, CHRC, "WriteValue", dbus.ByteArray(data),
                  dbus.Dictionary({"type": kind}, signature="sv"))


@pytest.fixture
def central(bz):
    c = Central(bz)
    yield c
    c.close()


def split(data, mtu):
    n = mtu - 3
    return [data[i:i + n] for i in range(0, len(data), n)]


def bluetti_handshake(central, dev, verify_key, mtu=23):
    """Drives blecrypt.bluetti.Client over the mock (StartNotify + WriteValue command)."""
    notify, write = dev + BLUETTI_NOTIFY, dev + BLUETTI_WRITE
    client = bluetti.Client(device_verify_key=verify_key)
    central.call(notify, CHRC, "StartNotify")
    seen = 0
    deadline = time.monotonic() + 10
    while not client.ready:
        got = central.spin(lambda: len(central.notifications(notify)) > seen, timeout=max(0.1, deadline - time.monotonic()),
                           what="BLUETTI notification")
        assert got
        new = central.notifications(notify)[seen:]
        seen += len(new)
        for n in new:
            for w in client.receive(n):
                for piece in split(w, mtu):
                    central.write(write, piece)
    return client


# ---- object tree, advertisements, discovery -------------------------------------------------------

def test_adapter_is_powered_and_has_managers(central):
    objs = central.objects()
    assert set(objs[ADAPTER]) >= {"org.bluez.Adapter1", "org.bluez.GattManager1", "org.bluez.LEAdvertisingManager1"}
    assert objs[ADAPTER]["org.bluez.Adapter1"]["Powered"] is not None
    assert bool(central.get(ADAPTER, "org.bluez.Adapter1", "Powered"))
    assert not bool(central.get(ADAPTER, "org.bluez.Adapter1", "Discovering"))


def test_scan_finds_bluetti_and_sesame_with_correct_manufacturer_data(bz, central):
    dev = bz.add_bluetti("AC180", AC180)
    lock = bz.add_sesame("5", LOCK)
    assert dev not in central.objects()        # not known until an advertisement is seen
    central.discover(dev, lock)
    assert bool(central.get(ADAPTER, "org.bluez.Adapter1", "Discovering"))
    props = central.added(dev)[0][DEV]
    md = props["ManufacturerData"]
    assert md.signature == "qv"                # a{qv}, not the stock template's aa{qv}
    assert {int(k): bytes(v) for k, v in md.items()} == {0x4C42: b"BLUETTF"}
    assert str(props["Name"]).startswith("AC180")
    assert "0000ff00-0000-1000-8000-00805f9b34fb" in [str(u) for u in props["UUIDs"]]
    assert props["Address"] == AC180 and isinstance(props["RSSI"], dbus.Int16)
    lp = central.added(lock)[0][DEV]
    lmd = {int(k): bytes(v) for k, v in lp["ManufacturerData"].items()}
    ad = sesame.parse_advertisement(b"\x02\x01\x06\x16\xff\x5a\x05" + lmd[0x055A])
    assert ad["model"] == 5 and ad["registered"] is False
    assert "0000fd81-0000-1000-8000-00805f9b34fb" in [str(u) for u in lp["UUIDs"]]


@needs_busctl
def test_busctl_sees_a_qv_manufacturer_data(bz, central):
    dev = bz.add_bluetti("EB3A", AC180, cached=True)
    out = subprocess.run(["busctl", "--system", "get-property", "org.bluez", dev, DEV, "ManufacturerData"],
                         env=bz.env, capture_output=True, text=True, timeout=10).stdout
    assert out.startswith("a{qv} 1 19522 ay 7 66 76 85 69 84 84 70"), out


def test_duplicate_data_reemits_manufacturer_data(bz, central):
    dev = bz.add_bluetti("AC180", AC180)
    central.discover(dev, filter={"Transport": "le", "DuplicateData": True})
    central.spin(lambda: len(central.changes(dev, "ManufacturerData")) >= 3, what="re-emitted ManufacturerData")
    assert len(central.changes(dev, "RSSI")) >= 3


def test_without_duplicate_data_only_rssi_changes(bz, central):
    dev = bz.add_bluetti("AC180", AC180)
    central.discover(dev, filter={"Transport": "le"})   # BlueZ 5.66 default: DuplicateData false
    central.spin(lambda: len(central.changes(dev, "RSSI")) >= 3, what="RSSI updates")
    assert central.changes(dev, "ManufacturerData") == []


def test_unfiltered_discovery_hides_small_rssi_changes_and_stop_invalidates_rssi(bz, central):
    dev = bz.add_bluetti("AC180", AC180)
    central.call(ADAPTER, "org.bluez.Adapter1", "StartDiscovery")   # no SetDiscoveryFilter
    central.spin(lambda: central.added(dev), what="device")
    central.spin(what=None, timeout=0.5)
    assert central.changes(dev, "RSSI") == []       # 1 dB jitter < RSSI_THRESHOLD (8 dB)
    central.call(ADAPTER, "org.bluez.Adapter1", "StopDiscovery")
    central.spin(lambda: [a for m, p, a in central.signals if m == "PropertiesChanged" and p == dev
                          and "RSSI" in a[2]], what="RSSI invalidated")
    assert "RSSI" not in central.call(dev, "org.freedesktop.DBus.Properties", "GetAll", DEV)


def test_discovery_errors_like_bluez(bz, central):
    a = "org.bluez.Adapter1"
    assert central.error(ADAPTER, a, "StopDiscovery") == ("org.bluez.Error.Failed", "No discovery started")
    assert central.error(ADAPTER, a, "SetDiscoveryFilter", dbus.Dictionary({"Bogus": 1}, signature="sv"))[0] == \
        "org.bluez.Error.InvalidArguments"
    central.call(ADAPTER, a, "StartDiscovery")
    assert central.error(ADAPTER, a, "StartDiscovery")[0] == "org.bluez.Error.InProgress"
    central.call(ADAPTER, a, "StopDiscovery")
    bz.power(False)
    assert central.error(ADAPTER, a, "StartDiscovery") == ("org.bluez.Error.NotReady", "Resource Not Ready")
    bz.power(True)
    central.call(ADAPTER, a, "StartDiscovery")


def test_discovery_stops_when_the_client_leaves_the_bus(bz, central):
    other = Central(bz)
    other.call(ADAPTER, "org.bluez.Adapter1", "StartDiscovery")
    central.spin(lambda: central.get(ADAPTER, "org.bluez.Adapter1", "Discovering"), what="Discovering")
    other.close()
    central.spin(lambda: not central.get(ADAPTER, "org.bluez.Adapter1", "Discovering"), what="discovery end")


def test_uuid_filter_hides_other_devices(bz, central):
    dev = bz.add_bluetti("AC180", AC180)
    lock = bz.add_sesame("5", LOCK)
    central.discover(lock, filter={"Transport": "le", "UUIDs": ["0000fd81-0000-1000-8000-00805f9b34fb"]})
    central.spin(what=None, timeout=0.4)
    assert central.added(dev) == []


def test_temporary_device_is_dropped_after_discovery_unless_connected(bz, central):
    bz.set_option("temporary_timeout", 0.5)
    dev = bz.add_bluetti("AC180", AC180)
    lock = bz.add_sesame("5", LOCK)
    central.discover(dev, lock)
    central.connect(lock)
    central.call(ADAPTER, "org.bluez.Adapter1", "StopDiscovery")
    central.spin(lambda: central.removed(dev), what="InterfacesRemoved of the temporary device")
    assert central.removed(dev)[0] == ["org.bluez.Device1"]
    objs = central.objects()
    assert dev not in objs and lock in objs    # Connect made the lock non-temporary (dev_connect)


# ---- connection and GATT ----------------------------------------------------------------------------

def test_connect_sequence_and_gatt_layout(bz, central):
    dev = bz.add_bluetti("AC180", AC180)
    central.discover(dev)
    central.signals.clear()
    done = []
    central.iface(dev, DEV).Connect(reply_handler=lambda: done.append("reply"),
                                    error_handler=lambda e: done.append(e), timeout=30)
    central.spin(lambda: central.get(dev, DEV, "ServicesResolved"), what="ServicesResolved")
    assert done == ["reply"]
    order = [(m, p, a) for m, p, a in central.signals
             if (m == "PropertiesChanged" and p == dev and ("Connected" in a[1] or "ServicesResolved" in a[1]))
             or m == "InterfacesAdded"]
    assert list(order[0][2][1]) == ["Connected"] and bool(order[0][2][1]["Connected"])
    assert [str(a[0]) for m, _, a in order if m == "InterfacesAdded"] == [
        dev + "/service000a", dev + BLUETTI_NOTIFY, dev + "/service000a/char000b/desc000d", dev + BLUETTI_WRITE]
    assert list(order[-1][2][1]) == ["ServicesResolved"]
    objs = central.objects()
    svc = objs[dev + "/service000a"]["org.bluez.GattService1"]
    assert str(svc["UUID"]) == "0000ff00-0000-1000-8000-00805f9b34fb" and bool(svc["Primary"])
    n = objs[dev + BLUETTI_NOTIFY][CHRC]
    w = objs[dev + BLUETTI_WRITE][CHRC]
    assert str(n["UUID"]) == FF01 and list(n["Flags"]) == ["notify"] and not bool(n["Notifying"])
    assert "NotifyAcquired" in n and "WriteAcquired" not in n
    assert str(w["UUID"]) == FF02 and set(w["Flags"]) == {"write", "write-without-response"}
    assert "WriteAcquired" in w and "Notifying" not in w
    assert isinstance(n["MTU"], dbus.UInt16) and int(n["MTU"]) == 23
    desc = objs[dev + "/service000a/char000b/desc000d"]["org.bluez.GattDescriptor1"]
    assert str(desc["UUID"]) == "00002902-0000-1000-8000-00805f9b34fb"

    central.signals.clear()
    central.call(dev, DEV, "Disconnect")
    central.spin(lambda: central.changes(dev, "Connected"), what="Connected false")
    # Discovery is still on, so RSSI updates may interleave: keep only the link-state properties.
    seq = [m if m != "PropertiesChanged" else list(a[1])[0] for m, p, a in central.signals
           if m == "InterfacesRemoved"
           or (m == "PropertiesChanged" and p == dev and ("Connected" in a[1] or "ServicesResolved" in a[1]))]
    assert seq[0] == "ServicesResolved" and seq[-1] == "Connected"
    assert seq.count("InterfacesRemoved") == 4
    assert not any(p.startswith(dev + "/") for p in central.objects())


def test_connect_twice_and_disconnect_when_idle_succeed(bz, central):
    dev = bz.add_bluetti("AC180", AC180, cached=True)
    central.connect(dev)
    central.call(dev, DEV, "Connect")      # already connected: plain success, as device.c
    central.call(dev, DEV, "Disconnect")
    central.call(dev, DEV, "Disconnect")   # not connected: success too


def test_gatt_errors_use_bluez_names(bz, central):
    dev = bz.add_bluetti("AC180", AC180, cached=True)
    central.connect(dev)
    notify, write = dev + BLUETTI_NOTIFY, dev + BLUETTI_WRITE
    opts = lambda **kw: dbus.Dictionary(kw, signature="sv")  # noqa: E731
    assert central.error(write, CHRC, "StartNotify") == ("org.bluez.Error.NotSupported", "Operation is not supported")
    assert central.error(notify, CHRC, "AcquireWrite", opts())[0] == "org.bluez.Error.NotSupported"
    assert central.error(notify, CHRC, "ReadValue", opts()) == ("org.bluez.Error.NotPermitted", "Read not permitted")
    assert central.error(notify, CHRC, "WriteValue", dbus.ByteArray(b"x"), opts()) == \
        ("org.bluez.Error.NotSupported", "Operation is not supported")
    assert central.error(write, CHRC, "WriteValue", dbus.ByteArray(b"x"), opts(type="bogus"))[0] == \
        "org.bluez.Error.NotSupported"
    assert central.error(write, CHRC, "WriteValue", dbus.ByteArray(b"x"), opts(offset=dbus.UInt32(1)))[0] == \
        "org.bluez.Error.InvalidArguments"
    assert central.error(write, CHRC, "WriteValue", dbus.ByteArray(b"x" * 21), opts(type="command")) == \
        ("org.bluez.Error.Failed", "Failed to initiate write")      # > MTU - 3 in one command
    central.write(write, b"x" * 21, kind="request")                 # a long write is fine
    assert central.error(notify, CHRC, "StopNotify") == ("org.bluez.Error.Failed", "No notify session started")
    central.call(dev, DEV, "Disconnect")
    assert central.error(notify, CHRC, "ReadValue", opts())[0] == "org.freedesktop.DBus.Error.UnknownObject"


def test_write_types_reach_the_peripheral(bz, central):
    dev = bz.add_le_device("11:22:33:44:55:66", name="generic", cached=True,
                           gatt=[("0000aaaa-0000-1000-8000-00805f9b34fb",
                                  [("0000aaa1-0000-1000-8000-00805f9b34fb", ["read", "write", "write-without-response",
                                                                             "notify"])])])
    central.connect(dev)
    c = dev + "/service000a/char000b"
    for kind in ("command", "request", "reliable"):
        central.write(c, kind.encode(), kind)
    central.call(c, CHRC, "WriteValue", dbus.ByteArray(b"default"), dbus.Dictionary({}, signature="sv"))
    assert bz.written(c) == [b"command", b"request", b"reliable", b"default"]
    value = central.call(c, CHRC, "ReadValue", dbus.Dictionary({"offset": dbus.UInt16(2)}, signature="sv"))
    assert bytes(value) == b"fault"
    central.call(c, CHRC, "StartNotify")
    central.spin(lambda: central.changes(c, "Notifying"), what="Notifying")
    bz.notify(c, b"\xaa\x55" * 20)                                   # 40 bytes at MTU 23: 20 + 20
    central.spin(lambda: len(central.notifications(c)) >= 2, what="notifications")
    assert central.notifications(c)[-2:] == [b"\xaa\x55" * 10, b"\xaa\x55" * 10]


def test_bluetti_handshake_over_start_notify_and_write_value(bz, central):
    dev = bz.add_bluetti("AC180", AC180)
    central.discover(dev)
    central.connect(dev)
    key = bytes.fromhex(bz.emulator_state(dev)["verify_key"])
    notify = dev + BLUETTI_NOTIFY
    central.call(notify, CHRC, "StartNotify")
    central.spin(lambda: central.notifications(notify), what="challenge")
    first = central.notifications(notify)[0]
    assert first[:3] == b"\x2a\x2a\x01" and len(first) == 10            # CHALLENGE frame (spec §3)
    assert bool(central.get(notify, CHRC, "Notifying"))
    # continue the same session: feed the challenge already received
    client = bluetti.Client(device_verify_key=key)
    queue, seen = [first], 0
    deadline = time.monotonic() + 10
    while not client.ready and time.monotonic() < deadline:
        for n in queue:
            for w in client.receive(n):
                for piece in split(w, 23):
                    central.write(dev + BLUETTI_WRITE, piece)
        central.spin(lambda: len(central.notifications(notify)) > seen or client.ready, timeout=2, what=None)
        queue = central.notifications(notify)[seen:]
        seen += len(queue)
    assert client.ready
    assert all(len(n) <= 20 for n in central.notifications(notify))    # split to MTU - 3
    central.spin(lambda: bz.emulator_state(dev)["established"], what="device side established")


def test_bluetti_acquire_notify_and_acquire_write(bz, central):
    dev = bz.add_bluetti("EL30V2", AC180, cached=True, mtu=517)
    central.connect(dev)
    notify, write = dev + BLUETTI_NOTIFY, dev + BLUETTI_WRITE
    key = bytes.fromhex(bz.emulator_state(dev)["verify_key"])
    nfd, mtu = central.call(notify, CHRC, "AcquireNotify", dbus.Dictionary({}, signature="sv"))
    wfd, wmtu = central.call(write, CHRC, "AcquireWrite", dbus.Dictionary({}, signature="sv"))
    assert int(mtu) == 517 and int(wmtu) == 517
    ns = socket.socket(fileno=nfd.take())
    ws = socket.socket(fileno=wfd.take())
    assert ns.type == socket.SOCK_SEQPACKET and ws.family == socket.AF_UNIX
    central.spin(lambda: central.changes(notify, "NotifyAcquired") and central.changes(write, "WriteAcquired"),
                 what="Acquired properties")
    assert central.error(notify, CHRC, "StartNotify") == ("org.bluez.Error.NotPermitted", "Notify acquired")
    assert central.error(write, CHRC, "WriteValue", dbus.ByteArray(b"x"), dbus.Dictionary({}, signature="sv")) == \
        ("org.bluez.Error.NotPermitted", "Write acquired")
    client = bluetti.Client(device_verify_key=key)
    ns.settimeout(5)
    sizes = []
    while not client.ready:
        n = ns.recv(1024)
        sizes.append(len(n))
        for w in client.receive(n):
            ws.send(w)                      # MTU 517: whole records, one datagram each
    assert max(sizes) > 20                  # not split at 517
    assert central.notifications(notify) == []   # Value is not updated while acquired
    central.spin(lambda: bz.emulator_state(dev)["established"], what="device side established")
    ws.close()
    central.spin(lambda: [v for v in central.changes(write, "WriteAcquired") if not v], what="WriteAcquired false")
    ns.close()
    central.spin(lambda: [v for v in central.changes(notify, "NotifyAcquired") if not v], what="NotifyAcquired false")
    central.call(notify, CHRC, "StartNotify")   # allowed again


def test_bluetti_challenge_repeats_on_the_emulator_deadline(bz, central):
    dev = bz.add_bluetti("AC180", AC180, cached=True)
    central.connect(dev)
    notify = dev + BLUETTI_NOTIFY
    central.call(notify, CHRC, "StartNotify")
    central.spin(lambda: len(central.notifications(notify)) >= 2, timeout=5, what="repeated challenge")
    first, again = central.notifications(notify)[:2]
    assert first == again and first[:3] == b"\x2a\x2a\x01"    # unanswered: repeated every 2 s


def test_link_drop_closes_acquired_sockets(bz, central):
    dev = bz.add_bluetti("AC180", AC180, cached=True)
    central.connect(dev)
    nfd, _ = central.call(dev + BLUETTI_NOTIFY, CHRC, "AcquireNotify", dbus.Dictionary({}, signature="sv"))
    wfd, _ = central.call(dev + BLUETTI_WRITE, CHRC, "AcquireWrite", dbus.Dictionary({}, signature="sv"))
    ns, ws = socket.socket(fileno=nfd.take()), socket.socket(fileno=wfd.take())
    ns.settimeout(5)
    assert ns.recv(64)[:3] == b"\x2a\x2a\x01"
    bz.drop_link(dev)
    assert ns.recv(64) == b""                                   # EOF: bluetoothd closed its end
    with pytest.raises(OSError):
        for _ in range(100):
            ws.send(b"x")
    ns.close()
    ws.close()


def test_full_bluetti_session_telemetry_over_the_mock(bz, central):
    dev = bz.add_bluetti("EB3A", AC180, cached=True)
    central.connect(dev)
    key = bytes.fromhex(bz.emulator_state(dev)["verify_key"])
    client = bluetti_handshake(central, dev, key)
    notify = dev + BLUETTI_NOTIFY
    seen = [len(central.notifications(notify))]

    def exchange(write):
        for piece in split(write, 23):
            central.write(dev + BLUETTI_WRITE, piece)
        central.spin(lambda: len(central.notifications(notify)) > seen[0], timeout=3, what="answer")
        central.spin(what=None, timeout=0.1)     # the rest of a split answer
        new = central.notifications(notify)[seen[0]:]
        seen[0] += len(new)
        return [b"".join(new)]
    t = client.telemetry(exchange)
    assert t.model == "EB3A"


def test_sesame_register_and_lock_over_the_mock(bz, central):
    lock = bz.add_sesame("5", LOCK, cached=True)
    central.connect(lock)
    notify, write = lock + "/service000a/char000d", lock + "/service000a/char000b"
    objs = central.objects()
    assert str(objs[notify][CHRC]["UUID"]) == SESAME_NOTIFY and str(objs[write][CHRC]["UUID"]) == SESAME_WRITE
    client = sesame.Client(auto=True)
    central.call(notify, CHRC, "StartNotify")
    seen = 0

    def pump(until, what):
        nonlocal seen
        deadline = time.monotonic() + 10
        while not until():
            assert time.monotonic() < deadline, what
            central.spin(lambda: len(central.notifications(notify)) > seen, timeout=1, what=None)
            new = central.notifications(notify)[seen:]
            seen += len(new)
            for n in new:
                for p in client.receive(n):
                    central.write(write, p)
    pump(lambda: client.ready, "registration + login")
    for p in client.lock("mock test"):
        central.write(write, p)
    pump(lambda: bz.emulator_state(lock)["locked"], "locked")
    assert bz.emulator_state(lock)["registered"]


# ---- fault injection ---------------------------------------------------------------------------------

def test_connect_abort_by_local_k_times_then_success(bz, central):
    dev = bz.add_bluetti("AC180", AC180, cached=True)
    bz.set_connect_fault(dev, "abort-by-local", 2)
    for _ in range(2):
        assert central.error(dev, DEV, "Connect") == ("org.bluez.Error.Failed", "le-connection-abort-by-local")
    central.spin(lambda: len(central.changes(dev, "Connected")) >= 4, what="Connected blips")
    assert [bool(v) for v in central.changes(dev, "Connected")] == [True, False, True, False]
    central.connect(dev)


def test_connect_in_progress(bz, central):
    dev = bz.add_bluetti("AC180", AC180, cached=True)
    bz.set_connect_fault(dev, "in-progress", 1)
    assert central.error(dev, DEV, "Connect") == ("org.bluez.Error.InProgress", "In Progress")
    bz.set_option("connect_delay", 0.5)
    pending = []
    central.iface(dev, DEV).Connect(reply_handler=lambda: pending.append("ok"),
                                    error_handler=pending.append, timeout=30)
    central.spin(what=None, timeout=0.05)
    assert central.error(dev, DEV, "Connect")[0] == "org.bluez.Error.InProgress"   # dev->connect pending
    central.spin(lambda: pending, what="first Connect")
    assert pending == ["ok"]
    central.call(dev, DEV, "Disconnect")
    bz.set_option("connect_timeout", 0.3)
    bz.set_connect_fault(dev, "timeout", 1)
    assert central.error(dev, DEV, "Connect") == ("org.bluez.Error.Failed", "le-connection-abort-by-local")
    central.connect(dev)


def test_missing_device_connect_times_out_and_is_not_found(bz, central):
    dev = bz.add_bluetti("AC180", AC180)
    lock = bz.add_sesame("5", LOCK)
    bz.set_in_range(dev, False)
    central.discover(lock)
    central.spin(what=None, timeout=0.3)
    assert central.added(dev) == []
    bz.set_in_range(dev, True)
    central.spin(lambda: central.added(dev), what="device back in range")
    bz.set_in_range(dev, False)
    bz.set_option("connect_timeout", 0.3)
    assert central.error(dev, DEV, "Connect") == ("org.bluez.Error.Failed", "le-connection-abort-by-local")
    assert not bool(central.get(dev, DEV, "Connected"))


def test_drop_link_now(bz, central):
    dev = bz.add_bluetti("AC180", AC180, cached=True)
    central.connect(dev)
    bz.drop_link(dev)
    central.spin(lambda: [v for v in central.changes(dev, "Connected") if not v], what="Connected false")
    assert central.removed(dev + BLUETTI_NOTIFY) == [[CHRC]]
    assert not bool(central.get(dev, DEV, "ServicesResolved"))


def test_drop_link_mid_handshake_after_writes(bz, central):
    dev = bz.add_bluetti("AC180", AC180, cached=True)
    central.connect(dev)
    key = bytes.fromhex(bz.emulator_state(dev)["verify_key"])
    notify, write = dev + BLUETTI_NOTIFY, dev + BLUETTI_WRITE
    bz.drop_link_after(dev, "writes", 1)      # the challenge response arrives, then the link drops
    client = bluetti.Client(device_verify_key=key)
    central.call(notify, CHRC, "StartNotify")
    challenge = central.spin(lambda: central.notifications(notify), what="challenge")[0]
    (response,) = client.receive(challenge)
    central.write(write, response)
    central.spin(lambda: [v for v in central.changes(dev, "Connected") if not v], what="Connected false")
    assert central.notifications(notify) == [challenge]       # no CHALLENGE_ACCEPTED got out
    assert central.error(write, CHRC, "WriteValue", dbus.ByteArray(b"x"),
                         dbus.Dictionary({}, signature="sv"))[0] == "org.freedesktop.DBus.Error.UnknownObject"
    assert not client.ready and not bz.emulator_state(dev)["established"]


def test_drop_link_after_notifications(bz, central):
    dev = bz.add_bluetti("AC180", AC180, cached=True)
    central.connect(dev)
    bz.drop_link_after(dev, "notifications", 1)
    central.call(dev + BLUETTI_NOTIFY, CHRC, "StartNotify")
    central.spin(lambda: [v for v in central.changes(dev, "Connected") if not v], what="Connected false")
    assert len(central.notifications(dev + BLUETTI_NOTIFY)) == 1


def test_silent_device_never_answers(bz, central):
    dev = bz.add_le_device("11:22:33:44:55:66", cached=True,
                           gatt=[("0000aaaa-0000-1000-8000-00805f9b34fb",
                                  [("0000aaa1-0000-1000-8000-00805f9b34fb", ["read", "write", "notify"])])])
    bdev = bz.add_bluetti("AC180", AC180, cached=True)
    central.connect(dev)
    central.connect(bdev)
    bz.set_silent(dev)
    bz.set_silent(bdev)
    c = dev + "/service000a/char000b"
    assert central.error(c, CHRC, "ReadValue", dbus.Dictionary({}, signature="sv"), timeout=0.3)[0] == \
        "org.freedesktop.DBus.Error.NoReply"
    central.call(bdev + BLUETTI_NOTIFY, CHRC, "StartNotify")
    central.spin(what=None, timeout=0.3)
    assert central.notifications(bdev + BLUETTI_NOTIFY) == []      # no challenge ever
    failed = []
    central.iface(c, CHRC).WriteValue(dbus.ByteArray(b"x"), dbus.Dictionary({"type": "request"}, signature="sv"),
                                      reply_handler=lambda: failed.append("ok"),
                                      error_handler=lambda e: failed.append(e.get_dbus_name()), timeout=10)
    central.spin(what=None, timeout=0.2)
    assert failed == []
    bz.drop_link(dev)                          # pending ATT requests fail when the link goes
    central.spin(lambda: failed, what="WriteValue failure")
    assert failed == ["org.bluez.Error.Failed"]


def test_power_off_disconnects_and_refuses(bz, central):
    dev = bz.add_bluetti("AC180", AC180, cached=True)
    central.connect(dev)
    central.call(ADAPTER, "org.bluez.Adapter1", "StartDiscovery")
    central.call(ADAPTER, "org.freedesktop.DBus.Properties", "Set", "org.bluez.Adapter1", "Powered",
                 dbus.Boolean(False, variant_level=1))
    central.spin(lambda: central.changes(ADAPTER, "Powered"), what="Powered false")
    assert not bool(central.get(dev, DEV, "Connected"))
    assert not bool(central.get(ADAPTER, "org.bluez.Adapter1", "Discovering"))
    assert central.error(dev, DEV, "Connect") == ("org.bluez.Error.Failed", "le-connection-adapter-not-powered")


def test_per_device_mtu(bz, central):
    small = bz.add_bluetti("AC180", AC180, cached=True)
    big = bz.add_sesame("5", LOCK, cached=True)
    bz.set_mtu(big, 517)
    central.connect(small)
    central.connect(big)
    assert int(central.get(small + BLUETTI_NOTIFY, CHRC, "MTU")) == 23
    assert int(central.get(big + "/service000a/char000b", CHRC, "MTU")) == 517
    with pytest.raises(dbus.exceptions.DBusException):
        bz.set_mtu(big, 22)


def test_bluetoothd_restart(bz, central):
    dev = bz.add_bluetti("AC180", AC180, cached=True)
    central.connect(dev)
    bz.restart_bluetoothd()
    central.spin(lambda: [s for s in central.signals if s[0] == "NameOwnerChanged" and s[2] == (False, True)],
                 what="org.bluez back")
    owners = [s[2] for s in central.signals if s[0] == "NameOwnerChanged"]
    assert owners[0] == (True, False)          # org.bluez left first
    objs = central.objects()
    assert ADAPTER in objs and dev in objs     # cached device is known again, not connected
    assert not bool(objs[dev][DEV]["Connected"])
    central.connect(dev)


# ---- registered applications and advertisements (what `blecrypt emulate` uses) -----------------------

def test_register_application_and_advertisement(bz, central):
    proc = subprocess.Popen(["/usr/bin/python3", str(BLUEZ_TESTS / "sample_peripheral.py")], env=bz.env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "REGISTERED"
        apps = bz.mock.GetApplications("hci0")
        assert len(apps) == 1 and str(apps[0][1]) == "/org/blecrypt/sample"
        adverts = bz.mock.GetAdvertisements("hci0")
        assert str(adverts[0]["LocalName"]) == "blecrypt-sample" and str(adverts[0]["Type"]) == "peripheral"
        assert int(central.get(ADAPTER, "org.bluez.LEAdvertisingManager1", "ActiveInstances")) == 1
        w, n = "12345678-0001-1000-8000-00805f9b34fb", "12345678-0002-1000-8000-00805f9b34fb"
        bz.mock.AppStartNotify("hci0", n)
        bz.mock.AppWriteValue("hci0", w, dbus.ByteArray(b"ping"), dbus.Dictionary({}, signature="sv"))
        got = bz.wait_for(lambda: [bytes(v) for v in bz.mock.AppNotifications("hci0", n)], what="echo")
        assert got == [b"ping"]
        sample = central.bus.get_object(str(apps[0][0]), "/org/blecrypt/sample/service0/char0", introspect=False)
        seen = sample.LastOptions(dbus_interface="org.blecrypt.Sample")
        assert seen["link"] == "LE" and seen["mtu"] == "517" and "device" in seen and "type" not in seen
        assert bytes(bz.mock.AppReadValue("hci0", n)) == b"ping"
    finally:
        proc.terminate()
        proc.wait(5)
        proc.stdout.close()
    # the application left the bus: bluetoothd drops its registrations
    bz.wait_for(lambda: len(bz.mock.GetApplications("hci0")) == 0, what="application dropped")
    central.spin(lambda: int(central.get(ADAPTER, "org.bluez.LEAdvertisingManager1", "ActiveInstances")) == 0,
                 what="advertisement dropped")


def test_register_application_errors(bz, central):
    gm = central.iface(ADAPTER, "org.bluez.GattManager1")
    result = []     # asynchronous: the mock asks this very connection for its objects
    gm.RegisterApplication("/nothing/here", dbus.Dictionary({}, signature="sv"), timeout=5,
                           reply_handler=lambda: result.append("ok"),
                           error_handler=lambda e: result.append(e.get_dbus_name()))
    central.spin(lambda: result, what="RegisterApplication answer")
    assert result == ["org.bluez.Error.Failed"]
    am = central.iface(ADAPTER, "org.bluez.LEAdvertisingManager1")
    with pytest.raises(dbus.exceptions.DBusException) as e:
        am.UnregisterAdvertisement("/nothing/here", timeout=5)
    assert e.value.get_dbus_name() == "org.bluez.Error.DoesNotExist"


# ---- the CLI ---------------------------------------------------------------------------------------

def test_run_mock_cli_prints_the_bus_and_stops_on_stdin_eof(tmp_path):
    proc = subprocess.Popen(["/usr/bin/python3", str(BLUEZ_TESTS / "run_mock.py"), "--bluetti", f"EB3A@{AC180}",
                             "--sesame", f"5@{LOCK}", "--cached", "--stdin-eof"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or lines[-1] != "READY":
            line = proc.stdout.readline()
            assert line, "run_mock.py exited early"
            lines.append(line.strip())
        address = lines[0].split("=", 1)[1]
        assert lines[0].startswith("DBUS_SYSTEM_BUS_ADDRESS=unix:path=")
        assert f"DEVICE={device_path(AC180)}" in lines and f"DEVICE={device_path(LOCK)}" in lines
        bus = dbus.bus.BusConnection(address)
        objs = dbus.Interface(bus.get_object("org.bluez", "/"), "org.freedesktop.DBus.ObjectManager").GetManagedObjects()
        assert device_path(AC180) in objs and device_path(LOCK) in objs
        bus.close()
    finally:
        proc.stdin.close()
        assert proc.wait(15) == 0
        proc.stdout.close()
    assert not Path(address.split("=", 1)[1]).exists()   # temp dir removed


# ---- real bleak (python3-bleak 0.20, dbus-fast) ------------------------------------------------------

try:
    import bleak
except ImportError:   # python3-bleak missing: only these tests are skipped
    bleak = None


@pytest.fixture
def bleak_env(bz, monkeypatch):
    if bleak is None:
        pytest.skip("python3-bleak is not installed")
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bz.address)
    return bz


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_bleak_scanner_sees_both_kinds(bleak_env):
    bz = bleak_env
    bz.add_bluetti("AC180", AC180)
    bz.add_sesame("5", LOCK)

    async def scan():
        found = {}
        def seen(device, adv):
            found[device.address] = adv
        async with bleak.BleakScanner(seen, bluez={"filters": {"Transport": "le", "DuplicateData": True}}):
            for _ in range(200):
                if AC180 in found and LOCK in found:
                    break
                await asyncio.sleep(0.02)
        return found
    found = run(scan())
    assert found[AC180].manufacturer_data == {0x4C42: b"BLUETTF"}
    assert found[AC180].local_name.startswith("AC180")
    assert "0000ff00-0000-1000-8000-00805f9b34fb" in found[AC180].service_uuids
    assert 0x055A in found[LOCK].manufacturer_data and found[LOCK].manufacturer_data[0x055A][0] == 5
    assert isinstance(found[LOCK].rssi, int)


def test_bleak_client_bluetti_handshake(bleak_env):
    bz = bleak_env
    dev = bz.add_bluetti("AC180", AC180, mtu=247)
    key = None

    async def session():
        nonlocal key
        device = await bleak.BleakScanner.find_device_by_address(AC180, timeout=10)
        assert device is not None
        key = bytes.fromhex(bz.emulator_state(dev)["verify_key"])
        client = bluetti.Client(device_verify_key=key)
        inbox = asyncio.Queue()
        async with bleak.BleakClient(device) as c:
            services = c.services
            assert services.get_characteristic(FF01) is not None
            await c._backend._acquire_mtu()        # bleak 0.20 takes the MTU from AcquireWrite
            assert c.mtu_size == 247
            await c.start_notify(FF01, lambda _, data: inbox.put_nowait(bytes(data)))
            first = await asyncio.wait_for(inbox.get(), 5)
            assert first[:3] == b"\x2a\x2a\x01"
            n = first
            while True:
                for w in client.receive(n):
                    await c.write_gatt_char(FF02, w, response=False)
                if client.ready:
                    break
                n = await asyncio.wait_for(inbox.get(), 5)
            await c.stop_notify(FF01)
        return client.ready
    assert run(session())
    assert bz.emulator_state(dev)["established"] is False   # link closed -> emulator reset


def test_bleak_scanner_refused_when_powered_off(bleak_env):
    bz = bleak_env
    bz.power(False)

    async def scan():
        with pytest.raises(bleak.exc.BleakError):   # "No powered Bluetooth adapters found."
            async with bleak.BleakScanner():
                pass
    run(scan())


def test_bleak_connect_retries_abort_by_local_and_sees_drop(bleak_env):
    bz = bleak_env
    dev = bz.add_sesame("5", LOCK)
    bz.set_connect_fault(dev, "abort-by-local", 1)

    async def session():
        device = await bleak.BleakScanner.find_device_by_address(LOCK, timeout=10)
        dropped = asyncio.Event()
        client = bleak.BleakClient(device, disconnected_callback=lambda _: dropped.set())
        await client.connect()                   # bleak retries once after the blip
        assert client.is_connected
        assert client.services.get_characteristic(SESAME_NOTIFY) is not None
        bz.drop_link(dev)
        await asyncio.wait_for(dropped.wait(), 5)
        assert not client.is_connected
    run(session())
