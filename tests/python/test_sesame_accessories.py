"""SESAME accessories (Touch / Face credentials, key slots) and the SESAME 5 lock settings from
Python: blecrypt.sesame.Client against the emulated accessory / lock through the bindings."""

from blecrypt import sesame
from blecrypt.errors import SesameError, SesameInvalidArgument

import pytest


def pump(dev, cli, packets):
    while packets:
        nxt = []
        for p in packets:
            for n in dev.receive(p):
                nxt += cli.receive(n)
        packets = nxt


def registered(model, mtu=None):
    dev = sesame.Device(model=model, seed=3, mtu=mtu)
    cli = sesame.Client(seed=4, mtu=mtu)
    packets = []
    for n in dev.connect():
        packets += cli.receive(n)
    pump(dev, cli, packets + cli.register())
    assert cli.ready, cli.events()
    cli.events()
    return dev, cli


@pytest.mark.parametrize("model, kind", [(10, "card"), (9, "fingerprint"), (19, "passcode")])
def test_credentials_add_list_rename_delete(model, kind):
    dev, cli = registered(model)
    pump(dev, cli, cli.set_credential_mode(kind, 1))
    assert dev.credential_mode(kind) == 1
    # 12 credentials: the list spans several notify publishes.
    ids = [bytes([0x04, i, 0xb2, 0xc3]) for i in range(12)]
    for i in ids:
        matched, notes = dev.present_credential(kind, i)
        assert not matched
        for n in notes:
            cli.receive(n)
    pump(dev, cli, cli.set_credential_mode(kind, 0))
    pump(dev, cli, cli.rename_credential(kind, ids[3], "Kitchen"))
    pump(dev, cli, cli.list_credentials(kind))
    acc = cli.accessory
    got = acc[kind + "s"]
    assert acc[kind + "s_complete"] and [c.id for c in got] == ids
    assert got[3].name == b"Kitchen" and got[3].kind == kind
    pump(dev, cli, cli.delete_credential(kind, ids[0]))
    assert [c.id for c in dev.credentials(kind)] == ids[1:]
    assert dev.present_credential(kind, ids[5])[0] is True   # verify mode: a known one matches
    assert dev.present_credential(kind, ids[0])[0] is False  # deleted
    pump(dev, cli, cli.credential_mode(kind))
    assert cli.accessory[kind + "_mode"] == 0
    with pytest.raises(SesameInvalidArgument):
        cli.delete_credential(kind, b"")
    with pytest.raises(SesameInvalidArgument):
        cli.list_credentials("palm")


def test_key_slots_on_a_touch():
    dev, cli = registered(10)
    lock = "8cbe3f10-6b4c-4d1e-9f7a-2a3b4c5d6e7f"
    pump(dev, cli, cli.add_sesame(lock, bytes(range(16))))
    assert [(k.uuid, k.os2) for k in cli.accessory["key_slots"]] == [(lock, False)]
    assert [k.uuid for k in dev.key_slots] == [lock]
    pump(dev, cli, cli.remove_sesame(lock))
    assert dev.key_slots == [] and cli.accessory["key_slots"] == []


def test_lock_settings_on_a_sesame5():
    dev, cli = registered(5)
    pump(dev, cli, cli.set_mech_setting(-120, 15))
    assert (dev.setting.lock_position, dev.setting.unlock_position) == (-120, 15)
    pump(dev, cli, cli.set_ops_timer(20))
    assert cli.accessory["ops_timer_seconds"] == 20
    pump(dev, cli, cli.magnet())
    assert any(isinstance(e, sesame.CommandResult) and e.item == 17 for e in cli.events())
    fresh = sesame.Client(seed=2)
    with pytest.raises(SesameError):
        fresh.set_mech_setting(1, 2)   # not connected


def test_bot2_scripts():
    dev, cli = registered(17)
    pump(dev, cli, cli.script_names())
    acc = cli.accessory
    assert acc["bot2_scripts"] == [f"script {i}" for i in range(10)] and acc["bot2_current_script"] == 0
    kettle = sesame.Bot2Script("kettle", [(0, 7), (3, 3), (1, 7)])
    pump(dev, cli, cli.edit_script(4, kettle))
    pump(dev, cli, cli.select_script(4))
    pump(dev, cli, cli.script())
    assert cli.accessory["bot2_script"] == kettle and dev.current_script == 4
    pump(dev, cli, cli.click("go"))
    assert dev.last_script_run == 4
    cli.advance(2)
    for n in dev.advance(2):
        cli.receive(n)
    pump(dev, cli, cli.run_script(7, "seven"))
    assert dev.last_script_run == 7
    with pytest.raises(SesameInvalidArgument):
        cli.select_script(10)


def test_cli_bot2_scripts():
    import os
    import pathlib
    import subprocess
    cli = pathlib.Path(os.environ.get("BLECRYPT_CLI", pathlib.Path(__file__).resolve().parents[2] / "build/dev/blecrypt"))
    if not cli.exists():
        pytest.skip(f"{cli} not built")

    def run(*args):
        return subprocess.run([str(cli), "sesame", "bot2", *args], capture_output=True, text=True, timeout=60)

    r = run("scripts", "--emulator", "bot2")
    assert r.returncode == 0 and r.stdout.splitlines()[1] == "* 0 script 0", r.stdout + r.stderr
    r = run("run", "3", "--emulator", "bot3", "--tag", "kettle")
    assert r.returncode == 0 and r.stdout == "ran script 3 (script 3)\n", r.stdout + r.stderr
    r = run("show", "--emulator", "bot2")
    assert r.returncode == 0 and r.stdout == "script 0: forward 10 stop 5 reverse 10\n", r.stdout + r.stderr
    r = run("select", "4", "--emulator", "bot2")
    assert r.returncode == 0 and "* 4 script 4" in r.stdout, r.stdout + r.stderr
    for args in (("select", "10", "--emulator", "bot2"), ("run", "--emulator", "bot2"), ("scripts", "--emulator", "touch")):
        r = run(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
