"""blecrypt.smp: blatann-style SecurityManager, bond store, toolbox vectors (both backends)."""
import json
import os
import pathlib

import pytest

import blecrypt
from blecrypt import smp

VECTORS = pathlib.Path(__file__).resolve().parents[1] / "vectors" / "smp_test_vectors.json"


@pytest.fixture(params=blecrypt.backends())
def backend(request):
    return request.param


def vec(fid):
    for v in json.loads(VECTORS.read_text())["vectors"]:
        if v["id"] == fid:
            return v["inputs"], v["outputs"]
    raise KeyError(fid)


def h(s):
    return bytes.fromhex(s)


def test_toolbox_spec_vectors(backend):
    i, o = vec("f4-spec-D.2")
    assert smp.f4(h(i["U"]), h(i["V"]), h(i["X"]), 0, backend).hex() == o["result"]
    i, o = vec("f5-spec-D.3")
    mac, ltk = smp.f5(h(i["W"]), h(i["N1"]), h(i["N2"]), h(i["A1"]), h(i["A2"]), backend)
    assert (mac.hex(), ltk.hex()) == (o["MacKey"], o["LTK"])
    i, o = vec("f6-spec-D.4")
    assert smp.f6(h(i["W"]), h(i["N1"]), h(i["N2"]), h(i["R"]), h(i["IOcap"]), h(i["A1"]), h(i["A2"]),
                  backend).hex() == o["result"]
    i, o = vec("g2-spec-D.5")
    assert smp.g2(h(i["U"]), h(i["V"]), h(i["X"]), h(i["Y"]), backend) % 1000000 == o["numeric_value"]
    i, o = vec("h6-spec-D.6")
    assert smp.h6(h(i["W"]), h(i["keyID"]), backend).hex() == o["result"]
    i, o = vec("h7-spec-D.8")
    assert smp.h7(h(i["SALT"]), h(i["W"]), backend).hex() == o["result"]
    i, o = vec("ah-spec-D.7")
    assert smp.ah(h(i["IRK"]), h(i["prand"]), backend).hex() == o["hash"]
    i, o = vec("c1-spec-2.2.3")
    assert smp.c1(h(i["k"]), h(i["r"]), h(i["preq"]), h(i["pres"]), 1, 0, h(i["ia"]), h(i["ra"]),
                  backend).hex() == o["result"]
    i, o = vec("s1-spec-2.2.4")
    assert smp.s1(h(i["k"]), h(i["r1"]), h(i["r2"]), backend).hex() == o["result"]
    i, o = vec("ctkd-ltk-to-lk-h7")
    assert smp.ltk_to_link_key(h(i["LTK"]), True, backend).hex() == o["LinkKey"]
    i, o = vec("ctkd-lk-to-ltk-h6")
    assert smp.link_key_to_ltk(h(i["LinkKey"]), False, backend).hex() == o["LTK"]


def test_toolbox_errors_are_clear():
    with pytest.raises(smp.SmpError, match="wrong size"):
        smp.f4(b"\0" * 31, b"\0" * 32, b"\0" * 16, 0)
    with pytest.raises(ValueError, match="unknown crypto backend"):
        smp.h6(b"\0" * 16, b"abcd", "nope")


def make_pair(params_c, params_p, bond_c=None, bond_p=None):
    c = smp.SecurityManager("central", bond_db=bond_c, seed=1)
    p = smp.SecurityManager("peripheral", local_address="C0:00:00:00:00:02/random",
                            peer_address="C0:00:00:00:00:01/random", bond_db=bond_p, seed=2)
    c.set_security_params(params_c)
    p.set_security_params(params_p)
    return c, p


def record(mgr, name, log):
    mgr.on_pairing_complete.register(lambda s, a: log.append((name, "complete", a.status, a.security_level)))
    mgr.on_security_level_changed.register(lambda s, a: log.append((name, "level", a.security_level)))


def test_numeric_comparison_events_and_order(tmp_path):
    params = smp.SecurityParameters(passcode_pairing=True, io_capabilities=smp.IoCapabilities.DISPLAY_YESNO,
                                    bond=True, lesc_pairing=True)
    c, p = make_pair(params, params, str(tmp_path / "c"), str(tmp_path / "p"))
    log, shown = [], []

    def compare(sender, args):
        assert args.match_request
        shown.append(args.passkey)
        args.match_confirm(True)

    c.on_passkey_display_required.register(compare)
    p.on_passkey_display_required.register(compare)
    record(c, "C", log)
    c.pair()
    assert c.pairing_in_process
    smp.pair_in_memory(c, p)
    assert len(shown) == 2 and shown[0] == shown[1] and len(shown[0]) == 6
    assert log.index(("C", "level", smp.SecurityLevel.LESC_MITM)) < log.index(
        ("C", "complete", "success", smp.SecurityLevel.LESC_MITM))
    assert c.security_level == smp.SecurityLevel.LESC_MITM
    assert c.is_previously_bonded and not c.pairing_in_process
    files = list((tmp_path / "c").glob("*.bond"))
    assert len(files) == 1 and (files[0].stat().st_mode & 0o777) == 0o600
    assert "ltk = " in files[0].read_text()

    # A new manager reads the store and re-encrypts without pairing.
    c2, p2 = make_pair(params, params, str(tmp_path / "c"), str(tmp_path / "p"))
    assert c2.is_previously_bonded
    log2 = []
    record(c2, "C", log2)
    smp.connect(c2, p2)
    c2.pair()
    assert c2.poll_transmit() is None  # no Pairing Request: encryption only
    assert ("C", "level", smp.SecurityLevel.LESC_MITM) in log2
    c2.delete_bonding_data()
    assert not c2.is_previously_bonded
    assert list((tmp_path / "c").glob("*.bond")) == []


def test_passkey_entry():
    c_params = smp.SecurityParameters(passcode_pairing=True, io_capabilities=smp.IoCapabilities.KEYBOARD_ONLY,
                                      bond=True, lesc_pairing=True)
    p_params = smp.SecurityParameters(passcode_pairing=True, io_capabilities=smp.IoCapabilities.DISPLAY_ONLY,
                                      bond=True, lesc_pairing=True)
    c, p = make_pair(c_params, p_params)
    shown, log = {}, []

    def display(sender, args):
        assert not args.match_request
        shown["pk"] = args.passkey

    p.on_passkey_display_required.register(display)
    c.on_passkey_required.register(lambda s, a: a.resolve(shown["pk"]))
    record(c, "C", log)
    c.pair()
    smp.pair_in_memory(c, p)
    assert ("C", "complete", "success", smp.SecurityLevel.LESC_MITM) in log


def test_wrong_passkey_fails():
    c_params = smp.SecurityParameters(passcode_pairing=True, io_capabilities=smp.IoCapabilities.KEYBOARD_ONLY)
    p_params = smp.SecurityParameters(passcode_pairing=True, io_capabilities=smp.IoCapabilities.DISPLAY_ONLY)
    c, p = make_pair(c_params, p_params)
    log = []
    c.on_passkey_required.register(lambda s, a: a.resolve(1))
    p.on_passkey_display_required.register(lambda s, a: None)
    c.on_pairing_complete.register(lambda s, a: log.append(a))
    c.pair()
    smp.pair_in_memory(c, p)
    assert log and not log[0].success and log[0].reason in (0x04,)


def test_policy_and_security_request():
    params = smp.SecurityParameters(bond=True, lesc_pairing=True)
    c, p = make_pair(params, params)
    c.pairing_policy = smp.PairingPolicy.combine(smp.PairingPolicy.reject_nonbonded_peripheral_requests)
    assert c.pairing_policy == smp.PairingPolicy.reject_nonbonded_peripheral_requests
    rejected = []
    c.on_pairing_request_rejected.register(lambda s, a: rejected.append(a.reason))
    p.pair()  # peripheral: Security Request
    smp.pair_in_memory(c, p)
    assert rejected == [5] and not c.pairing_in_process

    c, p = make_pair(params, params)
    asked = []

    def on_request(sender, args):
        asked.append((args.bond, args.lesc, args.is_bonded_device))
        args.accept()

    c.on_peripheral_security_request.register(on_request)
    log = []
    record(c, "C", log)
    p.pair()
    smp.pair_in_memory(c, p)
    assert asked == [(True, True, False)]
    assert ("C", "complete", "success", smp.SecurityLevel.JUST_WORKS) in log


def test_reject_new_pairing_requests():
    params = smp.SecurityParameters(lesc_pairing=True)
    c, p = make_pair(params, params)
    p.set_pairing_policy(smp.PairingPolicy.reject_new_pairing_requests)
    rej, log = [], []
    p.on_pairing_request_rejected.register(lambda s, a: rej.append(a.reason))
    c.on_pairing_complete.register(lambda s, a: log.append(a))
    c.pair()
    smp.pair_in_memory(c, p)
    assert rej == [5] and not log[0].success and log[0].reason == 5


def test_debug_key_needs_both_sides():
    params = smp.SecurityParameters(lesc_pairing=True)
    c, p = make_pair(params, params)
    c.use_debug_lesc_key()
    log = []
    p.on_pairing_complete.register(lambda s, a: log.append(a))
    c.pair()
    smp.pair_in_memory(c, p)
    assert log and not log[0].success and log[0].reason == 3


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="address"):
        smp.SecurityManager("central", local_address="nonsense")
    with pytest.raises(ValueError, match="role"):
        smp.SecurityManager("observer")
    c = smp.SecurityManager("central")
    with pytest.raises(smp.SmpError, match="no bond"):
        c.delete_bonding_data()


# ---- #15 item 2: managers are freed (no cycle through the native object) ----
def test_managers_are_collected_and_their_native_keys_freed():
    import gc
    import weakref
    gc.collect()
    base = smp._smp._live_managers()
    refs = []
    for i in range(2000):
        params = smp.SecurityParameters(bond=True, lesc_pairing=bool(i % 2))
        c, p = make_pair(params, params)
        if i % 500 == 0:  # some of them hold keys from a finished pairing
            c.pair()
            smp.pair_in_memory(c, p)
            assert c.security_level >= smp.SecurityLevel.JUST_WORKS
        refs += [weakref.ref(c), weakref.ref(p)]
        del c, p
    gc.collect()
    alive = sum(1 for r in refs if r() is not None)
    assert alive == 0, "%d of %d managers still alive" % (alive, len(refs))
    # The native objects (and with them every SecretBytes, wiped by its destructor) are gone too.
    assert smp._smp._live_managers() == base


# ---- #10: defaults pair; a wrong address says so ----
@pytest.mark.parametrize("lesc", [True, False])
def test_two_managers_on_default_settings_pair(lesc):
    c, p = smp.SecurityManager("central"), smp.SecurityManager("peripheral")
    assert c.local_address == p.peer_address and c.peer_address == p.local_address
    params = smp.SecurityParameters(lesc_pairing=lesc)
    c.set_security_params(params)
    p.set_security_params(params)
    w = c.pair()
    smp.pair_in_memory(c, p)
    args = w.wait(0)
    assert args.success, args


@pytest.mark.parametrize("lesc,reason", [(True, 0x0B), (False, 0x04)])
def test_a_wrong_address_is_named_in_the_failure(lesc, reason):
    c = smp.SecurityManager("central")
    p = smp.SecurityManager("peripheral", peer_address="C0:00:00:00:00:09/random")
    params = smp.SecurityParameters(lesc_pairing=lesc)
    c.set_security_params(params)
    p.set_security_params(params)
    w = c.pair()
    smp.pair_in_memory(c, p)
    args = w.wait(0)
    assert not args.success and args.reason == reason
    assert "local_address=C0:00:00:00:00:01/random" in args.message, args.message
    assert "peer_address=C0:00:00:00:00:02/random" in args.message, args.message


# ---- #10: pair() returns a waitable (blatann EventWaitable shape, awaitable) ----
def test_pair_returns_a_waitable():
    params = smp.SecurityParameters(lesc_pairing=True)
    c, p = make_pair(params, params)
    w = c.pair()
    assert not w.done
    with pytest.raises(TimeoutError):
        w.wait(0.01)
    assert w.wait(0.01, exception_on_timeout=False) is None
    seen = []
    w.then(lambda sender, args: seen.append((sender, args.success)))
    smp.pair_in_memory(c, p)
    assert w.done and w.wait().success
    assert seen == [(c, True)]


def test_pair_waitable_from_another_thread():
    import threading
    params = smp.SecurityParameters(lesc_pairing=True)
    c, p = make_pair(params, params)
    w = c.pair()
    t = threading.Thread(target=smp.pair_in_memory, args=(c, p))
    t.start()
    assert w.wait(30).success
    t.join()


def test_pair_is_awaitable():
    import asyncio
    params = smp.SecurityParameters(lesc_pairing=True)
    c, p = make_pair(params, params)

    async def main():
        w = c.pair()
        asyncio.get_running_loop().call_soon(smp.pair_in_memory, c, p)
        return await w

    assert asyncio.run(main()).success


# ---- #15 item 10: "numbers differ" is a normal answer ----
def test_match_confirm_false_does_not_raise():
    params = smp.SecurityParameters(passcode_pairing=True, io_capabilities=smp.IoCapabilities.DISPLAY_YESNO,
                                    lesc_pairing=True)
    c, p = make_pair(params, params)
    c.on_passkey_display_required.register(lambda s, a: a.match_confirm(True))
    p.on_passkey_display_required.register(lambda s, a: a.match_confirm(False))  # must not raise
    w = c.pair()
    smp.pair_in_memory(c, p)
    args = w.wait(0)
    assert not args.success and args.reason == 0x0C


# ---- #8: settings during a pairing are refused; a bond that cannot be saved is reported ----
def test_settings_during_a_pairing_are_refused():
    params = smp.SecurityParameters(lesc_pairing=True)
    c, p = make_pair(params, params)
    w = c.pair()
    with pytest.raises(smp.SmpError, match="in progress"):
        c.set_security_params(smp.SecurityParameters())
    with pytest.raises(smp.SmpError, match="in progress"):
        c.pairing_policy = smp.PairingPolicy.reject_new_pairing_requests
    smp.pair_in_memory(c, p)
    assert w.wait(0).success


def test_a_bond_that_cannot_be_saved_is_reported(tmp_path):
    (tmp_path / "file").write_text("x")
    params = smp.SecurityParameters(bond=True, lesc_pairing=True)
    c, p = make_pair(params, params, bond_c=str(tmp_path / "file" / "bonds"))
    w = c.pair()
    smp.pair_in_memory(c, p)
    args = w.wait(0)
    assert args.success and args.bond_error and "file system error" in args.bond_error
    assert "not saved" in args.message


def test_passkey_resolve_none_does_not_raise():
    c_params = smp.SecurityParameters(passcode_pairing=True, io_capabilities=smp.IoCapabilities.KEYBOARD_ONLY)
    p_params = smp.SecurityParameters(passcode_pairing=True, io_capabilities=smp.IoCapabilities.DISPLAY_ONLY)
    c, p = make_pair(c_params, p_params)
    c.on_passkey_required.register(lambda s, a: a.resolve(None))  # the user refuses: not an error
    w = c.pair()
    smp.pair_in_memory(c, p)
    args = w.wait(0)
    assert not args.success and args.reason == 0x01


# ---- #8: the in-memory link layer is the C++ one (smp::LinkLayerModel), not a Python copy ----
def test_in_memory_link_is_the_cpp_model_mic_failure_reaches_both_sides(tmp_path):
    params = smp.SecurityParameters(bond=True, lesc_pairing=True)
    dc, dp, other = (str(tmp_path / n) for n in ("c", "p", "other"))
    c, p = make_pair(params, params, dc, dp)
    c.pair()
    smp.pair_in_memory(c, p)
    assert c.is_previously_bonded and p.is_previously_bonded
    # The peripheral pairs again (other random numbers) with a central at the same address: its
    # bond for that address gets a new LTK.
    c2 = smp.SecurityManager("central", bond_db=other, seed=7)
    p2 = smp.SecurityManager("peripheral", local_address="C0:00:00:00:00:02/random",
                             peer_address="C0:00:00:00:00:01/random", bond_db=dp, seed=8)
    c2.set_security_params(params)
    p2.set_security_params(params)
    c2.pair()
    smp.pair_in_memory(c2, p2)
    # The first central's bond now holds a key the peripheral no longer has: the controllers'
    # keys differ, which a link layer reports as a MIC failure (0x3D) on BOTH sides and drops
    # the link. (The former Python copy of the model failed only the central, with 0x06.)
    c3, p3 = make_pair(params, params, dc, dp)
    log = []
    record(c3, "C", log)
    record(p3, "P", log)
    smp.connect(c3, p3)
    w = c3.pair()  # bonded: encryption only
    smp.pump(c3, p3)
    assert c3.security_level == smp.SecurityLevel.OPEN and p3.security_level == smp.SecurityLevel.OPEN
    assert log == [("C", "complete", "failed", smp.SecurityLevel.OPEN), ("P", "complete", "failed", smp.SecurityLevel.OPEN)]
    assert w.wait(0).message == "link-layer encryption failed"


def test_pump_is_the_native_pipe():
    params = smp.SecurityParameters(lesc_pairing=True)
    c, p = make_pair(params, params)
    w = c.pair()
    smp.connect(c, p)
    smp.pump(c, p)
    assert w.wait(0).success
    with pytest.raises(smp.SmpInvalidArgument, match="central"):
        smp.connect(p, c)
