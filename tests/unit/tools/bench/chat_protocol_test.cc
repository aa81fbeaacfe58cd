#include "tools/bench/chat_protocol.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <set>
#include <string>

namespace ringcast::bench {
namespace {

std::span<const uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

TEST(ChatStampTest, RoundTripsAndFitsTheCidLimit) {
  ChatStamp stamp;
  stamp.publisher = UINT32_MAX;
  stamp.sequence = UINT64_MAX;
  stamp.intended_ns = INT64_MAX;
  stamp.step = UINT16_MAX;
  stamp.measured = true;
  char buf[kChatStampMax];
  const size_t n = WriteChatStamp(buf, stamp);
  EXPECT_LE(n, kChatStampMax);
  ChatStamp back;
  ASSERT_TRUE(ReadChatStamp({buf, n}, &back));
  EXPECT_EQ(back.publisher, stamp.publisher);
  EXPECT_EQ(back.sequence, stamp.sequence);
  EXPECT_EQ(back.intended_ns, stamp.intended_ns);
  EXPECT_EQ(back.step, stamp.step);
  EXPECT_TRUE(back.measured);

  stamp = ChatStamp{7, 42, 123456789, 3, false};
  const size_t m = WriteChatStamp(buf, stamp);
  EXPECT_EQ(std::string_view(buf, m), "7.42.123456789.3w");
  // A body: the stamp ends at the first space.
  ASSERT_TRUE(ReadChatStamp("7.42.123456789.3w xxxx", &back));
  EXPECT_EQ(back.sequence, 42u);
  EXPECT_FALSE(back.measured);
}

TEST(ChatStampTest, RejectsWhatItDidNotWrite) {
  ChatStamp s;
  for (std::string_view bad :
       {"", "hello", "1.2.3.4", "1.2.3.4x", "1.2.3m", "1..3.4m", "-1.2.3.4m", "1.2.3.4.5m",
        "1.2.3.70000m", "99999999999.2.3.4m", "1.2.99999999999999999999.4m", " 1.2.3.4m"}) {
    EXPECT_FALSE(ReadChatStamp(bad, &s)) << bad;
  }
}

TEST(ChatSendTest, IsValidJsonWithTheExactBodySize) {
  std::string out;
  const ChatStamp stamp{12, 3, 987654321, 1, true};
  AppendChatSend(&out, 77, stamp, 100);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(out);
  EXPECT_EQ(std::string_view(doc["type"]), "send");
  EXPECT_EQ(uint64_t(doc["conv"]), 77u);
  EXPECT_EQ(std::string_view(doc["cid"]), "12.3.987654321.1m");
  const std::string_view body = doc["body"];
  EXPECT_EQ(body.size(), 100u);
  ChatStamp back;
  ASSERT_TRUE(ReadChatStamp(body, &back));
  EXPECT_EQ(back.intended_ns, 987654321);
}

TEST(ChatEventParserTest, ReadsTheEventsTheToolUses) {
  ChatEventParser parser;
  ChatEvent e;
  std::string error;
  ASSERT_TRUE(parser.Parse(Bytes(R"({"type":"hello","user":5,"presence":[{"user":6,)"
                                 R"("status":"online","last_online":null}]})"),
                           &e, &error))
      << error;
  EXPECT_EQ(e.type, ChatEventType::kHello);
  EXPECT_EQ(e.user, 5u);

  ASSERT_TRUE(parser.Parse(
      Bytes(R"({"type":"ack","cid":"1.2.3.4m","conv":9,"id":100,"seq":3,"ts":1700000000000})"), &e,
      &error));
  EXPECT_EQ(e.type, ChatEventType::kAck);
  EXPECT_EQ(e.cid, "1.2.3.4m");
  EXPECT_EQ(e.conv, 9u);
  EXPECT_EQ(e.seq, 3u);

  // Field order is not assumed; escapes in the body are undone.
  ASSERT_TRUE(parser.Parse(Bytes(R"({"body":"a\"b","type":"message","conv":9,"id":100,"seq":3,)"
                                 R"("from":4,"kind":"text","ts":1})"),
                           &e, &error));
  EXPECT_EQ(e.type, ChatEventType::kMessage);
  EXPECT_EQ(e.body, "a\"b");
  EXPECT_EQ(e.from, 4u);
  EXPECT_EQ(e.id, 100u);

  ASSERT_TRUE(parser.Parse(
      Bytes(R"({"type":"error","code":"rate_limited","message":"slow down","cid":"x"})"), &e,
      &error));
  EXPECT_EQ(e.type, ChatEventType::kError);
  EXPECT_EQ(e.code, "rate_limited");
  EXPECT_EQ(e.message, "slow down");

  ASSERT_TRUE(parser.Parse(Bytes(R"({"type":"presence","user":6,"status":"offline",)"
                                 R"("last_online":17})"),
                           &e, &error));
  EXPECT_EQ(e.type, ChatEventType::kOther);
  EXPECT_EQ(e.type_name, "presence");
}

TEST(ChatEventParserTest, RefusesNonObjectsAndWrongTypes) {
  ChatEventParser parser;
  ChatEvent e;
  std::string error;
  EXPECT_FALSE(parser.Parse(Bytes("[1,2]"), &e, &error));
  EXPECT_FALSE(parser.Parse(Bytes("{\"type\":"), &e, &error));
  EXPECT_FALSE(parser.Parse(Bytes("{\"conv\":1}"), &e, &error));
  EXPECT_EQ(error, "no \"type\"");
  EXPECT_FALSE(parser.Parse(Bytes(R"({"type":"ack","seq":"3"})"), &e, &error));
  EXPECT_EQ(error, "\"seq\" is not a non-negative integer");
  EXPECT_FALSE(parser.Parse(Bytes(""), &e, &error));
}

TEST(ChatJsonTest, TopLevelMembers) {
  uint64_t id = 0;
  std::string token;
  EXPECT_TRUE(JsonObjectUint(R"({"user_id":17})", "user_id", &id));
  EXPECT_EQ(id, 17u);
  EXPECT_FALSE(JsonObjectUint(R"({"user_id":"17"})", "user_id", &id));
  EXPECT_FALSE(JsonObjectUint(R"({"error":"x"})", "user_id", &id));
  EXPECT_FALSE(JsonObjectUint("not json", "user_id", &id));
  EXPECT_TRUE(JsonObjectString(R"({"token":"a.b.c","user_id":1})", "token", &token));
  EXPECT_EQ(token, "a.b.c");
}

TEST(HttpAnswerTest, ParsesKeepAliveAnswersOneAtATime) {
  const std::string two =
      "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
      "{\"user_id\":1}"
      "HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\ncontent-length: 2\r\n"
      "Connection: close\r\n\r\n{}";
  HttpAnswer a;
  size_t used = 0;
  std::string error;
  for (size_t cut = 0; cut < 89; ++cut) {
    EXPECT_EQ(ParseHttpAnswer(std::string_view(two).substr(0, cut), &a, &used, &error),
              HttpParse::kNeedMore)
        << cut;
  }
  ASSERT_EQ(ParseHttpAnswer(two, &a, &used, &error), HttpParse::kOk) << error;
  EXPECT_EQ(a.status, 201);
  EXPECT_EQ(a.body, "{\"user_id\":1}");
  EXPECT_FALSE(a.close);
  ASSERT_EQ(ParseHttpAnswer(std::string_view(two).substr(used), &a, &used, &error), HttpParse::kOk);
  EXPECT_EQ(a.status, 429);
  EXPECT_EQ(a.retry_after_s, 7u);
  EXPECT_TRUE(a.close);
  EXPECT_EQ(a.body, "{}");
}

TEST(HttpAnswerTest, RefusesWhatItCannotFrame) {
  HttpAnswer a;
  size_t used = 0;
  std::string error;
  EXPECT_EQ(
      ParseHttpAnswer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &a, &used, &error),
      HttpParse::kError);
  EXPECT_EQ(ParseHttpAnswer("HTTP/1.1 200 OK\r\n\r\n", &a, &used, &error), HttpParse::kError);
  EXPECT_EQ(ParseHttpAnswer("SSH-2.0-OpenSSH\r\n\r\n", &a, &used, &error), HttpParse::kError);
  EXPECT_EQ(ParseHttpAnswer("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", &a, &used, &error),
            HttpParse::kError);
  ASSERT_EQ(ParseHttpAnswer("HTTP/1.0 204 No Content\r\n\r\n", &a, &used, &error), HttpParse::kOk);
  EXPECT_TRUE(a.close);  // HTTP/1.0 without keep-alive.
}

TEST(ChatLayoutTest, RoundRobinSpreadsUsersEvenlyOverDistinctMembers) {
  const ChatLayout layout{1000, 150, 10};
  const auto groups_of = layout.GroupsOfUsers();
  size_t fewest = SIZE_MAX, most = 0;
  for (const auto& g : groups_of) {
    fewest = std::min(fewest, g.size());
    most = std::max(most, g.size());
  }
  EXPECT_EQ(fewest, 1u);  // 1,500 memberships over 1,000 users.
  EXPECT_EQ(most, 2u);
  for (uint32_t g = 0; g < layout.groups; ++g) {
    std::set<uint32_t> members;
    for (uint32_t j = 0; j < layout.group_size; ++j) members.insert(layout.Member(g, j));
    EXPECT_EQ(members.size(), layout.group_size);
  }
  EXPECT_EQ(layout.publishers(), 1500u);
  EXPECT_EQ(layout.PublisherUser(1234), layout.Member(123, 4));
  EXPECT_EQ(layout.PublisherGroup(1234), 123u);
}

}  // namespace
}  // namespace ringcast::bench
