// SESAME application-message parsers (responses, publishes, requests, mech status/setting,
// history records and tags) and the share-URI parser: never crash; accepted values round-trip.
#include <cstdlib>
#include <string_view>

#include "blecrypt/sesame/messages.hpp"
#include "blecrypt/sesame/share_uri.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt;
  using namespace blecrypt::sesame;
  const ByteView in(data, size);
  if (auto m = parse_device_message(in)) {
    const Bytes again = m->is_response() ? encode_response(m->item, m->result, m->payload) : encode_publish(m->item, m->payload);
    if (again != Bytes(in.begin(), in.end())) std::abort();
  }
  if (auto r = parse_request(in); r && encode_request(r->item, r->payload) != Bytes(in.begin(), in.end())) std::abort();
  if (auto s = MechStatus::parse(in); s && MechStatus::parse(s->encode()).value() != *s) std::abort();
  if (auto s = MechSetting::parse(in); s && MechSetting::parse(s->encode()).value() != *s) std::abort();
  if (auto t = HistoryTag::parse(in); t && t->text.size() <= HistoryTag::kMaxTextBytes) {
    auto back = HistoryTag::parse(t->encode());
    if (!back || !(*back == *t)) std::abort();
    (void)t->describe();
  }
  if (auto r = HistoryRecord::parse(in); r && r->tag.text.size() <= HistoryTag::kMaxTextBytes) {
    auto back = HistoryRecord::parse(r->encode());
    if (!back || !(*back == *r)) std::abort();
  }
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto k = parse_share_uri(text); k && k->secret.size() != 16) std::abort();
  (void)base64_decode(text);
  return 0;
}
