// The HTTP transports' ids (sse_hub.h): a session id names the shard (and node) that holds it,
// and an SSE event id "<session>:<n>" (a Last-Event-ID) gives back both parts; anything else is
// refused, so that a resume or a POST never reaches a shard or node the id does not name.
#include "chat/sessions/sse_hub.h"

#include <gtest/gtest.h>

#include "chat/cluster/cluster_link.h"

namespace ringcast::chat {
namespace {

TEST(SseSessionKeyTest, NamesItsShardAndNode) {
  auto local = ParseSseSessionKey("0123456789abcdef~3");
  ASSERT_TRUE(local.has_value());
  EXPECT_EQ(local->shard, 3u);
  EXPECT_TRUE(local->node.empty());
  auto clustered = ParseSseSessionKey("0123456789abcdef~0~node-a.1");
  ASSERT_TRUE(clustered.has_value());
  EXPECT_EQ(clustered->shard, 0u);
  EXPECT_EQ(clustered->node, "node-a.1");
}

TEST(SseSessionKeyTest, RefusesWhatItDidNotMake) {
  for (const char* bad : {"", "0123456789abcdef", "0123456789abcdef~", "0123456789abcdeF~1",
                          "0123456789abcde~1", "0123456789abcdef~x", "0123456789abcdef~1~",
                          "0123456789abcdef~1x", "0123456789abcdef-1", "zz"}) {
    EXPECT_FALSE(ParseSseSessionKey(bad).has_value()) << bad;
  }
}

TEST(SseEventIdTest, SplitsSessionAndNumber) {
  std::string_view key;
  uint64_t n = 0;
  ASSERT_TRUE(ParseSseEventId("0123456789abcdef~1~n2:42", &key, &n));
  EXPECT_EQ(key, "0123456789abcdef~1~n2");
  EXPECT_EQ(n, 42u);
  for (const char* bad :
       {"", ":1", "0123456789abcdef~1", "0123456789abcdef~1:", "0123456789abcdef~1:x",
        "0123456789abcdef~1:-1", "junk:1", "0123456789abcdef~1:1 "}) {
    EXPECT_FALSE(ParseSseEventId(bad, &key, &n)) << bad;
  }
}

TEST(SsePostRecordTest, RoundTripsABodyOfAnyBytes) {
  const std::string body = "{\"type\":\"ping\"}\n{\"type\":\"send\",\"body\":\"a\\nb\"}\n";
  const std::string record = ClusterLink::EncodeSsePost("0123456789abcdef~1~n2", 77, body);
  auto decoded = ClusterLink::DecodeSsePost(record);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->session, "0123456789abcdef~1~n2");
  EXPECT_EQ(decoded->user, 77);
  EXPECT_EQ(decoded->body, body);
  EXPECT_FALSE(ClusterLink::DecodeSsePost("Sonly-a-session").has_value());
  EXPECT_FALSE(ClusterLink::DecodeSsePost("Ssession\nnot-a-user\nbody").has_value());
  EXPECT_FALSE(ClusterLink::DecodeSsePost("Ssession\n0\nbody").has_value());
  EXPECT_FALSE(ClusterLink::DecodeSsePost("f anything else").has_value());
}

}  // namespace
}  // namespace ringcast::chat
