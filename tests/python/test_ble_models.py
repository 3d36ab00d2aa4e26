"""Every model of the BLUETTI table through the Python API: blecrypt.bluetti.models() (typed,
read-only), blecrypt.ble.BluettiDevice over the fake bleak client with the project's emulator as
the peer (detection, every field, every setting, battery packs), the synchronous
blecrypt.bluetti.Client, and the CLI listing the same fields as Python for every model.

One event loop and one connected station per model for the whole module (fixtures with
scope="module"): the emulator's handshake runs once per model.

Run: PYTHONPATH=build/dev/python /usr/bin/python3 -m pytest -q tests/python/test_ble_models.py
The CLI binary: $BLECRYPT_CLI, else build/dev/blecrypt of this checkout.
"""

import asyncio
import json
import os
import pathlib
import subprocess

import pytest

from blecrypt import bluetti as b
from blecrypt.ble import BluettiDevice, InvalidArgument, Telemetry
from blecrypt.ble.testing import EmulatedBluetti, FakeBleakClient
from blecrypt.errors import BluettiInvalidArgument

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = pathlib.Path(os.environ.get("BLECRYPT_CLI", ROOT / "build" / "dev" / "blecrypt"))
needs_cli = pytest.mark.skipif(not CLI.exists(), reason="blecrypt CLI not built")

MODELS = b.model_names()
LEGACY = ("device_type", "serial_number", "total_battery_percent", "dc_input_power", "ac_input_power",
          "ac_output_power", "dc_output_power", "ac_output_on", "dc_output_on")


# ---- an oracle for the decoded values, written from the field descriptions alone ------------

def expected(f, regs):
    """What a field of the table decodes to from the emulator's registers (None: not decodable)."""
    try:
        w = [regs[f.address + i] for i in range(f.words)]
    except KeyError:
        return None
    t = f.type
    if t in ("uint16", "int16"):
        raw = w[0] - 0x10000 if t == "int16" and w[0] >= 0x8000 else w[0]
        return raw if f.scale == 1 else raw * f.scale
    if t == "bool":
        return None if w[0] > 1 else w[0] == 1
    if t == "bool (1 = on)":
        return w[0] == 1
    if t == "enum":
        names = {v: k for k, v in f.choices.items()}
        return names.get(w[0], w[0])
    if t in ("string", "string (swapped)"):
        swap = t != "string"
        data = b"".join(bytes([x & 0xFF, x >> 8]) if swap else bytes([x >> 8, x & 0xFF]) for x in w)
        return data.replace(b"\0", b" ").decode("latin-1").strip()
    if t == "serial":
        return w[0] | (w[1] << 16) | (w[2] << 32) | (w[3] << 48)
    if t == "version":
        return (w[0] | (w[1] << 16)) / 100
    if t == "cells":
        return tuple(x * f.scale for x in w)
    raise AssertionError(f"type {t} has no oracle")


def same(a, b_):
    if isinstance(a, tuple) and isinstance(b_, tuple):
        return len(a) == len(b_) and all(same(x, y) for x, y in zip(a, b_))
    if isinstance(a, float) or isinstance(b_, float):
        return isinstance(a, (int, float)) and isinstance(b_, (int, float)) and abs(a - b_) < 1e-6
    return type(a) is type(b_) and a == b_


def snapshot(peer, fields):
    regs = {}
    for f in fields:
        for a in range(f.address, f.address + f.words):
            v = peer.device.register(a)
            if v is not None:
                regs[a] = v
    return regs


# ---- one loop, one connected station per model -------------------------------------------------

class Stations:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.open = {}

    def run(self, coro):
        return self.loop.run_until_complete(asyncio.wait_for(coro, 30))

    def get(self, model):
        if model not in self.open:
            peer = EmulatedBluetti(model, seed=3)
            client = FakeBleakClient(peer, mtu=185)
            dev = BluettiDevice("C4:DE:E2:00:00:01", device_verify_key=peer.verify_key, client=client)
            self.run(dev.connect())
            self.open[model] = (dev, peer, client)
        return self.open[model]

    def close(self):
        for dev, _, _ in self.open.values():
            self.run(dev.close())
        self.loop.close()


@pytest.fixture(scope="module")
def stations():
    s = Stations()
    yield s
    s.close()


# ---- the typed table ---------------------------------------------------------------------------

def test_models_are_typed_read_only_and_match_the_dict_table():
    ms = b.models()
    assert [m.name for m in ms] == MODELS and len(MODELS) >= 28
    assert b.models() is ms  # built once
    ac300 = b.model("ac300")
    assert (ac300.protocol, ac300.max_packs, ac300.pack_selector, ac300.pack_settle) == ("v1", 4, 3006, 10.0)
    end = ac300.field("battery_range_end")  # bluetti_mqtt name -> the settable field
    assert (end.name, end.address, end.settable, end.range, end.raw_range, end.unit, end.component) == \
        ("soc_range_end", 3016, True, (0, 100), (0, 100), "%", "number")
    ups = ac300.field("ctrl_ups_mode")
    assert dict(ups.choices) == {"CUSTOMIZED": 1, "PV_PRIORITY": 2, "STANDARD": 3, "TIME_CONTROL": 4}
    assert ups.range is None and ups.component == "select"
    with pytest.raises(TypeError):
        ups.choices["X"] = 9  # type: ignore[index]
    with pytest.raises(AttributeError):
        ups.name = "other"  # type: ignore[misc]
    assert [f.name for f in ac300.pack_fields][:2] == ["pack_selected", "pack_voltage"]
    assert all(f.pack for f in ac300.pack_fields) and not any(f.pack for f in ac300.fields)
    with pytest.raises(BluettiInvalidArgument) as e:
        b.model("AC9000")
    assert e.value.name == "model_unknown" and "AC180" in str(e.value)
    with pytest.raises(BluettiInvalidArgument) as e:
        ac300.field("no_such_field")
    assert e.value.name == "field_unknown"
    assert b.model_from_advertised_name("AC1802524610159690") is b.model("AC180")
    assert b.model_from_advertised_name("Pixel 7") is None
    for d in b.model_table():  # the dict view and the typed view are the same table
        m = b.model(d["model"])
        assert [f["name"] for f in d["fields"]] == [f.name for f in m.fields + m.pack_fields]


def test_encode_setting_checks_before_anything_is_written():
    m = b.model("AC300")
    assert m.encode_setting("soc_range_end", 90) == (3016, 90)
    assert m.encode_setting("battery_range_end", "90") == (3016, 90)
    assert m.encode_setting("ctrl_ups_mode", "pv_priority") == (3001, 2)
    assert m.encode_setting("ac_output_on", True) == (3007, 1)  # the switch, not the state at 48
    assert m.encode_setting("ctrl_dc", "off") == (3008, 0)
    for field, value, name in [("soc_range_end", 101, "setting_out_of_range"), ("soc_range_end", -1, "setting_invalid"),
                               ("soc_range_end", 12.5, "setting_invalid"), ("soc_range_end", float("nan"), "setting_invalid"),
                               ("ctrl_ups_mode", "TURBO", "setting_invalid"), ("ctrl_ac", "maybe", "setting_invalid"),
                               ("serial_number", 1, "field_not_settable"), ("nope", 1, "field_unknown"),
                               ("pack_num", 5, "setting_out_of_range")]:
        with pytest.raises(BluettiInvalidArgument) as e:
            m.encode_setting(field, value)
        assert e.value.name == name, (field, value)
    el30 = b.model("EL30V2")
    with pytest.raises(BluettiInvalidArgument):
        el30.encode_setting("ctrl_eco_min_power_dc", 5)  # read only on the V2 ECO block ([L])


def test_decode_runs_the_table():
    m = b.model("EB3A")
    regs = {a: 0 for a in range(10, 50)}
    regs.update({43: 77, 36: 120, 48: 1, 49: 2})
    got = m.decode(regs)
    assert got["total_battery_percent"] == 77 and got["dc_input_power"] == 120 and got["ac_output_on"] is True
    assert "dc_output_on" not in got  # 2 is neither on nor off: not decoded
    assert "ctrl_ac" not in got       # its register was not given
    cells = b.model("AC300").decode_pack({105 + i: 330 + i for i in range(16)}, 2)
    assert cells["cell_voltages"] == pytest.approx(tuple((330 + i) / 100 for i in range(16)))


# ---- every model over the fake bleak client --------------------------------------------------

@pytest.mark.parametrize("model", MODELS)
def test_every_field_round_trips_table_emulator_python(stations, model):
    dev, peer, _ = stations.get(model)
    m = b.model(model)
    ident = stations.run(dev.detect(advertised_name=f"{model}{peer.device.serial}"))
    assert ident.model is m and ident.confirmed and ident.protocol == m.protocol and dev.model is m
    assert ident.serial == peer.device.serial
    before = snapshot(peer, m.fields)
    t = stations.run(dev.read_telemetry())
    after = snapshot(peer, m.fields)
    assert isinstance(t, Telemetry) and t.model == model and t.protocol == m.protocol
    assert list(t.fields) == [f.name for f in m.fields if expected(f, after) is not None]
    for f in m.fields:
        want = [x for x in (expected(f, before), expected(f, after)) if x is not None]
        if not want:
            continue
        assert any(same(t.fields[f.name], w) for w in want), (f.name, t.fields[f.name], want)
    # The nine bluetti_mqtt fields as before the table, from the same registers.
    assert list(t.as_dict()) == [*LEGACY, "protocol"]
    assert t.device_type == model and t.serial_number == peer.device.serial
    assert dev.telemetry is t


@pytest.mark.parametrize("model", MODELS)
def test_every_setting_is_written_and_read_back(stations, model):
    dev, peer, client = stations.get(model)
    m = b.model(model)
    settable = [f for f in m.fields if f.settable]
    before = stations.run(dev.read_telemetry()).fields
    targets = {}
    for f in settable:
        current = before.get(f.name)
        if f.type.startswith("bool"):
            target = not current
        elif f.choices:
            target = next(name for name in f.choices if name != current)
        else:
            lo, hi = f.range
            target = lo if current != lo else hi
        stations.run(dev.set(f.name, target))
        targets[f.name] = target
        raw = peer.device.register(f.address)
        if f.type == "bool (1 = on)":
            assert (raw == 1) is target
        elif f.choices:
            assert raw == f.choices[target]
        elif not f.type.startswith("bool"):
            assert raw * f.scale == pytest.approx(target)
    after = stations.run(dev.read_telemetry()).fields   # every new value, through the table decoder
    for name, target in targets.items():
        assert same(after[name], target), (name, after[name], target)
    # Out of range, not a choice, not settable, unknown: refused before anything is written.
    bad = [("serial_number", 1), ("no_such_field", 1)]
    for f in settable:
        if f.range is not None:
            bad.append((f.name, f.range[1] + f.scale))
        elif f.choices:
            bad.append((f.name, "NOT_A_CHOICE"))
        else:
            bad.append((f.name, "maybe"))
    writes = len(client.writes)
    for name, value in bad:
        with pytest.raises(InvalidArgument):
            stations.run(dev.set(name, value))
    assert len(client.writes) == writes


def test_settings_by_bluetti_mqtt_name_change_the_units_behaviour(stations):
    dev, peer, _ = stations.get("AC180")
    stations.run(dev.set("ac_output_on", True))
    t = stations.run(dev.read_telemetry())
    assert t.ac_output_on is True and t.fields["ctrl_ac"] is True and t.ac_output_power > 0
    stations.run(dev.set("ac_output_on", "off"))
    t = stations.run(dev.read_telemetry())
    assert t.ac_output_on is False and t.ac_output_power == 0
    stations.run(dev.set("charging_mode", "TURBO"))
    assert stations.run(dev.read_telemetry()).fields["ctrl_charging_mode"] == "TURBO"


@pytest.mark.parametrize("model", [m for m in MODELS if b.model(m).max_packs])
def test_battery_packs(stations, model):
    dev, peer, _ = stations.get(model)
    m = b.model(model)
    packs = stations.run(dev.packs(settle=0.001))
    want = m.max_packs if m.pack_selector else 1
    assert [p.number for p in packs] == list(range(1, want + 1))
    for p in packs:
        assert p.soc is not None and 0 <= p.soc <= 100
        assert p.voltage is not None and p.voltage > 0
        if any(f.role == "pack_cells" for f in m.pack_fields):
            step = next(f.scale for f in m.pack_fields if f.role == "pack_voltage")   # 0.01 or 0.1 V
            assert len(p.cells) == 16 and sum(p.cells) == pytest.approx(p.voltage, abs=step + 1e-6)
        assert set(p.fields) == {f.name for f in m.pack_fields}
    if m.pack_selector:
        assert peer.device.register(m.pack_selector) == want  # the last pack stays selected
        assert len({p.cells for p in packs}) == len(packs)    # each page is its own pack


def test_packs_of_a_model_without_pack_data(stations):
    dev, _, _ = stations.get("AC180")
    assert stations.run(dev.packs()) == []


def test_pack_paging_waits_the_tables_settle_time_on_the_loop(stations, monkeypatch):
    dev, _, _ = stations.get("AC500")
    real_sleep = asyncio.sleep
    waits = []

    async def recorded(delay, *a, **kw):
        if delay:
            waits.append(delay)
        await real_sleep(0)
    monkeypatch.setattr(asyncio, "sleep", recorded)
    packs = stations.run(dev.packs())
    assert len(packs) == 6 and waits == [b.model("AC500").pack_settle] * 6 == [10.0] * 6


def test_model_argument_and_unknown_units():
    async def main():
        peer = EmulatedBluetti("EB3A", seed=1)
        async with BluettiDevice("C4:DE:E2:00:00:02", device_verify_key=peer.verify_key,
                                 client=FakeBleakClient(peer), model="eb3a") as dev:
            assert dev.model is b.model("EB3A") and dev.identity is None
            t = await dev.read_telemetry()
            assert t.model == "EB3A" and "ctrl_led_mode" in t.fields
        with pytest.raises(InvalidArgument):
            BluettiDevice("C4:DE:E2:00:00:03", model="AC9000")
        # A unit whose device-type registers name no model of the table: the nine fields only.
        peer = EmulatedBluetti("AC180", seed=1, registers={110 + i: 0x5858 for i in range(6)})
        async with BluettiDevice("C4:DE:E2:00:00:04", device_verify_key=peer.verify_key,
                                 client=FakeBleakClient(peer)) as dev:
            t = await dev.read_telemetry()
            assert dev.model is None and t.model == "" and dict(t.fields) == {} and t.device_type == "X" * 12
            with pytest.raises(Exception) as e:
                await dev.set("ctrl_ac", True)
            assert "no model of the table" in str(e.value)
    asyncio.run(asyncio.wait_for(main(), 30))


# ---- the synchronous layer --------------------------------------------------------------------

@pytest.mark.parametrize("model", ["AC300", "AC180"])
def test_sync_client_identify_fields_set_packs(model):
    dev = b.Device(model=model, seed=2)
    cli = b.Client(device_verify_key=dev.verify_key, seed=2)
    cli.connect(dev.connect(), dev.receive)
    ident = cli.identify(dev.receive, advertised_name=f"{model}{dev.serial}")
    assert ident.model.name == model and ident.confirmed
    fields = cli.read_fields(ident.model, dev.receive)
    assert fields["device_type"] == model and len(fields) == len(ident.model.fields)
    cli.set(model, "ctrl_ac", True, dev.receive)
    assert cli.read_fields(model, dev.receive)["ctrl_ac"] is True
    with pytest.raises(BluettiInvalidArgument):
        cli.set(model, "ctrl_ac", "maybe", dev.receive)
    slept = []
    packs = cli.packs(model, dev.receive, sleep=slept.append)
    m = ident.model
    assert len(packs) == (m.max_packs if m.pack_selector else (1 if m.max_packs else 0))
    assert slept == [m.pack_settle] * (len(packs) if m.pack_selector else 0)


# ---- Python and the CLI list the same fields, for every model ----------------------------------

def cli(*args):
    r = subprocess.run([str(CLI), "bluetti", *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@needs_cli
@pytest.mark.parametrize("model", MODELS)
def test_python_and_cli_list_the_same_fields(model):
    c = cli("fields", model, "--json")
    m = b.model(model)
    assert (c["model"], c["protocol"], c["verified"], c["sources"]) == (m.name, m.protocol, m.verified, m.sources)
    assert [tuple(x) for x in c["blocks"]] == list(m.blocks)
    assert (c["packs"]["max_packs"], c["packs"]["selector"], c["packs"]["settle_ms"] / 1000) == \
        (m.max_packs, m.pack_selector, m.pack_settle)
    assert [tuple(x) for x in c["packs"]["blocks"]] == list(m.pack_blocks)
    fields = list(m.fields + m.pack_fields)
    assert len(c["fields"]) == len(fields)
    for cf, f in zip(c["fields"], fields):
        assert (cf["name"], cf["mqtt_name"], cf["address"], cf["type"], cf["words"], cf["unit"], cf["settable"],
                cf["component"], cf["device_class"], cf["state_class"], cf["pack"]) == \
            (f.name, f.mqtt_name, f.address, f.type, f.words, f.unit, f.settable, f.component, f.device_class,
             f.state_class, f.pack)
        assert cf["scale"] == pytest.approx(f.scale, rel=1e-5)
        assert cf.get("choices", {}) == dict(f.choices)
        assert ((cf["min"], cf["max"]) if "min" in cf else None) == f.raw_range


def test_a_setting_the_unit_does_not_keep_is_not_confirmed():
    from blecrypt.ble import WriteNotConfirmed

    class Stubborn(EmulatedBluetti):
        """Echoes every write, then puts register 3016 back (a unit locked by its own settings)."""

        def write(self, data, now):
            out = super().write(data, now)
            self.device._d.define_register(3016, 100, True)
            return out

    async def main():
        peer = Stubborn("AC300", seed=1)
        async with BluettiDevice("C4:DE:E2:00:00:05", device_verify_key=peer.verify_key,
                                 client=FakeBleakClient(peer), model="AC300") as dev:
            with pytest.raises(WriteNotConfirmed) as e:
                await dev.set("battery_range_end", 80)
            assert "read back 100" in str(e.value)
            await dev.set("battery_range_end", 100)   # what it keeps is confirmed
    asyncio.run(asyncio.wait_for(main(), 30))
