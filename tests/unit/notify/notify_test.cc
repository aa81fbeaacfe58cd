// The notifier's pure parts: the webhook signature (checked against an HMAC computed by
// Python's hmac module, as a receiver would: notify/README.md), the idempotency key, the
// notification document, and which names a body mentions (storage/mentions.h).
#include <gtest/gtest.h>

#include "notify/notification_json.h"
#include "notify/notifier.h"
#include "notify/webhook_sink.h"
#include "storage/mentions.h"

namespace ringcast::notify {
namespace {

TEST(WebhookSignature, IsHmacSha256OfTimestampDotBody) {
  // python3 -c 'import hmac,hashlib; print(hmac.new(b"secret", b"1700000000.{\"a\":1}",
  //                                                 hashlib.sha256).hexdigest())'
  EXPECT_EQ(WebhookSignature("secret", 1700000000, R"({"a":1})"),
            "t=1700000000,v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686");
}

TEST(IdempotencyKey, DependsOnRecipientConversationAndNewestSeqOnly) {
  EXPECT_EQ(IdempotencyKey(42, 7, 19), "rcn1-42-7-19");
  storage::DueNotification due;
  due.user = 42;
  due.conv = 7;
  due.covered_seq = 19;
  due.count = 3;
  due.latest.seq = 19;
  due.latest.body = "hi \"there\"";
  due.mentions = 1;
  const Notification n = MakeNotification(due);
  EXPECT_EQ(n.idempotency_key, "rcn1-42-7-19");
  EXPECT_TRUE(n.mention);
  const std::string json = NotificationJson(n);
  EXPECT_NE(json.find(R"("count":3,"mention":true)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("body":"hi \"there\"")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("name":null)"), std::string::npos) << json;
}

TEST(MentionedNames, FindsAtNamesNotEmailsAndDropsTrailingDots) {
  using storage::MentionedNames;
  EXPECT_EQ(MentionedNames("hi @Bob and @carol.x, thanks @dave."),
            (std::vector<std::string>{"bob", "carol.x", "dave"}));
  EXPECT_TRUE(MentionedNames("mail bob@example.com or @ alone or @@").empty());
  EXPECT_EQ(MentionedNames("@bob @BOB (@bob)"), (std::vector<std::string>{"bob"}));
  // Longer than any username: no mention (not its first 32 characters).
  EXPECT_TRUE(MentionedNames("@" + std::string(33, 'a')).empty());
  std::string many;
  for (int i = 0; i < 30; ++i) many += "@u" + std::to_string(i) + " ";
  EXPECT_EQ(MentionedNames(many).size(), storage::kMaxMentionNames);
}

}  // namespace
}  // namespace ringcast::notify
