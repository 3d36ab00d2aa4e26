#!/usr/bin/env python3
"""Re-verify the known-answer vectors in this directory.

Usage: python3 check_vectors.py [DIR]

MD5/SHA-256 are checked with hashlib and the P-256 on-curve tests with plain
integer arithmetic, so they always run. AES (block, CBC, CCM, CMAC), ECDH and
ECDSA need the Python 'cryptography' package; without it those checks are
skipped with a message. Exit status is 1 if any vector fails.
"""

import hashlib
import json
import os
import sys

try:
    from cryptography.exceptions import InvalidSignature, InvalidTag
    from cryptography.hazmat.primitives import cmac, hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM
    HAVE_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAVE_CRYPTOGRAPHY = False

# NIST P-256 domain parameters (FIPS 186-4 D.1.2.3).
P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
A = P - 3
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = []
        self.skipped = 0

    def expect(self, vid, cond, what):
        if not cond:
            self.failed.append(f"{vid}: {what}")
        return cond


def unhex(s):
    return bytes.fromhex(s)


def on_curve(x, y):
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def split_point(hex128):
    assert len(hex128) == 128, "public key must be 64 bytes X||Y"
    return int(hex128[:64], 16), int(hex128[64:], 16)


def ec_pub(hex128):
    x, y = split_point(hex128)
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


def ec_priv(hexd):
    return ec.derive_private_key(int(hexd, 16), ec.SECP256R1())


def pub_hex(priv):
    n = priv.public_key().public_numbers()
    return f"{n.x:064x}{n.y:064x}"


def aes_ecb(key, data, encrypt=True):
    c = Cipher(algorithms.AES(key), modes.ECB())
    ctx = c.encryptor() if encrypt else c.decryptor()
    return ctx.update(data) + ctx.finalize()


def check_aes_block(c, v):
    key, pt, ct = unhex(v["key"]), unhex(v["plaintext"]), unhex(v["ciphertext"])
    ok = c.expect(v["id"], len(pt) == 16 and len(ct) == 16, "not one 16-byte block")
    ok &= c.expect(v["id"], aes_ecb(key, pt) == ct, "encrypt mismatch")
    ok &= c.expect(v["id"], aes_ecb(key, ct, False) == pt, "decrypt mismatch")
    return ok


def check_aes_cbc(c, v):
    key, iv = unhex(v["key"]), unhex(v["iv"])
    pt, ct = unhex(v["plaintext"]), unhex(v["ciphertext"])
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    e = cipher.encryptor()
    d = cipher.decryptor()
    ok = c.expect(v["id"], e.update(pt) + e.finalize() == ct, "encrypt mismatch")
    ok &= c.expect(v["id"], d.update(ct) + d.finalize() == pt, "decrypt mismatch")
    return ok


def check_aes_ccm(c, v):
    key, nonce, aad = unhex(v["key"]), unhex(v["nonce"]), unhex(v["aad"])
    pt, sealed, t = unhex(v["plaintext"]), unhex(v["sealed"]), v["tag_size"]
    ok = c.expect(v["id"], len(sealed) == len(pt) + t, "sealed length != plaintext + tag")
    ccm = AESCCM(key, tag_length=t)
    ok &= c.expect(v["id"], ccm.encrypt(nonce, pt, aad or None) == sealed, "seal mismatch")
    ok &= c.expect(v["id"], ccm.decrypt(nonce, sealed, aad or None) == pt, "open mismatch")
    bad = bytearray(sealed)
    bad[-1] ^= 1
    try:
        ccm.decrypt(nonce, bytes(bad), aad or None)
        ok &= c.expect(v["id"], False, "tampered tag accepted")
    except InvalidTag:
        pass
    return ok


def check_aes_cmac(c, v):
    m = cmac.CMAC(algorithms.AES(unhex(v["key"])))
    m.update(unhex(v["message"]))
    return c.expect(v["id"], m.finalize() == unhex(v["mac"]), "mac mismatch")


def _digest(c, v, name):
    msg = unhex(v["message"]) * v.get("repeat", 1)
    if "message_ascii" in v and "repeat" not in v:
        c.expect(v["id"], v["message_ascii"].encode() == msg, "message_ascii != message")
    return c.expect(v["id"], hashlib.new(name, msg).hexdigest() == v["digest"], "digest mismatch")


def check_md5(c, v):
    return _digest(c, v, "md5")


def check_sha256(c, v):
    return _digest(c, v, "sha256")


def check_p256_ecdh(c, v):
    vid = v["id"]
    ok = True
    for f in ("public_i", "public_r"):
        ok &= c.expect(vid, on_curve(*split_point(v[f])), f"{f} not on curve")
    pi = ec_priv(v["private_i"])
    ok &= c.expect(vid, pub_hex(pi) == v["public_i"], "private_i does not give public_i")
    shared = pi.exchange(ec.ECDH(), ec_pub(v["public_r"]))
    ok &= c.expect(vid, shared == unhex(v["shared"]), "ECDH(private_i, public_r) mismatch")
    if "private_r" in v:
        pr = ec_priv(v["private_r"])
        ok &= c.expect(vid, pub_hex(pr) == v["public_r"], "private_r does not give public_r")
        shared = pr.exchange(ec.ECDH(), ec_pub(v["public_i"]))
        ok &= c.expect(vid, shared == unhex(v["shared"]), "ECDH(private_r, public_i) mismatch")
    if "shared_y" in v:
        ok &= c.expect(vid, on_curve(int(v["shared"], 16), int(v["shared_y"], 16)),
                       "shared point not on curve")
    return ok


def check_p256_ecdsa(c, v):
    vid = v["id"]
    d = int(v["private"], 16)
    r, s = int(v["r"], 16), int(v["s"], 16)
    ok = c.expect(vid, pub_hex(ec_priv(v["private"])) == v["public"], "private does not give public")
    msg = unhex(v["message"])
    if "message_ascii" in v:
        ok &= c.expect(vid, v["message_ascii"].encode() == msg, "message_ascii != message")
    sig = encode_dss_signature(r, s)
    try:
        ec_pub(v["public"]).verify(sig, msg, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        ok &= c.expect(vid, False, "signature does not verify")
    if "k" in v:  # recompute (r, s) from the published nonce
        k = int(v["k"], 16)
        e = int.from_bytes(hashlib.sha256(msg).digest(), "big") % N
        kx = ec_priv(v["k"]).public_key().public_numbers().x
        ok &= c.expect(vid, kx % N == r, "r != x(kG) mod n")
        ok &= c.expect(vid, pow(k, -1, N) * (e + r * d) % N == s, "s != k^-1 (e + r d) mod n")
    return ok


def check_p256_public_keys(c, v):
    vid = v["id"]
    x, y = split_point(v["public"])
    ok = c.expect(vid, on_curve(x, y) == v["valid"], "on-curve test disagrees with 'valid'")
    if HAVE_CRYPTOGRAPHY:
        try:
            ec_pub(v["public"])
            accepted = True
        except ValueError:
            accepted = False
        ok &= c.expect(vid, accepted == v["valid"], "cryptography's point check disagrees with 'valid'")
        if "private" in v:
            ok &= c.expect(vid, pub_hex(ec_priv(v["private"])) == v["public"], "private does not give public")
    return ok


FILES = [
    ("aes_block.json", check_aes_block, True),
    ("aes_cbc.json", check_aes_cbc, True),
    ("aes_ccm.json", check_aes_ccm, True),
    ("aes_cmac.json", check_aes_cmac, True),
    ("md5.json", check_md5, False),
    ("sha256.json", check_sha256, False),
    ("p256_ecdh.json", check_p256_ecdh, True),
    ("p256_ecdsa.json", check_p256_ecdsa, True),
    ("p256_public_keys.json", check_p256_public_keys, False),
]


def main():
    here = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    c = Checker()
    if not HAVE_CRYPTOGRAPHY:
        print("note: Python 'cryptography' not importable; AES/CCM/CMAC/ECDH/ECDSA checks skipped")
    for name, fn, needs_crypto in FILES:
        with open(os.path.join(here, name)) as f:
            doc = json.load(f)
        vecs = doc["vectors"]
        ids = [v["id"] for v in vecs]
        c.expect(name, len(ids) == len(set(ids)), "duplicate ids")
        if needs_crypto and not HAVE_CRYPTOGRAPHY:
            c.skipped += len(vecs)
            print(f"{name}: {len(vecs)} vectors SKIPPED (needs cryptography)")
            continue
        before = len(c.failed)
        good = 0
        for v in vecs:
            try:
                if fn(c, v):
                    good += 1
            except Exception as exc:  # a malformed vector counts as a failure
                c.failed.append(f"{v.get('id', '?')}: {type(exc).__name__}: {exc}")
        c.passed += good
        status = "ok" if len(c.failed) == before else "FAIL"
        print(f"{name}: {good}/{len(vecs)} vectors pass [{status}]")
    for f in c.failed:
        print("FAIL", f)
    print(f"total: {c.passed} passed, {len(c.failed)} failures, {c.skipped} skipped")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
