// The drop-in BluettiCrypt link handler fed arbitrary notifications: first (modes 1 and 2) the
// handshake with the emulator, then the fuzz input split into notifications to
// ble_crypt_link_handler, decrypt_data and encrypt_data. Never crashes; statuses stay within 0..4.
//
// Fast path (deterministic, so it reaches depth): both RNGs are deterministic, so the emulator's
// notifications are the same in every run; they are recorded once (first call) and replayed. And
// P-256 is a stand-in (ToyBackend below: keys, ECDH and signatures are SHA-256 based and cheap,
// and still bind key to signature), so an input pays no scalar multiplication. Real P-256
// import, ECDH and signatures are fuzzed by p256_public_key; this target is after the protocol
// logic around them. AES (CBC, CCM, CMAC), MD5 and SHA-256 are the default backend's.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <vector>

#include "blecrypt/bluetti/bluetti_crypt.hpp"
#include "blecrypt/bluetti/device.hpp"

namespace {

using namespace blecrypt;
using namespace blecrypt::bluetti;

crypto::Sha256Digest digest(std::initializer_list<ByteView> parts) {
  Bytes all;
  for (auto p : parts) all.insert(all.end(), p.begin(), p.end());
  return crypto::sha256(all);
}

class ToyBackend;
const ToyBackend& toy();

// A signature only the holder of the private value can make... for this fuzzer's purposes: it
// depends on the public key and the message, so a changed message or key fails to verify.
crypto::P256Signature toy_sign(const crypto::P256Raw& pub, ByteView message) {
  const auto a = digest({pub, message}), b = digest({message, pub});
  crypto::P256Signature sig{};
  std::copy(a.begin(), a.end(), sig.begin());
  std::copy(b.begin(), b.end(), sig.begin() + 32);
  return sig;
}

class ToyPublicKey final : public crypto::P256PublicKey {
 public:
  explicit ToyPublicKey(const crypto::P256Raw& raw) : raw_(raw) {}
  const crypto::Backend& backend() const noexcept override;
  const crypto::P256Raw& raw() const noexcept override { return raw_; }
  bool verify(ByteView message, const crypto::P256Signature& signature) const override {
    return toy_sign(raw_, message) == signature;
  }

 private:
  crypto::P256Raw raw_;
};

class ToyKeyPair final : public crypto::P256KeyPair {
 public:
  explicit ToyKeyPair(ByteView scalar) : d_(scalar) {
    const auto x = digest({as_bytes(std::string_view("toy x")), scalar}), y = digest({as_bytes(std::string_view("toy y")), scalar});
    std::copy(x.begin(), x.end(), pub_.begin());
    std::copy(y.begin(), y.end(), pub_.begin() + 32);
  }
  const crypto::Backend& backend() const noexcept override;
  const crypto::P256Raw& public_raw() const noexcept override { return pub_; }
  SecretBytes private_scalar() const override { return d_; }
  // Symmetric in the two public keys, so both sides derive the same secret.
  Result<SecretBytes> ecdh(const crypto::P256PublicKey& peer) const override {
    const auto& lo = std::min(pub_, peer.raw()), &hi = std::max(pub_, peer.raw());
    const auto s = digest({lo, hi});
    return SecretBytes(ByteView(s.data(), s.size()));
  }
  Result<crypto::P256Signature> sign(ByteView message) const override { return toy_sign(pub_, message); }

 private:
  SecretBytes d_;
  crypto::P256Raw pub_{};
};

class ToyBackend final : public crypto::Backend {
 public:
  std::string_view name() const noexcept override { return "toy-p256"; }
  std::string_view library_version() const noexcept override { return real().library_version(); }
  Result<std::unique_ptr<crypto::AesBlock>> aes_block(ByteView key) const override { return real().aes_block(key); }
  Result<std::unique_ptr<crypto::AesCbc>> aes_cbc(ByteView key) const override { return real().aes_cbc(key); }
  Result<std::unique_ptr<crypto::AesCcm>> aes_ccm(ByteView key) const override { return real().aes_ccm(key); }
  Result<std::unique_ptr<crypto::AesCmac>> aes_cmac(ByteView key) const override { return real().aes_cmac(key); }
  std::unique_ptr<crypto::Md5> md5() const override { return real().md5(); }
  std::unique_ptr<crypto::Sha256> sha256() const override { return real().sha256(); }
  Result<std::unique_ptr<crypto::P256KeyPair>> p256_generate(crypto::Rng& rng) const override {
    SecretBytes d(crypto::kP256ScalarSize);
    rng.fill(d.mutable_view());
    return p256_from_private(d);
  }
  Result<std::unique_ptr<crypto::P256KeyPair>> p256_from_private(ByteView scalar) const override {
    if (scalar.size() != crypto::kP256ScalarSize) return crypto::Errc::invalid_key_size;
    if (std::all_of(scalar.begin(), scalar.end(), [](std::uint8_t b) { return b == 0; })) return crypto::Errc::invalid_private_key;
    return std::unique_ptr<crypto::P256KeyPair>(std::make_unique<ToyKeyPair>(scalar));
  }
  // Any 64 bytes but all zeros (so the "invalid key" paths stay reachable).
  Result<std::unique_ptr<crypto::P256PublicKey>> p256_public_key(ByteView raw) const override {
    if (raw.size() != crypto::kP256RawSize || std::all_of(raw.begin(), raw.end(), [](std::uint8_t b) { return b == 0; }))
      return crypto::Errc::invalid_public_key;
    crypto::P256Raw r{};
    std::copy(raw.begin(), raw.end(), r.begin());
    return std::unique_ptr<crypto::P256PublicKey>(std::make_unique<ToyPublicKey>(r));
  }

 private:
  static const crypto::Backend& real() { return crypto::default_backend(); }
};

const ToyBackend& toy() {
  static const ToyBackend b;
  return b;
}
const crypto::Backend& ToyPublicKey::backend() const noexcept { return toy(); }
const crypto::Backend& ToyKeyPair::backend() const noexcept { return toy(); }

// The emulator on the toy backend: its signing key is the test scalar's toy key, and it verifies
// the client's L1 signature with L1's toy public key.
DeviceConfig toy_device_config() {
  auto cfg = DeviceConfig::make(toy(), {});
  auto client = ClientConfig::make(toy(), {});
  if (!cfg || !client || !client->client_signing_key) std::abort();
  auto l1 = toy().p256_public_key(client->client_signing_key->public_raw());
  if (!l1) std::abort();
  cfg->client_verify_key = std::shared_ptr<const crypto::P256PublicKey>(std::move(*l1));
  return std::move(*cfg);
}

BluettiCrypt::Options options(crypto::Rng& rng) {
  static const crypto::P256Raw device_key = toy_device_config().signing_key->public_raw();
  BluettiCrypt::Options o;
  o.device_verify_key.assign(device_key.begin(), device_key.end());
  o.licence_path = "/nonexistent/blecrypt-fuzz-licence.csv";
  o.backend = &toy();
  o.rng = &rng;
  return o;
}

// The notifications a handler with crng(1) receives from an emulator with drng(2) until it
// reaches `target` (0: the challenge only; 3: session up).
std::vector<Bytes> record(int target) {
  crypto::DeterministicRng crng(1), drng(2);
  BluettiCrypt c(options(crng));
  auto station = PowerStation::create("AC180");
  if (!station) std::abort();
  Device device(toy_device_config(), std::move(*station), drng);
  device.on_link_up(TimePoint{});
  std::vector<Bytes> notes;
  for (int round = 0; round < 10; ++round) {
    while (auto t = device.poll_transmit()) {
      notes.push_back(*t);
      int st = 0;
      auto reply = c.ble_crypt_link_handler(std::string(t->begin(), t->end()), &st);
      if (target == 0 || st >= target) return notes;
      if (!reply.empty()) (void)device.feed(as_bytes(reply), TimePoint{});
    }
  }
  return notes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const std::vector<Bytes> to_challenge = record(0);
  static const std::vector<Bytes> to_session = record(3);
  crypto::DeterministicRng crng(1);
  BluettiCrypt c(options(crng));
  const int mode = data[0] % 3;  // 0: fuzz from the start; 1: after the challenge; 2: after status 3
  if (mode > 0) {
    for (const auto& n : mode == 1 ? to_challenge : to_session) {
      int st = 0;
      (void)c.ble_crypt_link_handler(std::string(n.begin(), n.end()), &st);
    }
    if (mode == 2 && c.status() != 3) std::abort();  // the replay must reach the session
  }
  std::size_t off = 1;
  while (off < size) {
    const std::size_t n = std::min<std::size_t>(size - off, (data[off] % 40) + 1);
    ++off;
    const std::size_t take = std::min(n, size - std::min(off, size));
    std::string chunk(reinterpret_cast<const char*>(data + off), take);
    off += take;
    int status = -1;
    (void)c.ble_crypt_link_handler(chunk, &status);
    if (status < 0 || status > 4) std::abort();
    (void)c.decrypt_data(chunk);
    (void)c.encrypt_data(chunk);
  }
  return 0;
}
