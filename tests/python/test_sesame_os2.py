"""OS2 (SESAME 3 / 4, bot 1, Bike 1) from Python (blecrypt.sesame.Os2Client against Os2Device), the
CLI's OS2 paths over --emulator (emulator-key, qr-import --key-file, lock/unlock/toggle/status/
history), and one test per verb family over the BlueZ mock (an emulated OS2 device in
tests/bluez/emulated.py). Run with Debian's /usr/bin/python3 and PYTHONPATH=build/dev/python."""

import base64
import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys

import pytest

from blecrypt import sesame
from blecrypt.errors import SesameError, SesameInvalidArgument

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = pathlib.Path(os.environ.get("BLECRYPT_CLI", ROOT / "build" / "dev" / "blecrypt"))
SECRET = bytes(range(0x40, 0x50))
ADDR = "E1:5E:5A:00:02:04"


def pump(dev, cli, packets):
    while packets:
        nxt = []
        for p in packets:
            for n in dev.receive(p):
                nxt += cli.receive(n)
        packets = nxt


def pair(model, key_index=3, seed=7):
    dev = sesame.Os2Device(model=model, secret=SECRET, key_index=key_index, seed=seed)
    cli = sesame.Os2Client(dev.share_key(0, "Front door"), seed=seed + 1)
    packets = []
    for n in dev.connect():
        packets += cli.receive(n)
    pump(dev, cli, packets)
    assert cli.ready and dev.logged_in
    return dev, cli


def kinds(events):
    return [e.kind for e in events]


def test_sesame4_login_lock_history_settings():
    dev, cli = pair(4)
    ev = cli.events()
    li = [e for e in ev if isinstance(e, sesame.Os2LoggedIn)][0]
    assert li.status.unlocked and abs(li.status.volts - 6.0) < 0.01 and li.status.percent == 100
    assert isinstance(li.setting, sesame.Os2MechSetting) and li.setting.lock != li.setting.unlock
    pump(dev, cli, cli.lock("kitchen"))
    ev = cli.events()
    assert [e.result_name for e in ev if isinstance(e, sesame.CommandResult)] == ["success"]
    assert cli.status.locked and dev.status.locked
    pump(dev, cli, cli.unlock("hall"))
    pump(dev, cli, cli.set_autolock(45, "py"))
    assert [e.seconds for e in cli.events() if isinstance(e, sesame.AutolockReceived)] == [45]
    assert dev.autolock_seconds == 45
    pump(dev, cli, cli.autolock())
    assert [e.seconds for e in cli.events() if isinstance(e, sesame.AutolockReceived)] == [45]
    pump(dev, cli, cli.set_lock_positions(-200, 120, "cal"))
    assert (dev.setting.lock, dev.setting.unlock, dev.setting.lock_max) == (-200, 120, -50)
    assert isinstance(cli.events()[-1], sesame.Os2SettingChanged)
    pump(dev, cli, cli.version())
    assert [e.version for e in cli.events() if isinstance(e, sesame.VersionReceived)] == ["blecrypt-os2"]
    dev.add_history(7)   # a manual lock
    pump(dev, cli, cli.history())
    ev = cli.events()
    recs = [e.record for e in ev if isinstance(e, sesame.Os2HistoryReceived)]
    assert [(r.type_name, r.tag) for r in recs] == [("BLE lock", "kitchen"), ("BLE unlock", "hall"),
                                                     ("auto-lock updated", "py"), ("mech setting updated", "cal"),
                                                     ("manual locked", "")]
    assert ev[-1].kind == "history_empty" and dev.history == []
    with pytest.raises(SesameError) as e:
        cli.click("x")
    assert e.value.name == "not_supported_by_model"
    with pytest.raises(SesameInvalidArgument):
        cli.lock(b"\x00\x0e" + bytes(16))   # OS2 tags are text


def test_bot1_click_and_settings():
    dev, cli = pair(2)
    assert isinstance(cli.setting, sesame.BotSetting) and cli.setting == sesame.BotSetting()
    assert abs(cli.status.volts - 3.0) < 0.01
    cli.events()
    pump(dev, cli, cli.click("kettle"))
    assert [e.result_name for e in cli.events() if isinstance(e, sesame.CommandResult)] == ["success"]
    want = sesame.BotSetting(1, 5, 4, 2, 3, 2, 1)
    pump(dev, cli, cli.set_bot_setting(want, "cfg"))
    assert dev.setting == want and cli.setting == want
    assert dev.history[0].type_name == "BLE click"
    with pytest.raises(SesameError):
        cli.set_autolock(5)


def test_bike1_unlocks_only_and_a_wrong_key_is_refused():
    dev, cli = pair(3)
    with pytest.raises(SesameError) as e:
        cli.lock("x")
    assert e.value.name == "not_supported_by_model"
    pump(dev, cli, cli.unlock("ride"))
    assert cli.status.unlocked
    # Another secret: the device refuses the login (its key pair differs too).
    other = sesame.Os2Device(model=3, secret=bytes(16), key_index=3, seed=1)
    stranger = sesame.Os2Client(other.share_key(), seed=2)
    packets = []
    for n in dev.connect():
        packets += stranger.receive(n)
    pump(dev, stranger, packets)
    assert not stranger.ready
    assert "session_ended" in kinds(stranger.events())


# ---- CLI over --emulator -------------------------------------------------------------------------

needs_cli = pytest.mark.skipif(not CLI.exists(), reason=f"{CLI} not built")


def run(*args, env=None, timeout=60):
    return subprocess.run([str(CLI), "sesame", *args], capture_output=True, text=True, timeout=timeout, env=env)


@needs_cli
def test_cli_emulator_key_and_every_verb(tmp_path):
    r = run("emulator-key", "4")
    assert r.returncode == 0, r.stderr
    uri = r.stdout.strip()
    assert sesame.parse_share_uri(uri).os2
    r = run("qr-import", uri, "--key-file", str(tmp_path / "k"))
    assert r.returncode == 0, r.stderr
    assert "protocol: OS2\n" in r.stdout
    kf = tmp_path / "k"
    assert stat.S_IMODE(kf.stat().st_mode) == 0o600
    assert kf.read_text().splitlines() == ["generation os2", uri]
    for verb, state in (("lock", "locked"), ("unlock", "unlocked"), ("toggle", "locked"), ("status", "unlocked")):
        r = run(verb, "--emulator", "4", "--key-file", str(kf), "--json")   # each command: a fresh emulator
        assert r.returncode == 0, (verb, r.stderr)
        out = json.loads(r.stdout)
        assert (out["generation"], out["model"], out["state"]) == ("os2", "SESAME 4", state), verb
    r = run("history", "--emulator", "4", "--qr", uri)
    assert r.returncode == 0 and r.stdout == "no history records\n", r.stdout + r.stderr
    r = run("status", "--emulator", "4", "--qr", uri)
    assert r.returncode == 0 and "model:    SESAME 4 (OS2)" in r.stdout and "battery:  100 % (6.00 V)" in r.stdout


@needs_cli
@pytest.mark.parametrize("args, msg", [
    (["lock", "--emulator", "bot"], "but the key is for a SESAME 4"),
    (["lock", "--emulator", "5"], "--emulator must be 3, 4, bot or bike"),
    (["lock", "--emulator", "4", "--tag", "x" * 22], "at most 21 bytes"),
])
def test_cli_os2_usage_errors(args, msg):
    uri = run("emulator-key", "4").stdout.strip()
    r = run(*args, "--qr", uri)
    assert r.returncode == 2 and msg in r.stderr, r.stderr


@needs_cli
def test_cli_os2_model_limits_and_foreign_keys(tmp_path):
    bike = run("emulator-key", "bike").stdout.strip()
    r = run("lock", "--emulator", "bike", "--qr", bike)
    assert r.returncode == 2 and "has no such command" in r.stderr, r.stderr
    r = run("unlock", "--emulator", "bike", "--qr", bike, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "unlocked", r.stderr
    # The Python emulator derives its key pair as the CLI's does: its keys open the CLI's emulator.
    uri = sesame.Os2Device(model=4, secret=SECRET).share_key()
    r = run("lock", "--emulator", "4", "--qr", uri)
    assert r.returncode == 0, r.stderr
    # A real device's key (its public key is not the emulator's derivation from the secret) cannot.
    raw = bytearray(base64.urlsafe_b64decode(uri.split("sk=")[1].split("&")[0].replace("%2B", "+").replace("%2F", "/")
                                             .replace("%3D", "=").replace("+", "-").replace("/", "_")))
    raw[1:17] = bytes(16)   # another secret, same public key
    foreign = "ssm://UI?t=sk&sk=" + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=") + "&l=0&n=x"
    assert sesame.parse_share_uri(foreign).os2
    r = run("lock", "--emulator", "4", "--qr", foreign)
    assert r.returncode == 2 and "not made by blecrypt's emulator" in r.stderr, r.stderr
    # A key file saying the wrong generation is refused.
    kf = tmp_path / "k"
    kf.write_text("generation os3\n" + uri + "\n")
    kf.chmod(0o600)
    r = run("lock", "--emulator", "4", "--key-file", str(kf))
    assert r.returncode == 2 and "says generation os3 but holds an OS2 key" in r.stderr, r.stderr


# ---- over the BlueZ mock -------------------------------------------------------------------------

def _bluez_available():
    if not CLI.exists():
        return f"{CLI} not built"
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


@pytest.fixture(scope="module")
def bz():
    if _bluez_available() is not None:
        pytest.skip(str(_bluez_available()))
    sys.path.insert(0, str(ROOT / "tests" / "bluez"))
    from harness import BluezMock
    with BluezMock() as m:
        yield m


def test_bluez_os2_lock_unlock_status_history(bz):
    dev = bz.add_emulated("sesame_os2", "4", ADDR, secret=SECRET, key_index=5)
    uri = bz.emulator_state(dev)["share_uri"]
    r = run("lock", ADDR, "--qr", uri, "--tag", "bluez", "--json", env=bz.env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "locked" and bz.emulator_state(dev)["locked"]
    r = run("unlock", ADDR, "--qr", uri, env=bz.env)
    assert r.returncode == 0, r.stderr
    assert bz.emulator_state(dev)["unlocked"]
    r = run("status", ADDR, "--qr", uri, "--json", env=bz.env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "unlocked"
    r = run("history", ADDR, "--qr", uri, "--json", env=bz.env)
    assert r.returncode == 0, r.stderr
    assert [(x["type"], x["tag"]) for x in json.loads(r.stdout)["records"]] == [("BLE lock", "bluez"),
                                                                               ("BLE unlock", "blecrypt")]
    assert bz.emulator_state(dev)["history"] == 0


def test_bluez_bot1_and_wrong_key(bz):
    addr = "E1:5E:5A:00:02:02"
    dev = bz.add_emulated("sesame_os2", "bot", addr, secret=SECRET)
    uri = bz.emulator_state(dev)["share_uri"]
    r = run("toggle", addr, "--qr", uri, "--json", env=bz.env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["model"], out["state"]) == ("SESAME bot", "locked"), out
    stranger = sesame.Os2Device(model=2, secret=bytes(16)).share_key()
    r = run("status", addr, "--qr", stranger, env=bz.env, timeout=60)
    assert r.returncode == 1 and "wrong key" in r.stderr, r.stderr
