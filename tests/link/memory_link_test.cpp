#include <gtest/gtest.h>

#include "blecrypt/link/memory_link.hpp"

namespace blecrypt::link {
namespace {

TEST(MemoryLink, SplitsMessagesIntoAttPayloads) {
  MemoryLink link;  // MTU 23 -> 20-byte payloads
  ASSERT_EQ(link.payload_size(), 20u);
  Bytes msg(45);
  for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<std::uint8_t>(i);
  link.write(msg);
  Bytes joined;
  std::vector<std::size_t> sizes;
  while (auto pdu = link.next_for_peripheral()) {
    sizes.push_back(pdu->size());
    append(joined, *pdu);
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{20, 20, 5}));
  EXPECT_EQ(joined, msg);
  EXPECT_FALSE(link.next_for_central());
}

TEST(MemoryLink, KeepsDirectionsApartAndOrder) {
  MemoryLink link(247);
  link.notify(Bytes{1});
  link.notify(Bytes{2});
  link.write(Bytes{3});
  EXPECT_EQ(*link.next_for_central(), Bytes{1});
  EXPECT_EQ(*link.next_for_peripheral(), Bytes{3});
  EXPECT_EQ(*link.next_for_central(), Bytes{2});
  EXPECT_TRUE(link.idle());
  EXPECT_EQ(link.pdus_carried(), 3u);
}

TEST(MemoryLink, DisconnectDropsInFlightPdus) {
  MemoryLink link;
  link.write(Bytes(50));
  link.disconnect();
  EXPECT_TRUE(link.idle());
}

}  // namespace
}  // namespace blecrypt::link
