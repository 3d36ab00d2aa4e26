#include "blecrypt/sesame/advertisement.hpp"

#include <algorithm>
#include <iterator>

namespace blecrypt::sesame {

Result<Advertisement> parse_manufacturer_data(ByteView data) {
  if (data.size() < 2 || load_le16(data.data()) != kCompanyId) return Errc::not_sesame;
  if (data.size() < kManufacturerDataSize) return Errc::manufacturer_data_short;
  Advertisement adv;
  adv.model = load_le16(data.data() + 2);
  adv.status = data[4];
  adv.registered = (adv.status & 0x01) != 0;
  adv.has_history = (adv.status & 0x02) != 0;
  std::copy_n(data.begin() + 5, 16, adv.uuid.begin());
  return adv;
}

Result<Advertisement> parse_advertisement(ByteView ad) {
  std::size_t off = 0;
  bool short_found = false;
  while (off < ad.size()) {
    const std::size_t len = ad[off];
    if (len == 0) break;  // zero padding ends the significant part
    if (off + 1 + len > ad.size()) return Errc::ad_malformed;
    const std::uint8_t type = ad[off + 1];
    if (type == 0xFF) {
      auto r = parse_manufacturer_data(ad.subspan(off + 2, len - 1));
      if (r) return r;
      if (r.error() == Errc::manufacturer_data_short) short_found = true;
    }
    off += 1 + len;
  }
  if (short_found) return Errc::manufacturer_data_short;
  return Errc::not_sesame;
}

Bytes build_manufacturer_data(const Advertisement& adv) {
  Bytes out(kManufacturerDataSize);
  store_le16(out.data(), kCompanyId);
  store_le16(out.data() + 2, adv.model);
  std::uint8_t status = static_cast<std::uint8_t>(adv.status & ~0x03u);
  if (adv.registered) status |= 0x01;
  if (adv.has_history) status |= 0x02;
  out[4] = status;
  std::copy(adv.uuid.begin(), adv.uuid.end(), out.begin() + 5);
  return out;
}

Bytes build_advertisement(const Advertisement& adv) {
  static constexpr std::uint8_t head[] = {0x02, 0x01, 0x06, 0x03, 0x03, 0x81, 0xFD,
                                          static_cast<std::uint8_t>(kManufacturerDataSize + 1), 0xFF};
  const Bytes mfr = build_manufacturer_data(adv);
  Bytes out(sizeof head + mfr.size());
  std::copy(std::begin(head), std::end(head), out.begin());
  std::copy(mfr.begin(), mfr.end(), out.begin() + sizeof head);
  return out;
}

std::string model_name(std::uint16_t m) {
  switch (m) {
    case 0: return "SESAME 3";
    case 1: return "WiFi Module 2";
    case 2: return "SESAME bot";
    case 3: return "SESAME Bike";
    case 4: return "SESAME 4";
    case 5: return "SESAME 5";
    case 6: return "SESAME Bike 2";
    case 7: return "SESAME 5 Pro";
    case 8: return "SESAME Open Sensor";
    case 9: return "SESAME Touch Pro";
    case 10: return "SESAME Touch";
    case 11: return "SESAME BLE Connector";
    case 13: return "SESAME Hub 3";
    case 14: return "Remote";
    case 15: return "Remote nano";
    case 16: return "SESAME 5 US";
    case 17: return "SESAME bot 2";
    default: return "model " + std::to_string(m);
  }
}

bool is_os3_lock(std::uint16_t m) { return m == model::sesame5 || m == model::sesame5_pro || m == model::sesame5_us; }

std::string uuid_to_string(const Uuid& uuid) {
  const std::string h = to_hex(uuid);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

Result<Uuid> uuid_from_string(std::string_view text) {
  std::string compact;
  for (char c : text)
    if (c != '-') compact.push_back(c);
  auto b = from_hex(compact);
  if (!b || b->size() != 16) return Errc::invalid_argument;
  Uuid u{};
  std::copy(b->begin(), b->end(), u.begin());
  return u;
}

}  // namespace blecrypt::sesame
