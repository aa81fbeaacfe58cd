// DeliveryMail: the chat's fan-out mail carries its payload in the Mail's words, so posting one
// allocates nothing (issue 24). Its own binary (tests/CMakeLists.txt): the global operator new
// below counts every allocation made through new in it, which the other unit tests need not.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "chat/frame_ref.h"
#include "chat/owners/delivery_mail.h"
#include "chat/service.h"
#include "core/runtime/spsc_queue.h"

namespace {
std::atomic<uint64_t> news{0};
}  // namespace

void* operator new(size_t size) {
  news.fetch_add(1, std::memory_order_relaxed);
  if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
  throw std::bad_alloc();
}
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, size_t) noexcept { std::free(memory); }

namespace ringcast::chat {
namespace {

constexpr int kDeliveries = 1000;

SharedFrame* Frame(std::string_view text) { return EncodeText(text); }

uint64_t NewsDuring(auto&& work) {
  const uint64_t before = news.load();
  work();
  return news.load() - before;
}

TEST(DeliveryMail, PostingDeliveriesAllocatesNothing) {
  SpscQueue<Mail> queue(4096);  // The pair's queue, as Shard::Post fills it.
  SharedFrame* frame = Frame(R"({"type":"message"})");
  frame->AddRefs(kDeliveries - 1);  // One reference per mail, as Publish takes them.
  const uint64_t allocations = NewsDuring([&] {
    for (int i = 0; i < kDeliveries; ++i) {
      Delivery delivery{.conv = 7, .seq = i + 1, .frame = frame, .published_us = 1000};
      ASSERT_TRUE(queue.TryPush(DeliveryMail::Pack(delivery)));
    }
  });
  EXPECT_EQ(allocations, 0u);
  for (int i = 0; i < kDeliveries; ++i) {
    Mail mail;
    ASSERT_TRUE(queue.TryPop(&mail));
    Delivery delivery = DeliveryMail::Unpack(mail, 1250);
    EXPECT_EQ(delivery.conv, 7);
    EXPECT_EQ(delivery.seq, i + 1);
    EXPECT_EQ(delivery.frame, frame);
    EXPECT_EQ(delivery.published_us, 1000);
    EXPECT_TRUE(delivery.ack.empty());
    delivery.frame->Release();
  }
}

// What the same deliveries cost as generic tasks (ChatService::Post before issue 24): the
// counter sees them, so the zero above is not the counter missing allocations.
TEST(DeliveryMail, GenericTasksAllocateEach) {
  SharedFrame* frame = Frame("{}");
  std::vector<std::unique_ptr<ShardTask>> tasks;
  tasks.reserve(kDeliveries);
  const uint64_t allocations = NewsDuring([&] {
    for (int i = 0; i < kDeliveries; ++i) {
      tasks.push_back(std::make_unique<ShardTask>(
          [conv = int64_t{7}, seq = int64_t(i + 1), except_user = int64_t{0}, droppable = false,
           published_us = int64_t{1000}, frame, ack_to = ConnId{},
           ack = std::string()](ChatShard&) mutable {
            (void)conv, (void)seq, (void)except_user, (void)droppable, (void)published_us,
                (void)frame, (void)ack_to, (void)ack;
          }));
    }
  });
  EXPECT_GE(allocations, uint64_t{kDeliveries});
  frame->Release();
}

TEST(DeliveryMail, EventsCarryTheUserTheySkip) {
  SharedFrame* frame = Frame("{}");
  frame->AddRefs(1);
  Delivery typing{.conv = 3, .except_user = 42, .droppable = true, .frame = frame};
  Delivery receipt{.conv = 3, .frame = frame};
  const Mail typing_mail = DeliveryMail::Pack(typing);
  const Mail receipt_mail = DeliveryMail::Pack(receipt);
  EXPECT_NE(typing_mail.run, receipt_mail.run);
  Delivery out = DeliveryMail::Unpack(typing_mail, 99);
  EXPECT_EQ(out.conv, 3);
  EXPECT_EQ(out.seq, 0);
  EXPECT_EQ(out.except_user, 42);
  EXPECT_TRUE(out.droppable);
  out = DeliveryMail::Unpack(receipt_mail, 99);
  EXPECT_EQ(out.except_user, 0);
  EXPECT_FALSE(out.droppable);
  DeliveryMail::Release(typing_mail);
  DeliveryMail::Release(receipt_mail);
}

// The ack rides in one allocation per send (the ride), whose text is moved, not copied.
TEST(DeliveryMail, TheAckRidesWithOneAllocation) {
  SharedFrame* frame = Frame("{}");
  const std::string ack(200, 'a');
  Delivery delivery{.conv = 5, .seq = 9, .frame = frame, .published_us = 10, .ack = ack};
  delivery.ack_to = ConnId{1, 2, 3};
  Mail mail;
  EXPECT_EQ(NewsDuring([&] { mail = DeliveryMail::Pack(delivery); }), 1u);
  Delivery out = DeliveryMail::Unpack(mail, 20);
  EXPECT_EQ(out.seq, 9);
  EXPECT_EQ(out.frame, frame);
  EXPECT_EQ(out.ack, ack);
  EXPECT_EQ(out.ack_to, (ConnId{1, 2, 3}));
  EXPECT_EQ(out.published_us, 10);
  out.frame->Release();
}

// The publish time travels as 32 bits: a latency is right across their wrap.
TEST(DeliveryMail, PublishTimeSurvivesTheStampsWrap) {
  SharedFrame* frame = Frame("{}");
  const int64_t published = (int64_t{5} << 32) - 300;  // 300 µs before the low bits wrap.
  Delivery delivery{.conv = 1, .seq = 1, .frame = frame, .published_us = published};
  const Mail mail = DeliveryMail::Pack(delivery);
  EXPECT_EQ(DeliveryMail::Unpack(mail, published + 700).published_us, published);
  DeliveryMail::Release(mail);
}

}  // namespace
}  // namespace ringcast::chat
