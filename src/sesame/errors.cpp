#include "blecrypt/sesame/errors.hpp"

#include <string>

#include "blecrypt/crypto.hpp"

namespace blecrypt::sesame {
namespace {

class SesameCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "blecrypt.sesame"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::not_sesame: return "sesame advertisement: no manufacturer data with company id 0x055A (not a SESAME)";
      case Errc::ad_malformed: return "sesame advertisement: an AD structure length runs past the end of the payload";
      case Errc::manufacturer_data_short: return "sesame advertisement: manufacturer data shorter than 21 bytes (company 2, model 2, status 1, uuid 16)";
      case Errc::packet_too_short: return "sesame segment: packet shorter than 2 bytes (header + payload)";
      case Errc::segment_header_invalid: return "sesame segment: header byte above 0x05";
      case Errc::segment_without_start: return "sesame segment: continuation packet without a start packet (dropped)";
      case Errc::reassembly_overflow: return "sesame segment: reassembled message exceeds the buffer cap (dropped)";
      case Errc::message_empty: return "sesame segment: message to send is empty";
      case Errc::message_too_large: return "sesame segment: message to send exceeds the cap";
      case Errc::packet_size_invalid: return "sesame segment: packet size must be at least 2 bytes";
      case Errc::no_session: return "sesame security: ciphertext but no session key is installed";
      case Errc::authentication_failed: return "sesame security: CCM tag mismatch (message dropped, rx counter kept)";
      case Errc::counter_exhausted: return "sesame security: tx counter exhausted (values are never reused)";
      case Errc::ciphertext_short: return "sesame security: ciphertext shorter than tag (4) + 1 byte";
      case Errc::plaintext_after_login: return "sesame security: plaintext message on an encrypted session (dropped)";
      case Errc::counter_reuse: return "sesame security: LOGIN refused: ciphertext already passed on this connection "
                                       "(or it registered), and a lock restarting its CCM counters on LOGIN would reuse "
                                       "nonces; reconnect to log in";
      case Errc::message_short: return "sesame application: message shorter than its op/item/result header";
      case Errc::unknown_op_code: return "sesame application: op code is neither 07 (response) nor 08 (publish)";
      case Errc::payload_length: return "sesame application: item payload has the wrong length";
      case Errc::tag_length: return "sesame application: history tag length byte runs past the payload";
      case Errc::history_record_short: return "sesame application: history record shorter than 16 bytes";
      case Errc::request_pending: return "sesame engine: a request for this item code is already in flight";
      case Errc::not_connected: return "sesame engine: not connected or INITIAL random code not received yet";
      case Errc::not_logged_in: return "sesame engine: command before login completed";
      case Errc::no_secret: return "sesame engine: login needs the 16-byte device secret";
      case Errc::already_registered: return "sesame engine: device is already registered (result 9); import its key and log in";
      case Errc::login_rejected: return "sesame engine: device rejected the login token";
      case Errc::registration_failed: return "sesame engine: registration response malformed or not successful";
      case Errc::invalid_public_key: return "sesame engine: peer public key is not a valid P-256 point";
      case Errc::timeout: return "sesame engine: deadline passed without the expected message";
      case Errc::session_ended: return "sesame engine: session ended; reconnect for a fresh session";
      case Errc::disconnected: return "sesame engine: link disconnected (session keys wiped)";
      case Errc::invalid_argument: return "sesame engine: argument out of range";
      case Errc::uri_scheme: return "sesame share URI: must start with ssm://UI?";
      case Errc::uri_parameter: return "sesame share URI: t must be sk and sk present; bad percent-encoding or level";
      case Errc::uri_base64: return "sesame share URI: sk is not valid base64 (a key); since Aug 2026 the app may "
                                    "share a server token instead, which cannot be decoded offline";
      case Errc::uri_key_format: return "sesame share URI: sk is neither an OS3 key (39 bytes) nor an OS2 key (99 bytes); "
                                        "since Aug 2026 the app may share a server token that cannot be decoded offline";
      case Errc::crypto_failure: return "sesame security: the crypto backend reported an error";
      case Errc::session_key_mismatch: return "sesame security: the lock's first encrypted message of this session "
                                              "failed its tag: the session keys differ (random code or secret wrong); "
                                              "session ended, reconnect";
      case Errc::no_answer: return "sesame engine: the first request of this session got no answer (the lock may "
                                   "not share this session key); session ended, reconnect";
      case Errc::uri_model: return "sesame share URI: the model byte is not a SESAME model code for this key layout "
                                   "(OS3 keys: models 5-36 except 12 and 34; OS2 keys: models 0-4)";
      case Errc::credential_length: return "sesame accessory: a card/fingerprint/passcode entry's id or name length "
                                           "runs past the payload, is zero or exceeds the maximum";
      case Errc::key_slot_length: return "sesame accessory: the key-slot list (item 102) is not a whole number of "
                                         "23-byte slots (or has too many)";
      case Errc::key_slot_garbled: return "sesame accessory: an OS2 key slot's name is not the base64 of a 16-byte UUID";
      case Errc::add_sesame_length: return "sesame accessory: ADD_SESAME payload is neither 32 bytes (OS3: uuid + "
                                           "secret) nor 102 bytes (OS2: base64 uuid + public key + secret)";
      case Errc::not_supported_by_model: return "sesame: this model has no such command (OS2: LOCK/TOGGLE need a lock or bot, CLICK a bot 1, "
                                                "UUID history tags an OS3 device)";
      case Errc::script_format: return "sesame bot 2: script or script list malformed (name length 1-20, at most 20 "
                                       "actions of codes 0-3, counts matching the bytes)";
    }
    return "sesame: unknown error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const SesameCategory instance;
  return instance;
}

std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), category()}; }

std::error_code wrap_foreign(std::error_code e) noexcept {
  if (!e || e.category() == category()) return e;
  if (e == crypto::Errc::authentication_failed) return Errc::authentication_failed;
  return Errc::crypto_failure;
}

}  // namespace blecrypt::sesame
