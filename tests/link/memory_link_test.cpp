// The link seam with toy engines: Wire splitting and tampering, MemoryLink + Session (subscribe
// before start, writes split to MTU - 3, notifications, link loss, transport errors) and Pipe
// (traffic, deadlines in order, coalescing).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "blecrypt/engine.hpp"
#include "blecrypt/link/memory_link.hpp"
#include "blecrypt/link/pipe.hpp"
#include "blecrypt/link/session.hpp"

namespace blecrypt::link {
namespace {

using namespace std::chrono_literals;

// A toy protocol: the peripheral greets on link up, answers each message with its reverse, and
// sends "tick" at its deadline; the central records what it gets.
struct Toy {
  struct Up {};
  struct Down {};
  struct Got {
    Bytes data;
  };
  using Event = std::variant<Up, Down, Got>;

  explicit Toy(bool is_peripheral = false) : peripheral(is_peripheral) {}

  bool peripheral = false;
  Fifo<Bytes> tx;
  Fifo<Event> ev;
  std::optional<TimePoint> deadline;
  std::vector<TimePoint> fired;
  bool up = false;

  void on_link_up(TimePoint) {
    up = true;
    ev.push_back(Up{});
    if (peripheral) tx.push_back(Bytes{'h', 'i'});
  }
  void on_link_down() {
    up = false;
    deadline.reset();
    ev.push_back(Down{});
  }
  Result<void> feed(ByteView in, TimePoint) {
    if (in.empty()) return Errc::value_too_long;  // any error will do for the test
    if (peripheral) tx.push_back(Bytes(in.rbegin(), in.rend()));
    ev.push_back(Got{Bytes(in.begin(), in.end())});
    return ok();
  }
  std::optional<Bytes> poll_transmit() { return tx.empty() ? std::nullopt : std::optional<Bytes>(tx.take()); }
  std::optional<Event> poll_event() { return ev.empty() ? std::nullopt : std::optional<Event>(ev.take()); }
  std::optional<TimePoint> next_deadline() const { return deadline; }
  void on_deadline(TimePoint now) {
    if (!deadline || now < *deadline) return;
    fired.push_back(*deadline);
    deadline.reset();
    tx.push_back(Bytes{'t', 'i', 'c', 'k'});
  }
  void reset() { *this = Toy(peripheral); }
};
static_assert(Engine<Toy>);

constexpr GattProfile kToyProfile{"toy", "0000aa00-0000-1000-8000-00805f9b34fb", "0000aa02-0000-1000-8000-00805f9b34fb",
                                  "0000aa01-0000-1000-8000-00805f9b34fb", WriteType::without_response};

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST(Wire, SplitsIntoPdusAndCounts) {
  Wire w(20);
  Bytes msg(45);
  for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<std::uint8_t>(i);
  w.send(msg);
  Bytes joined;
  std::vector<std::size_t> sizes;
  while (auto pdu = w.receive()) {
    sizes.push_back(pdu->size());
    append(joined, *pdu);
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{20, 20, 5}));
  EXPECT_EQ(joined, msg);
  EXPECT_EQ(w.pdus_carried(), 3u);
  EXPECT_EQ(w.bytes_carried(), 45u);
}

TEST(Wire, TamperSeesEveryPduAndMayDropIt) {
  Wire w(2);
  std::vector<std::size_t> seen;
  w.set_tamper([&](std::size_t i, Bytes& pdu) {
    seen.push_back(i);
    if (i == 1) pdu.clear();
    else pdu[0] ^= 0xFF;
  });
  w.send(Bytes{1, 2, 3, 4, 5});
  EXPECT_EQ(seen, (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(*w.receive(), (Bytes{0xFE, 2}));
  EXPECT_EQ(*w.receive(), (Bytes{0xFA}));
  EXPECT_FALSE(w.receive());
}

struct SessionOverMemory : ::testing::Test {
  Toy central, peripheral{true};
  EngineIoRef<Toy> io{peripheral};
  MemoryLink link{io, kToyProfile, 23, "toy link"};
  Session<Toy> session{central, link, kToyProfile};
  TimePoint now = time_from_seconds(10);

  std::vector<Session<Toy>::Event> events() {
    std::vector<Session<Toy>::Event> out;
    while (auto e = session.poll_event()) out.push_back(std::move(*e));
    return out;
  }
  std::vector<Bytes> received() {
    std::vector<Bytes> out;
    for (auto& e : events())
      if (auto* engine_event = std::get_if<Toy::Event>(&e))
        if (auto* got = std::get_if<Toy::Got>(engine_event)) out.push_back(got->data);
    return out;
  }
};

TEST_F(SessionOverMemory, StartsBothEndsOnlyOnceNotificationsAreOn) {
  EXPECT_FALSE(session.up());
  link.connect(now);
  EXPECT_TRUE(session.up());
  EXPECT_TRUE(central.up);
  EXPECT_TRUE(peripheral.up);
  auto ev = events();
  ASSERT_GE(ev.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<events::LinkUp>(ev[0]));
  EXPECT_EQ(received(), std::vector<Bytes>{});  // the greeting was in `ev`
  bool greeted = false;
  for (auto& e : ev)
    if (auto* te = std::get_if<Toy::Event>(&e))
      if (auto* got = std::get_if<Toy::Got>(te)) greeted = got->data == text("hi");
  EXPECT_TRUE(greeted);
}

TEST_F(SessionOverMemory, WritesAreSplitToTheAttPayloadAndAnswersArriveAsNotifications) {
  link.connect(now);
  events();
  const Bytes msg = text("a message longer than twenty bytes, split by the runner");
  central.tx.push_back(msg);
  session.flush(now);
  link.pump(now);
  // The peripheral saw ATT-sized writes; it answered each with its reverse.
  std::vector<Bytes> writes;
  while (auto e = peripheral.poll_event())
    if (auto* got = std::get_if<Toy::Got>(&*e)) writes.push_back(got->data);
  ASSERT_EQ(writes.size(), 3u);
  Bytes joined;
  for (auto& w : writes) {
    EXPECT_LE(w.size(), 20u);
    append(joined, w);
  }
  EXPECT_EQ(joined, msg);
  EXPECT_EQ(received().size(), 3u);
  EXPECT_EQ(link.to_peripheral().pdus_carried(), 3u);
}

TEST_F(SessionOverMemory, LinkLossTellsTheEngineAndTheApplication) {
  link.connect(now);
  events();
  link.disconnect(now);
  EXPECT_FALSE(session.up());
  EXPECT_FALSE(central.up);
  EXPECT_FALSE(peripheral.up);
  auto ev = events();
  ASSERT_FALSE(ev.empty());
  auto* down = std::get_if<events::LinkDown>(&ev[0]);
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->why, make_error_code(Errc::disconnected));
  // Nothing queued while down reaches the wire; a write is refused by the link.
  central.tx.push_back(text("late"));
  session.flush(now);
  EXPECT_EQ(link.write(kToyProfile.write_characteristic, text("x"), WriteType::without_response).error(),
            make_error_code(Errc::not_connected));
}

TEST_F(SessionOverMemory, TransportErrorsAndRefusedInputBecomeEvents) {
  link.connect(now);
  events();
  EXPECT_EQ(link.write(kToyProfile.write_characteristic, Bytes(21), WriteType::without_response).error(),
            make_error_code(Errc::value_too_long));
  EXPECT_EQ(link.write("0000ffff-0000-1000-8000-00805f9b34fb", text("x"), WriteType::without_response).error(),
            make_error_code(Errc::no_such_characteristic));
  session.on_notification(kToyProfile.notify_characteristic, ByteView{}, now);  // the toy refuses empty input
  auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<events::InputRefused>(ev[0]));
}

TEST_F(SessionOverMemory, EventHandlerReceivesEventsAsTheyHappen) {
  std::vector<std::size_t> kinds;
  session.set_event_handler([&](Session<Toy>::Event&& e) { kinds.push_back(e.index()); });
  link.connect(now);
  ASSERT_FALSE(kinds.empty());
  EXPECT_EQ(kinds.front(), 0u);  // LinkUp
  EXPECT_FALSE(session.poll_event());
}

TEST(Pipe, MovesTrafficAndFiresDeadlinesInOrder) {
  Toy c, p{true};
  Pipe pipe(c, p, 4);
  pipe.connect();
  std::vector<Bytes> got;
  while (auto e = c.poll_event())
    if (auto* g = std::get_if<Toy::Got>(&*e)) got.push_back(g->data);
  EXPECT_EQ(got, std::vector<Bytes>{text("hi")});
  const TimePoint t0 = pipe.now;
  p.deadline = t0 + 5s;
  c.deadline = t0 + 2s;
  pipe.advance(3s);
  EXPECT_EQ(c.fired, std::vector<TimePoint>{t0 + 2s});
  EXPECT_TRUE(p.fired.empty());
  EXPECT_EQ(pipe.now, t0 + 3s);
  pipe.run_deadlines();
  EXPECT_EQ(p.fired, std::vector<TimePoint>{t0 + 5s});
  EXPECT_EQ(pipe.now, t0 + 5s);
  // The central's "tick" (split into 4-byte PDUs) was answered by the peripheral.
  std::vector<Bytes> answers;
  while (auto e = c.poll_event())
    if (auto* g = std::get_if<Toy::Got>(&*e)) answers.push_back(g->data);
  EXPECT_EQ(answers, (std::vector<Bytes>{text("kcit"), text("tick")}));
}

TEST(Pipe, CoalescesPeripheralMessagesAndReportsRefusals) {
  Toy c, p{true};
  Pipe pipe(c, p);
  pipe.coalesce = true;
  int refused = 0;
  pipe.on_refused = [&](bool central_side, std::error_code) { refused += central_side ? 1 : 100; };
  pipe.connect();
  while (c.poll_event()) {
  }
  p.tx.push_back(text("ab"));
  p.tx.push_back(text("cd"));
  pipe.pump();
  std::vector<Bytes> got;
  while (auto e = c.poll_event())
    if (auto* g = std::get_if<Toy::Got>(&*e)) got.push_back(g->data);
  EXPECT_EQ(got, std::vector<Bytes>{text("abcd")});
  pipe.to_central.send_pdu(Bytes{});
  pipe.to_central.set_tamper([](std::size_t, Bytes& pdu) { pdu = Bytes{}; });
  pipe.pump();
  EXPECT_EQ(refused, 1);
  pipe.disconnect();
  EXPECT_FALSE(c.up);
  EXPECT_FALSE(p.up);
}

}  // namespace
}  // namespace blecrypt::link
