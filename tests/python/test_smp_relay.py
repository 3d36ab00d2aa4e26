"""`blecrypt smp peer` on both sides of tests/tools/smp_relay.py, for every scenario of
smp-peer-protocol.md.  The CLI binary: $BLECRYPT_CLI, else build/dev/blecrypt of this checkout."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
RELAY = ROOT / "tests" / "tools" / "smp_relay.py"
CLI = pathlib.Path(os.environ.get("BLECRYPT_CLI", ROOT / "build" / "dev" / "blecrypt"))

pytestmark = pytest.mark.skipif(not CLI.exists(), reason="blecrypt CLI not built")


def relay(central, peripheral, *extra, expect_ok=True):
    cmd = [sys.executable, str(RELAY), "--timeout", "10",
           "--central", f"{CLI} smp peer --role central {central}",
           "--peripheral", f"{CLI} smp peer --role peripheral {peripheral}", *extra]
    if not expect_ok:
        cmd.append("--expect-fail")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    lines = p.stdout.splitlines()
    assert lines and lines[-1] == "RELAY PASS", p.stdout[-3000:] + p.stderr[-2000:]
    assert p.returncode == 0
    return lines


def results(lines, side):
    return [l.split(f"{side}>> ", 1)[1] for l in lines if f" {side}>> result " in l]


def field(result, key):
    for tok in result.split()[2:]:
        k, _, v = tok.partition("=")
        if k == key:
            return v
    return None


def ok(lines, **want):
    rc, rp = results(lines, "C"), results(lines, "P")
    assert rc and rp, lines
    for r in (rc[-1], rp[-1]):
        assert r.startswith("result ok"), r
        for k, v in want.items():
            assert field(r, k) == v, (k, r)
    return rc[-1], rp[-1]


def fail(lines, reason, side=None):
    fails = [l for l in lines if ">> result fail" in l and (side is None or f" {side}>> " in l)]
    assert any(f"reason={reason}" in l for l in fails), "\n".join(lines[-30:])


# ---- legacy ----
def test_legacy_just_works():
    ok(relay("--no-sc", "--no-sc"), sc="0", method="just_works", authenticated="0")


def test_legacy_passkey_central_displays():
    ok(relay("--no-sc --io display_only", "--no-sc --io keyboard_only"), sc="0", method="passkey", authenticated="1")


def test_legacy_passkey_peripheral_displays():
    ok(relay("--no-sc --io keyboard_only", "--no-sc --io display_only"), sc="0", method="passkey")


def test_legacy_passkey_keyboard_vs_keyboard():
    ok(relay("--no-sc --io keyboard_only --passkey 42", "--no-sc --io keyboard_only --passkey 42"), method="passkey")


def test_legacy_oob():
    tk = "00112233445566778899aabbccddeeff"
    ok(relay(f"--no-sc --oob-tk {tk}", f"--no-sc --oob-tk {tk}"), sc="0", method="oob", authenticated="1")


# ---- LE Secure Connections ----
def test_lesc_just_works():
    c, p = ok(relay("", ""), sc="1", method="just_works", authenticated="0", bonded="1")
    assert field(c, "ltk") == field(p, "ltk") and len(field(c, "ltk")) == 32


def test_lesc_numeric_comparison():
    lines = relay("--io display_yes_no", "--io display_yes_no")
    ok(lines, sc="1", method="numeric_comparison", authenticated="1")
    assert sum(1 for l in lines if ">> compare " in l) == 2


def test_lesc_passkey_central_displays():
    ok(relay("--io display_only", "--io keyboard_only"), sc="1", method="passkey")


def test_lesc_passkey_peripheral_displays():
    ok(relay("--io keyboard_display", "--io display_only"), sc="1", method="passkey")


def test_lesc_passkey_keyboard_vs_keyboard():
    ok(relay("--io keyboard_only --passkey 999999", "--io keyboard_only --passkey 999999"), sc="1", method="passkey")


def test_lesc_oob():
    ok(relay("--oob-sc", "--oob-sc", "--oob-exchange"), sc="1", method="oob", authenticated="1")


# ---- keys, bonding ----
def test_all_key_types_legacy():
    c, p = ok(relay("--no-sc --init-keys 7 --resp-keys 7", "--no-sc --init-keys 7 --resp-keys 7"), sc="0")
    for r in (c, p):
        for k in ("local_ltk", "peer_ltk", "peer_ediv", "peer_rand", "peer_irk", "peer_identity", "peer_csrk"):
            assert field(r, k), (k, r)


def test_all_key_types_lesc():
    c, p = ok(relay("--init-keys f --resp-keys f", "--init-keys f --resp-keys f"), sc="1")
    for r in (c, p):
        for k in ("ltk", "peer_irk", "peer_identity", "peer_csrk"):
            assert field(r, k), (k, r)
        assert field(r, "peer_ltk") is None  # LESC: no Encryption Information


def test_no_bonding():
    c, p = ok(relay("--no-bond", ""), bonded="0")
    assert field(c, "peer_irk") is None


def test_bond_then_reencrypt_in_new_processes(tmp_path):
    bc, bp = tmp_path / "central.bond", tmp_path / "peripheral.bond"
    first = ok(relay(f"--bond-file {bc}", f"--bond-file {bp}"), bonded="1")
    assert oct(bc.stat().st_mode & 0o777) == "0o600"
    lines = relay(f"--bond-file {bc} --encrypt-on-start", f"--bond-file {bp}")
    again = ok(lines, bonded="1")
    assert field(again[0], "ltk") == field(first[0], "ltk")
    assert not any(">> pdu " in l for l in lines)  # no pairing, encryption only


def test_bond_then_reencrypt_legacy(tmp_path):
    bc, bp = tmp_path / "c.bond", tmp_path / "p.bond"
    ok(relay(f"--no-sc --bond-file {bc}", f"--no-sc --bond-file {bp}"), sc="0")
    lines = relay(f"--no-sc --bond-file {bc} --encrypt-on-start", f"--no-sc --bond-file {bp}")
    ok(lines, sc="0")
    assert any(" C>> encrypt " in l and " 0000 0000000000000000" not in l for l in lines)


def test_repair_on_the_same_link():
    lines = relay("", "", "--rounds", "2")
    assert len(results(lines, "C")) == 2 and len(results(lines, "P")) == 2


def test_security_request():
    lines = relay("--wait-for-pair", "--security-request")
    ok(lines, sc="1")
    assert any(" C>> security_request 0d" in l for l in lines)


def test_security_request_with_bond_encrypts(tmp_path):
    bc, bp = tmp_path / "c.bond", tmp_path / "p.bond"
    ok(relay(f"--bond-file {bc}", f"--bond-file {bp}"))
    # Just Works bond: a request without MITM is satisfied by encrypting, one with MITM re-pairs.
    lines = relay(f"--wait-for-pair --bond-file {bc}", f"--security-request --no-mitm --bond-file {bp}")
    ok(lines, bonded="1")
    assert not any(" C>> pdu 01" in l for l in lines)
    lines = relay(f"--wait-for-pair --bond-file {bc}", f"--security-request --bond-file {bp}")
    assert any(" C>> pdu 01" in l for l in lines)


def test_sc_central_against_legacy_only_peripheral():
    ok(relay("", "--no-sc"), sc="0")


def test_both_debug_keys_pair():
    ok(relay("--debug-key", "--debug-key"), sc="1")


def test_fixed_ecc_private_key():
    ok(relay("--ecc-private-key 55188b3d32f6bb9a900afcfbeed4e72a59cb9ac2f19d7cfb6b4fdd49f47fc5fd", ""), sc="1")


# ---- expected failures ----
def test_rejected_request():
    fail(relay("", "--reject", expect_ok=False), "05")


def test_wrong_passkey():
    fail(relay("--io keyboard_only --passkey 111111", "--io display_only --passkey 222222", expect_ok=False), "04")


def test_wrong_passkey_legacy():
    fail(relay("--no-sc --io keyboard_only --passkey 111111", "--no-sc --io display_only --passkey 222222",
               expect_ok=False), "04")


def test_refused_comparison():
    fail(relay("--io display_yes_no", "--io display_yes_no --confirm no", expect_ok=False), "0c", "P")


def test_wrong_oob_data():
    fail(relay("--no-sc --oob-tk 00112233445566778899aabbccddeeff", "--no-sc --oob-tk 00112233445566778899aabbccddeefe",
               expect_ok=False), "04")


def test_sc_only_refuses_legacy():
    fail(relay("--no-sc", "--sc-only", expect_ok=False), "03", "P")


def test_debug_key_refused_by_default():
    fail(relay("--debug-key", "", expect_ok=False), "03")


def test_key_size_below_minimum():
    fail(relay("--max-key-size 7 --min-key-size 7", "", expect_ok=False), "06")


# ---- the peer's own line handling (no relay) ----
def peer(args, lines):
    p = subprocess.run([str(CLI), "smp", "peer", *args.split()], input="".join(l + "\n" for l in lines),
                       capture_output=True, text=True, timeout=30)
    return p.stdout.splitlines(), p.stderr


def test_peer_ready_line_and_errors_on_stdout_diagnostics_on_stderr():
    out, err = peer("--role peripheral --io keyboard_display --no-mitm", ["pdu zz", "bogus line", "quit"])
    assert out[0] == "ready role=peripheral io=keyboard_display sc=1 mitm=0 bond=1"
    assert out[1].startswith("error pdu") and out[2].startswith("error unknown line")


def test_peer_ignore_security_request():
    out, _ = peer("--role central --wait-for-pair --ignore-security-request", ["pdu 0B0D", "quit"])
    assert "security_request 0d" in out
    assert not any(l.startswith("pdu 01") for l in out)


def test_peer_security_request_makes_central_pair():
    out, _ = peer("--role central --wait-for-pair", ["pdu 0b0d", "quit"])
    assert out[1] == "security_request 0d"
    assert any(l.startswith("pdu 01") for l in out)


def test_peer_wrong_length_pdu_is_answered_with_invalid_parameters():
    out, _ = peer("--role peripheral", ["pdu 0103000d10", "quit"])
    assert "pdu 050a" in out


def test_peer_ltk_request_without_pairing_is_negative():
    out, _ = peer("--role peripheral", ["ltk_request 0000 0000000000000000", "quit"])
    assert "ltk none" in out


def test_peer_passkey_request_answered_from_stdin():
    # legacy, peripheral keyboard: after the request it asks for the passkey; '42' is accepted.
    out, _ = peer("--role peripheral --io keyboard_only --no-sc", ["pdu 0100000d100303", "passkey 42", "quit"])
    assert "passkey_request" in out


def test_addresses_identity_and_irk_flags():
    irk = "00112233445566778899aabbccddeeff"
    c, p = ok(relay("--local-address 11:22:33:44:55:66/public --peer-address C0:AA:BB:CC:DD:EE/random",
                    f"--local-address C0:AA:BB:CC:DD:EE/random --peer-address 11:22:33:44:55:66/public "
                    f"--identity-address C3:00:00:00:00:07/random --irk {irk}"), sc="1")
    assert field(c, "peer_irk") == irk
    assert field(c, "peer_identity") == "C3:00:00:00:00:07/random"
    assert field(p, "peer_identity") == "11:22:33:44:55:66/public"


def test_mismatched_addresses_fail_the_dhkey_check():
    # Each side believes a different address for the other: f5/f6 differ, DHKey check fails.
    fail(relay("--peer-address C0:00:00:00:00:09/random", "", expect_ok=False), "0b")


# ---- review: malformed lines, flags, ordering and failure reports ----
def test_peer_malformed_lines_are_errors_not_answers():
    # A line that cannot be parsed is reported with 'error', never turned into a protocol action.
    out, _ = peer("--role peripheral", ["pdu", "confirm maybe", "encryption_failed zz", "quit"])
    assert out[1].startswith("error pdu"), out
    assert out[2].startswith("error confirm"), out
    assert out[3].startswith("error encryption_failed"), out
    assert not any(l.startswith("pdu ") for l in out), out


def test_peer_passkey_must_be_1_to_6_decimal_digits():
    for bad in ("-1", "+42", "1234567", "12a", ""):
        out, _ = peer("--role peripheral --io keyboard_only --no-sc",
                      ["pdu 0100000d100303", f"passkey {bad}".rstrip(), "quit"])
        assert "passkey_request" in out
        assert any(l.startswith("error passkey") for l in out), (bad, out)
        assert not any(l.startswith("pdu 05") or l.startswith("result") for l in out), (bad, out)
    out, _ = peer("--role peripheral --io keyboard_only --no-sc", ["pdu 0100000d100303", "passkey 000042", "quit"])
    assert not any(l.startswith("error") or l.startswith("result") for l in out), out


def test_peer_bad_flag_values_are_user_errors():
    for args in ("--init-keys zz", "--resp-keys 3z", "--init-keys 10", "--passkey -5", "--passkey 1000000",
                 "--max-key-size 17", "--min-key-size 6", "--io 5", "--confirm maybe",
                 "--irk 0011", "--local-address 11:22:33/public", "--oob-tk zz",
                 "--ecc-private-key " + "00" * 32, "--ecc-private-key " + "ff" * 32):
        p = subprocess.run([str(CLI), "smp", "peer", "--role", "central", *args.split()], input="", capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert p.stdout == "", (args, p.stdout)
        assert "internal error" not in p.stderr and p.stderr.strip(), (args, p.stderr)


def test_peer_pairing_started_comes_before_the_first_pdu():
    out, _ = peer("--role central", ["quit"])
    assert out[1] == "pairing_started" and out[2] == "pdu 0103000d100303", out
    out, _ = peer("--role peripheral", ["pdu 0103000d100303", "quit"])
    assert out[1] == "pairing_started" and out[2].startswith("pdu 02"), out


def test_peer_reports_a_refused_security_request():
    out, _ = peer("--role peripheral --security-request", ["pdu 0505", "quit"])
    assert out[1] == "pdu 0b0d"
    assert out[2] == "result fail reason=05 name=pairing_not_supported source=remote", out


def test_sc_only_central_refuses_legacy_security_request_both_report():
    lines = relay("--sc-only --wait-for-pair", "--no-sc --security-request", expect_ok=False)
    fail(lines, "03", "C")
    assert any(" P>> result fail reason=03 name=authentication_requirements source=remote" in l for l in lines), lines


def test_mic_failure_on_reencryption_is_reported(tmp_path):
    # Two separate bonds: the central's LTK and the peripheral's differ, the LL drops the link
    # with a MIC failure (disconnect 3d); both peers say why instead of leaving silently.
    bc, bp, other = tmp_path / "c.bond", tmp_path / "p.bond", tmp_path / "x.bond"
    ok(relay(f"--bond-file {bc}", f"--bond-file {other}"))
    ok(relay(f"--bond-file {tmp_path / 'y.bond'}", f"--bond-file {bp}"))
    # Through relay(--expect-fail): the relay's verdict sees encryption failures since its
    # parse_result() no longer lets the "status=3d" field overwrite the status "fail".
    lines = relay(f"--bond-file {bc} --encrypt-on-start", f"--bond-file {bp}", expect_ok=False)
    assert any(" C<< disconnect 3d" in l for l in lines), lines
    assert any(" C>> result fail reason=encryption status=3d" in l for l in lines), lines
    assert any(" P>> result fail reason=encryption status=3d" in l for l in lines), lines
    assert not any("TIMEOUT" in l for l in lines), lines


def test_peer_security_request_during_pairing_is_reported_not_acted_on():
    out, _ = peer("--role central", ["pdu 0b0d", "quit"])
    assert out[1] == "pairing_started" and out[2] == "pdu 0103000d100303", out
    assert "security_request 0d" in out, out
    assert sum(1 for l in out if l.startswith("pdu 01")) == 1, out


def test_peer_ltk_request_to_a_central_is_an_error():
    out, _ = peer("--role central --wait-for-pair", ["ltk_request 0000 0000000000000000", "quit"])
    assert not any(l.startswith("ltk ") for l in out), out
    assert any(l.startswith("error ltk_request") for l in out), out


# ---- #8 / #15: every numeric option is decimal (cli::decimal), exit codes per cli.hpp ----
def run_peer(args, stdin="quit\n"):
    return subprocess.run([str(CLI), "smp", "peer", *args], input=stdin, capture_output=True, text=True, timeout=30)


def test_peer_passkey_with_leading_zeros_is_decimal():
    # "000042" is 42, not octal 34: it pairs with a side that was given 42.
    ok(relay("--no-sc --io keyboard_only --passkey 000042", "--no-sc --io keyboard_only --passkey 42"), method="passkey")
    # "000089" is not an octal number at all; it is accepted as 89.
    ok(relay("--io keyboard_only --passkey 000089", "--io keyboard_only --passkey 89"), method="passkey")


def test_peer_key_sizes_with_leading_zeros_are_decimal():
    # "010" is 10 (octal would be 8).
    c, p = ok(relay("--max-key-size 010 --min-key-size 07", "--min-key-size 7"))
    assert field(c, "key_size") == "10" and field(p, "key_size") == "10"


@pytest.mark.parametrize("option", ["--passkey", "--max-key-size", "--min-key-size"])
@pytest.mark.parametrize("value", ["-1", "0x10", " 5", "5 ", "+3", "1e3", "", "١٢"])
def test_peer_numeric_options_refuse_anything_but_decimal(option, value):
    p = run_peer(["--role", "central", option, value])
    assert p.returncode == 2, (option, value, p.returncode, p.stderr)
    assert p.stdout == "" and "blecrypt: error" in p.stderr, (option, value, p.stdout, p.stderr)


@pytest.mark.parametrize("option,value", [("--passkey", "1000000"), ("--max-key-size", "6"), ("--max-key-size", "17"),
                                          ("--min-key-size", "6"), ("--min-key-size", "17")])
def test_peer_numeric_options_refuse_values_out_of_range(option, value):
    p = run_peer(["--role", "central", option, value])
    assert p.returncode == 2 and "outside" in p.stderr, (option, value, p.stderr)


@pytest.mark.parametrize("args", [
    ["--role", "observer"], ["--role", "central", "--io", "banana"], ["--role", "central", "--confirm", "maybe"],
    ["--role", "central", "--init-keys", "g"], ["--role", "central", "--resp-keys", "10"],
    ["--role", "central", "--oob-tk", "0011"], ["--role", "central", "--ecc-private-key", "zz"],
    ["--role", "central", "--local-address", "nonsense"], ["--role", "central", "--peer-address", "11:22/public"],
    ["--role", "central", "--identity-address", "x"], ["--role", "central", "--irk", "00"],
    ["--role", "central", "--security-request"], ["--role", "peripheral", "--wait-for-pair"],
    ["--role", "peripheral", "--ignore-security-request"], ["--role", "peripheral", "--encrypt-on-start"],
    ["--role", "central", "--encrypt-on-start"], ["--role", "central", "--no-such-flag"], [],
])
def test_peer_bad_or_conflicting_options_are_usage_errors(args):
    p = run_peer(args)
    assert p.returncode == 2, (args, p.returncode, p.stderr)
    assert p.stdout == "" and p.stderr.strip() and "internal error" not in p.stderr, (args, p.stdout, p.stderr)


@pytest.mark.parametrize("args", [
    ["--no-bond"], ["--no-mitm"], ["--no-sc"], ["--init-keys", "0x7"], ["--resp-keys", "f"], ["--reject"],
    ["--debug-key"], ["--sc-only"], ["--oob-sc"], ["--oob-tk", "00" * 16], ["--irk", "11" * 16],
    ["--identity-address", "C3:00:00:00:00:07/random"], ["--confirm", "ask"], ["--io", "4"],
])
def test_peer_accepts_each_flag(args):
    p = run_peer(["--role", "peripheral", *args])
    assert p.returncode == 0, (args, p.stderr)
    assert p.stdout.startswith("ready role=peripheral"), (args, p.stdout)


def test_peer_disconnect_without_a_valid_reason_is_an_error_and_the_peer_stays():
    p = run_peer(["--role", "peripheral"], "disconnect\ndisconnect zz\npdu 0103000d100303\nquit\n")
    out = p.stdout.splitlines()
    assert p.returncode == 0
    assert out[1].startswith("error disconnect") and out[2].startswith("error disconnect"), out
    assert any(l.startswith("pdu 02") for l in out), out  # still answering


def test_peer_never_echoes_control_or_non_ascii_bytes():
    p = subprocess.run([str(CLI), "smp", "peer", "--role", "peripheral"], input=b"bogus \x1b[31m\xff\x00\nquit\n",
                       capture_output=True, timeout=30)
    assert p.returncode == 0
    assert all(0x20 <= b < 0x7f or b == 0x0a for b in p.stdout), p.stdout
    assert b"error unknown line: bogus \\x1b[31m\\xff\\x00" in p.stdout, p.stdout
