// The link-layer encryption handshake between two pairing engines (see link_layer_model.hpp).
#include "blecrypt/smp/link_layer_model.hpp"

namespace blecrypt::smp {

bool LinkLayerModel::on_event(Role from, const Event& ev, TimePoint now) {
  if (!connected_) return false;
  if (auto* se = std::get_if<events::StartEncryption>(&ev); se && from == Role::central) {
    central_key_ = se->ltk;
    ++ltk_requests_;
    p_->ltk_request(se->ediv, se->rand, now);
    return true;
  }
  if (auto* lr = std::get_if<events::LtkReply>(&ev); lr && from == Role::peripheral) {
    if (lr->ltk.empty()) {
      c_->encryption_failed(kPinOrKeyMissing, now);
    } else if (equal(lr->ltk, central_key_)) {
      c_->encryption_changed(now);
      p_->encryption_changed(now);
    } else {
      c_->encryption_failed(kMicFailure, now);
      p_->encryption_failed(kMicFailure, now);
      connected_ = false;
      c_->on_link_down();
      p_->on_link_down();
    }
    central_key_.wipe();
    return true;
  }
  return false;
}

void LinkLayerModel::drain(TimePoint now) {
  for (bool more = true; more;) {
    more = false;
    for (Role from : {Role::central, Role::peripheral}) {
      PairingEngine& e = from == Role::central ? *c_ : *p_;
      while (auto ev = e.poll_event()) {
        more = acted_ = true;
        (void)on_event(from, *ev, now);
        if (sink_) sink_(from, std::move(*ev));
      }
    }
  }
}

}  // namespace blecrypt::smp
