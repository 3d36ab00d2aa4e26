"""blecrypt.errors: one exception hierarchy for every module, raised by the native extension with
the C++ error_code attached (.code, .category, .name)."""
import builtins
import pathlib
import re
import socket
import threading

import pytest

import blecrypt
from blecrypt import bluetti, channel, errors, sesame, smp

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_every_class_is_a_blecrypt_error_and_exported():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, blecrypt.Error), name
        assert getattr(blecrypt, name) is cls, name
    # The builtins a caller would catch anyway.
    for cls in (errors.TimeoutError, errors.BluettiTimeoutError, errors.SesameTimeoutError, errors.SmpTimeoutError,
                errors.ChannelTimeoutError, errors.LinkTimeoutError):
        assert issubclass(cls, builtins.TimeoutError) and issubclass(cls, errors.TimeoutError)
    for cls in (errors.InvalidArgument, errors.BluettiInvalidArgument, errors.SesameInvalidArgument,
                errors.ShareUriError, errors.SmpInvalidArgument, errors.ChannelInvalidArgument):
        assert issubclass(cls, ValueError)
    assert issubclass(errors.ChannelError, ConnectionError) and issubclass(errors.LinkError, ConnectionError)
    # The module names are the one class each (no second SmpError / ChannelError / ...).
    assert smp.SmpError is errors.SmpError and channel.ChannelError is errors.ChannelError
    assert sesame.SesameError is errors.SesameError and bluetti.BluettiError is errors.BluettiError
    assert not hasattr(blecrypt._native.smp, "SmpError")


def test_native_errors_carry_code_category_and_name():
    with pytest.raises(errors.SmpInvalidArgument) as e:
        smp.f4(b"\0" * 31, b"\0" * 32, b"\0" * 16, 0)
    assert isinstance(e.value, smp.SmpError) and isinstance(e.value, ValueError)
    assert (e.value.code, e.value.category, e.value.name) == (1, "blecrypt.smp", "bad_argument")
    assert str(e.value) == "f4: smp toolbox: input has the wrong size"

    with pytest.raises(errors.ChannelInvalidArgument) as c:
        channel.parse_psk("BLECRYPT-PSK1:AAAA")
    assert c.value.category == "blecrypt.channel" and isinstance(c.value.code, int) and c.value.name


@pytest.mark.parametrize("call", [
    lambda: smp.h6(b"\0" * 16, b"abcd", "nope"),
    lambda: sesame.Client(backend="nope"),
    lambda: bluetti.Device(backend="nope"),
    lambda: blecrypt.self_test("nope"),
])
def test_unknown_backend_is_an_invalid_argument_everywhere(call):
    with pytest.raises(errors.InvalidArgument, match="unknown crypto backend 'nope' \\(compiled in: "):
        call()


def test_bluetti_errors_by_cause():
    device = bluetti.Device(model="AC180")
    client = bluetti.Client(device_verify_key=device.verify_key)
    client.connect(device.connect(), device.receive)
    with pytest.raises(errors.ModbusError, match="Modbus exception 2 for register 5000") as e:
        client.read_registers(5000, 1, device.receive)
    assert e.value.exception == 2 and e.value.category == "blecrypt.bluetti" and e.value.name == "modbus_exception"
    with pytest.raises(errors.BluettiInvalidArgument):
        bluetti.Device(model="AC9000")
    client.reset()
    with pytest.raises(bluetti.BluettiError, match="handshake not complete") as n:
        client.read_registers(102, 1, device.receive)
    assert n.value.name == "not_established"
    # A client with the default K2 refuses this device: an authentication failure of the handshake.
    other, unit = bluetti.Client(), bluetti.Device()
    with pytest.raises(errors.BluettiAuthenticationError, match="signature") as a:
        other.connect(unit.connect(), unit.receive)
    assert isinstance(a.value, errors.HandshakeError) and isinstance(a.value, errors.AuthenticationError)


def test_sesame_errors_by_cause():
    with pytest.raises(errors.SesameError, match="not connected") as e:
        sesame.Client().lock("x")
    assert e.value.name == "not_connected" and e.value.category == "blecrypt.sesame"
    with pytest.raises(errors.ShareUriError) as u:
        sesame.parse_share_uri("http://x")
    assert u.value.name == "uri_scheme" and isinstance(u.value, ValueError)
    with pytest.raises(errors.SesameInvalidArgument, match="16 bytes"):
        sesame.Client(secret=b"short")


def test_smp_state_errors_are_smp_errors():
    c = smp.SecurityManager("central", seed=1)
    w = c.pair()
    with pytest.raises(smp.SmpError) as p:
        c.set_security_params(smp.SecurityParameters())
    assert p.value.name == "pairing_in_progress"
    with pytest.raises(errors.SmpInvalidArgument, match="role"):
        smp.SecurityManager("observer")
    with pytest.raises(errors.SmpTimeoutError):
        w.wait(0)


def test_channel_errors_by_cause(tmp_path):
    key = tmp_path / "open.psk"
    key.write_text("11" * 32)
    key.chmod(0o644)
    with pytest.raises(errors.KeyFileError) as k:
        channel.load_psk(key)
    assert k.value.name == "file_not_private" and isinstance(k.value, ConnectionError)

    s1, s2 = socket.socketpair()
    results = {}

    def side(name, sock, psk, server):
        try:
            results[name] = channel.wrap(sock, psk=psk, server_side=server)
        except Exception as ex:  # noqa: BLE001 - the test looks at it
            results[name] = ex

    t = threading.Thread(target=side, args=("s", s2, bytes(32), True))
    t.start()
    side("c", s1, b"\1" * 32, False)
    t.join()
    for r in results.values():
        assert isinstance(r, errors.ChannelAuthenticationError), r
        assert r.name == "wrong_psk" and r.category == "blecrypt.channel" and isinstance(r.code, int)
    s1.close()
    s2.close()


def test_bindings_raise_only_through_the_shared_helper():
    # One registration (python/src/bindings.hpp + module.cpp): no binding throws a builtin
    # exception or registers an exception class of its own.
    for src in (ROOT / "python" / "src").glob("*.cpp"):
        text = src.read_text()
        assert not re.search(r"py::(value|type|runtime)_error|register_exception<|std::runtime_error", text), src.name
