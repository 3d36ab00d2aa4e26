// Python bindings of the SMP module: the toolbox functions and a SecurityManager with callbacks.
// The user-facing, blatann-style API is python/blecrypt/smp.py.
#include <pybind11/functional.h>

#include <memory>

#include "bindings.hpp"
#include "blecrypt/smp/security_manager.hpp"
#include "blecrypt/smp/toolbox.hpp"

namespace blecrypt::python {
namespace {

using namespace blecrypt::smp;

struct SmpError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename T>
T unwrap(Result<T> r, const char* what) {
  if (!r) throw SmpError(std::string(what) + ": " + r.error().message());
  return std::move(*r);
}
void check(const Result<void>& r, const char* what) {
  if (!r) throw SmpError(std::string(what) + ": " + r.error().message());
}

const crypto::Backend& backend_named(const std::string& name) {
  if (name.empty()) return crypto::default_backend();
  const auto* be = crypto::backend_by_name(name);
  if (!be) throw py::value_error("unknown crypto backend '" + name + "' (openssl, mbedtls)");
  return *be;
}

Address addr(const std::string& s) {
  auto a = Address::parse(s);
  if (!a) throw py::value_error("address must look like AA:BB:CC:DD:EE:FF/public or /random, got '" + s + "'");
  return *a;
}

TimePoint at(double seconds) { return time_from_seconds(seconds); }

py::bytes block(const Block& b) { return to_py(b); }

// Native managers alive now: lets tests prove that Python managers are freed (and their keys
// wiped by the SecretBytes destructors).
std::size_t g_live_managers = 0;

// Owns the Rng and the optional bond store next to the manager. The callbacks it holds must not
// reference the Python SecurityManager strongly (python/blecrypt/smp.py hands in weak trampolines):
// a reference from here is invisible to the garbage collector and would keep both alive forever.
struct PyManager {
  PyManager() { ++g_live_managers; }
  ~PyManager() { --g_live_managers; }
  PyManager(const PyManager&) = delete;
  PyManager& operator=(const PyManager&) = delete;
  std::unique_ptr<crypto::DeterministicRng> det;
  std::unique_ptr<BondStore> store;
  std::unique_ptr<SecurityManager> sm;
};

std::shared_ptr<PyManager> make_manager(const std::string& role, const std::string& local, const std::string& peer,
                                        const std::string& bond_dir, const std::string& backend, std::optional<std::uint64_t> seed,
                                        int min_key_size, bool sc_only) {
  auto m = std::make_shared<PyManager>();
  SecurityManager::Config cfg;
  if (role == "central") cfg.role = Role::central;
  else if (role == "peripheral") cfg.role = Role::peripheral;
  else throw py::value_error("role must be 'central' or 'peripheral', got '" + role + "'");
  cfg.local_address = addr(local);
  cfg.peer_address = addr(peer);
  cfg.backend = &backend_named(backend);
  if (min_key_size < 7 || min_key_size > 16) throw py::value_error("min_key_size must be 7..16");
  cfg.min_key_size = static_cast<std::uint8_t>(min_key_size);
  cfg.sc_only = sc_only;
  if (!bond_dir.empty()) {
    m->store = std::make_unique<BondStore>(bond_dir);
    cfg.bond_store = m->store.get();
  }
  crypto::Rng* rng = &crypto::system_rng();
  if (seed) {
    m->det = std::make_unique<crypto::DeterministicRng>(*seed);
    rng = m->det.get();
  }
  m->sm = std::make_unique<SecurityManager>(cfg, *rng);
  return m;
}

void add_smp(py::module_& root) {
  auto m = root.def_submodule("smp", "BLE Security Manager (native part; use blecrypt.smp)");
  py::register_exception<SmpError>(m, "SmpError", PyExc_RuntimeError);

  // ---- toolbox (spec order, most significant octet first) ----
  m.def("ah", [](py::bytes irk, py::bytes prand, const std::string& be) {
    auto h = unwrap(Toolbox(backend_named(be)).ah(from_py(irk), from_py(prand)), "ah");
    return to_py(h);
  }, py::arg("irk"), py::arg("prand"), py::arg("backend") = "");
  m.def("c1", [](py::bytes k, py::bytes r, py::bytes preq, py::bytes pres, int iat, int rat, py::bytes ia, py::bytes ra, const std::string& be) {
    return block(unwrap(Toolbox(backend_named(be)).c1(from_py(k), from_py(r), from_py(preq), from_py(pres),
                                                      static_cast<std::uint8_t>(iat), static_cast<std::uint8_t>(rat), from_py(ia), from_py(ra)), "c1"));
  }, py::arg("k"), py::arg("r"), py::arg("preq"), py::arg("pres"), py::arg("iat"), py::arg("rat"), py::arg("ia"), py::arg("ra"), py::arg("backend") = "");
  m.def("s1", [](py::bytes k, py::bytes r1, py::bytes r2, const std::string& be) {
    return block(unwrap(Toolbox(backend_named(be)).s1(from_py(k), from_py(r1), from_py(r2)), "s1"));
  }, py::arg("k"), py::arg("r1"), py::arg("r2"), py::arg("backend") = "");
  m.def("f4", [](py::bytes u, py::bytes v, py::bytes x, int z, const std::string& be) {
    return block(unwrap(Toolbox(backend_named(be)).f4(from_py(u), from_py(v), from_py(x), static_cast<std::uint8_t>(z)), "f4"));
  }, py::arg("u"), py::arg("v"), py::arg("x"), py::arg("z"), py::arg("backend") = "");
  m.def("f5", [](py::bytes w, py::bytes n1, py::bytes n2, py::bytes a1, py::bytes a2, const std::string& be) {
    auto k = unwrap(Toolbox(backend_named(be)).f5(from_py(w), from_py(n1), from_py(n2), from_py(a1), from_py(a2)), "f5");
    return py::make_tuple(to_py(k.mac_key), to_py(k.ltk));
  }, py::arg("w"), py::arg("n1"), py::arg("n2"), py::arg("a1"), py::arg("a2"), py::arg("backend") = "",
     "Returns (MacKey, LTK).");
  m.def("f6", [](py::bytes w, py::bytes n1, py::bytes n2, py::bytes r, py::bytes iocap, py::bytes a1, py::bytes a2, const std::string& be) {
    return block(unwrap(Toolbox(backend_named(be)).f6(from_py(w), from_py(n1), from_py(n2), from_py(r), from_py(iocap), from_py(a1), from_py(a2)), "f6"));
  }, py::arg("w"), py::arg("n1"), py::arg("n2"), py::arg("r"), py::arg("iocap"), py::arg("a1"), py::arg("a2"), py::arg("backend") = "");
  m.def("g2", [](py::bytes u, py::bytes v, py::bytes x, py::bytes y, const std::string& be) {
    return unwrap(Toolbox(backend_named(be)).g2(from_py(u), from_py(v), from_py(x), from_py(y)), "g2");
  }, py::arg("u"), py::arg("v"), py::arg("x"), py::arg("y"), py::arg("backend") = "");
  m.def("h6", [](py::bytes w, py::bytes key_id, const std::string& be) {
    return block(unwrap(Toolbox(backend_named(be)).h6(from_py(w), from_py(key_id)), "h6"));
  }, py::arg("w"), py::arg("key_id"), py::arg("backend") = "");
  m.def("h7", [](py::bytes salt, py::bytes w, const std::string& be) {
    return block(unwrap(Toolbox(backend_named(be)).h7(from_py(salt), from_py(w)), "h7"));
  }, py::arg("salt"), py::arg("w"), py::arg("backend") = "");
  m.def("ltk_to_link_key", [](py::bytes ltk, bool ct2, const std::string& be) {
    return block(unwrap(Toolbox(backend_named(be)).ltk_to_link_key(from_py(ltk), ct2), "ltk_to_link_key"));
  }, py::arg("ltk"), py::arg("ct2"), py::arg("backend") = "");
  m.def("link_key_to_ltk", [](py::bytes lk, bool ct2, const std::string& be) {
    return block(unwrap(Toolbox(backend_named(be)).link_key_to_ltk(from_py(lk), ct2), "link_key_to_ltk"));
  }, py::arg("link_key"), py::arg("ct2"), py::arg("backend") = "");

  // ---- security manager ----
  py::class_<PyManager, std::shared_ptr<PyManager>> cls(m, "SecurityManager");
  cls.def(py::init(&make_manager), py::arg("role"), py::arg("local_address"), py::arg("peer_address"),
          py::arg("bond_dir") = "", py::arg("backend") = "", py::arg("seed") = py::none(), py::arg("min_key_size") = 16,
          py::arg("sc_only") = false);
  cls.def("set_security_params", [](PyManager& s, bool passcode, int io, bool bond, bool oob, bool reject, bool lesc) {
    if (io < 0 || io > 4) throw py::value_error("io_capabilities must be 0..4");
    SecurityParameters p{passcode, static_cast<IoCapability>(io), bond, oob, reject, lesc};
    check(s.sm->set_security_params(p), "set_security_params");
  });
  cls.def("set_pairing_policy", [](PyManager& s, int policy) {
    if (policy < 0 || policy > 15) throw py::value_error("pairing policy must be a combination of the flags 0..15");
    check(s.sm->set_pairing_policy(static_cast<PairingPolicy>(policy)), "set_pairing_policy");
  });
  cls.def("pairing_policy", [](PyManager& s) { return static_cast<int>(s.sm->pairing_policy()); });
  cls.def("use_debug_lesc_key", [](PyManager& s) { check(s.sm->use_debug_lesc_key(), "use_debug_lesc_key"); });
  cls.def("set_legacy_oob_tk", [](PyManager& s, std::optional<py::bytes> tk) {
    if (!tk) return check(s.sm->set_legacy_oob_tk(std::nullopt), "set_legacy_oob_tk");
    Bytes b = from_py(*tk);
    if (b.size() != 16) throw py::value_error("legacy OOB TK must be 16 bytes");
    Key128 k{};
    std::copy(b.begin(), b.end(), k.begin());
    secure_wipe(b.data(), b.size());
    check(s.sm->set_legacy_oob_tk(k), "set_legacy_oob_tk");
  });
  cls.def("local_oob_data", [](PyManager& s) {
    auto d = unwrap(s.sm->local_oob_data(), "local_oob_data");
    return py::make_tuple(to_py(d.c), to_py(d.r));
  });
  cls.def("set_peer_oob_data", [](PyManager& s, py::bytes c, py::bytes r) {
    Bytes cb = from_py(c), rb = from_py(r);
    if (cb.size() != 16 || rb.size() != 16) throw py::value_error("OOB C and R must be 16 bytes each");
    OobData d;
    std::copy(cb.begin(), cb.end(), d.c.begin());
    std::copy(rb.begin(), rb.end(), d.r.begin());
    check(s.sm->set_peer_oob_data(d), "set_peer_oob_data");
  });
  cls.def("pair", [](PyManager& s, double now, bool force) { check(s.sm->pair(at(now), force), "pair"); });
  cls.def("delete_bonding_data", [](PyManager& s) { check(s.sm->delete_bonding_data(), "delete_bonding_data"); });
  cls.def("is_previously_bonded", [](PyManager& s) { return s.sm->is_previously_bonded(); });
  cls.def("pairing_in_process", [](PyManager& s) { return s.sm->pairing_in_process(); });
  cls.def("security_level", [](PyManager& s) { return static_cast<int>(s.sm->security_level()); });
  cls.def("passkey_reply", [](PyManager& s, std::optional<std::uint32_t> pk, double now) { check(s.sm->passkey_reply(pk, at(now)), "passkey_reply"); });
  cls.def("match_confirm", [](PyManager& s, bool match, double now) { check(s.sm->match_confirm(match, at(now)), "match_confirm"); });
  cls.def("security_request_reply", [](PyManager& s, const std::string& r, double now) {
    SecurityRequestResponse resp;
    if (r == "accept") resp = SecurityRequestResponse::accept;
    else if (r == "reject") resp = SecurityRequestResponse::reject;
    else if (r == "force_repair") resp = SecurityRequestResponse::force_repair;
    else throw py::value_error("response must be accept, reject or force_repair");
    check(s.sm->security_request_reply(resp, at(now)), "security_request_reply");
  });
  cls.def("feed", [](PyManager& s, py::bytes pdu, double now) {
    auto r = s.sm->feed(from_py(pdu), at(now));
    return r ? std::string() : r.error().message();
  }, "Feeds one SMP PDU; returns '' or a description of what was wrong (the reply is already queued).");
  cls.def("poll_transmit", [](PyManager& s) -> std::optional<py::bytes> {
    auto b = s.sm->poll_transmit();
    if (!b) return std::nullopt;
    return to_py(*b);
  });
  cls.def("next_deadline", [](PyManager& s) -> std::optional<double> {
    auto d = s.sm->next_deadline();
    if (!d) return std::nullopt;
    return std::chrono::duration<double>(d->time_since_epoch()).count();
  });
  cls.def("on_deadline", [](PyManager& s, double now) { s.sm->on_deadline(at(now)); });
  cls.def("ltk_request", [](PyManager& s, int ediv, py::bytes rand, double now) { s.sm->ltk_request(static_cast<std::uint16_t>(ediv), from_py(rand), at(now)); });
  cls.def("encryption_changed", [](PyManager& s, double now) { s.sm->encryption_changed(at(now)); });
  cls.def("encryption_failed", [](PyManager& s, int status, double now) { s.sm->encryption_failed(static_cast<std::uint8_t>(status), at(now)); });
  cls.def("disconnected", [](PyManager& s) { s.sm->disconnected(); });
  cls.def("bond_load_error", [](PyManager& s) {
    auto e = s.sm->bond_load_error();
    return e ? e.message() : std::string();
  });
  m.def("_live_managers", [] { return g_live_managers; }, "Native SecurityManager objects alive (for leak tests).");
  cls.def("set_callbacks", [](PyManager& s, py::function complete, py::function level, py::function display, py::function entry,
                              py::function sec_req, py::function rejected, py::function start_enc, py::function ltk_reply) {
    auto* sm = s.sm.get();
    sm->on_pairing_complete = [complete](const PairingOutcome& o) {
      complete(o.success, o.reason, o.timeout, static_cast<int>(o.security_level),
               o.bond_error ? o.bond_error.message() : std::string());
    };
    sm->on_security_level_changed = [level](SecurityLevel l) { level(static_cast<int>(l)); };
    sm->on_passkey_display_required = [display](std::uint32_t pk, bool match) { display(pk, match); };
    sm->on_passkey_required = [entry] { entry(); };
    sm->on_peripheral_security_request = [sec_req](std::uint8_t a, bool bonded) { sec_req(a, bonded); };
    sm->on_pairing_request_rejected = [rejected](std::uint8_t r) { rejected(r); };
    sm->on_start_encryption = [start_enc](const events::StartEncryption& se) {
      start_enc(to_py(se.ltk), se.ediv, to_py(se.rand), se.key_size);
    };
    sm->on_ltk_reply = [ltk_reply](const SecretBytes& k) {
      if (k.empty()) ltk_reply(py::none());
      else ltk_reply(to_py(k));
    };
  });
}

const RegisterBinding reg{30, add_smp};

}  // namespace
}  // namespace blecrypt::python
