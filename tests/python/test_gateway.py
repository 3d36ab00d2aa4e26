"""`blecrypt gateway` against a real mosquitto broker on loopback, with emulated BLUETTI devices.

Run: /usr/bin/python3 -m pytest -q tests/python/test_gateway.py
(the CLI binary: $BLECRYPT_CLI, else build/dev/blecrypt of this checkout; needs Debian's
mosquitto and python3-paho-mqtt). Every test starts its own broker on a free port and its own
gateway, and stops both.
"""

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

mqtt = pytest.importorskip("paho.mqtt.client")

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = pathlib.Path(os.environ.get("BLECRYPT_CLI", ROOT / "build" / "dev" / "blecrypt"))
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
AC180 = "AC180-2524610159690"
AC180_SN = "2524610159690"
EB3A = "EB3A-2441001365385"

pytestmark = [
    pytest.mark.skipif(not CLI.exists(), reason=f"{CLI} not built"),
    pytest.mark.skipif(not os.path.exists(MOSQUITTO), reason="mosquitto not installed"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, tmp, port=None, passwords=None):
        self.tmp = pathlib.Path(tmp)
        self.port = port or free_port()
        self.passwords = passwords
        self.proc = None

    def start(self):
        conf = self.tmp / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", "log_dest stderr"]
        if os.geteuid() == 0:
            lines.append("user root")  # stay root: the test's temp dir (0700) holds the password file
        if self.passwords:
            pw = self.tmp / "passwd"
            pw.write_text("".join(f"{u}:{p}\n" for u, p in self.passwords.items()))
            subprocess.run(["mosquitto_passwd", "-U", str(pw)], check=True)
            pw.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines += ["allow_anonymous true"]
        conf.write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


class Watcher:
    """A paho subscriber that records every message (topic -> list of (payload, retain))."""

    def __init__(self, port, topics=("#",), auth=None):
        self.lock = threading.Lock()
        self.messages = []
        self.client = mqtt.Client(client_id=f"watcher-{time.time_ns()}", clean_session=True)
        if auth:
            self.client.username_pw_set(*auth)
        self.topics = topics
        self.client.on_connect = lambda c, u, f, rc: [c.subscribe(t, qos=1) for t in self.topics]
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, msg.payload.decode("utf-8", "replace"), bool(msg.retain)))

    def publish(self, topic, payload, retain=False):
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish()

    def find(self, topic, pred=lambda p, r: True):
        with self.lock:
            return [(p, r) for t, p, r in self.messages if t == topic and pred(p, r)]

    def wait(self, topic, pred=lambda p, r: True, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = self.find(topic, pred)
            if found:
                return found[-1]
            time.sleep(0.05)
        with self.lock:
            seen = sorted({t for t, _, _ in self.messages})
        raise AssertionError(f"no message on {topic} within {timeout}s; topics seen: {seen}")

    def wait_prefix(self, prefix, timeout=15):
        """The first topic seen that starts with `prefix`."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                for t, _, _ in self.messages:
                    if t.startswith(prefix):
                        return t
            time.sleep(0.05)
        raise AssertionError(f"no topic starting with {prefix} within {timeout}s")

    def clear(self):
        with self.lock:
            self.messages.clear()

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


class Gateway:
    def __init__(self, tmp, config_text):
        self.tmp = pathlib.Path(tmp)
        self.config = self.tmp / "gateway.yaml"
        self.config.write_text(config_text)
        self.log = self.tmp / "gateway.log"
        self.proc = None

    def start(self, *extra):
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen([str(CLI), "gateway", "--config", str(self.config), "--log-level", "debug", *extra],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        return self

    def text(self):
        return self.log.read_text(errors="replace")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        if getattr(self, "logf", None):
            self.logf.close()
        return rc


def config(port, devices, extra_mqtt=""):
    return f"mqtt: {{host: 127.0.0.1, port: {port}{extra_mqtt}}}\ndevices:\n" + "".join(f"  - {d}\n" for d in devices)


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path).start()
    yield b
    b.stop()


@pytest.fixture
def run(tmp_path):
    started = []

    def start(text, *extra):
        g = Gateway(tmp_path, text).start(*extra)
        started.append(g)
        return g

    yield start
    for g in started:
        g.stop()


@pytest.fixture
def watcher(broker):
    w = Watcher(broker.port)
    yield w
    w.close()


# ---- configuration --------------------------------------------------------------------------

def test_check_config_lists_every_mistake_with_line_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("mqtt:\n  port: 0x50\n  colour: blue\ndevices:\n  - {emulator: AC999}\n  - {address: 'C4:DE:E2:11:22', protocol: bluetti}\n")
    r = subprocess.run([str(CLI), "gateway", "--check-config", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert f"{bad}:2: mqtt.port:" in r.stderr
    assert f"{bad}:3: mqtt.colour: unknown key" in r.stderr
    assert f"{bad}:5: devices[0].emulator:" in r.stderr
    assert f"{bad}:6: devices[1].address:" in r.stderr
    good = tmp_path / "good.yaml"
    good.write_text("devices:\n  - {emulator: AC180}\n")
    r = subprocess.run([str(CLI), "gateway", "--check-config", str(good)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "OK, 1 device(s)" in r.stdout


def test_a_config_with_mistakes_starts_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices:\n  - {emulator: AC180, poll_interval: 0}\n")
    r = subprocess.run([str(CLI), "gateway", "--config", str(bad)], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    assert "devices[0].poll_interval" in r.stderr


def test_password_file_must_be_private(tmp_path, broker):
    pw = tmp_path / "mqtt.pass"
    pw.write_text("hunter2\n")
    pw.chmod(0o644)
    cfg = tmp_path / "g.yaml"
    cfg.write_text(config(broker.port, ["{emulator: AC180}"], f", username: u, password_file: {pw}"))
    r = subprocess.run([str(CLI), "gateway", "--check-config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "mqtt.password_file" in r.stderr and "group or others" in r.stderr
    assert "hunter2" not in r.stderr + r.stdout


# ---- publishing -----------------------------------------------------------------------------

def test_discovery_state_and_availability(broker, watcher, run):
    g = run(config(broker.port, ["{emulator: AC180, poll_interval: 1}", "{emulator: EB3A, poll_interval: 1}"]))
    watcher.wait("blecrypt/gateway/availability", lambda p, r: p == "online")
    for dev in (AC180, EB3A):
        watcher.wait(f"bluetti/availability/{dev}", lambda p, r: p == "online")
        pct, _ = watcher.wait(f"bluetti/state/{dev}/total_battery_percent")
        assert pct.isdigit() and 0 <= int(pct) <= 100
        assert watcher.wait(f"bluetti/state/{dev}/ac_output_on")[0] in ("ON", "OFF")
    conf, _ = watcher.wait(f"homeassistant/switch/{AC180_SN}_ac_output_on/config")
    j = json.loads(conf)
    assert j["state_topic"] == f"bluetti/state/{AC180}/ac_output_on"
    assert j["command_topic"] == f"bluetti/command/{AC180}/ac_output_on"
    assert j["unique_id"] == f"{AC180_SN}_ac_output_on"
    assert j["device"] == {"identifiers": [AC180_SN], "manufacturer": "Bluetti", "name": f"AC180 {AC180_SN}", "model": "AC180"}
    assert [a["topic"] for a in j["availability"]] == ["blecrypt/gateway/availability", f"bluetti/availability/{AC180}"]
    assert j["origin"]["name"] == "blecrypt"
    assert j["name"] == "AC Output"  # bluetti_mqtt's entity name for ac_output_on
    sensor = json.loads(watcher.wait(f"homeassistant/sensor/{AC180_SN}_dc_input_power/config")[0])
    assert (sensor["unit_of_measurement"], sensor["device_class"], sensor["state_class"]) == ("W", "power", "measurement")
    assert "command_topic" not in sensor
    # Retained: a subscriber arriving later gets discovery, state and availability at once.
    late = Watcher(broker.port)
    try:
        for topic in (f"homeassistant/switch/{AC180_SN}_ac_output_on/config", f"bluetti/state/{EB3A}/ac_output_on",
                      f"bluetti/availability/{AC180}", "blecrypt/gateway/availability"):
            assert late.wait(topic)[1] is True, topic
    finally:
        late.close()
    # Polled on the interval: several state messages arrive.
    time.sleep(2.5)
    assert len(watcher.find(f"bluetti/state/{AC180}/total_battery_percent")) >= 2
    # Home Assistant restarting asks for discovery again.
    watcher.clear()
    watcher.publish("homeassistant/status", "online")
    watcher.wait(f"homeassistant/switch/{AC180_SN}_ac_output_on/config")
    assert g.stop() == 0


def test_sigterm_publishes_offline(broker, watcher, run):
    g = run(config(broker.port, ["{emulator: AC180}"]))
    watcher.wait(f"bluetti/availability/{AC180}", lambda p, r: p == "online")
    assert g.stop() == 0
    watcher.wait(f"bluetti/availability/{AC180}", lambda p, r: p == "offline")
    watcher.wait("blecrypt/gateway/availability", lambda p, r: p == "offline")
    # Retained: a new subscriber sees offline.
    late = Watcher(broker.port)
    try:
        assert late.wait("blecrypt/gateway/availability")[0] == "offline"
        assert late.wait(f"bluetti/availability/{AC180}")[0] == "offline"
    finally:
        late.close()
    assert "closing links" in g.text()


# ---- commands -------------------------------------------------------------------------------

def test_command_switches_the_emulated_output(broker, watcher, run):
    run(config(broker.port, ["{emulator: AC180, poll_interval: 30}"]))
    watcher.wait(f"bluetti/state/{AC180}/ac_output_on")
    for value in ("ON", "OFF", "ON"):
        watcher.clear()
        watcher.publish(f"bluetti/command/{AC180}/ac_output_on", value)
        result = json.loads(watcher.wait(f"bluetti/command/{AC180}/ac_output_on/result")[0])
        assert result == {"ok": True, "field": "ac_output_on", "value": value}
        # The refresh after the command reads the emulator's register back.
        watcher.wait(f"bluetti/state/{AC180}/ac_output_on", lambda p, r, v=value: p == v)


def test_table_driven_topics_discovery_and_settings_for_two_models(broker, watcher, run):
    # AC300 (IoT V1, detected from its registers) and AC180 (IoT V2, model from the config): every
    # entity of the model table is published under its bluetti_mqtt name, settings go through the
    # table's range check and land in the emulator, which the next refresh reads back.
    g = run(config(broker.port, ["{emulator: AC300, poll_interval: 30}", "{emulator: AC180, model: AC180, poll_interval: 30}"]))
    ac300 = watcher.wait_prefix("bluetti/availability/AC300-").rsplit("/", 1)[1]
    sn300 = ac300.split("-")[1]
    state = lambda dev, f, **kw: watcher.wait(f"bluetti/state/{dev}/{f}", **kw)[0]
    # bluetti_mqtt payload formats: enums by name, numbers as exact decimal text, ON/OFF.
    assert state(ac300, "ups_mode") == "STANDARD"
    assert state(ac300, "ac_output_mode") == "INVERTER_OUTPUT"
    assert state(ac300, "battery_range_end") == "100"
    assert state(ac300, "grid_charge_on") in ("ON", "OFF")
    assert state(ac300, "arm_version") == "40.2"
    assert state(ac300, "device_type") == "AC300"
    assert state(ac300, "serial_number") == sn300
    volts = state(ac300, "internal_ac_voltage")
    assert volts.replace(".", "", 1).isdigit() and not volts.endswith(".0"), volts
    assert state(AC180, "charging_mode") in ("STANDARD", "SILENT", "TURBO")
    assert state(AC180, "ac_output_voltage")  # a table name: bluetti_mqtt has none for it
    # Discovery from the table's component / device_class / state_class / unit.
    sel = json.loads(watcher.wait(f"homeassistant/select/{sn300}_ups_mode/config")[0])
    assert sel["options"] == ["CUSTOMIZED", "PV_PRIORITY", "STANDARD", "TIME_CONTROL"]
    assert sel["command_topic"] == f"bluetti/command/{ac300}/ups_mode" and sel["unique_id"] == f"{sn300}_ups_mode"
    num = json.loads(watcher.wait(f"homeassistant/number/{sn300}_battery_range_end/config")[0])
    assert (num["min"], num["max"], num["step"], num["unit_of_measurement"]) == (0, 100, 1, "%")
    volt = json.loads(watcher.wait(f"homeassistant/sensor/{sn300}_internal_ac_voltage/config")[0])
    assert (volt["unit_of_measurement"], volt["device_class"], volt["state_class"]) == ("V", "voltage", "measurement")
    assert json.loads(watcher.wait(f"homeassistant/select/{AC180_SN}_charging_mode/config")[0])["options"] == ["STANDARD", "SILENT", "TURBO"]
    # Settings: an enumeration and a number on the AC300, an enumeration on the AC180.
    for dev, field, value in ((ac300, "ups_mode", "PV_PRIORITY"), (ac300, "battery_range_end", "90"), (AC180, "charging_mode", "TURBO")):
        watcher.clear()
        watcher.publish(f"bluetti/command/{dev}/{field}", value)
        assert json.loads(watcher.wait(f"bluetti/command/{dev}/{field}/result")[0]) == {"ok": True, "field": field, "value": value}
        watcher.wait(f"bluetti/state/{dev}/{field}", lambda p, r, v=value: p == v)
    # Out of range / not a choice: refused before anything is written.
    for field, value, error in (("battery_range_end", "101", "value_out_of_range"), ("ups_mode", "TURBO", "payload_invalid")):
        watcher.publish(f"bluetti/command/{ac300}/{field}", value)
        result = json.loads(watcher.wait(f"bluetti/command/{ac300}/{field}/result", lambda p, r: "false" in p)[0])
        assert result["error"] == error, result
    assert g.text().count("set to") == 3
    assert "detected AC300 (IoT V1" in g.text()


def test_malformed_command_is_rejected_and_nothing_is_written(broker, watcher, run):
    g = run(config(broker.port, ["{emulator: AC180, poll_interval: 30}"]))
    before = watcher.wait(f"bluetti/state/{AC180}/dc_output_on")[0]
    cases = {
        "dc_output_on": ("maybe", "payload_invalid"),
        "ac_output_power": ("5", "field_read_only"),
        "no_such_field": ("ON", "unknown_field"),
    }
    for field, (payload, error) in cases.items():
        watcher.publish(f"bluetti/command/{AC180}/{field}", payload)
        result = json.loads(watcher.wait(f"bluetti/command/{AC180}/{field}/result")[0])
        assert result["ok"] is False and result["error"] == error, result
    watcher.publish(f"bluetti/command/{AC180}/dc_output_on", b"\xff\x00" * 100)
    assert json.loads(watcher.wait(f"bluetti/command/{AC180}/dc_output_on/result",
                                   lambda p, r: "payload_invalid" in p)[0])["ok"] is False
    time.sleep(0.5)
    assert "set to" not in g.text()
    assert watcher.find(f"bluetti/state/{AC180}/dc_output_on")[-1][0] == before


def test_retained_commands_are_never_run(broker, watcher, run):
    watcher.publish(f"bluetti/command/{AC180}/ac_output_on", "ON", retain=True)
    g = run(config(broker.port, ["{emulator: AC180, poll_interval: 30}"]))
    watcher.wait(f"bluetti/state/{AC180}/ac_output_on")
    time.sleep(1)
    assert "ignoring a retained command" in g.text()
    assert not watcher.find(f"bluetti/command/{AC180}/ac_output_on/result")
    watcher.publish(f"bluetti/command/{AC180}/ac_output_on", "", retain=True)


def results(watcher, topic):
    return [json.loads(p) for p, _ in watcher.find(topic)]


def test_command_flood_is_bounded_and_every_command_gets_one_result(broker, watcher, run):
    # Emulated link latency keeps the first command in flight while the flood arrives: at most
    # queue_limit wait, the rest are refused at once with queue_full.
    g = run(config(broker.port, ["{emulator: AC180, poll_interval: 30, latency_ms: 300, queue_limit: 3}"]))
    watcher.wait(f"bluetti/state/{AC180}/ac_output_on", timeout=30)
    topic = f"bluetti/command/{AC180}/ac_output_on"
    infos = [watcher.client.publish(topic, "ON" if i % 2 else "OFF", qos=1) for i in range(40)]
    for info in infos:
        info.wait_for_publish()
    deadline = time.time() + 30
    while time.time() < deadline and len(results(watcher, topic + "/result")) < 40:
        time.sleep(0.1)
    time.sleep(1)
    got = results(watcher, topic + "/result")
    assert len(got) == 40, got
    full = [r for r in got if not r["ok"] and r["error"] == "queue_full"]
    ok = [r for r in got if r["ok"]]
    assert full and ok
    assert len(ok) + len(full) == 40
    assert g.proc.poll() is None


def test_device_dropping_mid_request_fails_the_command_and_never_replays_it(broker, watcher, run):
    # drop_every: 8 -> model detection (1 read) and the first full refresh (the AC180 table's 6
    # blocks) succeed, the 8th request (the command) is on its way when the emulated link drops.
    g = run(config(broker.port, ["{emulator: AC180, poll_interval: 30, drop_every: 8}"]))
    before = watcher.wait(f"bluetti/state/{AC180}/dc_output_on")[0]
    watcher.wait(f"bluetti/availability/{AC180}", lambda p, r: p == "online")
    target = "OFF" if before == "ON" else "ON"
    watcher.clear()
    watcher.publish(f"bluetti/command/{AC180}/dc_output_on", target)
    result = json.loads(watcher.wait(f"bluetti/command/{AC180}/dc_output_on/result")[0])
    assert result["ok"] is False and result["error"] == "link_lost", result
    watcher.wait(f"bluetti/availability/{AC180}", lambda p, r: p == "offline")
    # The device comes back (reconnect with backoff) and refreshes; the command is not replayed.
    watcher.wait(f"bluetti/availability/{AC180}", lambda p, r: p == "online")
    assert watcher.wait(f"bluetti/state/{AC180}/dc_output_on")[0] == before
    time.sleep(0.5)
    assert len(results(watcher, f"bluetti/command/{AC180}/dc_output_on/result")) == 1
    assert "set to" not in g.text()


def test_a_command_for_a_down_device_waits_at_most_command_wait(broker, watcher, run):
    g = run(config(broker.port, ["{emulator: AC180, poll_interval: 30, drop_every: 8, command_wait: 0}"]))
    watcher.wait(f"bluetti/state/{AC180}/ac_output_on")
    watcher.publish(f"bluetti/command/{AC180}/ac_output_on", "ON")   # dropped in flight
    watcher.wait(f"bluetti/command/{AC180}/ac_output_on/result")
    watcher.publish(f"bluetti/command/{AC180}/dc_output_on", "ON")   # device down: no waiting
    result = json.loads(watcher.wait(f"bluetti/command/{AC180}/dc_output_on/result")[0])
    assert result["ok"] is False and result["error"] == "device_unavailable", result
    assert g.proc.poll() is None


# ---- faults ---------------------------------------------------------------------------------

def test_broker_restart_republishes_discovery_and_state(tmp_path, run):
    broker = Broker(tmp_path).start()
    try:
        g = run(config(broker.port, ["{emulator: AC180, poll_interval: 1}"]))
        w = Watcher(broker.port)
        w.wait(f"homeassistant/switch/{AC180_SN}_ac_output_on/config")
        w.close()
        broker.stop()  # persistence off: every retained message is gone
        time.sleep(1.5)
        broker.start()
        w = Watcher(broker.port)
        try:
            w.wait(f"homeassistant/switch/{AC180_SN}_ac_output_on/config", timeout=30)
            w.wait(f"bluetti/state/{AC180}/total_battery_percent")
            late = Watcher(broker.port)  # retained again on the new broker
            try:
                assert late.wait(f"homeassistant/switch/{AC180_SN}_ac_output_on/config")[1] is True
                assert late.wait("blecrypt/gateway/availability") == ("online", True)
                assert late.wait(f"bluetti/state/{AC180}/total_battery_percent")[1] is True
            finally:
                late.close()
            # Commands work on the new connection (subscriptions were renewed).
            w.publish(f"bluetti/command/{AC180}/dc_output_on", "ON")
            assert json.loads(w.wait(f"bluetti/command/{AC180}/dc_output_on/result")[0])["ok"] is True
        finally:
            w.close()
        assert "mqtt: disconnected" in g.text()
    finally:
        broker.stop()


def test_broker_unreachable_at_start(tmp_path, run):
    port = free_port()
    g = run(config(port, ["{emulator: AC180, poll_interval: 1}"]))
    time.sleep(1.5)
    assert g.proc.poll() is None, g.text()
    assert "cannot connect" in g.text() or "failed; retrying" in g.text()
    broker = Broker(tmp_path, port=port).start()
    try:
        w = Watcher(port)
        try:
            w.wait(f"bluetti/state/{AC180}/ac_output_on", timeout=40)
            w.wait(f"homeassistant/switch/{AC180_SN}_ac_output_on/config")
        finally:
            w.close()
    finally:
        broker.stop()


def test_bad_key_file_disables_that_device_only(broker, watcher, run, tmp_path):
    key = tmp_path / "device.key"
    key.write_text("ab" * 64 + "\n")
    key.chmod(0o644)
    g = run(config(broker.port, [f"{{emulator: AC180, key_file: {key}}}", "{emulator: EB3A, poll_interval: 1}"]))
    watcher.wait(f"bluetti/state/{EB3A}/total_battery_percent")
    text = g.text()
    assert "disabled" in text and "group or others" in text
    assert "ab" * 64 not in text
    assert not watcher.find(f"bluetti/state/{AC180}/total_battery_percent")


def test_sighup_reload_adds_and_removes_devices(broker, watcher, run):
    g = run(config(broker.port, ["{emulator: AC180, poll_interval: 1}", "{emulator: EB3A, poll_interval: 1}"]))
    watcher.wait(f"homeassistant/sensor/2441001365385_dc_input_power/config")
    watcher.wait(f"bluetti/state/{AC180}/ac_output_on")
    g.config.write_text(config(broker.port, ["{emulator: AC180, poll_interval: 1}"]))
    watcher.clear()
    g.signal(signal.SIGHUP)
    # The removed device's discovery config is deleted (empty retained message).
    watcher.wait("homeassistant/sensor/2441001365385_dc_input_power/config", lambda p, r: p == "")
    time.sleep(1.5)
    watcher.clear()
    time.sleep(1.5)
    assert watcher.find(f"bluetti/state/{AC180}/total_battery_percent")
    assert not watcher.find(f"bluetti/state/{EB3A}/total_battery_percent")
    # A broken config is refused and the running one kept.
    g.config.write_text("devices: [\n")
    g.signal(signal.SIGHUP)
    time.sleep(1)
    assert "reload refused" in g.text()
    assert g.proc.poll() is None


def test_username_and_password_file(tmp_path, run):
    broker = Broker(tmp_path, passwords={"gw": "s3cret-pass", "watch": "w"}).start()
    try:
        pw = tmp_path / "mqtt.pass"
        pw.write_text("s3cret-pass\n")
        pw.chmod(0o600)
        g = run(config(broker.port, ["{emulator: AC180}"], f", username: gw, password_file: {pw}"))
        w = Watcher(broker.port, auth=("watch", "w"))
        try:
            w.wait(f"bluetti/state/{AC180}/ac_output_on")
        finally:
            w.close()
        assert "s3cret-pass" not in g.text()
        g.stop()
        # A wrong password is refused by the broker; the gateway keeps retrying, and says why.
        pw.write_text("wrong\n")
        g = run(config(broker.port, ["{emulator: AC180}"], f", username: gw, password_file: {pw}"))
        time.sleep(2)
        assert "refused" in g.text()
        assert "wrong" not in g.text().replace("wrong password", "")
    finally:
        broker.stop()


# ---- SESAME (emulated lock) -----------------------------------------------------------------

EMU_LOCK = "sesame/5E5A3E00-B1EC-4A7E-8000-000000000001"


def test_emulated_sesame_lock_state_commands_and_discovery(broker, watcher, run):
    g = run(config(broker.port, ["{emulator: 5, protocol: sesame, poll_interval: 30}"]))
    watcher.wait(f"{EMU_LOCK}/availability", lambda p, r: p == "online")
    assert watcher.wait(f"{EMU_LOCK}/state")[0] in ("locked", "unlocked")
    assert 0 <= int(watcher.wait(f"{EMU_LOCK}/battery")[0]) <= 100
    conf = json.loads(watcher.wait("homeassistant/lock/5E5A3E00-B1EC-4A7E-8000-000000000001/config")[0])
    assert conf["command_topic"] == f"{EMU_LOCK}/set"
    for cmd, want in (("LOCK", "locked"), ("UNLOCK", "unlocked"), ("LOCK", "locked")):
        watcher.clear()
        watcher.publish(f"{EMU_LOCK}/set", cmd)
        assert json.loads(watcher.wait(f"{EMU_LOCK}/set/result")[0]) == {"ok": True, "field": "set", "value": cmd}
        watcher.wait(f"{EMU_LOCK}/state", lambda p, r, w=want: p == w)
    watcher.clear()
    watcher.publish(f"{EMU_LOCK}/set", "lock")  # malformed: refused, nothing sent
    result = json.loads(watcher.wait(f"{EMU_LOCK}/set/result")[0])
    assert (result["ok"], result["error"]) == (False, "payload_invalid")
    assert g.stop() == 0
    watcher.wait(f"{EMU_LOCK}/availability", lambda p, r: p == "offline")
