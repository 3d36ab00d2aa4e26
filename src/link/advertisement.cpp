#include "blecrypt/link/advertisement.hpp"

#include <array>
#include <cctype>

#include "blecrypt/bluetti/protocol.hpp"
#include "blecrypt/sesame/advertisement.hpp"

namespace blecrypt::link {
namespace {

// BLUETTI model names (as sold); an advertised name is the model followed by the serial digits,
// the layout bluetti_mqtt matches when it recognises a unit by name.
constexpr std::array<std::string_view, 24> kBluettiModels = {
    "AC2A",  "AC50B", "AC60",   "AC60P",  "AC70",   "AC70P",  "AC180", "AC180P",
    "AC200L", "AC200M", "AC200MAX", "AC200P", "AC200PL", "AC300", "AC500", "EB3A",
    "EP500", "EP500P", "EP600", "EP760", "EP800", "EL30V2", "EL100V2", "HANDSFREE1",
};

constexpr std::size_t kMaxAdField = 253;  // one AD structure: length byte <= 255, type + data

void append_ad(Bytes& ad, std::uint8_t type, ByteView data) {
  if (data.size() > kMaxAdField) return;
  ad.push_back(static_cast<std::uint8_t>(data.size() + 1));
  ad.push_back(type);
  ad.insert(ad.end(), data.begin(), data.end());
}

}  // namespace

std::string bluetti_model_from_name(std::string_view name) {
  std::string_view best;
  for (auto m : kBluettiModels)
    if (name.size() >= m.size() && name.substr(0, m.size()) == m && m.size() > best.size()) best = m;
  if (!best.empty()) return std::string(best);
  std::size_t end = name.size();
  while (end > 0 && std::isdigit(static_cast<unsigned char>(name[end - 1]))) --end;
  if (name.size() - end < 8) return {};
  std::string model(name.substr(0, end));
  for (char c : model)
    if (!std::isalnum(static_cast<unsigned char>(c))) return {};
  return model;
}

AdvertisementInfo classify(std::string_view name, const ManufacturerData& manufacturer_data,
                           const ServiceData& /*service_data*/) {
  AdvertisementInfo info;
  // SESAME first: its manufacturer data has a fixed company id and a strict layout.
  if (auto it = manufacturer_data.find(sesame::kCompanyId); it != manufacturer_data.end()) {
    Bytes md{static_cast<std::uint8_t>(sesame::kCompanyId & 0xFF), static_cast<std::uint8_t>(sesame::kCompanyId >> 8)};
    md.insert(md.end(), it->second.begin(), it->second.end());
    if (auto a = sesame::parse_manufacturer_data(md)) {
      info.protocol = Protocol::sesame;
      info.model = sesame::model_name(a->model);
      info.registered = a->registered;
      info.has_history = a->has_history;
      return info;
    }
  }
  // BLUETTI: rebuild the AD structures BlueZ took apart and let the BLUETTI parser decide.
  Bytes ad;
  if (!name.empty() && name.size() <= kMaxAdField)
    append_ad(ad, 0x09, ByteView(reinterpret_cast<const std::uint8_t*>(name.data()), name.size()));
  for (const auto& [company, data] : manufacturer_data) {
    if (data.size() + 2 > kMaxAdField) continue;
    Bytes field{static_cast<std::uint8_t>(company & 0xFF), static_cast<std::uint8_t>(company >> 8)};
    field.insert(field.end(), data.begin(), data.end());
    append_ad(ad, 0xFF, field);
  }
  if (auto a = bluetti::classify_advertisement(ad); a && a->kind != bluetti::LinkKind::not_bluetti) {
    info.protocol = Protocol::bluetti;
    info.encrypted = a->kind == bluetti::LinkKind::encrypted;
    info.model = bluetti_model_from_name(name);
  }
  return info;
}

const char* protocol_name(Protocol p) noexcept {
  switch (p) {
    case Protocol::bluetti: return "bluetti";
    case Protocol::sesame: return "sesame";
    case Protocol::other: break;
  }
  return "other";
}

}  // namespace blecrypt::link
