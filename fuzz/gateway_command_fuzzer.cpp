// MQTT command topics and payloads (src/gateway/mapping.cpp, sesame_mapping.cpp): any bytes give a
// value or a typed error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "blecrypt/gateway/mapping.hpp"
#include "blecrypt/gateway/sesame_mapping.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace blecrypt;
  // First byte picks the field; the rest up to a '\n' is a topic, after it the payload.
  if (size == 0) return 0;
  const auto& table = gateway::field_table(data[0] & 1 ? bluetti::Protocol::iot_v2 : bluetti::Protocol::iot_v1);
  const auto& field = table.fields[data[0] % table.fields.size()];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto nl = rest.find('\n');
  const std::string_view topic = rest.substr(0, nl);
  (void)gateway::parse_command_topic(topic);
  const std::string_view payload = nl == std::string_view::npos ? rest : rest.substr(nl + 1);
  auto v = gateway::parse_command_payload(field, ByteView(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()));
  if (v) (void)gateway::format_state(field, *v);
  gateway::Field scaled = field;
  scaled.type = gateway::FieldType::numeric;
  scaled.write_address = 1;
  scaled.max = 65535;
  scaled.divisor = 100;
  auto n = gateway::parse_command_payload(scaled, ByteView(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()));
  if (n) (void)gateway::format_state(scaled, *n);
  // SESAME sesame/<UUID>/set payloads.
  if (auto c = gateway::sesame_topics::parse_set_payload(blecrypt::sesame::model::sesame5,
                                                         ByteView(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size())))
    (void)gateway::sesame_topics::command_name(*c);
  return 0;
}
