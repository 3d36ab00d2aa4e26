"""blecrypt.sesame: the sans-IO Client and Device, and the share-URI parser."""

import base64
import os
import pathlib
import subprocess

import pytest

from blecrypt import sesame
from blecrypt.sesame import Client, Device, SesameError, parse_share_uri

SECRET = bytes.fromhex("4a456a3ddd7a2d28af7dd1ea0aa037c2")  # spec §10.1
UUID = "8cbe3f10-6b4c-4d1e-9f7a-2a3b4c5d6e7f"


def deliver(packets, dev, cli):
    """Writes packets to the device and feeds every notification back until both are quiet."""
    pending = list(packets)
    while pending:
        notes = []
        for p in pending:
            assert len(p) <= 20
            notes += dev.receive(p)
        pending = []
        for n in notes:
            assert len(n) <= 20
            pending += cli.receive(n)


def kinds(events):
    return [e.kind for e in events]


def register(dev, cli):
    for n in dev.connect():
        assert cli.receive(n) == []
    assert isinstance(cli.events()[0], sesame.RandomCodeReceived)
    deliver(cli.register(), dev, cli)
    return cli.events()


def test_registration_then_lock_unlock_with_motion():
    dev, cli = Device(uuid=UUID, seed=1), Client(seed=2)
    assert sesame.parse_advertisement(dev.advertisement())["registered"] is False
    ev = register(dev, cli)
    assert "registered" in kinds(ev)
    reg = next(e for e in ev if isinstance(e, sesame.Registered))
    assert reg.secret == cli.secret == dev.secret and len(cli.secret) == 16
    assert cli.ready
    assert cli.state["position"] == "unlocked"
    assert cli.state["battery_percent"] == 100

    deliver(cli.lock("python"), dev, cli)
    ev = cli.events()
    res = [e for e in ev if isinstance(e, sesame.CommandResult)]
    assert res and res[0].item_name == "LOCK" and res[0].ok
    assert cli.state["position"] == "moving"
    for n in dev.advance(2.0):
        cli.receive(n)
    statuses = [e.status for e in cli.events() if isinstance(e, sesame.MechStatusChanged)]
    assert statuses[-1].state == "locked" and statuses[-1].position == -90
    assert any(s.state == "moving" for s in statuses)
    assert cli.state["position"] == "locked"

    deliver(cli.unlock(sesame.uuid_tag("00112233-4455-6677-8899-aabbccddeeff", 15)), dev, cli)
    for n in dev.advance(2.0):
        cli.receive(n)
    assert cli.state["position"] == "unlocked"
    hist = dev.history
    assert [h.type_name for h in hist] == ["BLE lock", "BLE unlock"]
    assert hist[0].tag.text == "python"
    assert hist[1].tag.kind == "uuid" and hist[1].tag.uuid_type == 15
    assert sesame.parse_advertisement(dev.advertisement())["has_history"] is True


def test_login_on_new_connection_history_drain_and_version():
    dev = Device(secret=SECRET, seed=3)
    dev.turn_by_hand(-90)  # someone locked it by hand: history type 7
    cli = Client(secret=SECRET, auto=True, seed=4)
    for n in dev.connect():
        deliver(cli.receive(n), dev, cli)
    ev = cli.events()
    assert "logged_in" in kinds(ev)
    assert cli.state["position"] == "locked"
    deliver(cli.history(), dev, cli)
    ev = cli.events()
    recs = [e.record for e in ev if isinstance(e, sesame.HistoryReceived)]
    assert [r.type_name for r in recs] == ["manual locked"]
    assert any(isinstance(e, sesame.HistoryEmpty) for e in ev)
    assert dev.history == []
    deliver(cli.version(), dev, cli)
    assert [e.version for e in cli.events() if isinstance(e, sesame.VersionReceived)] == ["blecrypt-emu"]
    assert cli.counters["tx"] == dev.counters["rx"]
    assert cli.counters["rx"] == dev.counters["tx"]


def test_tampered_notification_is_reported_and_dropped():
    dev, cli = Device(seed=5), Client(seed=6)
    register(dev, cli)
    pkts = cli.version()
    notes = []
    for p in pkts:
        notes += dev.receive(p)
    bad = bytearray(notes[0])
    bad[-1] ^= 1
    cli.receive(bytes(bad))
    ev = cli.events()
    assert any(isinstance(e, sesame.ProtocolError) and "tag" in e.error for e in ev)
    assert any(isinstance(e, sesame.SessionEnded) for e in ev)  # a response was awaited
    with pytest.raises(SesameError):
        cli.version()


def test_device_rejects_replay_and_garbage():
    dev, cli = Device(seed=7), Client(seed=8)
    register(dev, cli)
    pkts = cli.lock("once")
    for p in pkts:
        dev.receive(p)
    assert len(dev.history) == 1
    for p in pkts:
        assert dev.receive(p) == []
    assert "tag" in dev.last_error
    assert len(dev.history) == 1
    assert dev.receive(b"\xff\x00") == []
    assert "header" in dev.last_error
    assert dev.receive(b"") == []


def test_several_locks_are_independent_and_mtu_is_honoured():
    pairs = [(Device(seed=10 + i, mtu=247), Client(seed=20 + i, mtu=247)) for i in range(3)]
    for dev, cli in pairs:
        for n in dev.connect():
            cli.receive(n)
        notes = []
        for p in cli.register():
            notes += dev.receive(p)
        assert any(len(n) > 20 for n in notes)  # 80-byte response in one packet
        for n in notes:
            cli.receive(n)
        assert cli.ready
    secrets = {cli.secret for _, cli in pairs}
    assert len(secrets) == 3
    # lock 0's packets mean nothing to lock 1
    pk = pairs[0][1].version()
    assert pairs[1][0].receive(pk[0]) == []


def test_methods_before_login_raise_clearly():
    cli = Client()
    with pytest.raises(SesameError, match="not connected"):
        cli.lock("x")
    with pytest.raises(SesameError, match="16 bytes"):
        Client(secret=b"short")
    with pytest.raises(SesameError, match="mtu"):
        Device(mtu=3)


def test_share_uri_roundtrip_and_errors():
    uri = sesame.build_share_uri(SECRET, UUID, model=5, level=1, name="Front door")
    key = parse_share_uri(uri)
    assert key.secret == SECRET
    assert key.uuid == UUID
    assert key.model == 5 and key.model_name == "SESAME 5"
    assert key.level == 1 and key.level_name == "manager"
    assert key.name == "Front door"
    assert key.os2 is False
    os2 = bytes([0]) + bytes(16) + bytes(range(64)) + bytes(18)
    k2 = parse_share_uri("ssm://UI?t=sk&sk=" + base64.b64encode(os2).decode())
    assert k2.os2 and k2.public_key == bytes(range(64))
    with pytest.raises(SesameError, match="ssm://UI"):
        parse_share_uri("http://x")
    with pytest.raises(SesameError, match="base64"):
        parse_share_uri("ssm://UI?t=sk&sk=***")
    with pytest.raises(SesameError, match="server token"):
        parse_share_uri("ssm://UI?t=sk&sk=" + base64.b64encode(b"x" * 30).decode())
    with pytest.raises(SesameError):
        parse_share_uri("ssm://UI?t=sk")


def test_advertisement_parser_says_not_a_sesame():
    with pytest.raises(SesameError, match="not a SESAME"):
        sesame.parse_advertisement(bytes.fromhex("020106"))
    with pytest.raises(SesameError):
        sesame.parse_advertisement(bytes.fromhex("020106 09ff"))


def test_events_are_oldest_first_around_a_rejected_notification():
    # #10: a rejected notification is reported where it happened, after the events before it.
    dev, cli = Device(seed=30), Client(seed=31)
    register(dev, cli)
    deliver(cli.version(), dev, cli)  # VersionReceived waits in the engine
    cli.receive(b"\xff\x00")          # rejected: bad segment header
    deliver(cli.lock("after"), dev, cli)
    ev = cli.events()
    names = [type(e).__name__ for e in ev]
    assert names.index("VersionReceived") < names.index("ProtocolError") < names.index("CommandResult"), names
    assert cli.events() == []


def test_events_are_typed_objects_made_once():
    dev, cli = Device(seed=32), Client(seed=33)
    ev = register(dev, cli)
    st = next(e for e in ev if isinstance(e, sesame.MechStatusChanged)).status
    assert isinstance(st, sesame.MechStatus) and st.state == "unlocked"
    assert isinstance(dev.status, sesame.MechStatus) and isinstance(dev.setting, sesame.MechSetting)
    assert isinstance(cli.state["status"], sesame.MechStatus)


def test_share_uri_name_with_control_characters_and_invalid_utf8():
    # #15 item 8: the same text as the CLI parser gives, never an exception.
    base = sesame.build_share_uri(SECRET, UUID, name="")
    assert parse_share_uri(base + "%1B%5B2J%00x").name == "\x1b[2J\x00x"
    assert parse_share_uri(base + "%FFcaf%C3%A9").name == "\ufffdcaf\u00e9"


def test_share_uri_model_must_fit_the_layout():
    # #15 item 11: model byte 255 is no SESAME model.
    with pytest.raises(SesameError, match="model"):
        parse_share_uri(sesame.build_share_uri(SECRET, UUID, model=255))


# ---- the CLI (the binary of this checkout: $BLECRYPT_CLI, else build/dev/blecrypt) ----------

CLI = pathlib.Path(os.environ.get("BLECRYPT_CLI", pathlib.Path(__file__).resolve().parents[2] / "build" / "dev" / "blecrypt"))
needs_cli = pytest.mark.skipif(not CLI.exists(), reason="blecrypt CLI not built")


def run_cli(*args):
    return subprocess.run([str(CLI), *args], capture_output=True, timeout=60)


@needs_cli
def test_cli_qr_import_escapes_control_characters_of_the_name():
    uri = sesame.build_share_uri(SECRET, UUID, name="") + "%1B%5B2J%1B%5D0%3Bpwned%07%00end"
    r = run_cli("sesame", "qr-import", uri)
    assert r.returncode == 0, r.stderr
    assert b"\x1b" not in r.stdout and b"\x00" not in r.stdout and b"\x07" not in r.stdout
    assert b"name:     \\x1b[2J\\x1b]0;pwned\\x07\\x00end\n" in r.stdout


@needs_cli
def test_cli_and_parser_agree_on_invalid_utf8_names():
    uri = sesame.build_share_uri(SECRET, UUID, name="") + "%FFcaf%C3%A9"
    r = run_cli("sesame", "qr-import", uri)
    assert r.returncode == 0, r.stderr
    line = next(l for l in r.stdout.decode("utf-8").splitlines() if l.startswith("name:"))
    assert line[len("name:"):].strip() == parse_share_uri(uri).name == "\ufffdcaf\u00e9"


@needs_cli
def test_cli_qr_import_refuses_model_255():
    r = run_cli("sesame", "qr-import", sesame.build_share_uri(SECRET, UUID, model=255))
    assert r.returncode == 2
    assert b"model" in r.stderr and b"OS3" not in r.stdout


@needs_cli
def test_cli_sesame_demo_runs_over_the_memory_link():
    r = run_cli("sesame", "demo")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout.decode()
    assert "notifications on" in out and "sesame demo OK" in out
