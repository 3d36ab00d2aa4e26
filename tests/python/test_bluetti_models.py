"""The BLUETTI model table from Python (blecrypt.bluetti.model_table) agrees with the CLI
(`blecrypt bluetti fields MODEL --json`, `bluetti models --json`, `bluetti detect --emulator`).

The CLI binary: $BLECRYPT_CLI, else build/dev/blecrypt of this checkout."""
import json
import os
import pathlib
import subprocess

import pytest

from blecrypt import bluetti as b

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = pathlib.Path(os.environ.get("BLECRYPT_CLI", ROOT / "build" / "dev" / "blecrypt"))
needs_cli = pytest.mark.skipif(not CLI.exists(), reason="blecrypt CLI not built")


def cli(*args):
    r = subprocess.run([str(CLI), "bluetti", *args], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def test_table_lists_every_emulated_model():
    table = b.model_table()
    names = [m["model"] for m in table]
    assert names == b.model_names()
    assert len(names) >= 28 and len(set(names)) == len(names)
    ac300 = next(m for m in table if m["model"] == "AC300")
    assert ac300["protocol"] == "v1" and ac300["max_packs"] == 4 and ac300["pack_selector"] == 3006
    end = next(f for f in ac300["fields"] if f["name"] == "soc_range_end")
    assert (end["address"], end["settable"], end["min"], end["max"], end["mqtt_name"]) == (3016, True, 0, 100, "battery_range_end")
    ups = next(f for f in ac300["fields"] if f["name"] == "ctrl_ups_mode")
    assert ups["choices"] == {"CUSTOMIZED": 1, "PV_PRIORITY": 2, "STANDARD": 3, "TIME_CONTROL": 4}
    # Read-only copies: changing one does not change the next.
    ac300["fields"].clear()
    assert next(m for m in b.model_table() if m["model"] == "AC300")["fields"]


@needs_cli
@pytest.mark.parametrize("model", ["AC180", "AC300", "EB3A", "EP600", "Handsfree 1"])
def test_cli_and_python_list_the_same_fields(model):
    rc, out, err = cli("fields", model, "--json")
    assert rc == 0, err
    from_cli = json.loads(out)
    from_py = next(m for m in b.model_table() if m["model"] == model)
    assert from_cli["protocol"] == from_py["protocol"]
    assert [tuple(x) for x in from_cli["blocks"]] == [tuple(x) for x in from_py["blocks"]]
    keys = ("name", "mqtt_name", "address", "type", "words", "unit", "settable", "component", "device_class", "state_class", "pack")
    assert [[f[k] for k in keys] for f in from_cli["fields"]] == [[f[k] for k in keys] for f in from_py["fields"]]
    assert [f["scale"] for f in from_cli["fields"]] == pytest.approx([f["scale"] for f in from_py["fields"]])


@needs_cli
def test_cli_models_and_errors():
    rc, out, _ = cli("models", "--json")
    assert rc == 0
    assert [m["model"] for m in json.loads(out)] == b.model_names()
    rc, _, err = cli("fields", "AC9000")
    assert rc == 2 and "unknown model 'AC9000'" in err


@needs_cli
@pytest.mark.parametrize("model", ["AC300", "EL30V2", "Handsfree 1"])
def test_cli_detect_against_the_emulator(model):
    rc, out, err = cli("detect", "--emulator", model, "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["model"] == model and d["confirmed"] is True
    rc, out, err = cli("detect", "--emulator", model, "--name", "EB3A2441001365385", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["model"] == model and d["advertised_model"] == "EB3A" and d["confirmed"] is False


@needs_cli
def test_cli_dump_reads_every_readable_register(tmp_path):
    out = tmp_path / "dump.json"
    rc, _, err = cli("dump", "--emulator", "EB3A", "--from", "3000", "--to", "3070", "--output", str(out))
    assert rc == 0, err
    d = json.loads(out.read_text())
    assert d["model"] == "EB3A" and d["protocol"] == "v1"
    regs = {int(k): v for k, v in d["registers"].items()}
    # 3000 answers exception 2, so 3001..3009 are read one by one; 3067.. are not mapped.
    assert min(regs) == 3001 and max(regs) == 3066 and len(regs) == 66
    rc, out2, err = cli("dump", "--emulator", "AC180", "--from", "100", "--to", "146")
    assert rc == 0, err
    d = json.loads(out2)
    assert d["protocol"] == "v2" and d["registers"]["102"] > 0
    rc, _, err = cli("dump", "--emulator", "AC180", "--from", "5", "--to", "4")
    assert rc == 2
