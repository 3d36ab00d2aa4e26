#include "support/vectors.hpp"

#include <fstream>
#include <stdexcept>

namespace blecrypt::test {

namespace {
nlohmann::json load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open vector file " + path);
  return nlohmann::json::parse(in);
}
}  // namespace

nlohmann::json load_vectors(const std::string& name) { return load_file(std::string(BLECRYPT_TEST_VECTORS_DIR) + "/" + name); }

Bytes hex(std::string_view h) {
  auto b = from_hex(h);
  if (!b) throw std::invalid_argument("bad hex in test data: " + std::string(h.substr(0, 40)));
  return *b;
}

Bytes hex_field(const nlohmann::json& v, const char* field) {
  if (!v.contains(field)) throw std::invalid_argument(std::string("vector lacks field ") + field);
  return hex(v.at(field).get<std::string>());
}

std::vector<const crypto::Backend*> backends() {
  auto all = crypto::all_backends();
  return {all.begin(), all.end()};
}

std::string backend_name(const ::testing::TestParamInfo<const crypto::Backend*>& info) {
  return std::string(info.param->name());
}

std::vector<BackendPair> backend_pairs() {
  std::vector<BackendPair> out;
  for (const auto* a : crypto::all_backends())
    for (const auto* b : crypto::all_backends()) out.emplace_back(a, b);
  return out;
}

std::string backend_pair_name(const ::testing::TestParamInfo<BackendPair>& info) {
  return std::string(info.param.first->name()) + "_vs_" + std::string(info.param.second->name());
}

}  // namespace blecrypt::test
