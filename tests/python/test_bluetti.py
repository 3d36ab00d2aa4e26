"""pytest for blecrypt.bluetti (sans-IO Client/Device) and the drop-in bluetti_crypt module.

Run: PYTHONPATH=build/dev/python /usr/bin/python3 -m pytest -q tests/python/test_bluetti.py
"""

import hashlib
import os
import struct

import pytest

import bluetti_crypt
from blecrypt import bluetti as b


def modbus_read(address, count):
    adu = struct.pack(">BBHH", 1, 3, address, count)
    return adu + struct.pack("<H", b.crc16(adu))


def drive_official_way(crypt, device):
    """Exactly as the official module's callers: every notification to ble_crypt_link_handler,
    write back any non-empty reply, at status 3 send encrypt_data(read 11006 x4) and pass the
    device's reply to the handler."""
    statuses = []
    queue = list(device.connect())
    serial_sent = False
    while queue:
        resp, status = crypt.ble_crypt_link_handler(queue.pop(0))
        if not statuses or statuses[-1] != status:
            statuses.append(status)
        if resp:
            queue.extend(device.receive(resp))
        if status == 3 and not serial_sent:
            serial_sent = True
            rec = crypt.encrypt_data(modbus_read(11006, 4))
            assert rec, crypt.last_error()
            queue.extend(device.receive(rec))
    return statuses


@pytest.mark.parametrize("mtu", [None, 23, 100])
@pytest.mark.parametrize("model", ["AC180", "EL30V2", "EB3A"])
def test_bluetti_crypt_full_flow(tmp_path, monkeypatch, model, mtu):
    monkeypatch.chdir(tmp_path)  # no licence file here: any serial accepted and recorded
    device = b.Device(model=model, mtu=mtu)
    crypt = bluetti_crypt.BluettiCrypt(device_verify_key=device.verify_key)
    statuses = drive_official_way(crypt, device)
    assert statuses[-1] == 4, crypt.last_error()
    assert statuses[0] == 0 and 2 in statuses and 3 in statuses
    if mtu == 23:
        assert statuses == [0, 1, 2, 3, 4]
    assert crypt.iot_serial == device.iot_serial
    # Then encrypt_data / decrypt_data, notification by notification.
    plain = b""
    for n in device.receive(crypt.encrypt_data(modbus_read(102 if device.protocol == "v2" else 43, 1))):
        plain += crypt.decrypt_data(n)
    assert plain[:3] == b"\x01\x03\x02"
    assert b.crc16(plain[:-2]) == struct.unpack("<H", plain[-2:])[0]
    assert crypt.get_software_version().startswith("V1.0.0")


def test_bluetti_crypt_licence(tmp_path):
    device = b.Device(model="EL30V2")
    good = tmp_path / "good.csv"
    good.write_text(f"# open format\n{device.iot_serial},garage\n")
    crypt = bluetti_crypt.BluettiCrypt(device.verify_key, str(good))
    assert drive_official_way(crypt, device)[-1] == 4

    device = b.Device(model="EL30V2")
    other = tmp_path / "other.csv"
    other.write_text(f"{device.serial}\n")  # the device serial, not the IoT serial
    crypt = bluetti_crypt.BluettiCrypt(device.verify_key, str(other))
    assert drive_official_way(crypt, device)[-1] == 3
    assert f"check serial number fail:{device.iot_serial}" in crypt.last_error()

    device = b.Device(model="EL30V2")
    closed = tmp_path / "bluetti_device_licence.csv"
    closed.write_text("bluetti\n2025-01-01\n" + "0" * 32 + "\nabcdef\n")
    crypt = bluetti_crypt.BluettiCrypt(device.verify_key, str(closed))
    assert drive_official_way(crypt, device)[-1] == 3
    assert "open format" in crypt.last_error()


def test_bluetti_crypt_default_key_and_vectors(monkeypatch):
    monkeypatch.delenv("BLECRYPT_BLUETTI_DEVICE_KEY", raising=False)
    crypt = bluetti_crypt.BluettiCrypt()
    resp, status = crypt.ble_crypt_link_handler(bytes.fromhex("2a2a01048f57b72701c9"))
    assert resp == bytes.fromhex("2a2a0204f9916931022a") and status == 0
    resp, status = crypt.ble_crypt_link_handler(bytes.fromhex("2a2a0301000004"))
    assert resp == b"" and status == 0
    crypt = bluetti_crypt.BluettiCrypt()
    resp, _ = crypt.ble_crypt_link_handler(bytes.fromhex("2a2a01049ddd144401d7"))
    assert resp == bytes.fromhex("2a2a0204daae54cc02ae")
    # K2 (default) refuses the emulator's test signature at status 1.
    device = b.Device()
    statuses = drive_official_way(bluetti_crypt.BluettiCrypt(), device)
    assert statuses[-1] == 1
    # The environment variable supplies the key.
    monkeypatch.setenv("BLECRYPT_BLUETTI_DEVICE_KEY", device.verify_key.hex())
    assert drive_official_way(bluetti_crypt.BluettiCrypt(), b.Device())[-1] == 4
    monkeypatch.setenv("BLECRYPT_BLUETTI_DEVICE_KEY", "zz")
    with pytest.raises(ValueError, match="BLECRYPT_BLUETTI_DEVICE_KEY"):
        bluetti_crypt.BluettiCrypt()
    with pytest.raises(ValueError, match="64 bytes"):
        bluetti_crypt.BluettiCrypt(b"short")


def test_sans_io_client_device_with_fragments():
    device = b.Device(model="AC180", mtu=23)
    client = b.Client(device_verify_key=device.verify_key)
    client.connect(device.connect(), device.receive)
    assert client.ready and device.established
    t = client.telemetry(device.receive)
    assert t.model == "AC180" and t.serial == device.serial and not t.ac_output_on
    client.set_output("ac", True, device.receive)
    t2 = client.telemetry(device.receive, protocol="v2")
    assert t2.ac_output_on and t2.ac_output_w > 0
    assert client.iot_serial(device.receive) == device.iot_serial
    with pytest.raises(b.BluettiError, match="exception 2"):
        client.read_registers(5000, 1, device.receive)
    with pytest.raises(b.BluettiError, match="exception 3"):
        client.write_register(110, 7, device.receive)
    client.write_registers(2011, [0, 1], device.receive)
    t3 = client.telemetry(device.receive)
    assert not t3.ac_output_on and t3.dc_output_on
    # Reset wipes the session: traffic is refused until a new handshake.
    client.reset()
    with pytest.raises(b.BluettiError, match="handshake not complete"):
        client.read_registers(102, 1, device.receive)
    device.reset()
    client.connect(device.connect(), device.receive)
    assert client.telemetry(device.receive).model == "AC180"


def test_sans_io_notifications_are_whole_frames():
    device = b.Device(model="EB3A")
    client = b.Client(device_verify_key=device.verify_key)
    first = device.connect()
    assert len(first) == 1 and first[0][:4] == bytes.fromhex("2a2a0104")
    writes = client.receive(first[0])
    answer = device.receive(writes[0])
    assert answer[0] == bytes.fromhex("2a2a0301000004")   # CHALLENGE_ACCEPTED alone
    assert len(answer[1]) == 146 and answer[1][:2] == b"\x00\x86"  # DEVICE_PUBKEY record alone
    assert client.receive(answer[0]) == []
    key_writes = client.receive(answer[1])
    assert len(key_writes) == 1 and len(key_writes[0]) == 146
    # A write split into pieces is reassembled by the device.
    accepted = []
    for i in range(0, 146, 20):
        accepted += device.receive(key_writes[0][i:i + 20])
    assert len(accepted) == 1 and len(accepted[0]) == 18  # PUBKEY_ACCEPTED, encrypted
    client.receive(accepted[0])
    assert client.ready
    assert client.telemetry(device.receive).model == "EB3A"


def test_tampered_handshake_raises_typed_error():
    device = b.Device()
    client = b.Client(device_verify_key=device.verify_key)
    writes = client.receive(device.connect()[0])
    answer = device.receive(writes[0])
    bad = bytearray(answer[1])
    bad[40] ^= 1
    client.receive(answer[0])
    with pytest.raises(b.BluettiError, match="bluetti"):
        client.receive(bytes(bad))
    assert not client.ready


def test_custom_signing_key_and_registers():
    scalar = hashlib.sha256(b"my bench key").digest()
    device = b.Device(signing_key=scalar, model="EL30V2", serial=1234, iot_serial=5678, registers={3000: (9, True)})
    assert device.verify_key != b.TEST_DEVICE_VERIFY_KEY and len(device.verify_key) == 64
    client = b.Client(device_verify_key=device.verify_key)
    client.connect(device.connect(), device.receive)
    assert client.telemetry(device.receive).serial == 1234
    assert client.iot_serial(device.receive) == 5678
    client.write_register(3000, 42, device.receive)
    assert client.read_registers(3000, 1, device.receive) == [42]
    with pytest.raises(ValueError):
        b.Device(signing_key=b"\x00" * 32)
    with pytest.raises(ValueError):
        b.Device(model="AC9000")
    # A client with the default K2 refuses this device.
    with pytest.raises(b.BluettiError, match="signature"):
        b.Client().connect(device.connect(), device.receive)


def test_advertisement_and_crc():
    ad = bytes.fromhex("020106030300ff081b00c29a54d51edc0aff424c424c5545545446") + b"\x1a\x09" + b"Elite 200 V22519004378012"
    a = b.classify_advertisement(ad)
    assert a["kind"] == "encrypted" and a["marker"] == "BLUETTF" and a["company_id"] == 0x4C42
    assert a["name"] == "Elite 200 V22519004378012"
    assert b.crc16(b"123456789") == 0x4B37
    assert struct.pack("<H", b.crc16(bytes.fromhex("010300740004"))) == bytes.fromhex("0413")
    assert "AC180" in b.model_names()


def test_write_without_echo_is_verified_by_reading_back():
    # EL30V2 reportedly does not echo an FC06 write (spec section 6): the helper confirms the write
    # by reading the register back, and the unanswered write does not break later requests.
    device = b.Device(model="EL30V2")
    client = b.Client(device_verify_key=device.verify_key)
    client.connect(device.connect(), device.receive)
    silent = {"next": False}

    def exchange(write):
        out = device.receive(write)
        if silent["next"]:
            silent["next"] = False
            return []  # the unit applies the write but sends nothing back
        return out

    silent["next"] = True
    client.set_output("ac", True, exchange, protocol="v2")
    assert device.register(2011) == 1
    t = client.telemetry(exchange, protocol="v2")
    assert t.ac_output_on and t.ac_output_w > 0
    assert client.iot_serial(exchange) == device.iot_serial
    # A write that did not take effect is reported, not assumed.
    silent["next"] = True
    with pytest.raises(b.BluettiError, match="not confirmed"):
        client.write_register(110, 7, exchange)  # read-only: the read-back shows the old value


def test_last_error_is_ascii_bounded_and_cleared(tmp_path):
    # Non-UTF-8 licence bytes end up in the error text: they must not raise UnicodeDecodeError
    # (issue #15 item 7), the text is capped, and a later success clears it (issue 10).
    lic = tmp_path / "licence.csv"
    lic.write_bytes(b"\xff\xfe\xc3(" + b"x" * 5000 + b"\n")
    device = b.Device()
    crypt = bluetti_crypt.BluettiCrypt(device.verify_key, str(lic))
    statuses = drive_official_way(crypt, device)
    assert statuses[-1] == 3
    err = crypt.last_error()
    assert isinstance(err, str) and err.isascii() and len(err) <= 512
    assert "\\xff\\xfe" in err
    assert crypt.encrypt_data(b"") == b"" and crypt.last_error()
    assert crypt.encrypt_data(modbus_read(102, 1)) != b""
    assert crypt.last_error() == ""


def test_licence_path_that_is_not_a_regular_file_is_refused_fast(tmp_path):
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    for path in (str(tmp_path), "/dev/zero", str(fifo)):
        device = b.Device()
        crypt = bluetti_crypt.BluettiCrypt(device.verify_key, path)
        assert drive_official_way(crypt, device)[-1] == 3
        assert "not a regular file" in crypt.last_error()


def test_request_layer_fields_and_detection():
    for model, proto in (("AC180", "v2"), ("EB3A", "v1")):
        device = b.Device(model=model)
        client = b.Client(device_verify_key=device.verify_key)
        client.connect(device.connect(), device.receive)
        assert client.detect_protocol(device.receive) == proto
        f = client.telemetry_fields(device.receive)
        assert f["device_type"] == model and f["serial_number"] == device.serial
        assert set(f) >= {"total_battery_percent", "ac_output_power", "dc_output_power", "ac_input_power",
                          "dc_input_power", "ac_output_on", "dc_output_on"}
