// Python bindings of the SMP module: the toolbox functions and a SecurityManager with callbacks.
// The user-facing, blatann-style API is python/blecrypt/smp.py.
#include <pybind11/functional.h>

#include <memory>

#include "bindings.hpp"
#include "blecrypt/link/pipe.hpp"
#include "blecrypt/smp/link_layer_model.hpp"
#include "blecrypt/smp/security_manager.hpp"
#include "blecrypt/smp/toolbox.hpp"

namespace blecrypt::python {
namespace {

using namespace blecrypt::smp;

constexpr const char* kArgError = "SmpInvalidArgument";

ErrorKind smp_kind(int v) {
  switch (static_cast<Errc>(v)) {
    case Errc::bad_argument: return {kArgError, "bad_argument"};
    case Errc::pdu_empty: return {"PairingError", "pdu_empty"};
    case Errc::pdu_unknown_opcode: return {"PairingError", "pdu_unknown_opcode"};
    case Errc::pdu_wrong_length: return {"PairingError", "pdu_wrong_length"};
    case Errc::unexpected_pdu: return {"PairingError", "unexpected_pdu"};
    case Errc::invalid_parameters: return {"PairingError", "invalid_parameters"};
    case Errc::pairing_failed: return {"PairingError", "pairing_failed"};
    case Errc::timed_out: return {"SmpTimeoutError", "timed_out"};
    case Errc::wrong_state: return {"SmpError", "wrong_state"};
    case Errc::wrong_role: return {"SmpError", "wrong_role"};
    case Errc::crypto_failure: return {"SmpError", "crypto_failure"};
    case Errc::bond_io: return {"BondStoreError", "bond_io"};
    case Errc::bond_corrupt: return {"BondStoreError", "bond_corrupt"};
    case Errc::not_bonded: return {"SmpError", "not_bonded"};
    case Errc::bond_not_regular: return {"BondStoreError", "bond_not_regular"};
    case Errc::bond_symlink: return {"BondStoreError", "bond_symlink"};
    case Errc::bond_too_large: return {"BondStoreError", "bond_too_large"};
    case Errc::bond_not_private: return {"BondStoreError", "bond_not_private"};
    case Errc::bond_peer_mismatch: return {"BondStoreError", "bond_peer_mismatch"};
    case Errc::bond_busy: return {"BondStoreError", "bond_busy"};
    case Errc::pairing_in_progress: return {"SmpError", "pairing_in_progress"};
    case Errc::bond_save_failed: return {"BondStoreError", "bond_save_failed"};
  }
  return {"SmpError", nullptr};
}

Address addr(const std::string& s) {
  auto a = Address::parse(s);
  if (!a) invalid("address must look like AA:BB:CC:DD:EE:FF/public or /random, got '" + s + "'", kArgError);
  return *a;
}

py::bytes block(const Block& b) { return to_py(b); }
Toolbox tb(const std::string& backend) { return Toolbox(backend_named(backend)); }

// Native managers alive now: lets tests prove that Python managers are freed (and their keys
// wiped by the SecretBytes destructors).
std::size_t g_live_managers = 0;

struct MemoryLink;

// Owns the Rng and the optional bond store next to the manager. The callbacks it holds must not
// reference the Python SecurityManager strongly (python/blecrypt/smp.py hands in weak trampolines):
// a reference from here is invisible to the garbage collector and would keep both alive forever.
struct PyManager {
  explicit PyManager(std::optional<std::uint64_t> seed) : rng(seed) { ++g_live_managers; }
  ~PyManager() { --g_live_managers; }
  PyManager(const PyManager&) = delete;
  PyManager& operator=(const PyManager&) = delete;
  OwnedRng rng;
  std::unique_ptr<BondStore> store;
  std::unique_ptr<SecurityManager> sm;
  Role role = Role::central;
  std::shared_ptr<MemoryLink> link;  // set by connect(): the link layer is played in memory
};

// Two managers joined in this process: smp::LinkLayerModel (the one model of the link layer's
// encryption start) acts on their engines; the managers then hand what it caused to their
// callbacks. Holds the managers weakly (each manager holds the link).
struct MemoryLink {
  std::weak_ptr<PyManager> central, peripheral;
  py::function clock;  // the central's clock: seconds as float
  std::optional<LinkLayerModel> model;
  const PairingEngine* engines[2] = {nullptr, nullptr};

  void on_event(Role from, const Event& ev) {
    auto c = central.lock();
    auto p = peripheral.lock();
    if (!c || !p) return;
    PairingEngine& ce = c->sm->engine();
    PairingEngine& pe = p->sm->engine();
    if (!model || engines[0] != &ce || engines[1] != &pe) {  // a setter rebuilt an engine
      model.emplace(ce, pe);
      engines[0] = &ce;
      engines[1] = &pe;
    }
    const TimePoint now = at(clock().cast<double>());
    model->on_event(from, ev, now);
    c->sm->process_engine_events(now);
    p->sm->process_engine_events(now);
  }
};

// A SecurityManager as a link::Pipe side: PDUs in and out; its events go to its callbacks.
struct PipeSide {
  using Event = std::variant<std::monostate>;
  SecurityManager* sm;
  void on_link_up(TimePoint) {}
  void on_link_down() { sm->disconnected(); }
  Result<void> feed(ByteView in, TimePoint now) { return sm->feed(in, now); }
  std::optional<Bytes> poll_transmit() { return sm->poll_transmit(); }
  std::optional<Event> poll_event() { return std::nullopt; }
  std::optional<TimePoint> next_deadline() const { return sm->next_deadline(); }
  void on_deadline(TimePoint now) { sm->on_deadline(now); }
  void reset() { sm->disconnected(); }
};
static_assert(Engine<PipeSide>);

std::shared_ptr<PyManager> make_manager(const std::string& role, const std::string& local, const std::string& peer,
                                        const std::string& bond_dir, const std::string& backend, std::optional<std::uint64_t> seed,
                                        int min_key_size, bool sc_only) {
  auto m = std::make_shared<PyManager>(seed);
  SecurityManager::Config cfg;
  if (role == "central") cfg.role = Role::central;
  else if (role == "peripheral") cfg.role = Role::peripheral;
  else invalid("role must be 'central' or 'peripheral', got '" + role + "'", kArgError);
  m->role = cfg.role;
  cfg.local_address = addr(local);
  cfg.peer_address = addr(peer);
  cfg.backend = &backend_named(backend);
  if (min_key_size < 7 || min_key_size > 16) invalid("min_key_size must be 7..16", kArgError);
  cfg.min_key_size = static_cast<std::uint8_t>(min_key_size);
  cfg.sc_only = sc_only;
  if (!bond_dir.empty()) {
    m->store = std::make_unique<BondStore>(bond_dir);
    cfg.bond_store = m->store.get();
  }
  m->sm = std::make_unique<SecurityManager>(cfg, m->rng.get());
  return m;
}

void add_smp(py::module_& root) {
  auto m = root.def_submodule("smp", "BLE Security Manager (native part; use blecrypt.smp)");
  register_error_category(smp::category(), smp_kind);

  // ---- toolbox (spec order, most significant octet first) ----
  m.def("ah", [](py::bytes irk, py::bytes prand, const std::string& be) {
    auto h = unwrap(tb(be).ah(from_py(irk), from_py(prand)), "ah");
    return to_py(h);
  }, py::arg("irk"), py::arg("prand"), py::arg("backend") = "");
  m.def("c1", [](py::bytes k, py::bytes r, py::bytes preq, py::bytes pres, int iat, int rat, py::bytes ia, py::bytes ra, const std::string& be) {
    return block(unwrap(tb(be).c1(from_py(k), from_py(r), from_py(preq), from_py(pres),
                                                      static_cast<std::uint8_t>(iat), static_cast<std::uint8_t>(rat), from_py(ia), from_py(ra)), "c1"));
  }, py::arg("k"), py::arg("r"), py::arg("preq"), py::arg("pres"), py::arg("iat"), py::arg("rat"), py::arg("ia"), py::arg("ra"), py::arg("backend") = "");
  m.def("s1", [](py::bytes k, py::bytes r1, py::bytes r2, const std::string& be) {
    return block(unwrap(tb(be).s1(from_py(k), from_py(r1), from_py(r2)), "s1"));
  }, py::arg("k"), py::arg("r1"), py::arg("r2"), py::arg("backend") = "");
  m.def("f4", [](py::bytes u, py::bytes v, py::bytes x, int z, const std::string& be) {
    return block(unwrap(tb(be).f4(from_py(u), from_py(v), from_py(x), static_cast<std::uint8_t>(z)), "f4"));
  }, py::arg("u"), py::arg("v"), py::arg("x"), py::arg("z"), py::arg("backend") = "");
  m.def("f5", [](py::bytes w, py::bytes n1, py::bytes n2, py::bytes a1, py::bytes a2, const std::string& be) {
    auto k = unwrap(tb(be).f5(from_py(w), from_py(n1), from_py(n2), from_py(a1), from_py(a2)), "f5");
    return py::make_tuple(to_py(k.mac_key), to_py(k.ltk));
  }, py::arg("w"), py::arg("n1"), py::arg("n2"), py::arg("a1"), py::arg("a2"), py::arg("backend") = "",
     "Returns (MacKey, LTK).");
  m.def("f6", [](py::bytes w, py::bytes n1, py::bytes n2, py::bytes r, py::bytes iocap, py::bytes a1, py::bytes a2, const std::string& be) {
    return block(unwrap(tb(be).f6(from_py(w), from_py(n1), from_py(n2), from_py(r), from_py(iocap), from_py(a1), from_py(a2)), "f6"));
  }, py::arg("w"), py::arg("n1"), py::arg("n2"), py::arg("r"), py::arg("iocap"), py::arg("a1"), py::arg("a2"), py::arg("backend") = "");
  m.def("g2", [](py::bytes u, py::bytes v, py::bytes x, py::bytes y, const std::string& be) {
    return unwrap(tb(be).g2(from_py(u), from_py(v), from_py(x), from_py(y)), "g2");
  }, py::arg("u"), py::arg("v"), py::arg("x"), py::arg("y"), py::arg("backend") = "");
  m.def("h6", [](py::bytes w, py::bytes key_id, const std::string& be) {
    return block(unwrap(tb(be).h6(from_py(w), from_py(key_id)), "h6"));
  }, py::arg("w"), py::arg("key_id"), py::arg("backend") = "");
  m.def("h7", [](py::bytes salt, py::bytes w, const std::string& be) {
    return block(unwrap(tb(be).h7(from_py(salt), from_py(w)), "h7"));
  }, py::arg("salt"), py::arg("w"), py::arg("backend") = "");
  m.def("ltk_to_link_key", [](py::bytes ltk, bool ct2, const std::string& be) {
    return block(unwrap(tb(be).ltk_to_link_key(from_py(ltk), ct2), "ltk_to_link_key"));
  }, py::arg("ltk"), py::arg("ct2"), py::arg("backend") = "");
  m.def("link_key_to_ltk", [](py::bytes lk, bool ct2, const std::string& be) {
    return block(unwrap(tb(be).link_key_to_ltk(from_py(lk), ct2), "link_key_to_ltk"));
  }, py::arg("link_key"), py::arg("ct2"), py::arg("backend") = "");

  // ---- security manager ----
  py::class_<PyManager, std::shared_ptr<PyManager>> cls(m, "SecurityManager");
  cls.def(py::init(&make_manager), py::arg("role"), py::arg("local_address"), py::arg("peer_address"),
          py::arg("bond_dir") = "", py::arg("backend") = "", py::arg("seed") = py::none(), py::arg("min_key_size") = 16,
          py::arg("sc_only") = false);
  cls.def("set_security_params", [](PyManager& s, bool passcode, int io, bool bond, bool oob, bool reject, bool lesc) {
    if (io < 0 || io > 4) invalid("io_capabilities must be 0..4", kArgError);
    SecurityParameters p{passcode, static_cast<IoCapability>(io), bond, oob, reject, lesc};
    check(s.sm->set_security_params(p), "set_security_params");
  });
  cls.def("set_pairing_policy", [](PyManager& s, int policy) {
    if (policy < 0 || policy > 15) invalid("pairing policy must be a combination of the flags 0..15", kArgError);
    check(s.sm->set_pairing_policy(static_cast<PairingPolicy>(policy)), "set_pairing_policy");
  });
  cls.def("pairing_policy", [](PyManager& s) { return static_cast<int>(s.sm->pairing_policy()); });
  cls.def("use_debug_lesc_key", [](PyManager& s) { check(s.sm->use_debug_lesc_key(), "use_debug_lesc_key"); });
  cls.def("set_legacy_oob_tk", [](PyManager& s, std::optional<py::bytes> tk) {
    if (!tk) return check(s.sm->set_legacy_oob_tk(std::nullopt), "set_legacy_oob_tk");
    Key128 k = fixed_from_py<16>(*tk, "legacy OOB TK", kArgError);
    check(s.sm->set_legacy_oob_tk(k), "set_legacy_oob_tk");
    secure_wipe(k.data(), k.size());
  });
  cls.def("local_oob_data", [](PyManager& s) {
    auto d = unwrap(s.sm->local_oob_data(), "local_oob_data");
    return py::make_tuple(to_py(d.c), to_py(d.r));
  });
  cls.def("set_peer_oob_data", [](PyManager& s, py::bytes c, py::bytes r) {
    OobData d;
    d.c = fixed_from_py<16>(c, "OOB C", kArgError);
    d.r = fixed_from_py<16>(r, "OOB R", kArgError);
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
    else invalid("response must be accept, reject or force_repair", kArgError);
    check(s.sm->security_request_reply(resp, at(now)), "security_request_reply");
  });
  cls.def("feed", [](PyManager& s, py::bytes pdu, double now) {
    auto r = s.sm->feed(from_py(pdu), at(now));
    return r ? std::string() : r.error().message();
  }, "Feeds one SMP PDU; returns '' or a description of what was wrong (the reply is already queued).");
  cls.def("poll_transmit", [](PyManager& s) { return maybe_bytes(s.sm->poll_transmit()); });
  cls.def("next_deadline", [](PyManager& s) { return maybe_seconds(s.sm->next_deadline()); });
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
    PyManager* self = &s;  // owns sm, so it outlives these callbacks
    sm->on_pairing_complete = [complete](const PairingOutcome& o) {
      complete(o.success, o.reason, o.timeout, static_cast<int>(o.security_level),
               o.bond_error ? o.bond_error.message() : std::string());
    };
    sm->on_security_level_changed = [level](SecurityLevel l) { level(static_cast<int>(l)); };
    sm->on_passkey_display_required = [display](std::uint32_t pk, bool match) { display(pk, match); };
    sm->on_passkey_required = [entry] { entry(); };
    sm->on_peripheral_security_request = [sec_req](std::uint8_t a, bool bonded) { sec_req(a, bonded); };
    sm->on_pairing_request_rejected = [rejected](std::uint8_t r) { rejected(r); };
    sm->on_start_encryption = [self, start_enc](const events::StartEncryption& se) {
      if (self->link) return self->link->on_event(self->role, Event{se});
      start_enc(to_py(se.ltk), se.ediv, to_py(se.rand), se.key_size);
    };
    sm->on_ltk_reply = [self, ltk_reply](const SecretBytes& k) {
      if (self->link) return self->link->on_event(self->role, Event{events::LtkReply{k}});
      if (k.empty()) ltk_reply(py::none());
      else ltk_reply(to_py(k));
    };
  });

  // ---- two managers in one process ----
  m.def("connect", [](const std::shared_ptr<PyManager>& c, const std::shared_ptr<PyManager>& p, py::function clock) {
    if (c->role != Role::central || p->role != Role::peripheral)
      invalid("connect(central, peripheral): the first manager must be the central, the second the peripheral", kArgError);
    auto l = std::make_shared<MemoryLink>();
    l->central = c;
    l->peripheral = p;
    l->clock = std::move(clock);
    c->link = p->link = l;
  }, py::arg("central"), py::arg("peripheral"), py::arg("clock"),
     "Plays the link layer between the two managers with smp::LinkLayerModel (their on_start_encryption / on_ltk_reply hooks are bypassed).");
  m.def("pump", [](PyManager& c, PyManager& p, double now, int max_rounds) {
    PipeSide cs{c.sm.get()}, ps{p.sm.get()};
    link::Pipe<PipeSide, PipeSide> pipe(cs, ps, link::Pipe<PipeSide, PipeSide>::kWhole, at(now));
    if (!pipe.pump(max_rounds)) raise("SmpError", "pair_in_memory: the link did not settle");
  }, py::arg("central"), py::arg("peripheral"), py::arg("now"), py::arg("max_rounds") = 10000,
     "Moves PDUs both ways (link::Pipe) until both managers are quiet.");
}

const RegisterBinding reg{30, add_smp};

}  // namespace
}  // namespace blecrypt::python
