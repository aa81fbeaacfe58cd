#include "chat/stomp/stomp_mapping.h"

#include <gtest/gtest.h>

#include <string>

#include "chat/ops/wire.h"
#include "chat/protocol.h"

namespace ringcast::chat::stomp_map {
namespace {

using namespace std::string_literals;

// A frame parsed from `text` (kept alive by the caller).
stomp::Frame Parse(const std::string& text) {
  static stomp::FrameParser parser;
  stomp::Frame frame;
  EXPECT_EQ(parser.Parse(text, &frame).status, stomp::Status::kOk) << text;
  return frame;
}

// The chat request a SEND to `destination` becomes (by its operation in the registry), or
// "error: <reason>".
std::string Request(std::string_view destination, const std::string& text,
                    std::string_view cid = "c1") {
  const ops::Wire* wire = ops::FindStompWire(destination);
  if (wire == nullptr) return "no operation";
  const stomp::Frame frame = Parse(text);
  std::string error;
  std::optional<std::string> request = wire->from_stomp(frame, cid, &error);
  return request ? *request : "error: " + error;
}

TEST(StompMappingTest, SendDestinations) {
  for (std::string_view name : {"send", "read", "delivered", "typing", "sync", "history", "auth"}) {
    const ops::Wire* wire = ops::FindStompWire("/app/chat." + std::string(name));
    ASSERT_NE(wire, nullptr) << name;
    EXPECT_EQ(wire->type, name);
  }
  EXPECT_EQ(ops::FindStompWire("/app/chat.send/"), nullptr);
  EXPECT_EQ(ops::FindStompWire("/app/chat.thread"), nullptr);
  EXPECT_EQ(ops::FindStompWire("/topic/conversation.1"), nullptr);
}

TEST(StompMappingTest, ASendBecomesTheChatSendRequest) {
  EXPECT_EQ(Request("/app/chat.send", "SEND\nconversation:7\n\nhi \"there\"\n\0"s),
            R"({"type":"send","conv":7,"cid":"c1","body":"hi \"there\"\n"})");
  EXPECT_EQ(Request("/app/chat.send", "SEND\nconv:7\nkind:note\n\nx\0"s, "a\"b"),
            R"({"type":"send","conv":7,"cid":"a\"b","kind":"note","body":"x"})");
  EXPECT_EQ(Request("/app/chat.send", "SEND\n\nx\0"s),
            "error: missing header \"conversation\" (the conversation's id)");
  EXPECT_EQ(Request("/app/chat.send", "SEND\nconversation:0\n\nx\0"s),
            "error: header \"conversation\" must be a positive integer");
  EXPECT_EQ(Request("/app/chat.send", "SEND\nconversation:7x\n\nx\0"s),
            "error: header \"conversation\" must be a positive integer");
}

TEST(StompMappingTest, ReceiptsTypingHistorySyncAndAuth) {
  EXPECT_EQ(Request("/app/chat.read", "SEND\nconversation:3\nseq:12\n\n\0"s),
            R"({"type":"read","conv":3,"seq":12})");
  EXPECT_EQ(Request("/app/chat.delivered", "SEND\nconversation:3\nseq:0\n\n\0"s),
            R"({"type":"delivered","conv":3,"seq":0})");
  EXPECT_EQ(Request("/app/chat.read", "SEND\nconversation:3\n\n\0"s),
            "error: missing header \"seq\"");
  EXPECT_EQ(Request("/app/chat.read", "SEND\nconversation:3\nseq:-1\n\n\0"s),
            "error: header \"seq\" must be a non-negative integer");
  EXPECT_EQ(Request("/app/chat.typing", "SEND\nconversation:3\n\n\0"s),
            R"({"type":"typing","conv":3,"state":"start"})");
  EXPECT_EQ(Request("/app/chat.typing", "SEND\nconversation:3\nstate:stop\n\n\0"s),
            R"({"type":"typing","conv":3,"state":"stop"})");
  EXPECT_EQ(Request("/app/chat.typing", "SEND\nconversation:3\nstate:maybe\n\n\0"s),
            "error: header \"state\" must be start or stop");
  EXPECT_EQ(Request("/app/chat.history", "SEND\nconversation:3\nlimit:5\n\n\0"s),
            R"({"type":"history","conv":3,"limit":5})");
  EXPECT_EQ(Request("/app/chat.history", "SEND\nconversation:3\nbefore:x\n\n\0"s),
            "error: header \"before\" must be a non-negative integer");
  EXPECT_EQ(Request("/app/chat.sync", "SEND\n\n\0"s), R"({"type":"sync"})");
  EXPECT_EQ(Request("/app/chat.sync", "SEND\n\n {\"3\":4}\n\0"s),
            R"({"type":"sync","convs":{"3":4}})");
  EXPECT_EQ(Request("/app/chat.auth", "SEND\npasscode:tok\n\n\0"s),
            R"({"type":"auth","token":"tok"})");
  EXPECT_EQ(Request("/app/chat.auth", "SEND\nAuthorization:bearer tok2\n\n\0"s),
            R"({"type":"auth","token":"tok2"})");
  EXPECT_EQ(Request("/app/chat.auth", "SEND\nAuthorization:Basic x\n\n\0"s).substr(0, 20),
            "error: missing token");
}

// A sync body is read and written anew: it cannot turn the request into another, and what is not
// a sync's "convs" is refused at the gateway.
TEST(StompMappingTest, ASyncBodyIsReadAndWrittenAnew) {
  EXPECT_EQ(Request("/app/chat.sync", "SEND\n\n{\"1\":0},\"type\":\"send\",\"conv\":1\0"s),
            "error: SEND to /app/chat.sync: the body is not JSON: more follows its object");
  EXPECT_EQ(Request("/app/chat.sync", "SEND\n\n{ \"1\" : 0 ,\r\n\"22\":7}\0"s),
            R"({"type":"sync","convs":{"1":0,"22":7}})");
  EXPECT_EQ(Request("/app/chat.sync", "SEND\n\n[1]\0"s).substr(0, 49),
            "error: SEND to /app/chat.sync: field \"convs\" must");
  EXPECT_EQ(Request("/app/chat.sync", "SEND\n\n{\"1\":0\0"s),
            "error: SEND to /app/chat.sync: field \"convs\" must be an object mapping "
            "conversation ids (strings) to non-negative seqs");
}

TEST(StompMappingTest, SubscribeDestinations) {
  std::optional<Subscribable> topic = ParseSubscribable("/topic/conversation.42");
  ASSERT_TRUE(topic);
  EXPECT_TRUE(topic->topic);
  EXPECT_EQ(topic->conv, 42);
  EXPECT_EQ(ParseSubscribable("/topic/conversation.0"), std::nullopt);
  EXPECT_EQ(ParseSubscribable("/topic/conversation.x"), std::nullopt);
  EXPECT_EQ(ParseSubscribable("/topic/conversation."), std::nullopt);
  // Found by tools/fuzz (stomp_session): a leading zero named conversation 3 by another name.
  EXPECT_EQ(ParseSubscribable("/topic/conversation.03"), std::nullopt);
  EXPECT_EQ(ParseSubscribable("/topic/conversation.-3"), std::nullopt);
  std::optional<Subscribable> errors = ParseSubscribable("/user/queue/errors");
  ASSERT_TRUE(errors);
  EXPECT_FALSE(errors->topic);
  EXPECT_EQ(errors->queue, Queue::kErrors);
  EXPECT_EQ(ParseSubscribable("/user/queue/nothing"), std::nullopt);
  EXPECT_EQ(TopicOf(5), "/topic/conversation.5");
  EXPECT_EQ(QueueDestination(Queue::kAcks), "/user/queue/acks");
  EXPECT_EQ(QueueDestination(Queue::kPresence), "/user/queue/presence");
}

TEST(StompMappingTest, QueuesSelectByType) {
  EXPECT_TRUE(QueueTakes(Queue::kEvents, "hello"));
  EXPECT_TRUE(QueueTakes(Queue::kEvents, "error"));
  EXPECT_TRUE(QueueTakes(Queue::kAcks, "ack"));
  EXPECT_FALSE(QueueTakes(Queue::kAcks, "error"));
  EXPECT_TRUE(QueueTakes(Queue::kErrors, "error"));
  EXPECT_TRUE(QueueTakes(Queue::kPresence, "presence"));
  EXPECT_TRUE(QueueTakes(Queue::kPresence, "profile"));
  EXPECT_FALSE(QueueTakes(Queue::kPresence, "members"));
}

TEST(StompMappingTest, ScanEventFindsTheConversationOfItsEvents) {
  storage::Message message;
  message.id = 9;
  message.conv = 77;
  message.seq = 3;
  message.from = 1;
  message.kind = "text";
  message.body = R"(a "conv":5 body, {"conv":6})";
  // The heads' views point into the event: each is kept while its head is read.
  const std::string event = EncodeMessageEvent(message);
  EventHead head = ScanEvent(event);
  EXPECT_EQ(head.type, "message");
  EXPECT_EQ(head.conv, 77);
  EXPECT_EQ(ScanEvent(EncodeReceipt(12, 1, 4, std::nullopt)).conv, 12);
  EXPECT_EQ(ScanEvent(EncodeTyping(13, 1, true)).conv, 13);
  // Personal events: no conversation, even when they name one (members) or hold messages.
  const std::string mention = EncodeMention(message);
  EXPECT_EQ(ScanEvent(mention).conv, 0);
  EXPECT_EQ(ScanEvent(mention).type, "mention");
  EXPECT_EQ(ScanEvent(R"({"type":"members","conv":4,"members":[1,2]})").conv, 0);
  const std::string presence = EncodePresence(3, true, std::nullopt);
  EXPECT_EQ(ScanEvent(presence).type, "presence");
  EXPECT_EQ(ScanEvent("not json").type, "");
  EXPECT_EQ(ScanEvent(R"({"type":"message","id":1,"conv":)").conv, 0);
}

TEST(StompMappingTest, ScanEventFindsTheCidOfAcksAndErrors) {
  storage::Message message;
  message.conv = 2;
  message.seq = 8;
  const std::string ack_event = EncodeAck("x\"y", message);
  EventHead ack = ScanEvent(ack_event);
  EXPECT_EQ(ack.type, "ack");
  EXPECT_TRUE(ack.has_cid);
  EXPECT_EQ(ack.cid_json, CidAsJson("x\"y"));
  const std::string error_event = EncodeError("forbidden", "not a \"member\"", "c\\7");
  EventHead error = ScanEvent(error_event);
  EXPECT_EQ(error.type, "error");
  EXPECT_TRUE(error.has_cid);
  EXPECT_EQ(error.cid_json, CidAsJson("c\\7"));
  EXPECT_EQ(ErrorText(error_event), "forbidden: not a \"member\"");
  const std::string no_cid_event = EncodeError("rate_limited", "slow down", {});
  EventHead no_cid = ScanEvent(no_cid_event);
  EXPECT_FALSE(no_cid.has_cid);
  // A cid echoed as a number answers no SEND.
  EXPECT_FALSE(
      ScanEvent(R"({"type":"error","code":"bad_request","message":"m","cid":12})").has_cid);
  EXPECT_EQ(ErrorText(EncodeError("bad_request", "tab\there\x01\\", {})),
            "bad_request: tab\there\x01\\");
}

TEST(StompMappingTest, HeartBeatHeaders) {
  EXPECT_EQ(ParseHeartBeat("10000,5000"), (std::pair<uint32_t, uint32_t>(10000, 5000)));
  EXPECT_EQ(ParseHeartBeat("0,0"), (std::pair<uint32_t, uint32_t>(0, 0)));
  EXPECT_EQ(ParseHeartBeat("10000"), std::nullopt);
  EXPECT_EQ(ParseHeartBeat("a,b"), std::nullopt);
  EXPECT_EQ(ParseHeartBeat("-1,0"), std::nullopt);
  EXPECT_EQ(ParseHeartBeat("1, 2"), std::nullopt);
}

TEST(StompMappingTest, TheTokenOfAConnect) {
  const std::string passcode = "CONNECT\nlogin:x\npasscode:abc\n\n\0"s;
  EXPECT_EQ(TokenOf(Parse(passcode)), "abc");
  const std::string bearer = "CONNECT\nAuthorization:Bearer def\n\n\0"s;
  EXPECT_EQ(TokenOf(Parse(bearer)), "def");
  const std::string none = "CONNECT\naccept-version:1.2\n\n\0"s;
  EXPECT_EQ(TokenOf(Parse(none)), std::nullopt);
  const std::string empty = "CONNECT\npasscode:\n\n\0"s;
  EXPECT_EQ(TokenOf(Parse(empty)), std::nullopt);
}

}  // namespace
}  // namespace ringcast::chat::stomp_map
