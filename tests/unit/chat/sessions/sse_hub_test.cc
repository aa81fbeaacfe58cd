// The HTTP transports' ids (sse_hub.h): a session id names the shard (and node) that holds it,
// and an SSE event id "<session>:<n>" (a Last-Event-ID) gives back both parts; anything else is
// refused, so that a resume or a POST never reaches a shard or node the id does not name.
#include "chat/sessions/sse_hub.h"

#include <gtest/gtest.h>

#include "chat/cluster/cluster_link.h"

namespace ringcast::chat {
namespace {

TEST(SseSessionKeyTest, NamesItsShardAndNode) {
  auto local = ParseSseSessionKey("0123456789abcdef0123456789abcdef~3");
  ASSERT_TRUE(local.has_value());
  EXPECT_EQ(local->shard, 3u);
  EXPECT_TRUE(local->node.empty());
  auto clustered = ParseSseSessionKey("0123456789abcdef0123456789abcdef~0~node-a.1");
  ASSERT_TRUE(clustered.has_value());
  EXPECT_EQ(clustered->shard, 0u);
  EXPECT_EQ(clustered->node, "node-a.1");
}

TEST(SseSessionKeyTest, RefusesWhatItDidNotMake) {
  const std::string hex = "0123456789abcdef0123456789abcdef";  // kSseSecretBytes, in hex.
  for (const std::string& bad :
       {std::string(), hex, hex + "~", std::string("0123456789abcdef0123456789abcdeF~1"),
        hex.substr(1) + "~1", hex + "~x", hex + "~1~", hex + "~1x", hex + "-1", std::string("zz"),
        // The 64-bit ids of old: the secret is 128 bits now.
        std::string("0123456789abcdef~1")}) {
    EXPECT_FALSE(ParseSseSessionKey(bad).has_value()) << bad;
  }
}

TEST(SseEventIdTest, SplitsSessionAndNumber) {
  std::string_view key;
  uint64_t n = 0;
  ASSERT_TRUE(ParseSseEventId("0123456789abcdef0123456789abcdef~1~n2:42", &key, &n));
  EXPECT_EQ(key, "0123456789abcdef0123456789abcdef~1~n2");
  EXPECT_EQ(n, 42u);
  for (const char* bad :
       {"", ":1", "0123456789abcdef0123456789abcdef~1", "0123456789abcdef0123456789abcdef~1:",
        "0123456789abcdef0123456789abcdef~1:x", "0123456789abcdef0123456789abcdef~1:-1", "junk:1",
        "0123456789abcdef0123456789abcdef~1:1 "}) {
    EXPECT_FALSE(ParseSseEventId(bad, &key, &n)) << bad;
  }
}

// HTML's event stream format ends a line at CR LF, LF or a lone CR: whatever the JSON holds, each
// of its lines is a data line of the same event, never a field of its own or an event's end.
TEST(SseEventFormatTest, EveryKindOfLineBreakStartsAnotherDataLine) {
  EXPECT_EQ(FormatSseEvent("s~0", 7, R"({"type":"ping"})"),
            "id: s~0:7\ndata: {\"type\":\"ping\"}\n\n");
  EXPECT_EQ(FormatSseEvent("s~0", 8, "a\rb\nc\r\nd\r\re\n\nevent: x\r"),
            "id: s~0:8\ndata: a\ndata: b\ndata: c\ndata: d\ndata: \ndata: e\ndata: \n"
            "data: event: x\ndata: \n\n");
}

TEST(SsePostRecordTest, RoundTripsABodyOfAnyBytes) {
  const std::string body = "{\"type\":\"ping\"}\n{\"type\":\"send\",\"body\":\"a\\nb\"}\n";
  const std::string record =
      ClusterLink::EncodeSsePost("0123456789abcdef0123456789abcdef~1~n2", 77, body);
  auto decoded = ClusterLink::DecodeSsePost(record);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->session, "0123456789abcdef0123456789abcdef~1~n2");
  EXPECT_EQ(decoded->user, 77);
  EXPECT_EQ(decoded->body, body);
  EXPECT_FALSE(ClusterLink::DecodeSsePost("Sonly-a-session").has_value());
  EXPECT_FALSE(ClusterLink::DecodeSsePost("Ssession\nnot-a-user\nbody").has_value());
  EXPECT_FALSE(ClusterLink::DecodeSsePost("Ssession\n0\nbody").has_value());
  EXPECT_FALSE(ClusterLink::DecodeSsePost("f anything else").has_value());
}

}  // namespace
}  // namespace ringcast::chat
