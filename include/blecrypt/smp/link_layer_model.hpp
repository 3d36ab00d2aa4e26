// smp::LinkLayerModel: the link layer's part of a pairing, played in memory between two
// PairingEngines (the one copy of it; tests, the bench, the CLI relay and Python use this).
//
// What a real controller pair does, reduced to the events the engines see (Core Vol 6 Part B
// 5.1.3, Vol 3 Part H 2.4.4):
//   central emits StartEncryption{ltk, ediv, rand}  -> peripheral.ltk_request(ediv, rand)
//   peripheral emits LtkReply{ltk}:
//     empty (negative reply)                        -> central.encryption_failed(0x06 PIN or Key Missing)
//     equal to the central's key                    -> encryption_changed() on both
//     different key                                 -> MIC failure: encryption_failed(0x3D) on both,
//                                                      then the link drops (on_link_down() on both)
// Every other event is passed on untouched.
//
// Two ways to use it:
//   1. With a link::Pipe (tests, bench):
//        link::Pipe<PairingEngine, PairingEngine> pipe(central, peripheral);
//        smp::LinkLayerModel ll(central, peripheral);
//        ll.attach(pipe, [&](Role from, Event ev) { /* the application: passkeys, results */ });
//        central.pair(pipe.now);
//        pipe.pump();               // until both engines and the model are quiet
//   2. Driven by events (your own transport loop): hand every event either engine emits to
//        ll.on_event(from, ev, now);   // true when it was a link-layer event the model acted on
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "blecrypt/secret.hpp"
#include "blecrypt/smp/engine.hpp"
#include "blecrypt/time.hpp"

namespace blecrypt::smp {

class LinkLayerModel {
 public:
  static constexpr std::uint8_t kPinOrKeyMissing = 0x06;  // HCI error: negative LTK reply
  static constexpr std::uint8_t kMicFailure = 0x3d;       // HCI error: Connection Terminated due to MIC Failure

  // Receives every event after the model has seen it (the application's part).
  using Sink = std::function<void(Role from, Event ev)>;

  LinkLayerModel(PairingEngine& central, PairingEngine& peripheral) : c_(&central), p_(&peripheral) {}

  // Acts on StartEncryption (from the central) and LtkReply (from the peripheral); returns
  // whether it did. Other events are ignored (false).
  bool on_event(Role from, const Event& ev, TimePoint now);

  // Installs the model as `pipe.between`: after every pump round it drains both engines' events,
  // acts on the link-layer ones and hands every event to `sink` (may be empty).
  template <typename PipeT>
  void attach(PipeT& pipe, Sink sink) {
    sink_ = std::move(sink);
    pipe.between = [this](TimePoint now) {
      acted_ = false;
      drain(now);
      return acted_;
    };
  }
  // Drains both engines' events once (what the `between` hook runs).
  void drain(TimePoint now);

  bool connected() const noexcept { return connected_; }  // false after a MIC failure dropped the link
  void reconnect() noexcept { connected_ = true; }
  int ltk_requests() const noexcept { return ltk_requests_; }

 private:
  PairingEngine* c_;
  PairingEngine* p_;
  Sink sink_;
  SecretBytes central_key_;  // the key the central asked to encrypt with
  bool connected_ = true;
  bool acted_ = false;
  int ltk_requests_ = 0;
};

}  // namespace blecrypt::smp
