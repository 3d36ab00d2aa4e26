"""`blecrypt sesame register|lock|unlock|toggle|status|history` end to end: the real CLI binary, each
verb in a fresh process with no earlier scan, against the BlueZ mock on a private system bus
(tests/bluez/harness.py) whose SESAME locks are the project's emulator, and over --emulator.
The CLI binary: $BLECRYPT_CLI, else build/dev/blecrypt. Run with Debian's /usr/bin/python3 and
PYTHONPATH=build/dev/python (the mock's emulated locks import blecrypt)."""

import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = pathlib.Path(os.environ.get("BLECRYPT_CLI", ROOT / "build" / "dev" / "blecrypt"))

if not CLI.exists():
    pytest.skip(f"{CLI} not built", allow_module_level=True)

ADDR = "E1:5E:5A:00:00:05"
UUID = "8cbe3f10-6b4c-4d1e-9f7a-2a3b4c5d6e7f"
SECRET = bytes(range(0x10, 0x20))


def run(env, *args, timeout=60):
    return subprocess.run([str(CLI), "sesame", *args], env=env, capture_output=True, text=True, timeout=timeout)


def key_file(tmp_path, secret=SECRET, mode=0o600, name="lock.key"):
    p = tmp_path / name
    p.write_text(secret.hex() + "\n")
    p.chmod(mode)
    return str(p)


def share_uri(secret=SECRET, uuid=UUID, model=5):
    from blecrypt import sesame
    return sesame.build_share_uri(secret, uuid, model=model, level=0, name="Front door")


# ---- --emulator: no Bluetooth at all ------------------------------------------------------------

def test_emulator_register_writes_a_private_key_file_and_never_prints_the_secret(tmp_path):
    kf = tmp_path / "new.key"
    r = run(None, "register", "--emulator", "5", "--key-file", str(kf))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(kf.stat().st_mode) == 0o600
    secret = kf.read_text().strip()
    assert len(secret) == 32 and int(secret, 16) >= 0
    assert secret not in r.stdout and secret not in r.stderr
    assert f"device secret written to {kf}" in r.stdout
    # --show-secret is the one way to see it; --json says where it went.
    kf2 = tmp_path / "new2.key"
    r = run(None, "register", "--emulator", "5pro", "--key-file", str(kf2), "--json", "--show-secret")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["command"] == "register" and out["key_file"] == str(kf2)
    assert out["secret"] == kf2.read_text().strip()
    assert out["state"] == "unlocked" and out["battery_percent"] == 100


def test_emulator_register_refuses_to_overwrite_without_force(tmp_path):
    kf = tmp_path / "k"
    kf.write_text("keep me\n")
    r = run(None, "register", "--emulator", "5", "--key-file", str(kf))
    assert r.returncode == 2 and "already exists" in r.stderr and "--force" in r.stderr
    assert kf.read_text() == "keep me\n"
    r = run(None, "register", "--emulator", "5", "--key-file", str(kf), "--force")
    assert r.returncode == 0, r.stderr
    assert len(kf.read_text().strip()) == 32 and stat.S_IMODE(kf.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]   # no temporary file left behind
    # A symbolic link in the key file's place is never followed or replaced without --force.
    target = tmp_path / "target"
    target.write_text("x")
    (tmp_path / "link").symlink_to(target)
    r = run(None, "register", "--emulator", "5", "--key-file", str(tmp_path / "link"))
    assert r.returncode == 2 and target.read_text() == "x"


@pytest.mark.parametrize("verb,state", [("lock", "locked"), ("unlock", "unlocked"), ("toggle", "locked"),
                                        ("status", "unlocked")])
def test_emulator_verbs_with_key_file(tmp_path, verb, state):
    kf = key_file(tmp_path)
    r = run(None, verb, "--emulator", "5", "--key-file", kf, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["command"] == verb and out["state"] == state
    assert out["battery_percent"] == 100 and out["battery_volts"] == 6.0
    assert isinstance(out["position"], int) and isinstance(out["events"], list)
    if verb in ("lock", "toggle"):
        assert out["result"] == "success" and out["position"] == -90
        # The pushes while the motor turned: moving ..., then at rest in the lock range.
        states = [e["state"] for e in out["events"]]
        assert "moving" in states and states[-1] == "locked"
        assert all(e["event"] == "status" and "battery_percent" in e for e in out["events"])


def test_emulator_text_output_shows_pushes_and_status(tmp_path):
    kf = key_file(tmp_path)
    r = run(None, "lock", "--emulator", "5", "--key-file", kf, "--tag", "front door")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "lock: success" in lines
    assert any(l.startswith("  moving, angle") for l in lines), lines
    assert lines[-1].startswith("locked, angle -90, battery 100 % (6.00 V)")
    r = run(None, "status", "--emulator", "5us", "--key-file", kf)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[:3] == ["state:    unlocked", "battery:  100 % (6.00 V)", "position: 0"]


@pytest.mark.parametrize("mtu", ["23", "185", "517"])
def test_emulator_lock_at_any_mtu(tmp_path, mtu):
    r = run(None, "lock", "--emulator", "5", "--key-file", key_file(tmp_path), "--mtu", mtu, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "locked"


def test_emulator_history_and_qr(tmp_path):
    # A fresh emulated lock has no history; --qr works like --key-file.
    r = run(None, "history", "--emulator", "5", "--qr", share_uri(), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["records"] == []
    r = run(None, "history", "--emulator", "5", "--qr", share_uri())
    assert r.returncode == 0 and r.stdout == "no history records\n", r.stderr
    r = run(None, "unlock", "--emulator", "5", "--qr", share_uri(), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "unlocked"


def test_key_file_that_others_can_read_is_refused(tmp_path):
    for mode in (0o644, 0o640, 0o604, 0o620):
        kf = key_file(tmp_path, mode=mode, name=f"k{mode:o}")
        r = run(None, "lock", "--emulator", "5", "--key-file", kf)
        assert r.returncode == 2, (mode, r.stderr)
        assert "accessible by group/others" in r.stderr and "chmod 600" in r.stderr
        assert SECRET.hex() not in r.stderr


def test_key_file_bounded_and_checked(tmp_path):
    big = tmp_path / "big"
    big.write_text("0" * 5000)
    big.chmod(0o600)
    r = run(None, "status", "--emulator", "5", "--key-file", str(big))
    assert r.returncode == 2 and "larger than 4096 bytes" in r.stderr
    (tmp_path / "ln").symlink_to(key_file(tmp_path))
    r = run(None, "status", "--emulator", "5", "--key-file", str(tmp_path / "ln"))
    assert r.returncode == 2 and "symbolic link" in r.stderr
    r = run(None, "status", "--emulator", "5", "--key-file", str(tmp_path))
    assert r.returncode == 2 and "not a regular file" in r.stderr
    garbage = tmp_path / "garbage"
    garbage.write_text("zz" * 16)
    garbage.chmod(0o600)
    r = run(None, "status", "--emulator", "5", "--key-file", str(garbage))
    assert r.returncode == 2 and "not hex digits" in r.stderr
    # A key file may also hold the share URI.
    uri = tmp_path / "uri"
    uri.write_text(share_uri() + "\n")
    uri.chmod(0o600)
    r = run(None, "status", "--emulator", "5", "--key-file", str(uri))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("args,msg", [
    (["lock", "--emulator", "5"], "either --key-file FILE or --qr URI"),
    (["lock", "--emulator", "5", "--key-file", "K", "--qr", "ssm://UI?t=sk&sk=AA"], "either --key-file"),
    (["register", "--emulator", "5"], "register needs --key-file"),
    (["lock", "--emulator", "5", "--qr", "http://example.com"], "--qr"),
    (["lock", "--emulator", "5", "--qr", "ssm://UI?t=sk&sk=BQABAgMEBQYHCAkKCwwNDg8A8VNlAQCMvj8Qa0xNHp96KjtMXW5%2F",
      "--tag", "x" * 30], "--tag"),
    (["lock", "--emulator", "6", "--key-file", "K"], "unknown SESAME model"),
    (["lock", "--key-file", "K"], "ADDRESS"),
    (["lock", ADDR, "--emulator", "5", "--key-file", "K"], "not both"),
    (["status", "not-an-address", "--key-file", "K"], "not a Bluetooth address"),
    (["status", "zz" * 16, "--key-file", "K"], "neither a Bluetooth address nor a SESAME UUID"),
    (["status", "--emulator", "5", "--key-file", "K", "--timeout", "0x5"], "timeout"),
    (["status", "--emulator", "5", "--key-file", "K", "--adapter", "hci0"], "--adapter applies"),
    (["status", "--emulator", "5", "--key-file", "K", "--force"], "--force"),
    (["status", "--emulator", "5", "--key-file", "K", "--tag", "x"], "--tag"),
    (["register", "--emulator", "5", "--key-file", "K2", "--qr", "ssm://UI?t=sk&sk=AA"], "--qr"),
])
def test_usage_errors_exit_2(tmp_path, args, msg):
    args = [key_file(tmp_path) if a == "K" else str(tmp_path / "new.key") if a == "K2" else a for a in args]
    r = run(None, *args)
    assert r.returncode == 2, r.stderr
    assert msg in r.stderr


# ---- over BlueZ (the mock) ----------------------------------------------------------------------

def _bluez_available():
    if shutil.which("dbus-daemon") is None:
        return "dbus-daemon is not installed"
    try:
        import dbus  # noqa: F401
        import dbusmock  # noqa: F401
    except ImportError:
        return "dbus-python / python3-dbusmock missing"
    if subprocess.run([str(CLI), "scan", "--help"], capture_output=True).returncode != 0:
        return "this blecrypt has no BlueZ transport"
    return None


needs_bluez = pytest.mark.skipif(_bluez_available() is not None, reason=str(_bluez_available()))


@pytest.fixture
def bz():
    sys.path.insert(0, str(ROOT / "tests" / "bluez"))
    from harness import BluezMock
    with BluezMock() as m:
        yield m


@needs_bluez
def test_register_then_every_verb_with_the_key_file(bz, tmp_path):
    dev = bz.add_sesame("5", ADDR)
    kf = tmp_path / "lock.key"
    r = run(bz.env, "register", ADDR, "--key-file", str(kf))
    assert r.returncode == 0, r.stderr
    state = bz.emulator_state(dev)
    assert state["registered"] and state["secret"] == kf.read_text().strip()
    assert state["secret"] not in r.stdout + r.stderr
    assert stat.S_IMODE(kf.stat().st_mode) == 0o600

    r = run(bz.env, "lock", ADDR, "--key-file", str(kf), "--tag", "first")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].startswith("locked, angle -90")
    assert bz.emulator_state(dev)["locked"]

    r = run(bz.env, "unlock", ADDR, "--key-file", str(kf), "--tag", "second", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["result"], out["state"], out["position"]) == ("success", "unlocked", 0)
    assert [e["state"] for e in out["events"]][-1] == "unlocked"
    assert bz.emulator_state(dev)["unlocked"]

    r = run(bz.env, "toggle", ADDR, "--key-file", str(kf), "--tag", "third", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "locked"

    r = run(bz.env, "status", ADDR, "--key-file", str(kf), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["state"], out["position"], out["battery_percent"], out["battery_volts"]) == ("locked", -90, 100, 6.0)

    r = run(bz.env, "history", ADDR, "--key-file", str(kf), "--json")
    assert r.returncode == 0, r.stderr
    records = [x for x in json.loads(r.stdout)["records"] if x["type"] in ("BLE lock", "BLE unlock")]
    assert [(x["type"], x["tag"]) for x in records] == [("BLE lock", "first"), ("BLE unlock", "second"),
                                                         ("BLE lock", "third")]
    times = [x["time"] for x in json.loads(r.stdout)["records"]]
    assert times == sorted(times) and abs(times[-1] - time.time()) < 120
    # Read means removed (the lock shows only its oldest record): the next read is empty.
    r = run(bz.env, "history", ADDR, "--key-file", str(kf))
    assert r.returncode == 0 and r.stdout == "no history records\n", r.stdout + r.stderr


@needs_bluez
def test_register_an_owned_lock_fails_and_leaves_no_file(bz, tmp_path):
    bz.add_sesame("5", ADDR, secret=SECRET)
    kf = tmp_path / "k"
    r = run(bz.env, "register", ADDR, "--key-file", str(kf))
    assert r.returncode == 1, r.stderr
    assert "has an owner" in r.stderr
    assert not kf.exists()


@needs_bluez
def test_every_verb_with_the_share_qr(bz, tmp_path):
    dev = bz.add_sesame("5pro", ADDR, secret=SECRET, uuid=bytes.fromhex(UUID.replace("-", "")))
    uri = share_uri(model=7)
    for verb, state in (("lock", "locked"), ("unlock", "unlocked"), ("toggle", "locked"), ("status", "locked")):
        r = run(bz.env, verb, ADDR, "--qr", uri, "--json")
        assert r.returncode == 0, (verb, r.stderr)
        assert json.loads(r.stdout)["state"] == state
    assert bz.emulator_state(dev)["locked"]
    r = run(bz.env, "history", ADDR, "--qr", uri, "--json")
    assert r.returncode == 0, r.stderr
    assert [x["tag"] for x in json.loads(r.stdout)["records"] if x["type"].startswith("BLE")] == ["blecrypt"] * 3


@needs_bluez
def test_uuid_addressing_finds_the_lock_by_discovery(bz, tmp_path):
    other = "E1:5E:5A:00:00:06"
    bz.add_sesame("5", other, secret=bytes(16))                 # another lock nearby
    dev = bz.add_sesame("5", ADDR, secret=SECRET, uuid=bytes.fromhex(UUID.replace("-", "")))
    kf = key_file(tmp_path)
    r = run(bz.env, "lock", UUID, "--key-file", kf, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "locked" and bz.emulator_state(dev)["locked"]
    r = run(bz.env, "status", UUID.replace("-", "").upper(), "--key-file", kf)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("state:    locked")
    r = run(bz.env, "status", "00000000-0000-0000-0000-000000000000", "--key-file", kf, "--timeout", "2")
    assert r.returncode == 1 and "no SESAME lock with UUID" in r.stderr


@needs_bluez
def test_wrong_key_is_a_clear_failure(bz, tmp_path):
    dev = bz.add_sesame("5", ADDR, secret=SECRET)
    kf = key_file(tmp_path, secret=bytes(16))
    r = run(bz.env, "lock", ADDR, "--key-file", kf)
    assert r.returncode == 1, r.stderr
    assert "login" in r.stderr and "wrong key" in r.stderr and kf in r.stderr
    assert not bz.emulator_state(dev)["locked"]


@needs_bluez
def test_key_file_too_open_is_refused_before_any_connection(bz, tmp_path):
    dev = bz.add_sesame("5", ADDR, secret=SECRET)
    kf = key_file(tmp_path, mode=0o644)
    r = run(bz.env, "unlock", ADDR, "--key-file", kf)
    assert r.returncode == 2 and "chmod 600" in r.stderr
    # Nothing was discovered (a discovery would leave the device object for a few seconds).
    assert dev not in {str(k) for k in bz.managed_objects()}


@needs_bluez
def test_link_dropped_mid_login_exits_1_with_the_reason(bz, tmp_path):
    dev = bz.add_sesame("5", ADDR, secret=SECRET)
    bz.drop_link_after(dev, "writes", 1)       # the login write arrives, the link drops before the answer
    r = run(bz.env, "lock", ADDR, "--key-file", key_file(tmp_path))
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("blecrypt: error: lock: login: the link dropped"), r.stderr
    assert not bz.emulator_state(dev)["locked"]
    # The lock is fine afterwards: the next command works.
    r = run(bz.env, "lock", ADDR, "--key-file", key_file(tmp_path, name="k2"))
    assert r.returncode == 0, r.stderr


@needs_bluez
def test_link_dropped_during_the_command(bz, tmp_path):
    dev = bz.add_sesame("5", ADDR, secret=SECRET)
    bz.drop_link_after(dev, "writes", 2)       # login answered; the link drops on the lock command
    r = run(bz.env, "status", ADDR, "--key-file", key_file(tmp_path))
    assert r.returncode == 0, r.stderr         # status needs no write after the login
    bz.drop_link_after(dev, "writes", 2)
    r = run(bz.env, "lock", ADDR, "--key-file", key_file(tmp_path, name="k2"))
    assert r.returncode == 1, r.stderr
    assert "lock: waiting for the lock to finish moving: the link dropped" in r.stderr


@needs_bluez
def test_never_answering_lock_times_out(bz, tmp_path):
    dev = bz.add_sesame("5", ADDR, secret=SECRET)
    bz.set_silent(dev)
    r = run(bz.env, "status", ADDR, "--key-file", key_file(tmp_path), "--timeout", "3", timeout=60)
    assert r.returncode == 1, r.stderr
    assert "status: login: timed out after 3 s" in r.stderr

    def disconnected():
        objs = bz.managed_objects()
        return dev not in objs or not bool(objs[dev]["org.bluez.Device1"]["Connected"])
    bz.wait_for(disconnected, what="the CLI's Disconnect on the way out")   # the lock is not left connected
    # Without --timeout the client's own deadline for the lock's greeting (5 s) ends it.
    r = run(bz.env, "status", ADDR, "--key-file", key_file(tmp_path, name="k2"), timeout=60)
    assert r.returncode == 1, r.stderr
    assert "status: login:" in r.stderr and "the lock did not answer" in r.stderr


@needs_bluez
def test_absent_lock_times_out_connecting(bz, tmp_path):
    bz.add_sesame("5", ADDR, secret=SECRET)
    r = run(bz.env, "lock", "E1:5E:5A:00:00:09", "--key-file", key_file(tmp_path), "--timeout", "2")
    assert r.returncode == 1, r.stderr
    # --timeout also bounds the discovery that looks for the unknown address
    assert "lock: connecting: " in r.stderr and ("device not found" in r.stderr or "timed out after 2 s" in r.stderr), r.stderr
    assert "the link dropped" not in r.stderr


@needs_bluez
def test_adapter_option_and_no_bluetooth(bz, tmp_path):
    bz.add_sesame("5", ADDR, secret=SECRET)
    kf = key_file(tmp_path)
    r = run(bz.env, "status", ADDR, "--key-file", kf, "--adapter", "hci0")
    assert r.returncode == 0, r.stderr
    r = run(bz.env, "status", ADDR, "--key-file", kf, "--adapter", "hci7")
    assert r.returncode == 3 and "no Bluetooth adapter" in r.stderr
    bz.power(False)
    r = run(bz.env, "status", UUID, "--key-file", kf)
    assert r.returncode == 3 and "powered off" in r.stderr


@needs_bluez
def test_register_keeps_the_key_whenever_the_lock_accepted_it(bz, tmp_path):
    """The link drops at every point of a registration in turn: whenever the secret reached us, the
    key file holds it (the lock can only be opened with it) and the error says so; when the lock's
    answer was lost, the error says how to recover."""
    saw_registered_failure = False
    for count in range(1, 8):
        dev = bz.add_sesame("5", f"E1:5E:5A:00:01:{count:02X}")
        addr = f"E1:5E:5A:00:01:{count:02X}"
        bz.drop_link_after(dev, "notifications", count)
        kf = tmp_path / f"k{count}"
        r = run(bz.env, "register", addr, "--key-file", str(kf), "--timeout", "10")
        owned = bz.emulator_state(dev)["registered"]
        if r.returncode == 0:
            assert owned and len(kf.read_text().strip()) == 32
            continue
        assert r.returncode == 1, r.stderr
        if owned and not kf.exists():
            # The lock took the registration but its answer (its public key) never arrived: nobody
            # can compute the secret; the message says how to recover.
            assert "reset the lock" in r.stderr, r.stderr
        elif owned:
            saw_registered_failure = True
            assert f"the lock is registered and its key is in {kf}" in r.stderr, r.stderr
            assert len(kf.read_text().strip()) == 32 and stat.S_IMODE(kf.stat().st_mode) == 0o600
            r = run(bz.env, "status", addr, "--key-file", str(kf))   # the kept key opens the lock
            assert r.returncode == 0, r.stderr
        else:
            assert not kf.exists()
    assert saw_registered_failure


def test_register_force_refuses_a_directory_before_touching_the_lock(tmp_path):
    (tmp_path / "d").mkdir()
    for target in (str(tmp_path / "d"), str(tmp_path) + "/"):
        r = run(None, "register", "--emulator", "5", "--key-file", target, "--force")
        assert r.returncode == 2, r.stderr
        assert "not a regular file" in r.stderr or "not a directory" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
