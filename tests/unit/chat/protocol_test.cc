#include "chat/protocol.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <string_view>
#include <utility>

namespace ringcast::chat {
namespace {

class RequestParserTest : public ::testing::Test {
 protected:
  bool Parse(std::string_view text) { return parser_.Parse(text, &request_, &error_); }

  RequestParser parser_{RequestLimits{.max_body = 16}};
  ClientRequest request_;
  RequestError error_;
};

TEST_F(RequestParserTest, SendWithEveryFieldInAnyOrder) {
  ASSERT_TRUE(Parse(R"({"body":"h\u00e9\n","cid":"c-1","conv":7,"kind":"note","type":"send"})"))
      << error_.message;
  EXPECT_EQ(request_.type, RequestType::kSend);
  EXPECT_EQ(request_.conv, 7);
  EXPECT_EQ(request_.cid, "c-1");
  EXPECT_EQ(request_.kind, "note");
  EXPECT_EQ(request_.body, "h\xc3\xa9\n");  // Unescaped.
}

// Calls (proto/PROTOCOL.md, "Calls: signalling"): parsed, relayed payloads written anew
// (calls/signal_payload_test.cc has their rules).
TEST_F(RequestParserTest, CallRequests) {
  ASSERT_TRUE(Parse(R"({"type":"call_invite","conv":3,"cid":"k1","call_kind":"video"})"))
      << error_.message;
  EXPECT_EQ(request_.type, RequestType::kCallInvite);
  EXPECT_EQ(request_.conv, 3);
  EXPECT_EQ(request_.call_kind, CallKind::kVideo);
  ASSERT_TRUE(Parse(R"({"type":"call_accept","call":"c9","cid":"k2"})")) << error_.message;
  EXPECT_EQ(request_.type, RequestType::kCallAccept);
  EXPECT_EQ(request_.call, "c9");
  ASSERT_TRUE(Parse(R"({"type":"call_signal","call":"c9","cid":"k3","to":{"user":2,"device":21},)"
                    R"("sdp":{"type":"offer", "sdp":"v=0\r\n"}})"))
      << error_.message;
  EXPECT_EQ(request_.type, RequestType::kCallSignal);
  EXPECT_EQ(request_.to, (CallDevice{2, 21}));
  EXPECT_EQ(request_.signal_key, "sdp");
  EXPECT_EQ(request_.signal_json, R"({"type":"offer","sdp":"v=0\r\n"})");  // Written anew.
  ASSERT_TRUE(Parse(R"({"type":"call_signal","call":"c9","cid":"k4","to":{"user":2,"device":21},)"
                    R"("candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}})"))
      << error_.message;
  EXPECT_EQ(request_.signal_key, "candidate");

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
  ASSERT_EQ(request_.attachments.size(), 2u);
  EXPECT_EQ(request_.attachments[1], "abc-_0123456789abcdefg");
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

TEST_F(RequestParserTest, EncodeAttachmentsKeepsTheSendsOrder) {
  std::vector<storage::UploadRecord> uploads = {
      {.id = "B",
       .name = "b.png",
       .size = 2,
       .type = "image/png",
       .sha256 = "bb",
       .width = 4,
       .height = 3,
       .thumb_sha256 = "tt"},
      {.id = "A", .name = "a\"", .size = 1, .type = "text/plain", .sha256 = "aa"}};
  EXPECT_EQ(
      EncodeAttachments({"A", "B"}, uploads),
      R"([{"id":"A","name":"a\"","size":1,"type":"text/plain","sha256":"aa","url":"/files/A"},)"
      R"({"id":"B","name":"b.png","size":2,"type":"image/png","sha256":"bb","url":"/files/B",)"
      R"("thumb_url":"/files/B/thumb","width":4,"height":3}])");
  storage::Message message{.id = 1,
                           .conv = 2,
                           .seq = 3,
                           .from = 4,
                           .kind = "text",
                           .body = "",
                           .ts = 5,
                           .attachments = "[]"};
  EXPECT_NE(EncodeMessageEvent(message).find(R"("attachments":[])"), std::string::npos);
  message.attachments.clear();
  EXPECT_EQ(EncodeMessageEvent(message).find("attachments"), std::string::npos);
}

// Changes to messages (issue 25): edit and delete are sends of the server's kinds naming the
// changed message's seq.
TEST_F(RequestParserTest, EditAndDeleteAreChangesOfTheMessageAtSeq) {
  ASSERT_TRUE(Parse(R"({"type":"edit","conv":3,"seq":5,"cid":"e","body":"new","mentions":[4]})"))
      << error_.message;
  EXPECT_EQ(request_.type, RequestType::kSend);
  EXPECT_EQ(request_.kind, "edit");
  EXPECT_EQ(request_.target, 5);
  EXPECT_EQ(request_.body, "new");
  EXPECT_EQ(request_.mentions, std::vector<int64_t>{4});
  ASSERT_TRUE(Parse(R"({"type":"delete","conv":3,"seq":5,"cid":"d","body":"ignored"})"))
      << error_.message;
  EXPECT_EQ(request_.kind, "delete");
  EXPECT_EQ(request_.target, 5);
  EXPECT_EQ(request_.body, "");
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
  EXPECT_EQ(request_.kind, "reaction");
  EXPECT_EQ(request_.target, 5);
  EXPECT_EQ(request_.body, "\xE2\x9D\xA4\xEF\xB8\x8F");
  EXPECT_TRUE(request_.reaction_on);
  ASSERT_TRUE(Parse(R"({"type":"react","conv":3,"seq":5,"cid":"r","emoji":"+","on":false})"));
  EXPECT_FALSE(request_.reaction_on);
  ASSERT_TRUE(Parse(R"({"type":"pin","conv":3,"seq":5,"cid":"p"})")) << error_.message;
  EXPECT_EQ(request_.kind, "pin");
  ASSERT_TRUE(Parse(R"({"type":"unpin","conv":3,"seq":5,"cid":"u"})")) << error_.message;
  EXPECT_EQ(request_.kind, "unpin");
  EXPECT_EQ(request_.target, 5);
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
  EXPECT_EQ(request_.kind, "text");
  EXPECT_EQ(request_.body, "");
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

TEST(JsonBodyFaultTest, NamesWhatIsWrong) {
  EXPECT_EQ(JsonBodyFault(""), "the body is empty: expected a JSON object");
  EXPECT_EQ(JsonBodyFault(" \r\n"), "the body is empty: expected a JSON object");
  EXPECT_TRUE(
      JsonBodyFault("\xEF\xBB\xBF{}").starts_with("the body starts with a byte order mark"));
  EXPECT_EQ(JsonBodyFault("{\"a\":\"\xC3\"}"), "the body is not valid UTF-8 (byte 6)");
  EXPECT_EQ(JsonBodyFault("{\"a\":\"\xED\xA0\x80\"}"), "the body is not valid UTF-8 (byte 6)");
  EXPECT_EQ(JsonBodyFault("{\"a\":\"\xF4\x90\x80\x80\"}"), "the body is not valid UTF-8 (byte 6)");
  EXPECT_EQ(JsonBodyFault("{\"a\":\"\xC3"), "the body is not valid UTF-8 (byte 6)");
  EXPECT_TRUE(JsonBodyFault("{\"a\":\"caf\xC3\xA9").starts_with("the body is truncated"));
  EXPECT_TRUE(JsonBodyFault("{\"a\":[1,{\"b\":2}").starts_with("the body is truncated"));
  EXPECT_TRUE(JsonBodyFault("{\"a\":\"x\\\"").starts_with("the body is truncated"));
  const std::pair<std::string_view, std::string_view> faults[] = {
      {"[1]", "the body must be a JSON object, not an array"},
      {" -1", "the body must be a JSON object, not a number"},
      {"false", "the body must be a JSON object, not a boolean"},
      {"nul", "the body is not valid JSON"},
      {"{\"a\" 1}", "the body is not valid JSON"},
      {"{\"a\":1]", "the body is not valid JSON"},
  };
  for (const auto& [body, fault] : faults) EXPECT_EQ(JsonBodyFault(body), fault) << body;
}

TEST_F(RequestParserTest, UnknownOrMissingType) {
  EXPECT_FALSE(Parse(R"({"type":"dance"})"));
  EXPECT_NE(error_.message.find("unknown type"), std::string::npos);
  EXPECT_FALSE(Parse(R"({"conv":1})"));
  EXPECT_NE(error_.message.find("type"), std::string::npos);
}

TEST_F(RequestParserTest, Watermarks) {
  ASSERT_TRUE(Parse(R"({"type":"read","conv":3,"seq":9})"));
  EXPECT_EQ(request_.type, RequestType::kRead);
  EXPECT_EQ(request_.seq, 9);
  ASSERT_TRUE(Parse(R"({"type":"delivered","conv":3,"seq":0})"));
  EXPECT_EQ(request_.type, RequestType::kDelivered);
  EXPECT_FALSE(Parse(R"({"type":"read","conv":3})"));
  EXPECT_FALSE(Parse(R"({"type":"read","conv":3,"seq":-1})"));
}

TEST_F(RequestParserTest, SyncAllSomeOrNone) {
  ASSERT_TRUE(Parse(R"({"type":"sync"})"));
  EXPECT_TRUE(request_.sync_all);
  ASSERT_TRUE(Parse(R"({"type":"sync","convs":{"4":10,"12":0}})"));
  EXPECT_FALSE(request_.sync_all);
  ASSERT_EQ(request_.asks.size(), 2u);
  EXPECT_EQ(request_.asks[0].conv, 4);
  EXPECT_EQ(request_.asks[0].after, 10);
  EXPECT_EQ(request_.asks[1].conv, 12);
  ASSERT_TRUE(Parse(R"({"type":"sync","convs":{}})"));
  EXPECT_FALSE(request_.sync_all);
  EXPECT_TRUE(request_.asks.empty());
  EXPECT_FALSE(Parse(R"({"type":"sync","convs":{"x":1}})"));
  EXPECT_FALSE(Parse(R"({"type":"sync","convs":{"1":-1}})"));
  EXPECT_FALSE(Parse(R"({"type":"sync","convs":[1]})"));
}

TEST_F(RequestParserTest, HistoryLimitsAndTypingStates) {
  ASSERT_TRUE(Parse(R"({"type":"history","conv":2})"));
  EXPECT_EQ(request_.limit, 50u);
  EXPECT_EQ(request_.before, 0);
  EXPECT_EQ(request_.seen, 0);
  ASSERT_TRUE(Parse(R"({"type":"history","conv":2,"before":40,"limit":200,"seen":77})"));
  EXPECT_EQ(request_.limit, 200u);
  EXPECT_EQ(request_.before, 40);
  EXPECT_EQ(request_.seen, 77);
  ASSERT_TRUE(Parse(R"({"type":"thread","conv":2,"root":3,"seen":9})"));
  EXPECT_EQ(request_.seen, 9);
  EXPECT_FALSE(Parse(R"({"type":"history","conv":2,"seen":-1})"));
  EXPECT_FALSE(Parse(R"({"type":"history","conv":2,"limit":201})"));
  EXPECT_FALSE(Parse(R"({"type":"history","conv":2,"limit":0})"));
  ASSERT_TRUE(Parse(R"({"type":"typing","conv":2,"state":"stop"})"));
  EXPECT_FALSE(request_.typing);
  EXPECT_FALSE(Parse(R"({"type":"typing","conv":2,"state":"maybe"})"));
}

TEST_F(RequestParserTest, ParserIsReusableAcrossSizes) {
  std::string big = R"({"type":"send","conv":1,"cid":"a","kind":"k","body":"0123456789"})";
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Parse(big));
    ASSERT_TRUE(Parse(R"({"type":"ping"})"));
    EXPECT_EQ(request_.type, RequestType::kPing);
  }
}

// Every event must be valid JSON with "type" first; the bodies round-trip through a real parser.
std::string Reparse(const std::string& json, std::string_view field) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  EXPECT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  EXPECT_EQ(json.rfind(R"({"type":)", 0), 0u) << json;
  std::string_view value;
  if (doc[field].get_string().get(value) != simdjson::SUCCESS) return "<missing>";
  return std::string(value);
}

TEST(EncodeTest, MessageEventEscapesAndKeepsEveryField) {
  storage::Message message{.id = 5,
                           .conv = 2,
                           .seq = 3,
                           .from = 9,
                           .kind = "text",
                           .body = "quote \" backslash \\ newline \n tab \t nul \x01 é",
                           .ts = 17};
  std::string json = EncodeMessageEvent(message);
  EXPECT_EQ(Reparse(json, "body"), message.body);
  EXPECT_EQ(json, R"({"type":"message","id":5,"conv":2,"seq":3,"from":9,"kind":"text","body":)"
                  R"("quote \" backslash \\ newline \n tab \t nul \u0001 é","ts":17})");
}

TEST(EncodeTest, AckErrorReceiptTypingPresenceMembers) {
  storage::Message message{.id = 5, .conv = 2, .seq = 3, .from = 9, .ts = 17};
  EXPECT_EQ(EncodeAck("c\"1", message),
            R"({"type":"ack","cid":"c\"1","conv":2,"id":5,"seq":3,"ts":17})");
  EXPECT_EQ(EncodeError("forbidden", "no", "c1"),
            R"({"type":"error","code":"forbidden","message":"no","cid":"c1"})");
  EXPECT_EQ(EncodeError("bad_request", "x"),
            R"({"type":"error","code":"bad_request","message":"x"})");
  EXPECT_EQ(EncodeReceipt(2, 9, 4, std::nullopt),
            R"({"type":"receipt","conv":2,"user":9,"delivered":4})");
  EXPECT_EQ(EncodeReceipt(2, 9, 4, 4),
            R"({"type":"receipt","conv":2,"user":9,"delivered":4,"read":4})");
  EXPECT_EQ(EncodeTyping(2, 9, true), R"({"type":"typing","conv":2,"user":9,"state":"start"})");
  EXPECT_EQ(EncodePresence(9, false, std::nullopt),
            R"({"type":"presence","user":9,"status":"offline","last_online":null})");
  EXPECT_EQ(EncodePresence(9, true, 100),
            R"({"type":"presence","user":9,"status":"online","last_online":100})");
  EXPECT_EQ(EncodeReconnect(0), R"({"type":"reconnect","after_ms":0})");
  EXPECT_EQ(EncodeReconnect(3600000), R"({"type":"reconnect","after_ms":3600000})");
  storage::ConversationState state{
      .id = 4, .name = "team", .group = true, .members = {{1, 0, 0, "owner"}, {3, 0, 0}}};
  EXPECT_EQ(EncodeMembers(state),
            R"({"type":"members","conv":4,"name":"team","topic":null,"avatar":null,)"
            R"("avatar_thumb":null,"group":true,"members":[1,3],"roles":["owner","member"]})");
  state.avatar = "u1";
  EXPECT_EQ(EncodeMembers(state),
            R"({"type":"members","conv":4,"name":"team","topic":null,"avatar":"/files/u1",)"
            R"("avatar_thumb":"/files/u1/thumb","group":true,"members":[1,3],)"
            R"("roles":["owner","member"]})");
}

TEST(EncodeTest, HistoryPage) {
  storage::Page page;
  page.messages.push_back(
      {.id = 2, .conv = 1, .seq = 2, .from = 1, .kind = "text", .body = "b", .ts = 2});
  page.more = true;
  EXPECT_EQ(EncodeHistory(1, page, 1 << 20),
            R"({"type":"history","conv":1,"messages":[{"id":2,"conv":1,"seq":2,"from":1,)"
            R"("kind":"text","body":"b","ts":2}],"more":true})");
}

TEST(EncodeTest, HistoryPageStopsAtTheByteBoundWithAtLeastOneMessage) {
  storage::Page page;
  for (int64_t seq = 10; seq > 0; --seq) {
    page.messages.push_back({.id = seq,
                             .conv = 1,
                             .seq = seq,
                             .from = 1,
                             .kind = "text",
                             .body = std::string(1000, 'x'),
                             .ts = 2});
  }
  std::string cut = EncodeHistory(1, page, 2500);
  EXPECT_EQ(cut.find(R"("seq":7)"), std::string::npos);
  EXPECT_NE(cut.find(R"("seq":8)"), std::string::npos);  // Past the bound by one message.
  EXPECT_LT(cut.size(), 2500u + 1100u);
  EXPECT_NE(cut.find(R"("more":true)"), std::string::npos);
  std::string one = EncodeHistory(1, page, 1);
  EXPECT_NE(one.find(R"("seq":10)"), std::string::npos);
  EXPECT_EQ(one.find(R"("seq":9)"), std::string::npos);
  EXPECT_NE(EncodeHistory(1, page, 1 << 20).find(R"("more":false)"), std::string::npos);
}

TEST(HttpBodyTest, Credentials) {
  Credentials credentials;
  EXPECT_FALSE(ParseCredentials(R"({"username":"al","password":"pw"})", &credentials));
  EXPECT_EQ(credentials.username, "al");
  EXPECT_TRUE(ParseCredentials(R"({"username":"al"})", &credentials));
  EXPECT_TRUE(ParseCredentials(R"({"username":1,"password":"x"})", &credentials));
  EXPECT_TRUE(ParseCredentials("not json", &credentials));
  EXPECT_TRUE(ParseCredentials(R"({"username":"a","password":"b"} tail)", &credentials));
}

TEST(HttpBodyTest, MessagesNameTheFault) {
  Credentials credentials;
  EXPECT_EQ(ParseCredentials(R"({"username":"a","username":"b","password":"p"})", &credentials),
            "duplicate field \"username\"");
  EXPECT_EQ(ParseCredentials(R"({"username":7,"password":"p"})", &credentials),
            "field \"username\" must be a string");
  std::optional<std::string> surrogate =
      ParseCredentials(R"({"username":"a","password":"pass\udc00word"})", &credentials);
  ASSERT_TRUE(surrogate);
  EXPECT_EQ(surrogate->rfind("field \"password\" is not a valid string", 0), 0u) << *surrogate;
  NewConversation spec;
  EXPECT_EQ(ParseNewConversation(R"({"members":[2],"group":true,"group":false})", &spec),
            "duplicate field \"group\"");
  std::vector<int64_t> members;
  EXPECT_EQ(ParseMemberList(R"({"members":[2],"members":[3]})", &members),
            "duplicate field \"members\"");
  EXPECT_FALSE(ParseMemberList(R"({"members":[2],"other":1,"other":2})", &members));
}

TEST(HttpBodyTest, NewConversationDefaultsGroupFromShape) {
  NewConversation direct;
  EXPECT_FALSE(ParseNewConversation(R"({"members":[2]})", &direct));
  EXPECT_FALSE(direct.group);
  NewConversation named;
  EXPECT_FALSE(ParseNewConversation(R"({"members":[2],"name":"x"})", &named));
  EXPECT_TRUE(named.group);
  NewConversation explicit_group;
  EXPECT_FALSE(ParseNewConversation(R"({"members":[2,3],"group":false})", &explicit_group));
  EXPECT_FALSE(explicit_group.group);
  NewConversation bad;
  EXPECT_TRUE(ParseNewConversation(R"({"members":[0]})", &bad));
  EXPECT_TRUE(ParseNewConversation(R"({"members":"2"})", &bad));
  EXPECT_TRUE(ParseNewConversation(R"({"name":"x"})", &bad));
  NewConversation null_name;
  EXPECT_FALSE(ParseNewConversation(R"({"members":[2],"name":null})", &null_name));
  EXPECT_FALSE(null_name.name.has_value());
  std::vector<int64_t> members;
  EXPECT_FALSE(ParseMemberList(R"({"members":[4,5]})", &members));
  EXPECT_EQ(members, (std::vector<int64_t>{4, 5}));
  members.clear();
  EXPECT_TRUE(ParseMemberList(R"({"members":[]})", &members));
}

// Found by tests/fuzz/chat_request_fuzzer (corpus/chat_request/regress_name_bad_atom): a name
// that starts like null but is not made is_null() fail, and the bool conversion threw
// simdjson_error, which nothing catches on a shard: one request ended the server.
TEST(HttpBodyTest, NewConversationNameThatIsNotQuiteNullIsRefused) {
  for (const char* body : {R"({"members":[2],"name":nv})", R"({"members":[2],"name":nul})",
                           R"({"members":[2],"name":nullx})", R"({"members":[2],"name":n)"}) {
    NewConversation conversation;
    std::optional<std::string> error;
    EXPECT_NO_THROW(error = ParseNewConversation(body, &conversation)) << body;
    EXPECT_TRUE(error.has_value()) << body;
  }
}

}  // namespace
}  // namespace ringcast::chat
