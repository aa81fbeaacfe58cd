// Requests as every transport's text reaches them (chat/ops/request_reader.h): the envelope,
// then each operation's own parser, by the registry.
#include "chat/ops/request_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/ops/wire.h"

namespace ringcast::chat::ops {
namespace {

class RequestParserTest : public ::testing::Test {
 protected:
  bool Parse(std::string_view text) {
    wire_ = reader_.Parse(text, &request_, &error_);
    return wire_ != nullptr;
  }
  std::string_view type() const { return wire_->type; }
  MessageRequest& message() { return std::get<MessageRequest>(request_); }
  CallRequest& call() { return std::get<CallRequest>(request_); }
  WatermarkRequest& mark() { return std::get<WatermarkRequest>(request_); }
  SyncRequest& sync() { return std::get<SyncRequest>(request_); }
  HistoryRequest& history() { return std::get<HistoryRequest>(request_); }
  ThreadRequest& thread() { return std::get<ThreadRequest>(request_); }
  TypingRequest& typing() { return std::get<TypingRequest>(request_); }

  RequestReader reader_{RequestLimits{.max_body = 16}};
  Request request_;
  RequestError error_;
  const Wire* wire_ = nullptr;
};

TEST_F(RequestParserTest, SendWithEveryFieldInAnyOrder) {
  ASSERT_TRUE(Parse(R"({"body":"h\u00e9\n","cid":"c-1","conv":7,"kind":"note","type":"send"})"))
      << error_.message;
  EXPECT_EQ(type(), "send");
  EXPECT_EQ(message().conv, 7);
  EXPECT_EQ(error_.cid, "c-1");
  EXPECT_EQ(message().kind, "note");
  EXPECT_EQ(message().body, "h\xc3\xa9\n");  // Unescaped.
}

// Calls (proto/PROTOCOL.md, "Calls: signalling"): parsed, relayed payloads written anew
// (calls/signal_payload_test.cc has their rules).
TEST_F(RequestParserTest, CallRequests) {
  ASSERT_TRUE(Parse(R"({"type":"call_invite","conv":3,"cid":"k1","call_kind":"video"})"))
      << error_.message;
  EXPECT_EQ(type(), "call_invite");
  EXPECT_EQ(call().conv, 3);
  EXPECT_EQ(call().kind, CallKind::kVideo);
  ASSERT_TRUE(Parse(R"({"type":"call_accept","call":"c9","cid":"k2"})")) << error_.message;
  EXPECT_EQ(type(), "call_accept");
  EXPECT_EQ(call().call, "c9");
  ASSERT_TRUE(Parse(R"({"type":"call_signal","call":"c9","cid":"k3","to":{"user":2,"device":21},)"
                    R"("sdp":{"type":"offer", "sdp":"v=0\r\n"}})"))
      << error_.message;
  EXPECT_EQ(type(), "call_signal");
  EXPECT_EQ(call().to, (CallDevice{2, 21}));
  EXPECT_EQ(call().signal_key, "sdp");
  EXPECT_EQ(call().signal_json, R"({"type":"offer","sdp":"v=0\r\n"})");  // Written anew.
  ASSERT_TRUE(Parse(R"({"type":"call_signal","call":"c9","cid":"k4","to":{"user":2,"device":21},)"
                    R"("candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}})"))
      << error_.message;
  EXPECT_EQ(call().signal_key, "candidate");

  const std::pair<const char*, const char*> refused[] = {
      {R"({"type":"call_invite","conv":3,"cid":"k"})", R"("call_kind" must be "audio" or "video")"},
      {R"({"type":"call_invite","cid":"k","call_kind":"audio"})", R"(missing field "conv")"},
      {R"({"type":"call_accept","cid":"k"})", R"(missing field "call")"},
      {R"({"type":"call_hangup","call":"c1"})", R"(missing field "cid")"},
      {R"({"type":"call_ring","call":"c1","cid":"k"})", R"(unknown type "call_ring")"},
      {R"({"type":"call_signal","call":"c1","cid":"k","sdp":{}})", R"(missing field "to")"},
      {R"({"type":"call_signal","call":"c1","cid":"k","to":{"user":2,"device":1}})",
       R"(a call_signal carries one of "sdp" and "candidate")"},
      {R"({"type":"call_signal","call":"c1","cid":"k","to":{"user":2},"sdp":{}})",
       R"(field "to" must be {"user": id, "device": id})"},
      {R"({"type":"call_signal","call":"c1","cid":"k","to":{"user":2,"device":1},"sdp":"x"})",
       R"(field "sdp" must be an object)"},
  };
  for (const auto& [text, message] : refused) {
    EXPECT_FALSE(Parse(text)) << text;
    EXPECT_EQ(error_.message, message) << text;
  }
}

TEST_F(RequestParserTest, SendWithAttachments) {
  ASSERT_TRUE(Parse(R"({"type":"send","conv":1,"cid":"x","body":"",)"
                    R"("attachments":["AAAAAAAAAAAAAAAAAAAAAA","abc-_0123456789abcdefg"]})"))
      << error_.message;
  ASSERT_EQ(message().attachments.size(), 2u);
  EXPECT_EQ(message().attachments[1], "abc-_0123456789abcdefg");
  for (
      const char* bad : {
          R"({"type":"send","conv":1,"cid":"x","body":"","attachments":"AAAAAAAAAAAAAAAAAAAAAA"})",
          R"({"type":"send","conv":1,"cid":"x","body":"","attachments":["short"]})",
          R"({"type":"send","conv":1,"cid":"x","body":"","attachments":[1]})",
          R"({"type":"send","conv":1,"cid":"x","body":"","attachments":["AAAAAAAAAAAAAAAAAAAAA="]})",
          R"({"type":"send","conv":1,"cid":"x","body":"","attachments":["AAAAAAAAAAAAAAAAAAAAAA","AAAAAAAAAAAAAAAAAAAAAA"]})",
      }) {
    EXPECT_FALSE(Parse(bad)) << bad;
    EXPECT_NE(error_.message.find("attachments"), std::string::npos) << error_.message;
    EXPECT_EQ(error_.cid, "x");
  }
  std::string eleven = R"({"type":"send","conv":1,"cid":"x","body":"","attachments":[)";
  for (int i = 0; i < 11; ++i) {
    eleven.append(i ? "," : "")
        .append("\"")
        .append(std::string(21, 'A'))
        .append(1, char('a' + i))
        .append("\"");
  }
  EXPECT_FALSE(Parse(eleven + "]}"));
}

// Changes to messages (issue 25): edit and delete are sends of the server's kinds naming the
// changed message's seq.
TEST_F(RequestParserTest, EditAndDeleteAreChangesOfTheMessageAtSeq) {
  ASSERT_TRUE(Parse(R"({"type":"edit","conv":3,"seq":5,"cid":"e","body":"new","mentions":[4]})"))
      << error_.message;
  EXPECT_EQ(type(), "edit");
  EXPECT_EQ(message().kind, "edit");
  EXPECT_EQ(message().target, 5);
  EXPECT_EQ(message().body, "new");
  EXPECT_EQ(message().mentions, std::vector<int64_t>{4});
  ASSERT_TRUE(Parse(R"({"type":"delete","conv":3,"seq":5,"cid":"d","body":"ignored"})"))
      << error_.message;
  EXPECT_EQ(message().kind, "delete");
  EXPECT_EQ(message().target, 5);
  EXPECT_EQ(message().body, "");
  const std::pair<std::string_view, std::string_view> refused[] = {
      {R"({"type":"edit","conv":3,"cid":"e","body":"x"})", "missing field \"seq\""},
      {R"({"type":"edit","conv":3,"seq":0,"cid":"e","body":"x"})",
       "field \"seq\" must be a positive integer"},
      {R"({"type":"edit","conv":3,"seq":1,"cid":"e"})", "missing field \"body\""},
      {R"({"type":"delete","conv":3,"seq":1})", "missing field \"cid\""},
      {R"({"type":"delete","seq":1,"cid":"d"})", "missing field \"conv\""},
      {R"({"type":"edit","conv":3,"seq":1,"cid":"e","body":"0123456789abcdefg"})",
       "body longer than 16 bytes"},
  };
  for (const auto& [text, message] : refused) {
    EXPECT_FALSE(Parse(text)) << text;
    EXPECT_EQ(error_.message, message) << text;
  }
}

TEST_F(RequestParserTest, ReactPinAndUnpinAreChangesToo) {
  ASSERT_TRUE(Parse(R"({"type":"react","conv":3,"seq":5,"cid":"r","emoji":"\u2764\ufe0f"})"))
      << error_.message;
  EXPECT_EQ(message().kind, "reaction");
  EXPECT_EQ(message().target, 5);
  EXPECT_EQ(message().body, "\xE2\x9D\xA4\xEF\xB8\x8F");
  EXPECT_TRUE(message().reaction_on);
  ASSERT_TRUE(Parse(R"({"type":"react","conv":3,"seq":5,"cid":"r","emoji":"+","on":false})"));
  EXPECT_FALSE(message().reaction_on);
  ASSERT_TRUE(Parse(R"({"type":"pin","conv":3,"seq":5,"cid":"p"})")) << error_.message;
  EXPECT_EQ(message().kind, "pin");
  ASSERT_TRUE(Parse(R"({"type":"unpin","conv":3,"seq":5,"cid":"u"})")) << error_.message;
  EXPECT_EQ(message().kind, "unpin");
  EXPECT_EQ(message().target, 5);
  const std::pair<std::string_view, std::string_view> refused[] = {
      {R"({"type":"react","conv":3,"seq":5,"cid":"r"})", "missing field \"emoji\""},
      {R"({"type":"react","conv":3,"seq":5,"cid":"r","emoji":"ab"})",
       "field \"emoji\" must be one character (one grapheme cluster) of at most 64 bytes"},
      {R"({"type":"react","conv":3,"seq":5,"cid":"r","emoji":"+","on":1})",
       "field \"on\" must be true or false"},
      {R"({"type":"react","conv":3,"seq":5,"cid":"r","emoji":"+","body":"x"})",
       "field \"body\" belongs to a send or an edit"},
      {R"({"type":"pin","conv":3,"cid":"p"})", "missing field \"seq\""},
  };
  for (const auto& [text, message] : refused) {
    EXPECT_FALSE(Parse(text)) << text;
    EXPECT_EQ(error_.message, message) << text;
  }
}

TEST_F(RequestParserTest, SendDefaultsKindToText) {
  ASSERT_TRUE(Parse(R"({"type":"send","conv":1,"cid":"x","body":""})")) << error_.message;
  EXPECT_EQ(message().kind, "text");
  EXPECT_EQ(message().body, "");
}

TEST_F(RequestParserTest, SendRefusals) {
  struct Case {
    const char* text;
    const char* message_part;
    const char* cid;
  } cases[] = {
      {R"({"type":"send","cid":"a","body":"x"})", "conv", "a"},
      {R"({"type":"send","conv":1,"body":"x"})", "cid", ""},
      {R"({"type":"send","conv":1,"cid":"a"})", "body", "a"},
      {R"({"type":"send","conv":1,"cid":"a","body":"01234567890123456"})", "longer than 16", "a"},
      {R"({"type":"send","conv":1,"cid":"a","body":"x","kind":""})", "kind", "a"},
      {R"({"type":"send","conv":1,"cid":"a","body":"x","kind":"edit"})",
       "kind \"edit\" is written by the server only", "a"},
      {R"({"type":"send","conv":1,"cid":"a","body":"x","kind":"system"})", "server only", "a"},
      {R"({"type":"send","conv":1,"cid":"a","body":"x","kind":"call"})", "server only", "a"},
      {R"({"type":"send","conv":0,"cid":"a","body":"x"})", "conv", "a"},
      {R"({"type":"send","conv":"1","cid":"a","body":"x"})", "conv", "a"},
      {R"({"type":"send","conv":1,"cid":7,"body":"x"})", "field \"cid\" must be a string", ""},
      {R"({"type":"send","conv":1,"cid":"a","body":["x"]})", "body", "a"},
      {R"({"type":"send","conv":1,"cid":"","body":"x"})", "field \"cid\" must be 1 to 64 bytes",
       ""},
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(Parse(c.text)) << c.text;
    EXPECT_NE(error_.message.find(c.message_part), std::string::npos)
        << c.text << " → " << error_.message;
    EXPECT_EQ(error_.cid, c.cid) << c.text;
  }
}

// An error echoes whatever cid the request carried, even one that is itself the fault, so a
// client can tell which request failed.
TEST_F(RequestParserTest, ErrorsEchoTheCidAsSent) {
  std::string long_cid(65, 'c');
  EXPECT_FALSE(Parse(R"({"type":"send","conv":1,"body":"x","cid":")" + long_cid + "\"}"));
  EXPECT_EQ(error_.message, "field \"cid\" must be 1 to 64 bytes");
  EXPECT_EQ(error_.cid, long_cid);
  EXPECT_EQ(
      EncodeRequestError(error_),
      R"({"type":"error","code":"bad_request","message":"field \"cid\" must be 1 to 64 bytes",)"
      R"("cid":")" +
          long_cid + "\"}");

  EXPECT_FALSE(Parse(R"({"type":"send","conv":1,"body":"x","cid":""})"));
  EXPECT_EQ(EncodeRequestError(error_), R"({"type":"error","code":"bad_request","message":)"
                                        R"("field \"cid\" must be 1 to 64 bytes","cid":""})");

  EXPECT_FALSE(Parse(R"({"type":"send","conv":1,"body":"x","cid":  -7.5e1 })"));
  EXPECT_EQ(error_.message, "field \"cid\" must be a string");
  EXPECT_EQ(EncodeRequestError(error_), R"({"type":"error","code":"bad_request","message":)"
                                        R"("field \"cid\" must be a string","cid":-7.5e1})");

  // An integer past 64 bits is not echoed: many JSON parsers refuse it (a fuzzer finding).
  EXPECT_FALSE(Parse(R"({"type":"send","conv":1,"body":"x","cid":44444444444444444444444})"));
  EXPECT_EQ(EncodeRequestError(error_), R"({"type":"error","code":"bad_request","message":)"
                                        R"("field \"cid\" must be a string"})");
  EXPECT_FALSE(Parse(R"({"type":"send","conv":1,"body":"x","cid":-9223372036854775808})"));
  EXPECT_EQ(EncodeRequestError(error_), R"({"type":"error","code":"bad_request","message":)"
                                        R"("field \"cid\" must be a string",)"
                                        R"("cid":-9223372036854775808})");

  // A fault before the cid still answers with it.
  EXPECT_FALSE(Parse(R"({"type":"send","conv":"x","cid":"q\"1","body":"x"})"));
  EXPECT_EQ(error_.message, "field \"conv\" must be a positive integer");
  EXPECT_EQ(EncodeRequestError(error_),
            R"({"type":"error","code":"bad_request","message":)"
            R"("field \"conv\" must be a positive integer","cid":"q\"1"})");

  // Nothing to echo: no cid, or one that is neither a string nor a number.
  EXPECT_FALSE(Parse(R"({"type":"send","conv":1,"body":"x"})"));
  EXPECT_EQ(EncodeRequestError(error_),
            R"({"type":"error","code":"bad_request","message":"missing field \"cid\""})");
  EXPECT_FALSE(Parse(R"({"type":"send","conv":1,"body":"x","cid":{"a":1}})"));
  EXPECT_EQ(error_.message, "field \"cid\" must be a string");
  EXPECT_EQ(error_.cid_json, "");
}

TEST_F(RequestParserTest, MessagesNameTheFault) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"type":7})", "field \"type\" must be a string"},
      {R"({"type":"read","conv":1,"seq":-1})", "field \"seq\" must be a non-negative integer"},
      {R"({"type":"history","conv":1,"before":"9"})",
       "field \"before\" must be a non-negative integer"},
      {R"({"type":"history","conv":1,"seen":1.5})",
       "field \"seen\" must be a non-negative integer"},
      {R"({"type":"history","conv":1,"limit":0})",
       "field \"limit\" must be an integer from 1 to 200"},
      {R"({"type":"typing","conv":1,"state":true})", "field \"state\" must be a string"},
      {R"({"type":"sync","convs":[1]})", "field \"convs\" must be an object"},
      // simdjson will not unescape a lone surrogate: that is not a type error.
      {R"({"type":"send","conv":1,"cid":"a","body":"\ud800"})",
       "field \"body\" is not a valid string"},
  };
  for (const auto& [text, message] : cases) {
    EXPECT_FALSE(Parse(text)) << text;
    EXPECT_EQ(error_.message.rfind(message, 0), 0u) << text << " → " << error_.message;
  }
}

TEST_F(RequestParserTest, DuplicateFieldsAreRefused) {
  EXPECT_FALSE(Parse(R"({"type":"send","conv":1,"conv":2,"cid":"a","body":"x"})"));
  EXPECT_EQ(error_.message, "duplicate field \"conv\"");
  EXPECT_EQ(error_.cid, "a");
  EXPECT_FALSE(Parse(R"({"type":"ping","type":"send"})"));
  EXPECT_EQ(error_.message, "duplicate field \"type\"");
  // Unknown fields are ignored, repeated or not.
  EXPECT_TRUE(Parse(R"({"type":"ping","x":1,"x":2})")) << error_.message;
}

TEST_F(RequestParserTest, NotJsonOrNotAnObjectOrTrailingGarbage) {
  for (const char* text : {"", "nope", "[1,2]", "\"send\"", "{", R"({"type":"ping"} x)",
                           R"({"type":"ping"}{})", R"({"type":})"}) {
    EXPECT_FALSE(Parse(text)) << text;
  }
  EXPECT_TRUE(Parse(" {\"type\":\"ping\"} \n"));
}

TEST_F(RequestParserTest, UnknownOrMissingType) {
  EXPECT_FALSE(Parse(R"({"type":"dance"})"));
  EXPECT_NE(error_.message.find("unknown type"), std::string::npos);
  EXPECT_FALSE(Parse(R"({"conv":1})"));
  EXPECT_NE(error_.message.find("type"), std::string::npos);
}

TEST_F(RequestParserTest, Watermarks) {
  ASSERT_TRUE(Parse(R"({"type":"read","conv":3,"seq":9})"));
  EXPECT_EQ(type(), "read");
  EXPECT_EQ(mark().seq, 9);
  ASSERT_TRUE(Parse(R"({"type":"delivered","conv":3,"seq":0})"));
  EXPECT_EQ(type(), "delivered");
  EXPECT_FALSE(Parse(R"({"type":"read","conv":3})"));
  EXPECT_FALSE(Parse(R"({"type":"read","conv":3,"seq":-1})"));
}

TEST_F(RequestParserTest, SyncAllSomeOrNone) {
  ASSERT_TRUE(Parse(R"({"type":"sync"})"));
  EXPECT_TRUE(sync().all);
  ASSERT_TRUE(Parse(R"({"type":"sync","convs":{"4":10,"12":0}})"));
  EXPECT_FALSE(sync().all);
  ASSERT_EQ(sync().asks.size(), 2u);
  EXPECT_EQ(sync().asks[0].conv, 4);
  EXPECT_EQ(sync().asks[0].after, 10);
  EXPECT_EQ(sync().asks[1].conv, 12);
  ASSERT_TRUE(Parse(R"({"type":"sync","convs":{}})"));
  EXPECT_FALSE(sync().all);
  EXPECT_TRUE(sync().asks.empty());
  EXPECT_FALSE(Parse(R"({"type":"sync","convs":{"x":1}})"));
  EXPECT_FALSE(Parse(R"({"type":"sync","convs":{"1":-1}})"));
  EXPECT_FALSE(Parse(R"({"type":"sync","convs":[1]})"));
}

TEST_F(RequestParserTest, HistoryLimitsAndTypingStates) {
  ASSERT_TRUE(Parse(R"({"type":"history","conv":2})"));
  EXPECT_EQ(history().page.limit, 50u);
  EXPECT_EQ(history().page.before, 0);
  EXPECT_EQ(history().page.seen, 0);
  ASSERT_TRUE(Parse(R"({"type":"history","conv":2,"before":40,"limit":200,"seen":77})"));
  EXPECT_EQ(history().page.limit, 200u);
  EXPECT_EQ(history().page.before, 40);
  EXPECT_EQ(history().page.seen, 77);
  ASSERT_TRUE(Parse(R"({"type":"thread","conv":2,"root":3,"seen":9})"));
  EXPECT_EQ(thread().page.seen, 9);
  EXPECT_FALSE(Parse(R"({"type":"history","conv":2,"seen":-1})"));
  EXPECT_FALSE(Parse(R"({"type":"history","conv":2,"limit":201})"));
  EXPECT_FALSE(Parse(R"({"type":"history","conv":2,"limit":0})"));
  ASSERT_TRUE(Parse(R"({"type":"typing","conv":2,"state":"stop"})"));
  EXPECT_FALSE(typing().start);
  EXPECT_FALSE(Parse(R"({"type":"typing","conv":2,"state":"maybe"})"));
}

TEST_F(RequestParserTest, ParserIsReusableAcrossSizes) {
  std::string big = R"({"type":"send","conv":1,"cid":"a","kind":"k","body":"0123456789"})";
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Parse(big));
    ASSERT_TRUE(Parse(R"({"type":"ping"})"));
    EXPECT_EQ(type(), "ping");
  }
}

}  // namespace
}  // namespace ringcast::chat::ops
