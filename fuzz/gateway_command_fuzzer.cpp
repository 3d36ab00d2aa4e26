// MQTT command topics and payloads (src/gateway/mapping.cpp, entities.cpp, sesame_mapping.cpp):
// any bytes give a value or a typed error, for every entity of every model of the table. The
// same bytes as a unit's battery-pack registers (values the device chose) give a pack_details
// JSON or nothing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "blecrypt/gateway/entities.hpp"
#include "blecrypt/gateway/mapping.hpp"
#include "blecrypt/gateway/sesame_mapping.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt;
  // Bytes 0 and 1 pick the model and the entity; the rest up to a '\n' is a topic, after it the payload.
  if (size < 2) return 0;
  const auto all = bluetti::models::all();
  const auto& model = all[data[0] % all.size()];
  const auto entities = gateway::entities(model);
  if (entities.empty()) return 0;
  const auto& entity = entities[data[1] % entities.size()];
  const std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);
  const auto nl = rest.find('\n');
  const std::string_view topic = rest.substr(0, nl);
  (void)gateway::parse_command_topic(topic);
  const std::string_view payload = nl == std::string_view::npos ? rest : rest.substr(nl + 1);
  const ByteView bytes(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size());
  if (auto v = gateway::parse_command_payload(entity, bytes)) {
    (void)gateway::value_payload(*entity.command, *v);
    (void)bluetti::models::encode_write(*entity.command, *v);
  }
  // Battery packs: the payload's bytes as the registers of the model's pack reads.
  const auto packs = gateway::plan_packs(model);
  bluetti::RegisterValues regs;
  std::size_t i = 0;
  for (const auto& r : packs.reads)
    for (std::uint16_t k = 0; k < r.count && i + 1 < payload.size(); ++k, i += 2)
      regs[static_cast<std::uint16_t>(r.address + k)] =
          static_cast<std::uint16_t>(static_cast<std::uint8_t>(payload[i]) << 8 | static_cast<std::uint8_t>(payload[i + 1]));
  (void)gateway::pack_details_payload(packs, regs);
  (void)gateway::shown_pack(packs, data[1], regs);
  // SESAME sesame/<UUID>/set payloads.
  if (auto c = gateway::sesame_topics::parse_set_payload(blecrypt::sesame::model::sesame5, bytes)) (void)gateway::sesame_topics::command_name(*c);
  return 0;
}
