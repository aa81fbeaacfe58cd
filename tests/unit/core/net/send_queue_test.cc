#include "core/net/send_queue.h"

#include <gtest/gtest.h>

#include <string>

namespace ringcast {
namespace {

std::string Gathered(SendQueue& queue) {
  iovec iov[64];
  uint32_t n = queue.BeginSend(iov, 64);
  std::string out;
  for (uint32_t i = 0; i < n; ++i) out.append(static_cast<char*>(iov[i].iov_base), iov[i].iov_len);
  return out;
}

TEST(SendQueue, GathersAndConsumesAcrossFrameBoundaries) {
  SendQueue queue;
  EXPECT_TRUE(queue.empty());
  for (const char* text : {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot"}) {
    queue.Push(SharedFrame::Copy(text));
  }
  EXPECT_EQ(queue.count(), 6u);
  EXPECT_EQ(Gathered(queue), "alphabravocharliedeltaechofoxtrot");
  queue.Consume(3);  // Short write inside the first frame.
  EXPECT_EQ(Gathered(queue), "habravocharliedeltaechofoxtrot");
  queue.Consume(2 + 5 + 2);  // Ends inside "charlie".
  EXPECT_EQ(queue.count(), 4u);
  EXPECT_EQ(Gathered(queue), "arliedeltaechofoxtrot");
  EXPECT_EQ(queue.bytes(), 21u);
  queue.Consume(21);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
}

TEST(SendQueue, DropUnstartedKeepsPartlySentHead) {
  SendQueue queue;
  queue.Push(SharedFrame::Copy("head"));
  queue.Push(SharedFrame::Copy("tail1"));
  queue.Push(SharedFrame::Copy("tail2"));
  queue.Consume(1);
  queue.DropUnstarted();
  EXPECT_EQ(Gathered(queue), "ead");
  EXPECT_EQ(queue.bytes(), 3u);
  queue.Push(SharedFrame::Copy("close"));
  EXPECT_EQ(Gathered(queue), "eadclose");

  // Frames handed to a send in flight stay until it completes, even if none was written yet.
  SendQueue busy;
  busy.Push(SharedFrame::Copy("one"));
  busy.Push(SharedFrame::Copy("two"));
  busy.Push(SharedFrame::Copy("three"));
  iovec iov[2];
  ASSERT_EQ(busy.BeginSend(iov, 2), 2u);
  busy.DropUnstarted();
  EXPECT_EQ(busy.count(), 2u);
  busy.Consume(4);  // "one" and a byte of "two".
  EXPECT_EQ(Gathered(busy), "wo");

  SendQueue fresh;
  fresh.Push(SharedFrame::Copy("x"));
  fresh.DropUnstarted();
  EXPECT_TRUE(fresh.empty());
}

TEST(SendQueue, SharedFrameReleasedByLastQueue) {
  // Under ASan a leaked or double-freed frame fails this test.
  SharedFrame* frame = SharedFrame::EncodeMessage(ws::Opcode::kBinary, {});
  frame->AddRefs(2);
  SendQueue a, b, c;
  a.Push(frame);
  b.Push(frame);
  c.Push(frame);
  a.Consume(frame->size());
  b.Clear();
  EXPECT_EQ(c.bytes(), 2u);  // A 2-byte header, empty payload.
  c.Consume(2);
}

TEST(SendQueue, UnicastMessagesShareOneCorkUntilASendTakesIt) {
  SendQueue queue;
  const std::string payload(100, 'p');
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(payload.data()),
                                       payload.size());
  for (int i = 0; i < 10; ++i) queue.PushMessage(ws::Opcode::kText, bytes);
  EXPECT_EQ(queue.count(), 1u);  // One cork, ten frames.
  EXPECT_EQ(queue.bytes(), 10u * 102);
  std::string wire = Gathered(queue);  // Now in flight: the next message needs a new cork.
  ASSERT_EQ(wire.size(), 10u * 102);
  EXPECT_EQ(uint8_t(wire[0]), 0x81);  // FIN + text.
  EXPECT_EQ(uint8_t(wire[1]), 100);
  EXPECT_EQ(wire.substr(2, 100), payload);
  queue.PushMessage(ws::Opcode::kBinary, bytes);
  EXPECT_EQ(queue.count(), 2u);
  queue.Consume(10 * 102);
  EXPECT_EQ(queue.count(), 1u);
  // A shared frame in between seals the cork: order on the wire is kept.
  SharedFrame* shared = SharedFrame::Copy("S");
  queue.Push(shared);
  queue.PushMessage(ws::Opcode::kBinary, bytes);
  EXPECT_EQ(queue.count(), 3u);
  std::string all = Gathered(queue);
  EXPECT_EQ(all.size(), 102u + 1 + 102);
  EXPECT_EQ(all[102], 'S');
  // A message larger than a cork gets a cork of its own size.
  const std::string big(SendQueue::kCorkBytes * 2, 'b');
  SendQueue other;
  other.PushMessage(ws::Opcode::kBinary,
                    {reinterpret_cast<const uint8_t*>(big.data()), big.size()});
  EXPECT_EQ(other.bytes(), ws::HeaderSize(big.size(), false) + big.size());
}

TEST(SendQueue, GrowsPastInitialCapacityWithWrappedHead) {
  SendQueue queue;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 3; ++i) queue.Push(SharedFrame::Copy(std::to_string(i)));
    queue.Consume(2);
  }
  for (int i = 0; i < 20; ++i) queue.Push(SharedFrame::Copy("z"));
  EXPECT_EQ(Gathered(queue), "012" + std::string(20, 'z'));
  EXPECT_EQ(queue.count(), 23u);
}

}  // namespace
}  // namespace ringcast
