"""`blecrypt gateway` with real-address devices over the BlueZ transport, against the BlueZ mock on
a private system bus (tests/bluez/harness.py: two BLUETTI models and a SESAME lock backed by the
emulators) and a real mosquitto broker on loopback.

Run: PYTHONPATH=build/dev/python /usr/bin/python3 -m pytest -q tests/python/test_gateway_bluez.py
(the CLI: $BLECRYPT_CLI, else build/dev/blecrypt; the mock's devices import blecrypt from
build/dev/python).
"""

import json
import pathlib
import shutil
import subprocess
import sys
import time

import pytest

pytest.importorskip("dbus")
pytest.importorskip("dbusmock")
pytest.importorskip("paho.mqtt.client")

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "bluez"))
sys.path.insert(0, str(HERE))
from harness import BluezMock, device_path  # noqa: E402
from test_gateway import CLI, MOSQUITTO, Broker, Gateway, Watcher  # noqa: E402

if shutil.which("dbus-daemon") is None:
    pytest.skip("dbus-daemon is not installed", allow_module_level=True)
if not CLI.exists():
    pytest.skip(f"{CLI} not built", allow_module_level=True)
if subprocess.run([str(CLI), "gateway", "--help"], capture_output=True).returncode != 0:
    pytest.skip("this blecrypt has no gateway", allow_module_level=True)
if not pathlib.Path(MOSQUITTO).exists():
    pytest.skip("mosquitto not installed", allow_module_level=True)

AC180_ADDR = "C4:DE:E2:11:22:33"
EB3A_ADDR = "C4:DE:E2:44:55:66"
LOCK_ADDR = "E1:5E:5A:00:00:05"
LOCK_UUID = "5E5A3E00-B1EC-4A7E-8000-00000000AB01"
LOCK_SECRET = bytes(range(0xB0, 0xC0))


class GatewayOnBus(Gateway):
    """The gateway process with DBUS_SYSTEM_BUS_ADDRESS pointing at the mock's bus."""

    def __init__(self, tmp, config_text, env):
        super().__init__(tmp, config_text)
        self.env = env

    def start(self, *extra):
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen([str(CLI), "gateway", "--config", str(self.config), "--log-level", "debug", *extra],
                                     stdout=self.logf, stderr=subprocess.STDOUT, env=self.env)
        return self


@pytest.fixture
def bz():
    with BluezMock() as m:
        yield m


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path).start()
    yield b
    b.stop()


@pytest.fixture
def watcher(broker):
    w = Watcher(broker.port)
    yield w
    w.close()


@pytest.fixture
def gateways():
    started = []
    yield started
    for g in started:
        g.stop()


def lock_key_file(tmp_path):
    from blecrypt import sesame
    uri = sesame.build_share_uri(LOCK_SECRET, LOCK_UUID, model=5, level=0, name="Front door")
    key = tmp_path / "lock.key"
    key.write_text(uri + "\n")
    key.chmod(0o600)
    return key


def setup_devices(bz, tmp_path, with_lock=True):
    """AC180 + EB3A (+ a registered SESAME 5) in the mock; returns the gateway's device lines."""
    ac = bz.add_bluetti("AC180", AC180_ADDR)
    eb = bz.add_bluetti("EB3A", EB3A_ADDR)
    verify = bz.emulator_state(ac)["verify_key"]  # the emulators' documented test key, not K2
    lines = [f'{{address: "{AC180_ADDR}", protocol: bluetti, poll_interval: 1, device_key: "{verify}"}}',
             f'{{address: "{EB3A_ADDR}", protocol: bluetti, poll_interval: 1, device_key: "{verify}"}}']
    ids = {"AC180": f"AC180-{bz.emulator_state(ac)['serial']}", "EB3A": f"EB3A-{bz.emulator_state(eb)['serial']}"}
    if with_lock:
        bz.add_sesame("5", LOCK_ADDR, uuid=LOCK_UUID.replace("-", ""), secret=LOCK_SECRET)
        lines.append(f'{{address: "{LOCK_ADDR}", protocol: sesame, key_file: {lock_key_file(tmp_path)}, poll_interval: 5}}')
    return lines, ids


def gw_config(port, lines, extra=""):
    return f"mqtt: {{host: 127.0.0.1, port: {port}}}\nadapter: hci0\n{extra}devices:\n" + "".join(f"  - {d}\n" for d in lines)


def start(gateways, tmp_path, bz, text):
    g = GatewayOnBus(tmp_path, text, bz.env).start()
    gateways.append(g)
    return g


def test_two_bluetti_models_and_a_sesame_lock_over_bluez(bz, broker, watcher, gateways, tmp_path):
    lines, ids = setup_devices(bz, tmp_path)
    g = start(gateways, tmp_path, bz, gw_config(broker.port, lines))
    for dev in ids.values():
        watcher.wait(f"bluetti/availability/{dev}", lambda p, r: p == "online", timeout=30)
        pct, retained = watcher.wait(f"bluetti/state/{dev}/total_battery_percent")
        assert pct.isdigit()
    sn = ids["AC180"].split("-")[1]
    conf = json.loads(watcher.wait(f"homeassistant/switch/{sn}_ac_output_on/config")[0])
    assert conf["command_topic"] == f"bluetti/command/{ids['AC180']}/ac_output_on"
    # The lock: availability, state, battery, discovery as a Home Assistant lock.
    base = f"sesame/{LOCK_UUID}"
    watcher.wait(f"{base}/availability", lambda p, r: p == "online", timeout=30)
    state, _ = watcher.wait(f"{base}/state")
    assert state in ("locked", "unlocked")
    late = Watcher(broker.port)  # retained: a subscriber arriving later gets them at once
    try:
        for topic in (f"{base}/state", f"{base}/battery", f"{base}/battery_voltage", f"{base}/availability",
                      f"homeassistant/lock/{LOCK_UUID}/config", f"homeassistant/sensor/{LOCK_UUID}_battery/config"):
            assert late.wait(topic)[1] is True, topic
    finally:
        late.close()
    assert watcher.wait(f"{base}/battery")[0].isdigit()
    lock_conf = json.loads(watcher.wait(f"homeassistant/lock/{LOCK_UUID}/config")[0])
    assert (lock_conf["command_topic"], lock_conf["state_topic"]) == (f"{base}/set", f"{base}/state")
    assert (lock_conf["payload_lock"], lock_conf["payload_unlock"]) == ("LOCK", "UNLOCK")
    assert "payload_open" not in lock_conf
    # A command reaches the emulated unit through BlueZ and comes back in the state.
    for value in ("ON", "OFF"):
        watcher.clear()
        watcher.publish(f"bluetti/command/{ids['EB3A']}/dc_output_on", value)
        result = json.loads(watcher.wait(f"bluetti/command/{ids['EB3A']}/dc_output_on/result")[0])
        assert result == {"ok": True, "field": "dc_output_on", "value": value}
        watcher.wait(f"bluetti/state/{ids['EB3A']}/dc_output_on", lambda p, r, v=value: p == v)
    # A setting of the model table (EB3A, IoT V1: charging mode at 3065) through BlueZ.
    watcher.publish(f"bluetti/command/{ids['EB3A']}/charging_mode", "SILENT")
    assert json.loads(watcher.wait(f"bluetti/command/{ids['EB3A']}/charging_mode/result")[0])["ok"] is True
    watcher.wait(f"bluetti/state/{ids['EB3A']}/charging_mode", lambda p, r: p == "SILENT")
    for cmd, want in (("LOCK", "locked"), ("UNLOCK", "unlocked")):
        watcher.clear()
        watcher.publish(f"{base}/set", cmd)
        result = json.loads(watcher.wait(f"{base}/set/result", timeout=20)[0])
        assert result["ok"] is True, result
        watcher.wait(f"{base}/state", lambda p, r, w=want: p == w, timeout=20)
    lock = device_path(LOCK_ADDR)
    assert bz.emulator_state(lock)["unlocked"] is True
    # OPEN: this model has none; rejected with a result, nothing sent.
    watcher.clear()
    watcher.publish(f"{base}/set", "OPEN")
    result = json.loads(watcher.wait(f"{base}/set/result")[0])
    assert result["ok"] is False and result["error"] == "value_out_of_range"
    assert g.stop() == 0
    for dev in ids.values():
        watcher.wait(f"bluetti/availability/{dev}", lambda p, r: p == "offline")
    watcher.wait("blecrypt/gateway/availability", lambda p, r: p == "offline")
    watcher.wait(f"sesame/{LOCK_UUID}/availability", lambda p, r: p == "offline")


def test_sigterm_publishes_the_lock_offline(bz, broker, watcher, gateways, tmp_path):
    lines, ids = setup_devices(bz, tmp_path)
    g = start(gateways, tmp_path, bz, gw_config(broker.port, lines))
    base = f"sesame/{LOCK_UUID}"
    watcher.wait(f"{base}/availability", lambda p, r: p == "online", timeout=30)
    watcher.wait(f"{base}/state")
    assert g.stop() == 0
    watcher.wait(f"{base}/availability", lambda p, r: p == "offline")


def test_device_missing_at_start_does_not_hold_up_the_others(bz, broker, watcher, gateways, tmp_path):
    lines, ids = setup_devices(bz, tmp_path, with_lock=False)
    verify = bz.emulator_state(device_path(AC180_ADDR))["verify_key"]
    missing = "C4:DE:E2:77:88:99"
    lines.append(f'{{address: "{missing}", protocol: bluetti, poll_interval: 1, device_key: "{verify}"}}')
    g = start(gateways, tmp_path, bz, gw_config(broker.port, lines))
    for dev in ids.values():
        watcher.wait(f"bluetti/availability/{dev}", lambda p, r: p == "online", timeout=30)
    # The missing one appears later and is served without a restart.
    path = bz.add_bluetti("AC180", missing)
    late_id = f"AC180-{bz.emulator_state(path)['serial']}"
    watcher.wait(f"bluetti/availability/{late_id}", lambda p, r: p == "online", timeout=60)
    assert g.proc.poll() is None


def test_bluetoothd_restart_marks_devices_offline_then_back_online(bz, broker, watcher, gateways, tmp_path):
    lines, ids = setup_devices(bz, tmp_path, with_lock=False)
    g = start(gateways, tmp_path, bz, gw_config(broker.port, lines))
    dev = ids["AC180"]
    watcher.wait(f"bluetti/availability/{dev}", lambda p, r: p == "online", timeout=30)
    watcher.clear()
    bz.restart_bluetoothd(gap=1.0)  # org.bluez leaves the bus and comes back (devices cached again)
    watcher.wait(f"bluetti/availability/{dev}", lambda p, r: p == "offline", timeout=15)
    watcher.wait(f"bluetti/availability/{dev}", lambda p, r: p == "online", timeout=60)
    watcher.clear()
    watcher.wait(f"bluetti/state/{dev}/total_battery_percent", timeout=15)
    assert g.proc.poll() is None
    assert "bluetooth" in g.text().lower()


def test_bluetooth_unavailable_at_start(broker, watcher, gateways, tmp_path):
    """No org.bluez on the bus at start: the gateway runs (MQTT up), retries, and serves the
    devices once bluetoothd appears."""
    with BluezMock() as bz:
        lines, ids = setup_devices(bz, tmp_path, with_lock=False)
        bz.stop_mock()
        g = start(gateways, tmp_path, bz, gw_config(broker.port, lines))
        watcher.wait("blecrypt/gateway/availability", lambda p, r: p == "online", timeout=15)
        time.sleep(1.5)
        assert g.proc.poll() is None, g.text()
        bz.restart_bluetoothd()
        watcher.wait(f"bluetti/availability/{ids['AC180']}", lambda p, r: p == "online", timeout=60)
        g.stop()


def test_device_dropping_mid_request_over_bluez(bz, broker, watcher, gateways, tmp_path):
    lines, ids = setup_devices(bz, tmp_path, with_lock=False)
    g = start(gateways, tmp_path, bz, gw_config(broker.port, lines[:1]))
    dev = ids["AC180"]
    watcher.wait(f"bluetti/state/{dev}/ac_output_on", timeout=30)
    bz.drop_link_after(device_path(AC180_ADDR), "writes", 1)  # the next write goes, then the link drops
    watcher.clear()
    watcher.publish(f"bluetti/command/{dev}/ac_output_on", "ON")
    result = json.loads(watcher.wait(f"bluetti/command/{dev}/ac_output_on/result", timeout=20)[0])
    # Either the write made it before the drop (ok, confirmed) or the command failed with a reason;
    # it is never run twice.
    if not result["ok"]:
        assert result["error"] in ("link_lost", "device_error", "device_unavailable"), result
    watcher.wait(f"bluetti/availability/{dev}", lambda p, r: p == "online", timeout=30)
    time.sleep(2)
    assert len(watcher.find(f"bluetti/command/{dev}/ac_output_on/result")) == 1
    assert g.proc.poll() is None


# ---- the advertised name and battery packs (issue 12) ------------------------------------------

AC300_ADDR = "C4:DE:E2:30:30:01"
MISNAMED_ADDR = "C4:DE:E2:30:30:02"


def bluetti_mqtt_pack_details(model_name, regs):
    """What bluetti_mqtt 0.15.0 publishes on pack_details<N> for these registers, computed its way
    (mqtt_client.py _build_pack_details: Decimal values -> float, json.dumps compact), from the
    model table's pack fields (addresses and scales), not from the gateway's code."""
    from decimal import Decimal
    import math
    from blecrypt import bluetti
    m = bluetti.model(model_name)

    def decimal(f, raw):
        return Decimal(raw).scaleb(-round(-math.log10(f.scale)))

    by_role = {f.role: f for f in m.pack_fields}
    d = {}
    status = next((f for f in m.pack_fields if f.mqtt_name == "pack_status"), None)
    if status and status.address in regs:
        names = {v: k for k, v in status.choices.items()}
        if regs[status.address] in names:
            d["status"] = names[regs[status.address]]
    if "pack_soc" in by_role:
        d["percent"] = regs[by_role["pack_soc"].address]
    if "pack_voltage" in by_role:
        f = by_role["pack_voltage"]
        d["voltage"] = float(decimal(f, regs[f.address]))
    if "pack_cells" in by_role:
        f = by_role["pack_cells"]
        d["voltages"] = [float(decimal(f, regs[f.address + i])) for i in range(f.words)]
    return json.dumps(d, separators=(",", ":"))


def test_advertised_name_and_battery_packs_over_bluez(bz, broker, watcher, gateways, tmp_path):
    """Detection uses the name bluetoothd reports (Device1.Name), confirmed by the device-type
    register, as `blecrypt bluetti detect` does; an AC300 (four packs, IoT V1 paging) gets each
    pack selected, read after the settle deadline and published as bluetti_mqtt's pack_details<N>
    JSON, equal to what the emulated unit holds, while the live refresh goes on."""
    ac = bz.add_bluetti("AC300", AC300_ADDR)
    odd = bz.add_bluetti("AC180", MISNAMED_ADDR, name="EB3A2441001365385")  # advertises another model
    verify = bz.emulator_state(ac)["verify_key"]
    sn = bz.emulator_state(ac)["serial"]
    dev = f"AC300-{sn}"
    lines = [f'{{address: "{AC300_ADDR}", protocol: bluetti, poll_interval: 1, device_key: "{verify}", '
             f'pack_interval: 1, pack_settle_ms: 300}}',
             f'{{address: "{MISNAMED_ADDR}", protocol: bluetti, poll_interval: 5, device_key: "{verify}"}}']
    g = start(gateways, tmp_path, bz, gw_config(broker.port, lines))
    watcher.wait(f"bluetti/availability/{dev}", lambda p, r: p == "online", timeout=30)
    # Discovery: bluetti_mqtt's per-pack sensors for packs 1..4.
    for n in range(1, 5):
        conf = json.loads(watcher.wait(f"homeassistant/sensor/{sn}_pack_percent{n}/config")[0])
        assert conf["state_topic"] == f"bluetti/state/{dev}/pack_details{n}"
        assert (conf["name"], conf["value_template"]) == (f"Battery Pack {n} Percent", "{{ value_json.percent }}")
        assert json.loads(watcher.wait(f"homeassistant/sensor/{sn}_pack_voltage{n}/config")[0])["unit_of_measurement"] == "V"
        watcher.wait(f"homeassistant/sensor/{sn}_pack_status{n}/config")
    # bluetti_mqtt's entity names (AC Output, not AC Output On).
    assert json.loads(watcher.wait(f"homeassistant/switch/{sn}_ac_output_on/config")[0])["name"] == "AC Output"
    # Every pack: the payload equals bluetti_mqtt's JSON of the unit's registers for that pack
    # (read from the emulator right after the gateway published it; the next select is 1 s away).
    for n in range(1, 5):
        topic = f"bluetti/state/{dev}/pack_details{n}"
        seen = 0
        for _ in range(2):  # the unit's SOC may step between the two reads: compare the next one
            deadline = time.time() + 20
            while len(watcher.find(topic)) <= seen:  # a message newer than the last compared
                assert time.time() < deadline, f"no new message on {topic}"
                time.sleep(0.05)
            found = watcher.find(topic)
            seen = len(found)
            payload = found[-1][0]
            regs = {int(a): v for a, v in json.loads(bz.emulator_state(ac)["pack_registers"]).items()}
            if regs.get(96) == n and payload == bluetti_mqtt_pack_details("AC300", regs):
                break
        else:
            raise AssertionError(f"pack {n}: {payload} != {bluetti_mqtt_pack_details('AC300', regs)} (unit shows {regs.get(96)})")
        details = json.loads(payload)
        assert set(details) == {"status", "percent", "voltage", "voltages"} and len(details["voltages"]) == 16
        assert abs(sum(details["voltages"]) - details["voltage"]) < 0.005
    late = Watcher(broker.port)  # retained: a subscriber arriving later gets every pack at once
    try:
        for n in range(1, 5):
            assert late.wait(f"bluetti/state/{dev}/pack_details{n}")[1] is True
    finally:
        late.close()
    # The live refresh went on during the pack cycle (1 s polls, settles of 0.3 s in between).
    assert len(watcher.find(f"bluetti/state/{dev}/total_battery_percent")) >= 4
    text = g.text()
    assert f'detected AC300 (IoT V1, confirmed by the advertised name "AC300{sn}")' in text, text
    # The AC180 advertising an EB3A name: the device-type register wins, with a warning.
    odd_sn = bz.emulator_state(odd)["serial"]
    watcher.wait(f"bluetti/availability/AC180-{odd_sn}", lambda p, r: p == "online", timeout=30)
    assert 'advertised as EB3A ("EB3A2441001365385") but the device-type register says "AC180"' in g.text()
    assert g.stop() == 0
