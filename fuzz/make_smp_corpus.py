#!/usr/bin/env python3
"""Writes the seed corpora of the SMP fuzzers from tests/vectors/smp_test_vectors.json:
fuzz/corpus/smp_pdu/<transcript>-<n> (every PDU of every transcript) and
fuzz/corpus/smp_engine/<transcript>-<side> (the peer's PDUs as an engine-fuzzer program)."""
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
doc = json.loads((HERE.parent / "tests" / "vectors" / "smp_test_vectors.json").read_text())


def w(s):
    return bytes.fromhex(s)[::-1]


def side_pdus(t, side, sc, mask):
    s = t[side]
    out = []
    if sc:
        out.append(b"\x0c" + w(s["public_x"]) + w(s["public_y"]))
    for c in s.get("confirms", []):
        out.append(b"\x03" + w(c))
    for r in s.get("randoms", []):
        out.append(b"\x04" + w(r))
    if "dhkey_check" in s:
        out.append(b"\x0d" + w(s["dhkey_check"]))
    k = s.get("distributed_keys", {})
    if mask & 1 and not sc and "ltk" in k:
        out.append(b"\x06" + w(k["ltk"]))
        out.append(b"\x07" + w(k["ediv"]) + w(k["rand"]))
    if mask & 2 and "irk" in k:
        out.append(b"\x08" + w(k["irk"]))
        out.append(b"\x09" + bytes([k["id_addr_type"]]) + w(k["id_addr"]))
    if mask & 4 and "csrk" in k:
        out.append(b"\x0a" + w(k["csrk"]))
    return out


pdu_dir = HERE / "corpus" / "smp_pdu"
eng_dir = HERE / "corpus" / "smp_engine"
pdu_dir.mkdir(parents=True, exist_ok=True)
eng_dir.mkdir(parents=True, exist_ok=True)
for t in doc["transcripts"]:
    name = t["id"].replace("nimble-ble_sm_", "")
    sc = t["kind"] == "lesc"
    req, rsp = bytes.fromhex(t["pairing_request_pdu"]), bytes.fromhex(t["pairing_response_pdu"])
    pdus = [req, rsp] + side_pdus(t, "initiator", sc, rsp[5]) + side_pdus(t, "responder", sc, rsp[6])
    for n, p in enumerate(pdus):
        (pdu_dir / f"{name}-{n:02d}").write_bytes(p)
    for we_central in (True, False):
        io = (req if we_central else rsp)[1]
        cfg = (0 if we_central else 1) | (io << 1) | (0x10 if sc else 0) | 0x20
        prog = bytearray([cfg])
        if we_central:
            prog += b"\x06"  # pair
            seq = [rsp] + side_pdus(t, "responder", sc, rsp[6])
        else:
            seq = [req] + side_pdus(t, "initiator", sc, rsp[5])
        for p in seq:
            prog += b"\x00" + bytes([len(p)]) + p
        prog += b"\x01" + bytes(10) + b"\x02"  # LTK request EDIV 0 / Rand 0, then encryption on
        (eng_dir / f"{name}-{'central' if we_central else 'peripheral'}").write_bytes(bytes(prog))
print("corpus written:", len(list(pdu_dir.iterdir())), "PDUs,", len(list(eng_dir.iterdir())), "engine programs")
