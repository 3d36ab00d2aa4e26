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
    case 18: return "SESAME Face Pro";
    case 19: return "SESAME Face";
    case 20: return "SESAME 6";
    case 21: return "SESAME 6 Pro";
    case 22: return "SESAME Face Pro AI";
    case 23: return "SESAME Face AI";
    case 24: return "SESAME Open Sensor 2";
    case 25: return "SESAME Touch 2";
    case 26: return "SESAME Touch 2 Pro";
    case 27: return "SESAME Face 2";
    case 28: return "SESAME Face 2 Pro";
    case 29: return "SESAME MIWA";
    case 30: return "SESAME Face 2 AI";
    case 31: return "SESAME Face 2 Pro AI";
    case 32: return "SESAME 6 Pro sliding door";
    case 33: return "SESAME Bike 3";
    case 35: return "SESAME bot 3";
    case 36: return "SESAME Hub 3 LTE";
    default: return "model " + std::to_string(m);
  }
}

bool is_os3_lock(std::uint16_t m) { return m == model::sesame5 || m == model::sesame5_pro || m == model::sesame5_us; }

bool is_os2(std::uint16_t m) { return m == model::sesame3 || m == model::bot1 || m == model::bike1 || m == model::sesame4; }

bool is_lock_with_motor(std::uint16_t m) {
  return is_os3_lock(m) || m == model::sesame6 || m == model::sesame6_pro || m == model::sesame_miwa ||
         m == model::sesame6_pro_sliding_door;
}

bool is_bot_or_bike(std::uint16_t m) {
  return m == model::bike2 || m == model::bot2 || m == model::bike3 || m == model::bot3;
}

bool is_credential_accessory(std::uint16_t m) {
  switch (m) {
    case model::touch_pro: case model::touch: case model::face_pro: case model::face: case model::face_pro_ai:
    case model::face_ai: case model::touch2: case model::touch2_pro: case model::face2: case model::face2_pro:
    case model::face2_ai: case model::face2_pro_ai:
      return true;
    default:
      return false;
  }
}

bool is_key_accessory(std::uint16_t m) {
  return is_credential_accessory(m) || m == model::remote || m == model::remote_nano || m == model::open_sensor ||
         m == model::open_sensor2;
}

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
