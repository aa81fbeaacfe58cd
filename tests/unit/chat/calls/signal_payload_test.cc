// A call_signal's payload (calls/signal_payload.h), read through the request reader as a client
// sends it: written anew (no byte of the client's text relayed: no raw CR, no whitespace), and
// refused when it is not JSON or passes a bound, with the cid echoed when it came first.
#include "chat/calls/signal_payload.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "chat/ops/request_reader.h"

namespace ringcast::chat {
namespace {

constexpr std::string_view kHead =
    R"({"type":"call_signal","call":"c9","cid":"k3","to":{"user":2,"device":21},"sdp":)";

class SignalPayloadTest : public ::testing::Test {
 protected:
  bool Parse(std::string_view payload) {
    return reader_.Parse(std::string(kHead) + std::string(payload) + "}", &request_, &error_) !=
           nullptr;
  }
  const CallRequest& call() const { return std::get<CallRequest>(request_); }

  ops::RequestReader reader_{RequestLimits{}};
  ops::Request request_;
  RequestError error_;
};

TEST_F(SignalPayloadTest, WrittenAnewWithoutTheClientsBytes) {
  // Raw CR, LF and tabs between tokens are JSON whitespace: gone. Escapes come back in the
  // writer's form; \u escapes of non-ASCII as UTF-8; numbers as numbers.
  ASSERT_TRUE(
      Parse("{\r\"type\" :\t\"offer\",\r\n\"sdp\":\"v=0\\r\\no=- 1\\u0007\\/\\u00e9\","
            "\"n\":[1,-2,18446744073709551615,0.5,1e2,true,false,null],\"o\":{}}"))
      << error_.message;
  EXPECT_EQ(call().signal_key, "sdp");
  EXPECT_EQ(call().signal_json,
            "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\no=- 1\\u0007/\xc3\xa9\","
            "\"n\":[1,-2,18446744073709551615,0.5,100.0,true,false,null],\"o\":{}}");
  EXPECT_EQ(call().signal_json.find_first_of("\r\n"), std::string::npos);
}

TEST_F(SignalPayloadTest, TextThatIsNotJsonIsRefusedWithTheCid) {
  for (const char* bad : {
           "{\"type\":\"offer\"\r\revent: message\rdata: {\"type\":\"message\"}\r\r}",
           "{\"a\" 1}",
           "{\"a\":tru}",
           "{\"a\":[1,,2]}",
           "{\"a\":\"\\ud800\"}",
           "{\"a\":\"\\x\"}",
       }) {
    EXPECT_FALSE(Parse(bad)) << bad;
    EXPECT_EQ(error_.message.rfind("field \"sdp\" is not valid JSON", 0), 0u)
        << bad << ": " << error_.message;
    EXPECT_EQ(error_.cid_json, "\"k3\"") << bad;
  }
  EXPECT_FALSE(Parse("{\"a\":123456789012345678901234567890}"));
  EXPECT_EQ(error_.message,
            "field \"sdp\" holds a number that is not valid JSON or does not fit 64 bits");
  EXPECT_FALSE(Parse("[1]"));
  EXPECT_EQ(error_.message, "field \"sdp\" must be an object");
}

TEST_F(SignalPayloadTest, BoundsOnDepthValuesNamesAndSize) {
  std::string deep = "{\"a\":";
  for (size_t i = 1; i < SignalPayloadLimits::kMaxDepth; ++i) deep += "[";
  deep += "0";
  for (size_t i = 1; i < SignalPayloadLimits::kMaxDepth; ++i) deep += "]";
  EXPECT_TRUE(Parse(deep + "}")) << error_.message;  // kMaxDepth levels, the object's own too.
  EXPECT_FALSE(Parse("{\"a\":[" + deep.substr(5) + "]}"));
  EXPECT_EQ(error_.message, "field \"sdp\" is nested deeper than 8 levels");

  std::string many = "{\"a\":[0";
  for (size_t i = 3; i < SignalPayloadLimits::kMaxValues; ++i) many += ",0";
  EXPECT_TRUE(Parse(many + "]}")) << error_.message;  // The object, the array, 254 numbers.
  EXPECT_FALSE(Parse(many + ",0]}"));
  EXPECT_EQ(error_.message, "field \"sdp\" holds more than 256 values");

  EXPECT_FALSE(Parse(R"({"a":1,"b":{"x":1,"x":2}})"));
  EXPECT_EQ(error_.message, "field \"sdp\" has a name twice in one object");
  EXPECT_TRUE(Parse(R"({"x":1,"b":{"x":2}})")) << error_.message;  // Not in one object.

  const std::string big(RequestLimits::kMaxCallSignal, 'v');
  EXPECT_FALSE(Parse("{\"sdp\":\"" + big + "\"}"));
  EXPECT_EQ(error_.message, "field \"sdp\" longer than 65536 bytes");
}

}  // namespace
}  // namespace ringcast::chat
