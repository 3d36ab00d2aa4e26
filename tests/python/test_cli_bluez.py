"""`blecrypt scan` (and the BlueZ errors every radio verb shares) against the BlueZ mock on a
private system bus (tests/bluez/harness.py). The CLI binary: $BLECRYPT_CLI, else build/dev/blecrypt.
Run with Debian's /usr/bin/python3 and PYTHONPATH=build/dev/python (the mock's emulated devices
import blecrypt)."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest

pytest.importorskip("dbus")
pytest.importorskip("dbusmock")

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "bluez"))
from harness import BluezMock  # noqa: E402

CLI = pathlib.Path(os.environ.get("BLECRYPT_CLI", ROOT / "build" / "dev" / "blecrypt"))

if shutil.which("dbus-daemon") is None:
    pytest.skip("dbus-daemon is not installed", allow_module_level=True)
if not CLI.exists():
    pytest.skip(f"{CLI} not built", allow_module_level=True)
if subprocess.run([str(CLI), "scan", "--help"], capture_output=True).returncode != 0:
    pytest.skip("this blecrypt has no BlueZ transport", allow_module_level=True)

BLUETTI_ADDR = "C4:DE:E2:11:22:33"
SESAME_ADDR = "E1:5E:5A:00:00:05"
OTHER_ADDR = "11:22:33:44:55:66"


def run(bz, *args, timeout=30):
    env = bz.env if bz is not None else dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=/nonexistent/bus")
    return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def bz():
    with BluezMock() as m:
        yield m


def test_scan_json_classifies_emulated_bluetti_and_sesame(bz):
    bz.add_bluetti("AC180", BLUETTI_ADDR)
    bz.add_sesame("5", SESAME_ADDR)
    bz.add_le_device(OTHER_ADDR, name="Phone", manufacturer_data={0x004C: b"\x02\x15"})
    r = run(bz, "scan", "--timeout", "2", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["address"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert set(rows) == {BLUETTI_ADDR, SESAME_ADDR, OTHER_ADDR}
    b = rows[BLUETTI_ADDR]
    assert (b["protocol"], b["model"], b["encrypted"]) == ("bluetti", "AC180", True)
    assert b["name"].startswith("AC180") and isinstance(b["rssi"], int)
    assert b["manufacturer_data"] == {str(0x4C42): b"BLUETTF".hex()}
    s = rows[SESAME_ADDR]
    assert (s["protocol"], s["model"], s["registered"]) == ("sesame", "SESAME 5", False)
    assert "encrypted" not in s
    o = rows[OTHER_ADDR]
    assert (o["protocol"], o["name"]) == ("other", "Phone")
    assert "encrypted" not in o and "registered" not in o


def test_scan_text_one_line_per_device(bz):
    bz.add_bluetti("EB3A", BLUETTI_ADDR)
    bz.add_sesame("5pro", SESAME_ADDR)
    r = run(bz, "scan", "--timeout", "1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    assert any(l.startswith(BLUETTI_ADDR) and "bluetti EB3A encrypted" in l for l in lines), lines
    assert any(l.startswith(SESAME_ADDR) and "sesame SESAME 5 Pro unregistered" in l for l in lines), lines
    assert "2 device(s) via hci0" in r.stderr


def test_scan_finds_devices_bluetoothd_already_knows(bz):
    bz.add_bluetti("AC180", BLUETTI_ADDR, cached=True)
    r = run(bz, "scan", "--timeout", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert [json.loads(l)["address"] for l in r.stdout.splitlines()] == [BLUETTI_ADDR]


def test_scan_adapter_off_exit_3(bz):
    bz.power(False)
    r = run(bz, "scan", "--timeout", "1")
    assert r.returncode == 3
    assert "powered off" in r.stderr and "bluetoothctl power on" in r.stderr


def test_scan_unknown_adapter_exit_3(bz):
    r = run(bz, "scan", "--adapter", "hci7", "--timeout", "1")
    assert r.returncode == 3
    assert "no Bluetooth adapter found" in r.stderr


def test_scan_named_adapter(bz):
    bz.add_sesame("5", SESAME_ADDR)
    r = run(bz, "scan", "--adapter", "hci0", "--timeout", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[0])["protocol"] == "sesame"


def test_no_org_bluez_exit_3(bz):
    bz.stop_mock()
    r = run(bz, "scan", "--timeout", "1")
    assert r.returncode == 3
    assert "Bluetooth is unavailable" in r.stderr and "bluetoothd" in r.stderr


def test_no_system_bus_exit_3():
    r = run(None, "scan", "--timeout", "1")
    assert r.returncode == 3
    assert "Bluetooth is unavailable" in r.stderr


def test_bluetoothd_vanishing_during_scan_exit_3(bz):
    proc = subprocess.Popen([str(CLI), "scan", "--timeout", "20"], env=bz.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        bz.wait_for(lambda: bz.props(bz.adapter, "org.bluez.Adapter1")["Discovering"], what="discovery")
        bz.stop_mock()
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, err
    assert "Bluetooth is unavailable" in err


@pytest.mark.parametrize("bad", ["0", "0x5", "-1", " 5", "3601"])
def test_scan_timeout_is_decimal_in_range(bz, bad):
    r = run(bz, "scan", "--timeout", bad)
    assert r.returncode == 2, r.stderr


# ---- `blecrypt emulate`, seen from the mock's central side ----------------------------------------

BLUETTI_NOTIFY = "0000ff01-0000-1000-8000-00805f9b34fb"
BLUETTI_WRITE = "0000ff02-0000-1000-8000-00805f9b34fb"
SESAME_NOTIFY = "16860003-a5ae-9856-b6d3-dbb4c676993e"


class Emulator:
    def __init__(self, bz, *args):
        self.proc = subprocess.Popen([str(CLI), "emulate", *args], env=bz.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.banner = self.proc.stdout.readline()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()   # SIGTERM: unregisters and exits 0
        out, err = self.proc.communicate(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode, err


def test_emulate_bluetti_handshake_from_the_central_side(bz):
    import dbus
    from blecrypt import bluetti
    emu = Emulator(bz, "bluetti", "--model", "AC180")
    try:
        assert emu.banner.startswith("emulating BLUETTI AC180 as 'AC180"), emu.banner
        apps = bz.mock.GetApplications("hci0")
        assert len(apps) == 1 and str(apps[0][1]) == "/org/blecrypt/emulator"
        assert BLUETTI_NOTIFY in str(apps[0][2]) and BLUETTI_WRITE in str(apps[0][2])
        (adv,) = bz.mock.GetAdvertisements("hci0")
        assert str(adv["Type"]) == "peripheral" and str(adv["LocalName"]).startswith("AC180")
        assert {int(k): bytes(v) for k, v in adv["ManufacturerData"].items()} == {0x4C42: b"BLUETTF"}

        client = bluetti.Client(device_verify_key=bluetti.Device().verify_key)
        bz.mock.AppStartNotify("hci0", BLUETTI_NOTIFY)   # the engine's link up: the challenge comes
        for _ in range(200):
            notes = [bytes(v) for v in bz.mock.AppNotifications("hci0", BLUETTI_NOTIFY)]
            for n in notes:
                for w in client.receive(n):
                    bz.mock.AppWriteValue("hci0", BLUETTI_WRITE, dbus.ByteArray(w), dbus.Dictionary({}, signature="sv"))
            if client.ready:
                break
            time.sleep(0.05)   # the emulator answers on its own loop
        assert client.ready, client.state
    finally:
        rc, err = emu.stop()
    assert rc == 0, err
    assert "session established" in err
    bz.wait_for(lambda: len(bz.mock.GetApplications("hci0")) == 0, what="unregistered")
    assert len(bz.mock.GetAdvertisements("hci0")) == 0


def test_emulate_sesame_advertises_and_greets(bz):
    emu = Emulator(bz, "sesame", "--model", "5pro")
    try:
        assert emu.banner.startswith("emulating SESAME 5 Pro as '"), emu.banner
        (adv,) = bz.mock.GetAdvertisements("hci0")
        md = {int(k): bytes(v) for k, v in adv["ManufacturerData"].items()}
        assert list(md) == [0x055A] and md[0x055A][:2] == bytes([7, 0])   # model 7 = SESAME 5 Pro
        assert len(str(adv["LocalName"])) == 22
        bz.mock.AppStartNotify("hci0", SESAME_NOTIFY)
        got = bz.wait_for(lambda: [bytes(v) for v in bz.mock.AppNotifications("hci0", SESAME_NOTIFY)],
                          what="INITIAL")
        assert got and len(got[0]) > 0
    finally:
        rc, err = emu.stop()
    assert rc == 0, err


def test_emulate_errors(bz):
    r = run(bz, "emulate", "bluetti", "--model", "XYZ")
    assert r.returncode == 2 and "unknown BLUETTI model" in r.stderr
    r = run(bz, "emulate", "toaster")
    assert r.returncode == 2
    bz.power(False)
    r = run(bz, "emulate", "sesame")
    assert r.returncode == 3 and "powered off" in r.stderr
    bz.stop_mock()
    r = run(bz, "emulate", "sesame")
    assert r.returncode == 3 and "Bluetooth is unavailable" in r.stderr
