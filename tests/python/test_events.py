"""One event model: every protocol module's events are frozen dataclasses deriving from
blecrypt.events.Event, one Python class per struct of the C++ event variant, made by the
bindings (no dict or tuple in between)."""
import dataclasses
import pathlib
import re
import socket
import sys
import threading

import pytest

from blecrypt import bluetti, channel, events, sesame
from blecrypt.events import Event

ROOT = pathlib.Path(__file__).resolve().parents[2]


def cxx_variant(header: str, owner: str):
    """The struct names of `using Event = std::variant<...>` in the class (or namespace) `owner`
    of include/blecrypt/<header>."""
    text = (ROOT / "include" / "blecrypt" / header).read_text()
    start = text.index(owner)
    m = re.search(r"using Event = std::variant<([^>]*)>", text[start:])
    assert m, header
    return [re.sub(r"^events::", "", n.strip()) for n in m.group(1).split(",")]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def event_classes(module):
    found = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Event) and v is not Event]
    return list(dict.fromkeys(found))  # once each (channel.Handshake is HandshakeComplete)


# The Python classes of each module's client-side (or only) engine, by C++ kind.
MODULES = {
    "bluetti": (bluetti, cxx_variant("bluetti/client.hpp", "class Client {")),
    "sesame": (sesame, cxx_variant("sesame/client.hpp", "class Client {")),
    "channel": (channel, cxx_variant("channel/channel.hpp", "// ---- events")),
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_cxx_event_has_one_python_class(name):
    module, structs = MODULES[name]
    assert len(structs) >= 4
    by_kind = {c.kind: c for c in event_classes(module)}
    for struct in structs:
        assert snake(struct) in by_kind, f"{name}: no Python event for {struct}"
        cls = by_kind[snake(struct)]
        if name != "sesame":  # SESAME's classes keep the names they were published with
            assert cls.__name__ == struct
        assert cls.__name__ in module.__all__


@pytest.mark.parametrize("name", sorted(MODULES))
def test_events_derive_from_the_base_and_are_frozen_dataclasses(name):
    module, _ = MODULES[name]
    classes = event_classes(module)
    assert classes
    for cls in classes:
        assert issubclass(cls, events.Event)
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, cls
        if sys.version_info >= (3, 10):
            assert "__slots__" in cls.__dict__, cls
        assert "kind" not in {f.name for f in dataclasses.fields(cls)}  # a class attribute, not a field
    assert len({c.kind for c in classes}) == len(classes)  # one class per kind


def assert_immutable(ev):
    assert isinstance(ev, Event)
    names = [f.name for f in dataclasses.fields(ev)] or ["kind"]
    for attr in names + ["extra"]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(ev, attr, None)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(ev, attr)
    if sys.version_info >= (3, 10):
        assert not hasattr(ev, "__dict__")
    assert ev == dataclasses.replace(ev)  # compared by value


def test_base_event_kind_comes_from_the_class_name():
    assert bluetti.RequestFailed.kind == "request_failed" and channel.ClosedByPeer.kind == "closed_by_peer"
    assert sesame.RandomCodeReceived.kind == "random_code"  # sesame::event_name
    with pytest.raises(TypeError):
        type("Bad", (Event,), {}, colour="red")


# ---- the events the engines really report --------------------------------------------------

def test_bluetti_client_events_are_the_dataclasses():
    dev = bluetti.Device(model="AC180", seed=1)
    cli = bluetti.Client(device_verify_key=dev.verify_key, seed=2)
    cli.connect(dev.connect(0.0), lambda w: dev.receive(w, 0.0), 0.0)
    got = cli.events()
    assert [type(e) for e in got] == [bluetti.ChallengeAnswered, bluetti.ChallengeAccepted,
                                      bluetti.DeviceKeyVerified, bluetti.Established]
    # A raw request (outside the request layer, whose own answers it consumes) is reported as
    # a Response event; one to an unmapped register as a Modbus exception.
    cli._c.send_read(11006, 4, 0.0)
    cli._c.send_read(60000, 1, 0.0)
    for w in cli._writes():
        for n in dev.receive(w, 0.0):
            for w2 in cli.receive(n, 0.0):
                dev.receive(w2, 0.0)
    r1, r2 = cli.events()
    assert isinstance(r1, bluetti.Response) and (r1.function, r1.address, r1.count) == (3, 11006, 4)
    assert r1.values == tuple(r1.values) and len(r1.values) == 4 and r1.exception is None and r1.adu
    assert isinstance(r2, bluetti.Response) and r2.exception == 2 and r2.values == ()
    cli._c.on_link_down()
    cli._collect_events()
    assert cli.events() == []
    for ev in got + [r1, r2]:
        assert_immutable(ev)
    hash(r1)

    wrong, dev2 = bluetti.Client(seed=3), bluetti.Device(seed=4)  # K2: the emulator's key does not verify
    with pytest.raises(bluetti.BluettiAuthenticationError):
        wrong.connect(dev2.connect(0.0), lambda w: dev2.receive(w, 0.0), 0.0)
    failed = [e for e in wrong.events() if isinstance(e, bluetti.Failed)]
    assert len(failed) == 1 and isinstance(failed[0].error, bluetti.BluettiAuthenticationError)
    assert failed[0].error.name == "device_signature_invalid"
    assert_immutable(failed[0])


def test_bluetti_request_failed_event():
    dev = bluetti.Device(model="AC180", seed=1)
    cli = bluetti.Client(device_verify_key=dev.verify_key, seed=2)
    cli.connect(dev.connect(0.0), lambda w: dev.receive(w, 0.0), 0.0)
    cli.events()
    cli._c.send_read(11006, 4, 0.0)
    cli._c.on_link_down()  # the request in flight fails
    cli._collect_events()
    (ev,) = cli.events()
    assert isinstance(ev, bluetti.RequestFailed) and ev.address == 11006 and ev.adu == b""
    assert isinstance(ev.error, bluetti.BluettiError) and ev.error.name == "link_down"
    assert_immutable(ev)


def test_sesame_client_events_are_the_dataclasses():
    dev, cli = sesame.Device(seed=1), sesame.Client(seed=2)
    seen = []

    def deliver(packets):
        for p in packets:
            for n in dev.receive(p):
                deliver(cli.receive(n))

    for n in dev.connect():
        cli.receive(n)
    deliver(cli.register())
    deliver(cli.lock("events"))
    for n in dev.advance(3.0):
        cli.receive(n)
    deliver(cli.version())
    deliver(cli.history())
    cli.receive(b"\x05" + bytes(19))  # garbled: a ProtocolError event
    cli.disconnect()
    seen = cli.events()
    kinds = {e.kind for e in seen}
    assert {"random_code", "registered", "mech_status", "command_result", "version", "history",
            "history_empty", "protocol_error"} <= kinds, kinds
    for ev in seen:
        assert_immutable(ev)
    status = next(e for e in seen if isinstance(e, sesame.MechStatusChanged)).status
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.position = 0  # the values inside an event are frozen too


def test_channel_events_are_the_dataclasses():
    psk = bytes(range(32))
    s1, s2 = socket.socketpair()
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("server", channel.wrap(s2, psk=psk, server_side=True)))
    t.start()
    cli = channel.wrap(s1, psk=psk)
    t.join(20)
    srv = out["server"]
    assert isinstance(cli.handshake, channel.HandshakeComplete) and cli.handshake.psk
    assert channel.Handshake is channel.HandshakeComplete
    assert_immutable(cli.handshake)

    seen = []
    engine = srv._engine

    class Spy:  # records what the native engine hands to the wrapper
        def __getattr__(self, name):
            return getattr(engine, name)

        def poll_event(self):
            ev = engine.poll_event()
            if ev is not None:
                seen.append(ev)
            return ev

    srv._engine = Spy()
    cli.send(b"ping")
    assert srv.recv(timeout=10) == b"ping"
    cli.close()
    assert srv.recv(timeout=10) == b""
    srv.close()
    assert [type(e) for e in seen] == [channel.DataReceived, channel.ClosedByPeer]
    assert seen[0].data == b"ping"
    for ev in seen:
        assert_immutable(ev)

    # The engine alone: bytes that are no TLS fail it (a Failed event carrying the error).
    engine = channel._engine(False, psk, channel.DEFAULT_PSK_IDENTITY, None, None, False, 15.0, 0)
    engine.link_up(0.0)
    engine.feed(b"GET / HTTP/1.1\r\n\r\n", 0.0)
    (failed,) = [e for e in iter(engine.poll_event, None)]
    assert isinstance(failed, channel.Failed) and isinstance(failed.error, channel.ChannelError)
    assert failed.error.name == "not_tls"
    assert_immutable(failed)


def test_the_events_sample_in_docs_runs(capsys):
    text = (ROOT / "docs" / "python.md").read_text()
    section = text[text.index("## Events"):text.index("## Errors")]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.S)
    exec(compile(block, "docs/python.md", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "challenge_answered ChallengeAnswered()" and out[-1] == "established Established()"
