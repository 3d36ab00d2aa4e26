"""`blecrypt bluetti read|write|logger` end to end: the real CLI binary, each verb in a fresh
process with no earlier scan, against the BlueZ mock (tests/bluez) on a private system bus whose
BLUETTI devices are blecrypt's emulators; and the same verbs with --emulator (memory link).

The CLI binary: $BLECRYPT_CLI, else build/dev/blecrypt. Run with Debian's /usr/bin/python3 and
PYTHONPATH=build/dev/python (the mock's emulated devices import blecrypt):

    PYTHONPATH=build/dev/python /usr/bin/python3 -m pytest -q tests/python/test_cli_bluetti_bluez.py
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = pathlib.Path(os.environ.get("BLECRYPT_CLI", ROOT / "build" / "dev" / "blecrypt")).resolve()

if not CLI.exists():
    pytest.skip(f"{CLI} not built", allow_module_level=True)

ADDR = "C4:DE:E2:11:22:33"
ADDR2 = "C4:DE:E2:44:55:66"
FIELDS = ["device_type", "serial_number", "total_battery_percent", "ac_output_power", "dc_output_power",
          "ac_input_power", "dc_input_power", "ac_output_on", "dc_output_on"]
# Generous bounds for a process that must end on its own: they catch a hang, they time nothing.
PROCESS_LIMIT = 90


def run(env, *args, timeout=PROCESS_LIMIT, cwd=None):
    return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def one_line_error(r):
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("blecrypt: error: "), r.stderr
    return lines[0]


# ---- --emulator: the same verbs over the memory link (no BlueZ needed) -----------------------

def plain_env():
    env = dict(os.environ)
    env.pop("BLECRYPT_BLUETTI_DEVICE_KEY", None)
    return env


@pytest.mark.parametrize("model", ["AC180", "EL30V2", "EB3A"])
def test_emulator_read_json_has_bluetti_mqtt_fields(model):
    r = run(plain_env(), "bluetti", "read", "--emulator", model, "--json")
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()
    obj = json.loads(line)
    assert [k for k in obj if k in FIELDS] == FIELDS
    assert obj["device_type"] == model and isinstance(obj["serial_number"], int)
    assert isinstance(obj["ac_output_on"], bool) and 0 <= obj["total_battery_percent"] <= 100
    assert obj["iot_serial"] > 0


def test_emulator_read_registers_json_and_text():
    r = run(plain_env(), "bluetti", "read", "--emulator", "AC180", "--register", "11006", "--count", "4", "--json")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["register"] == 11006 and obj["count"] == 4 and len(obj["values"]) == 4
    serial = sum(v << (16 * i) for i, v in enumerate(obj["values"]))   # 4 words, least significant first
    assert serial == obj["iot_serial"]
    r = run(plain_env(), "bluetti", "read", "--emulator", "AC180", "--register", "11006", "--count", "2")
    assert r.returncode == 0, r.stderr
    assert [l.split(" = ")[0] for l in r.stdout.splitlines()] == ["11006", "11007"]


def test_emulator_write_confirms_by_reading_back():
    r = run(plain_env(), "bluetti", "write", "--emulator", "EB3A", "--ac", "on", "--dc", "on", "--json")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["ac_output_on"] is True and obj["dc_output_on"] is True and obj["confirmed"] is True
    r = run(plain_env(), "bluetti", "write", "--emulator", "EB3A", "--register", "3007", "--value", "1")
    assert r.returncode == 0, r.stderr
    assert "wrote 1 to register 3007 (confirmed by reading it back)" in r.stdout


def test_emulator_logger_polls_and_stops():
    r = run(plain_env(), "bluetti", "logger", "--emulator", "AC180", "--interval", "1", "--polls", "2",
            "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(rows) == 2 and all(row["device"] == "emulated AC180" for row in rows)
    assert all(all(k in row for k in FIELDS) and row["time"].endswith("Z") for row in rows)
    assert "session 1, fresh handshake" in r.stderr and "stopped after 2 row(s)" in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_emulator_logger_runs_until_signal_then_exits_0(tmp_path, sig):
    out = tmp_path / "log.csv"
    p = subprocess.Popen([str(CLI), "bluetti", "logger", "--emulator", "EL30V2", "--interval", "1",
                          "--output", str(out)], env=plain_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        wait_for(lambda: out.exists() and len(out.read_text().splitlines()) >= 3, what="2 CSV rows")
        p.send_signal(sig)
        stdout, stderr = p.communicate(timeout=PROCESS_LIMIT)
    finally:
        stop(p)
    assert p.returncode == 0, stderr
    lines = out.read_text().splitlines()
    assert lines[0].startswith("time,device,device_type,serial_number,total_battery_percent")
    assert all(l.split(",")[2] == '"EL30V2"' for l in lines[1:])
    assert stdout == "" and "stopped after" in stderr


def test_logger_appends_and_refuses_a_symlink(tmp_path):
    out = tmp_path / "log.csv"
    for _ in range(2):
        r = run(plain_env(), "bluetti", "logger", "--emulator", "AC180", "--interval", "1", "--polls", "1",
                "--output", str(out))
        assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("time,") and not lines[2].startswith("time,")
    link = tmp_path / "link.csv"
    link.symlink_to(out)
    r = run(plain_env(), "bluetti", "logger", "--emulator", "AC180", "--polls", "1", "--output", str(link))
    assert r.returncode == 2 and "symbolic link" in one_line_error(r)


def emulator_iot_serial():
    r = run(plain_env(), "bluetti", "read", "--emulator", "AC180", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["iot_serial"]


def test_licence_option_and_working_directory_file(tmp_path):
    sn = emulator_iot_serial()
    ok = tmp_path / "ok.csv"
    ok.write_text(f"# IoT serials\n{sn},my AC180\n")
    r = run(plain_env(), "bluetti", "read", "--emulator", "AC180", "--licence", str(ok))
    assert r.returncode == 0, r.stderr
    other = tmp_path / "other.csv"
    other.write_text("1234567\n")
    r = run(plain_env(), "bluetti", "read", "--emulator", "AC180", "--licence", str(other))
    assert r.returncode == 1 and f"IoT serial {sn}" in one_line_error(r) and "not listed" in r.stderr
    # The working directory's bluetti_device_licence.csv applies when present.
    (tmp_path / "bluetti_device_licence.csv").write_text("1234567\n")
    r = run(plain_env(), "bluetti", "read", "--emulator", "AC180", cwd=tmp_path)
    assert r.returncode == 1 and "not listed" in r.stderr
    # Unreadable / closed layout / not a regular file: usage errors before connecting.
    closed = tmp_path / "closed.csv"
    closed.write_text("bluetti\nAAAA\n")
    r = run(plain_env(), "bluetti", "read", "--emulator", "AC180", "--licence", str(closed))
    assert r.returncode == 2 and "encrypted layout" in one_line_error(r)
    r = run(plain_env(), "bluetti", "read", "--emulator", "AC180", "--licence", str(tmp_path))
    assert r.returncode == 2 and "not a regular file" in r.stderr
    r = run(plain_env(), "bluetti", "read", "--emulator", "AC180", "--licence", str(tmp_path / "missing.csv"))
    assert r.returncode == 2


@pytest.mark.parametrize("args", [
    ["bluetti", "read"],                                                     # neither ADDRESS nor --emulator
    ["bluetti", "read", ADDR, "--emulator", "AC180"],                         # both
    ["bluetti", "read", "C4:DE:E2:11:22"],                                    # not an address
    ["bluetti", "read", ADDR, "--mtu", "517"],                                # --mtu is for --emulator
    ["bluetti", "read", "--emulator", "AC180", "--adapter", "hci0"],          # --adapter is for ADDRESS
    ["bluetti", "read", "--emulator", "XYZ"],
    ["bluetti", "read", "--emulator", "AC180", "--count", "2"],               # --count needs --register
    ["bluetti", "read", "--emulator", "AC180", "--device-key", "abcd"],
    ["bluetti", "write", "--emulator", "AC180"],
    ["bluetti", "write", "--emulator", "AC180", "--ac", "maybe"],
    ["bluetti", "write", "--emulator", "AC180", "--ac", "on", "--register", "3007", "--value", "1"],
    ["bluetti", "write", "--emulator", "AC180", "--register", "3007"],
    ["bluetti", "logger", "--emulator", "AC180", "--interval", "0"],
    ["bluetti", "logger", "--emulator", "AC180", "--interval", "0x10"],
    ["bluetti", "logger", "--emulator", "AC180", "--format", "xml"],
    ["bluetti", "logger", "--emulator", "AC180", "--timeout", "-1"],
])
def test_usage_errors_exit_2(args):
    r = run(plain_env(), *args)
    assert r.returncode == 2, (r.stdout, r.stderr)


def test_device_key_from_environment_must_be_hex():
    env = plain_env()
    env["BLECRYPT_BLUETTI_DEVICE_KEY"] = "zz"
    r = run(env, "bluetti", "read", ADDR)
    assert r.returncode == 2 and "BLECRYPT_BLUETTI_DEVICE_KEY" in one_line_error(r)


# ---- over BlueZ (the mock) --------------------------------------------------------------------

dbus = pytest.importorskip("dbus")
pytest.importorskip("dbusmock")
sys.path.insert(0, str(ROOT / "tests" / "bluez"))
from harness import BluezMock  # noqa: E402

needs_bluez = pytest.mark.skipif(
    shutil.which("dbus-daemon") is None or subprocess.run([str(CLI), "scan", "--help"], capture_output=True).returncode != 0,
    reason="needs dbus-daemon and a blecrypt with the BlueZ transport")


@pytest.fixture
def bz():
    with BluezMock() as m:
        yield m


def device_env(bz, dev):
    """The environment of a CLI run against `dev`: the mock's bus, and the emulator's verification
    key the way a user passes a non-K2 key (real units sign with K2, the default)."""
    env = dict(bz.env)
    env["BLECRYPT_BLUETTI_DEVICE_KEY"] = bz.emulator_state(dev)["verify_key"]
    return env


def wait_for(predicate, timeout=PROCESS_LIMIT, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def stop(p):
    if p.poll() is None:
        p.kill()
        p.wait()
    for f in (p.stdout, p.stderr):
        if f:
            f.close()


@needs_bluez
@pytest.mark.parametrize("mtu", [23, 517])
def test_read_over_bluez_at_mtu(bz, mtu):
    dev = bz.add_bluetti("AC180", ADDR, mtu=mtu)
    r = run(device_env(bz, dev), "bluetti", "read", ADDR, "--json")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    state = bz.emulator_state(dev)
    assert obj["device_type"] == "AC180" and str(obj["serial_number"]) == state["serial"]
    assert str(obj["iot_serial"]) == state["iot_serial"]
    assert [k for k in obj if k in FIELDS] == FIELDS
    # Every write and notification fitted the link's ATT payload; at 517 the client used it.
    assert state["connections"] == 1
    assert 0 < state["largest_write"] <= mtu - 3 and 0 < state["largest_notification"] <= mtu - 3
    if mtu == 517:
        assert state["largest_write"] > 20 and state["largest_notification"] > 20
    wait_for(lambda: not bz.emulator_state(dev)["connected"], what="the CLI's Disconnect")


@needs_bluez
@pytest.mark.parametrize("mtu", [23, 517])
def test_write_over_bluez_at_mtu_then_read_back_in_a_new_process(bz, mtu):
    dev = bz.add_bluetti("EL30V2", ADDR, mtu=mtu)
    env = device_env(bz, dev)
    r = run(env, "bluetti", "write", ADDR, "--ac", "on", "--dc", "off")
    assert r.returncode == 0, r.stderr
    assert "ac_output_on true (confirmed by reading back)" in r.stdout
    assert "dc_output_on false (confirmed by reading back)" in r.stdout
    r = run(env, "bluetti", "read", ADDR, "--json")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert (obj["ac_output_on"], obj["dc_output_on"]) == (True, False)
    r = run(env, "bluetti", "write", ADDR, "--ac", "off", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ac_output_on"] is False
    r = run(env, "bluetti", "read", ADDR, "--register", "11006", "--count", "4", "--json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["values"]) == 4
    assert bz.emulator_state(dev)["connections"] == 4


@needs_bluez
def test_detect_over_bluez_confirms_the_name_bluez_knows(bz):
    """`bluetti detect ADDRESS` checks the device-type register against the device's Name in
    BlueZ (Device1.Name: what it advertised); --name overrides it; a mismatch names both."""
    dev = bz.add_bluetti("AC300", ADDR, name="AC3002235000573911")
    r = run(device_env(bz, dev), "bluetti", "detect", ADDR, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["advertised_name"], d["advertised_model"], d["model"], d["confirmed"]) == \
        ("AC3002235000573911", "AC300", "AC300", True)
    r = run(device_env(bz, dev), "bluetti", "detect", ADDR, "--name", "EB3A2441001365385")
    assert r.returncode == 0, r.stderr
    assert "EB3A2441001365385 -> EB3A" in r.stdout and "NOT the advertised model" in r.stdout


@needs_bluez
def test_register_write_over_bluez(bz):
    dev = bz.add_bluetti("EB3A", ADDR, mtu=517)
    env = device_env(bz, dev)
    r = run(env, "bluetti", "write", ADDR, "--register", "3007", "--value", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"register": 3007, "value": 1, "iot_serial": int(bz.emulator_state(dev)["iot_serial"]),
                                    "confirmed": True}


@needs_bluez
def test_device_key_option_and_default_k2(bz):
    dev = bz.add_bluetti("AC180", ADDR)
    key = bz.emulator_state(dev)["verify_key"]
    env = dict(bz.env)
    env.pop("BLECRYPT_BLUETTI_DEVICE_KEY", None)
    r = run(env, "bluetti", "read", ADDR, "--device-key", key)
    assert r.returncode == 0, r.stderr
    assert "device_type AC180" in r.stdout
    # No key given: K2, which the emulator's signature does not match.
    r = run(env, "bluetti", "read", ADDR)
    assert r.returncode == 1
    assert "BLUETTI handshake with " + ADDR in one_line_error(r) and "failed" in r.stderr


@needs_bluez
def test_link_dropped_in_the_handshake_fails_cleanly(bz):
    dev = bz.add_bluetti("AC180", ADDR, mtu=517)
    bz.drop_link_after(dev, "writes", 1)        # the CHALLENGE response arrives, then the link drops
    r = run(device_env(bz, dev), "bluetti", "read", ADDR)
    assert r.returncode == 1
    line = one_line_error(r)
    assert "BLUETTI handshake with " + ADDR in line and "connection dropped" in line, line
    assert "after answering the CHALLENGE" in line, line
    assert r.stdout == ""


@needs_bluez
def test_link_dropped_in_a_request_fails_cleanly(bz):
    dev = bz.add_bluetti("AC180", ADDR, mtu=517)
    # At MTU 517 the handshake is two writes (CHALLENGE response, CLIENT_PUBKEY); the third is the
    # first request (the IoT serial read), and the link drops before its answer.
    bz.drop_link_after(dev, "writes", 3)
    r = run(device_env(bz, dev), "bluetti", "read", ADDR)
    assert r.returncode == 1
    line = one_line_error(r)
    assert "reading the IoT serial" in line and "connection dropped" in line, line


@needs_bluez
def test_a_device_that_never_answers_times_out(bz):
    dev = bz.add_bluetti("AC180", ADDR)
    bz.set_silent(dev)
    r = run(device_env(bz, dev), "bluetti", "read", ADDR, "--timeout", "2")
    assert r.returncode == 1
    line = one_line_error(r)
    assert "timed out after 2 s (waiting for CHALLENGE)" in line, line


@needs_bluez
def test_adapter_off_exit_3_one_line(bz):
    dev = bz.add_bluetti("AC180", ADDR)
    env = device_env(bz, dev)
    bz.power(False)
    for verb in (["read", ADDR], ["write", ADDR, "--ac", "on"], ["logger", ADDR]):
        r = run(env, "bluetti", *verb)
        assert r.returncode == 3, (verb, r.stderr)
        assert "powered off" in one_line_error(r) and "bluetoothctl power on" in r.stderr


@needs_bluez
def test_no_org_bluez_exit_3_one_line(bz):
    dev = bz.add_bluetti("AC180", ADDR)
    env = device_env(bz, dev)
    bz.stop_mock()
    for verb in (["read", ADDR], ["write", ADDR, "--dc", "off"], ["logger", ADDR]):
        r = run(env, "bluetti", *verb)
        assert r.returncode == 3, (verb, r.stderr)
        assert "Bluetooth is unavailable" in one_line_error(r)


@needs_bluez
def test_unknown_device_fails_with_exit_1(bz):
    bz.add_bluetti("AC180", ADDR)
    env = device_env(bz, device_path(ADDR))
    r = run(env, "bluetti", "read", "AA:BB:CC:DD:EE:FF", "--timeout", "2")
    assert r.returncode == 1
    assert "connecting to AA:BB:CC:DD:EE:FF" in one_line_error(r)


def device_path(address):
    return "/org/bluez/hci0/dev_" + address.replace(":", "_")


@needs_bluez
def test_two_devices_read_concurrently(bz):
    d1 = bz.add_bluetti("AC180", ADDR, mtu=517)
    d2 = bz.add_bluetti("EB3A", ADDR2)
    procs = []
    for dev, addr in ((d1, ADDR), (d2, ADDR2)):
        procs.append(subprocess.Popen([str(CLI), "bluetti", "read", addr, "--json"], env=device_env(bz, dev),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=PROCESS_LIMIT))
    finally:
        for p in procs:
            stop(p)
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert [json.loads(o)["device_type"] for o, _ in outs] == ["AC180", "EB3A"]


class Logger:
    """A logger process; rows in a JSON-lines file, stderr in a file (read while it runs)."""

    def __init__(self, env, tmp_path, address, *extra, name="log.jsonl"):
        self.out = tmp_path / name
        self.err_path = tmp_path / (name + ".stderr")
        self.err_file = open(self.err_path, "w")
        self.p = subprocess.Popen([str(CLI), "bluetti", "logger", address, "--interval", "1", "--format", "jsonl",
                                   "--output", str(self.out), *extra], env=env, stdout=subprocess.DEVNULL,
                                  stderr=self.err_file, text=True)

    def rows(self):
        if not self.out.exists():
            return []
        return [json.loads(l) for l in self.out.read_text().splitlines() if l.endswith("}")]

    def stderr(self):
        return self.err_path.read_text()

    def stop(self, sig=signal.SIGINT):
        try:
            if self.p.poll() is None:
                self.p.send_signal(sig)
            self.p.wait(timeout=PROCESS_LIMIT)
        finally:
            stop(self.p)
            self.err_file.close()
        return self.p.returncode, self.stderr()


@needs_bluez
def test_logger_over_bluez_keeps_one_connection(bz, tmp_path):
    dev = bz.add_bluetti("AC180", ADDR, mtu=517)
    log = Logger(device_env(bz, dev), tmp_path, ADDR)
    try:
        wait_for(lambda: len(log.rows()) >= 3, what="3 rows")
    finally:
        rc, err = log.stop(signal.SIGTERM)
    assert rc == 0, err
    assert bz.emulator_state(dev)["connections"] == 1     # one persistent connection for every poll
    assert all(row["device"] == ADDR and row["device_type"] == "AC180" for row in log.rows())
    assert f"stopped after {len(log.rows())} row(s)" in err, err
    wait_for(lambda: not bz.emulator_state(dev)["connected"], what="disconnect")


@needs_bluez
def test_logger_recovers_after_the_link_drops_in_a_request(bz, tmp_path):
    dev = bz.add_bluetti("AC180", ADDR, mtu=517)
    log = Logger(device_env(bz, dev), tmp_path, ADDR)
    try:
        wait_for(lambda: len(log.rows()) >= 1, what="a first row")
        bz.drop_link_after(dev, "writes", 1)   # the next poll's request arrives, then the link drops
        wait_for(lambda: bz.emulator_state(dev)["connections"] >= 2 and len(log.rows()) >= 3,
                 what="rows after reconnecting")
    finally:
        rc, err = log.stop()
    assert rc == 0, err
    assert "poll failed: reading telemetry: link: the connection dropped" in err, err
    assert "reconnecting in " in err and "(session 2, fresh handshake" in err, err


@needs_bluez
def test_logger_recovers_after_the_link_drops_in_the_handshake(bz, tmp_path):
    dev = bz.add_bluetti("EL30V2", ADDR)
    bz.drop_link_after(dev, "writes", 1)     # the first connection dies in its handshake
    log = Logger(device_env(bz, dev), tmp_path, ADDR)
    try:
        wait_for(lambda: len(log.rows()) >= 2, what="rows after the failed handshake")
    finally:
        rc, err = log.stop()
    assert rc == 0, err
    assert "connect failed: BLUETTI handshake with " + ADDR in err and "connection dropped" in err, err
    assert "(session 1, fresh handshake" in err
    assert bz.emulator_state(dev)["connections"] == 2


@needs_bluez
def test_logger_logs_why_while_the_device_is_away(bz, tmp_path):
    dev = bz.add_bluetti("AC180", ADDR, mtu=517)
    log = Logger(device_env(bz, dev), tmp_path, ADDR, "--timeout", "2")
    try:
        wait_for(lambda: len(log.rows()) >= 1, what="a first row")
        bz.set_in_range(dev, False)             # the link drops, connects time out
        wait_for(lambda: "connect failed: connecting to " + ADDR in log.stderr(), what="a logged connect failure")
        n = len(log.rows())
        bz.set_in_range(dev, True)
        wait_for(lambda: len(log.rows()) > n, what="rows again")
    finally:
        rc, err = log.stop()
    assert rc == 0, err
    assert bz.emulator_state(dev)["connections"] >= 2
    assert "reconnecting in " in err and "(session 2, fresh handshake" in err, err


@needs_bluez
def test_two_loggers_two_devices_at_once(bz, tmp_path):
    d1 = bz.add_bluetti("AC180", ADDR, mtu=517)
    d2 = bz.add_bluetti("EB3A", ADDR2, mtu=23)
    l1 = Logger(device_env(bz, d1), tmp_path, ADDR, name="a.jsonl")
    l2 = Logger(device_env(bz, d2), tmp_path, ADDR2, name="b.jsonl")
    try:
        wait_for(lambda: len(l1.rows()) >= 2 and len(l2.rows()) >= 2, what="rows from both")
    finally:
        r1, e1 = l1.stop()
        r2, e2 = l2.stop()
    assert (r1, r2) == (0, 0), (e1, e2)
    assert {row["device_type"] for row in l1.rows()} == {"AC180"}
    assert {row["device_type"] for row in l2.rows()} == {"EB3A"}


@needs_bluez
def test_logger_survives_a_bluetoothd_restart(bz, tmp_path):
    dev = bz.add_bluetti("AC180", ADDR, mtu=517)
    log = Logger(device_env(bz, dev), tmp_path, ADDR, "--timeout", "5")
    try:
        wait_for(lambda: len(log.rows()) >= 1, what="a first row")
        bz.restart_bluetoothd()                  # org.bluez leaves the bus and comes back, devices forgotten
        wait_for(lambda: "link lost: " in log.stderr(), what="the loss logged")
        n = len(log.rows())
        wait_for(lambda: len(log.rows()) > n + 1, what="rows after bluetoothd came back")
    finally:
        rc, err = log.stop()
    assert rc == 0, err
    assert "(session 2, fresh handshake" in err, err


@needs_bluez
def test_logger_reconnects_when_the_device_stops_answering(bz, tmp_path):
    dev = bz.add_bluetti("EB3A", ADDR, mtu=517)
    log = Logger(device_env(bz, dev), tmp_path, ADDR, "--timeout", "2")
    try:
        wait_for(lambda: len(log.rows()) >= 1, what="a first row")
        bz.set_silent(dev)                       # connected, but nothing comes back any more
        wait_for(lambda: "3 failed polls in a row: reconnecting" in log.stderr(), what="3 failed polls")
        wait_for(lambda: "connect failed: BLUETTI handshake" in log.stderr(), what="a failed handshake")
        n = len(log.rows())
        bz.set_silent(dev, False)
        wait_for(lambda: len(log.rows()) > n, what="rows again")
    finally:
        rc, err = log.stop()
    assert rc == 0, err
    assert "poll failed: reading telemetry: " in err and "timed out" in err, err
    assert "(waiting for CHALLENGE)" in err, err
    assert "(session 2, fresh handshake" in err, err


def test_logger_gives_up_on_an_unlicensed_unit(tmp_path):
    lic = tmp_path / "licence.csv"
    lic.write_text("1234567\n")
    r = run(plain_env(), "bluetti", "logger", "--emulator", "AC180", "--interval", "1", "--licence", str(lic))
    assert r.returncode == 1 and "not listed" in r.stderr
