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
