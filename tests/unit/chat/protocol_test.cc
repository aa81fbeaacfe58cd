#include "chat/protocol.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <string_view>
#include <utility>

namespace ringcast::chat {
namespace {

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

// A text message as the store returns it: the JSON the tests expect spells these fields.
storage::Message TextMessage(std::string body) {
  return {
      .id = 5, .conv = 2, .seq = 3, .from = 9, .kind = "text", .body = std::move(body), .ts = 17};
}

TEST(EncodeTest, EncodeAttachmentsKeepsTheSendsOrder) {
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
  storage::Message message = TextMessage("");
  message.attachments = "[]";
  EXPECT_NE(EncodeMessageEvent(message).find(R"("attachments":[])"), std::string::npos);
  message.attachments.clear();
  EXPECT_EQ(EncodeMessageEvent(message).find("attachments"), std::string::npos);
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

TEST(EncodeTest, MessageEventEscapesAndKeepsEveryField) {
  storage::Message message = TextMessage("quote \" backslash \\ newline \n tab \t nul \x01 é");
  std::string json = EncodeMessageEvent(message);
  EXPECT_EQ(Reparse(json, "body"), message.body);
  EXPECT_EQ(json, R"({"type":"message","id":5,"conv":2,"seq":3,"from":9,"kind":"text","body":)"
                  R"("quote \" backslash \\ newline \n tab \t nul \u0001 é","ts":17})");
}

TEST(EncodeTest, AckErrorReceiptTypingPresenceMembers) {
  EXPECT_EQ(EncodeAck("c\"1", TextMessage("")),
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
