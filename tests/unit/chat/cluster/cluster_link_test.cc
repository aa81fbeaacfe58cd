// The chat's cluster wire format (chat/cluster/cluster_link.h): what one node publishes, another
// decodes to the same fields, whatever bytes a body holds.
#include "chat/cluster/cluster_link.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>

namespace ringcast::chat {
namespace {

// A message from user 7 in conversation 42, its header fields distinct so that a swap shows;
// each test sets what it is about.
storage::Message AMessage(std::string body, std::string kind = "text") {
  return {.id = 5,
          .conv = 42,
          .seq = 9,
          .from = 7,
          .kind = std::move(kind),
          .body = std::move(body),
          .ts = 3};
}

// A send by user 7 to conversation 42 (cid "c1"), as the node that forwards it has it.
storage::NewMessage ASend(std::string body, std::string kind = "text") {
  return {.conv = 42,
          .sender = 7,
          .cid = "c1",
          .kind = std::move(kind),
          .body = std::move(body),
          .ts = 1};
}

// Publishes `message` and decodes it as another node would (the conversation comes from the
// channel): every field the wire carries comes back as it was.
void ExpectCrossesIntact(const storage::Message& message) {
  auto decoded = ClusterLink::DecodeMessage(message.conv, ClusterLink::EncodeMessage(message));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->id, message.id);
  EXPECT_EQ(decoded->conv, message.conv);
  EXPECT_EQ(decoded->seq, message.seq);
  EXPECT_EQ(decoded->from, message.from);
  EXPECT_EQ(decoded->ts, message.ts);
  EXPECT_EQ(decoded->kind, message.kind);
  EXPECT_EQ(decoded->body, message.body);
  EXPECT_EQ(decoded->mentions, message.mentions);
  EXPECT_EQ(decoded->attachments, message.attachments);
  EXPECT_EQ(decoded->target, message.target);
  EXPECT_EQ(decoded->reaction_on, message.reaction_on);
  EXPECT_EQ(decoded->reply_to, message.reply_to);
  EXPECT_EQ(decoded->quote, message.quote);
  EXPECT_EQ(decoded->thread_root, message.thread_root);
}

// A send forwarded by node "n1" (its forward 5), as the writer node decodes it.
std::optional<ClusterLink::ForwardedSend> CrossForward(const storage::NewMessage& send) {
  return ClusterLink::DecodeForward(ClusterLink::EncodeForward("n1", 5, send));
}

// The writer's answer to forward `forward_id` in conversation 42, the store's `outcome`, as the
// forwarding node decodes it.
std::optional<ClusterLink::ForwardAnswer> CrossAnswer(uint64_t forward_id,
                                                      const storage::AppendOutcome& outcome) {
  return ClusterLink::DecodeForwardAnswer(ClusterLink::EncodeForwardAnswer(
      forward_id, 42, storage::Result<storage::AppendOutcome>(outcome)));
}

TEST(ClusterLinkTest, MessagesRoundTripWithAnyBody) {
  storage::Message message = AMessage(std::string("line\none \0 two 12 34", 20));
  message.ts = 1795355752123;
  ExpectCrossesIntact(message);
  message.body.clear();
  ExpectCrossesIntact(message);
}

TEST(ClusterLinkTest, MessagesCarryTheirMentions) {
  storage::Message message = AMessage("@bo 5 6");
  message.mentions = {5, 9};
  ExpectCrossesIntact(message);
  message.attachments = R"([{"id":"x"}])";
  ExpectCrossesIntact(message);
  EXPECT_FALSE(ClusterLink::DecodeMessage(4, "m 1 2 3 7 4 2 5\ntext"));  // One mention short.
}

TEST(ClusterLinkTest, RepliesCrossNodesWithTheirQuote) {
  storage::Message message = AMessage("yes\n12 34");
  message.mentions = {5};
  message.attachments = R"([{"id":"x"}])";
  message.reply_to = 6;
  message.quote = storage::Quote{.from = 5, .excerpt = "was it\n 1 2?"};
  message.thread_root = 2;
  ExpectCrossesIntact(message);
  // A deleted parent's quote: no excerpt to carry.
  message.quote = storage::Quote{.from = 5, .deleted = true};
  message.attachments.clear();
  ExpectCrossesIntact(message);
  EXPECT_FALSE(ClusterLink::DecodeMessage(4, "q 1 2 3 7 4 0 6 0 5 0 99\ntextyes"));

  storage::NewMessage send = ASend("b 1");
  send.reply_to = 6;
  send.thread = true;
  auto forwarded = CrossForward(send);
  ASSERT_TRUE(forwarded);
  EXPECT_EQ(forwarded->message.reply_to, 6);
  EXPECT_TRUE(forwarded->message.thread);
  EXPECT_EQ(forwarded->message.body, "b 1");
  send.reply_to = 0;
  send.thread = false;
  forwarded = CrossForward(send);
  ASSERT_TRUE(forwarded);
  EXPECT_EQ(forwarded->message.reply_to, 0);
  EXPECT_FALSE(forwarded->message.thread);
}

TEST(ClusterLinkTest, MalformedMessagesAreRefused) {
  for (std::string_view bad : {"", "m", "m 1 2 3", "m 1 2 3 4 5", "m 1 2 3 4 99\ntext",
                               "m 1 0 3 4 4\ntext", "x 1 2 3 4 4\ntext", "m a 2 3 4 4\ntext"}) {
    EXPECT_FALSE(ClusterLink::DecodeMessage(1, bad)) << bad;
  }
}

TEST(ClusterLinkTest, MembershipChangesRoundTrip) {
  storage::ConversationState state;
  state.id = 5;
  state.group = true;
  state.name = "ops 1 2\nteam";
  state.topic = "topic 3\n4";
  state.avatar = "u7f3a";
  state.last_seq = 99;
  state.members = {{1, 90, 80, "owner"}, {4, 99, 99, "admin"}, {7, 0, 0}};
  const std::vector<int64_t> removed = {2, 3};
  storage::ConversationState got;
  std::vector<int64_t> got_removed;
  ASSERT_TRUE(
      ClusterLink::DecodeMembers(ClusterLink::EncodeMembers(state, removed), &got, &got_removed));
  EXPECT_EQ(got.id, 5);
  EXPECT_TRUE(got.group);
  EXPECT_EQ(got.name, state.name);
  EXPECT_EQ(got.last_seq, 99);
  ASSERT_EQ(got.members.size(), 3u);
  EXPECT_EQ(got.members[1].user, 4);
  EXPECT_EQ(got.members[0].delivered, 90);
  EXPECT_EQ(got.members[0].read, 80);
  EXPECT_EQ(got.topic, state.topic);
  EXPECT_EQ(got.avatar, state.avatar);
  EXPECT_EQ(got.members[0].role, "owner");
  EXPECT_EQ(got.members[1].role, "admin");
  EXPECT_EQ(got.members[2].role, "member");
  EXPECT_EQ(got_removed, removed);

  state.name.reset();
  state.topic.reset();
  state.avatar.reset();
  state.group = false;
  got = {};
  got_removed.clear();
  ASSERT_TRUE(
      ClusterLink::DecodeMembers(ClusterLink::EncodeMembers(state, {}), &got, &got_removed));
  EXPECT_FALSE(got.name);
  EXPECT_FALSE(got.topic);
  EXPECT_FALSE(got.avatar);
  EXPECT_FALSE(got.group);
  EXPECT_TRUE(got_removed.empty());
  // A record from a node that predates avatars (none after the removed users) reads as before.
  got = {};
  ASSERT_TRUE(ClusterLink::DecodeMembers("M 5 1 99 -1 -1 1 1\n 1 2 3 2 8", &got, &got_removed));
  EXPECT_FALSE(got.avatar);
  EXPECT_EQ(got.members[0].role, "owner");
  EXPECT_FALSE(ClusterLink::DecodeMembers("M 5 1 99 -1 -1 3 0\n 1 2 3 0", &got, &got_removed));
  EXPECT_FALSE(ClusterLink::DecodeMembers("M 5 1 99 -1 -1 1 0\n 1 2 3 7", &got, &got_removed))
      << "no such role";
}

TEST(ClusterLinkTest, ForwardedSendsRoundTripWithAnyBytes) {
  storage::NewMessage message = ASend(std::string("a\0b 3 4\nz", 10));
  message.cid = "c 1\n2";
  message.ts = 1795355752123;
  message.mentions = {3, 12};
  auto decoded = ClusterLink::DecodeForward(ClusterLink::EncodeForward("node-1", 99, message));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->from_node, "node-1");
  EXPECT_EQ(decoded->forward_id, 99u);
  EXPECT_EQ(decoded->message.conv, 42);
  EXPECT_EQ(decoded->message.sender, 7);
  EXPECT_EQ(decoded->message.cid, message.cid);
  EXPECT_EQ(decoded->message.kind, "text");
  EXPECT_EQ(decoded->message.body, message.body);
  EXPECT_EQ(decoded->message.ts, message.ts);
  EXPECT_EQ(decoded->message.mentions, message.mentions);
  for (std::string_view bad :
       {"", "f 1 2 3 4", "f 1 2 3 4 2 1 4 2 5\nn1ctext", "f 1 2 3 4 0 1 4 0\nxtext",
        "f 1 2 3 4 9 1 4 0\nn1", "a 1 2 0 0 m 1 2 3 4 4\ntext"}) {
    EXPECT_FALSE(ClusterLink::DecodeForward(bad)) << bad;
  }
}

TEST(ClusterLinkTest, ForwardAnswersCarryTheOutcome) {
  storage::AppendOutcome outcome;
  outcome.duplicate = true;
  outcome.message = AMessage("hi m");
  auto committed = CrossAnswer(11, outcome);
  ASSERT_TRUE(committed && committed->result.ok());
  EXPECT_EQ(committed->forward_id, 11u);
  EXPECT_EQ(committed->conv, 42);
  EXPECT_TRUE(committed->result->duplicate);
  EXPECT_EQ(committed->result->message.seq, 9);
  EXPECT_EQ(committed->result->message.body, "hi m");

  auto unavailable = ClusterLink::DecodeForwardAnswer(ClusterLink::EncodeForwardAnswer(
      12, 42, storage::Status(storage::Errc::kUnavailable, "down")));
  ASSERT_TRUE(unavailable);
  EXPECT_FALSE(unavailable->result.ok());
  EXPECT_EQ(unavailable->result.status().errc(), storage::Errc::kUnavailable);

  storage::AppendOutcome refused;
  refused.denial = storage::Denial::kForbidden;
  auto forbidden = CrossAnswer(13, refused);
  ASSERT_TRUE(forbidden && forbidden->result.ok());
  EXPECT_EQ(forbidden->result->denial, storage::Denial::kForbidden);

  for (std::string_view bad : {"", "a 1 2", "a 1 2 0", "a 1 2 0 1", "a 1 2 0 1 m 1 2"}) {
    EXPECT_FALSE(ClusterLink::DecodeForwardAnswer(bad)) << bad;
  }
}

// Changes to messages (issue 25): a change and a forwarded change carry their target (and the
// edit window) under tags of their own ("c", "e"); a refused change's answer says why.
TEST(ClusterLinkTest, ChangesCrossNodesWithTheirTarget) {
  storage::Message edit = AMessage("fixed 1 2\n", "edit");
  edit.mentions = {4};
  edit.target = 10;
  EXPECT_EQ(ClusterLink::EncodeMessage(edit)[0], 'c');
  ExpectCrossesIntact(edit);
  edit.kind = "reaction";
  edit.body = "\xF0\x9F\x91\x8D";
  edit.reaction_on = 0;
  ExpectCrossesIntact(edit);
  EXPECT_FALSE(ClusterLink::DecodeMessage(42, "c 8 12 3 9 4 0 -1\nedit"));  // No target 0.
  EXPECT_FALSE(ClusterLink::DecodeMessage(42, "c 8 12 3 9 4 10\nedit"));    // No on.

  storage::NewMessage change{.conv = 42,
                             .sender = 3,
                             .cid = "c-1",
                             .kind = "delete",
                             .ts = 9,
                             .target = 10,
                             .edit_window_ms = 60000,
                             .reaction_on = false,
                             .max_reactions = 7,
                             .max_pins = 9};
  const std::string forward = ClusterLink::EncodeForward("n1", 5, change);
  EXPECT_EQ(forward[0], 'e');
  auto forwarded = ClusterLink::DecodeForward(forward);
  ASSERT_TRUE(forwarded);
  EXPECT_EQ(forwarded->message.target, 10);
  EXPECT_EQ(forwarded->message.edit_window_ms, 60000);
  EXPECT_FALSE(forwarded->message.reaction_on);
  EXPECT_EQ(forwarded->message.max_reactions, 7u);
  EXPECT_EQ(forwarded->message.max_pins, 9u);
  EXPECT_EQ(forwarded->message.kind, "delete");
  EXPECT_EQ(forwarded->message.cid, "c-1");

  for (storage::Denial denial :
       {storage::Denial::kNotFound, storage::Denial::kNotAuthor, storage::Denial::kTooLate,
        storage::Denial::kGone, storage::Denial::kTooMany, storage::Denial::kTooManyPins}) {
    storage::AppendOutcome refused;
    refused.denial = denial;
    auto answer = CrossAnswer(1, refused);
    ASSERT_TRUE(answer && answer->result.ok());
    EXPECT_EQ(answer->result->denial, denial);
  }
  // An answer from a node that sends no reason is the refusal it always meant.
  auto old = ClusterLink::DecodeForwardAnswer("a 1 42 2");
  ASSERT_TRUE(old && old->result.ok());
  EXPECT_EQ(old->result->denial, storage::Denial::kForbidden);
}

// Files (issue 15): messages and forwarded sends that carry attachments take their own tags
// ("x", "g"), so that a node without them skips them rather than misread them.
TEST(ClusterLinkTest, AttachmentsCrossNodes) {
  storage::Message message = AMessage("see\nfile");
  message.attachments = R"([{"id":"AAAAAAAAAAAAAAAAAAAAAA","name":"a b\n"}])";
  EXPECT_TRUE(ClusterLink::EncodeMessage(message).starts_with('x'));
  ExpectCrossesIntact(message);
  message.attachments.clear();
  EXPECT_TRUE(ClusterLink::EncodeMessage(message).starts_with('m'));

  storage::NewMessage send = ASend("b");
  send.mentions = {3, 4};
  send.attachments = R"([{"id":"x"},{"id":"y"}])";
  send.attachment_ids = {"AAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBB"};
  auto forwarded = CrossForward(send);
  ASSERT_TRUE(forwarded);
  EXPECT_EQ(forwarded->message.attachments, send.attachments);
  EXPECT_EQ(forwarded->message.attachment_ids, send.attachment_ids);
  EXPECT_EQ(forwarded->message.mentions, send.mentions);
  EXPECT_EQ(forwarded->message.body, "b");
  EXPECT_EQ(forwarded->message.cid, "c1");

  storage::AppendOutcome outcome;
  outcome.message = AMessage("m");
  outcome.message.attachments = "[1]";
  auto answer = CrossAnswer(1, outcome);
  ASSERT_TRUE(answer && answer->result.ok());
  EXPECT_EQ(answer->result->message.attachments, "[1]");
  EXPECT_FALSE(ClusterLink::DecodeMessage(42, "x 1 2 3 4 4 99\ntext[]"));
}

// Calls (docs/cluster.md, "Calls"): a note for devices on every node, a request for the node
// that holds the call; their strings by length, so any bytes pass.
TEST(ClusterLinkTest, CallNotesAndRequestsRoundTrip) {
  // A ring names every user it rings: one publication for them all.
  const CallNote note{.users = {7, 8, 1000},
                      .device = 0x1234500,
                      .except_device = 99,
                      .track = CallTrack::kRing,
                      .conv = 42,
                      .call = "00000000000000ab/1/n-1",
                      .json = "{\"type\":\"call_ring\"}\n\n"};
  auto decoded = ClusterLink::DecodeCallNote(ClusterLink::EncodeCallNote(note));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->users, note.users);
  EXPECT_EQ(decoded->conv, 42);
  EXPECT_EQ(decoded->device, note.device);
  EXPECT_EQ(decoded->except_device, 99u);
  EXPECT_EQ(decoded->track, CallTrack::kRing);
  EXPECT_EQ(decoded->call, note.call);
  EXPECT_EQ(decoded->json, note.json);

  const CallRequest request{.op = CallOp::kSignal,
                            .from = CallDevice{3, 777},
                            .call = "00000000000000ab/1/n-1",
                            .cid = "c\n1",
                            .conv = 42,
                            .kind = CallKind::kVideo,
                            .to = CallDevice{4, 888},
                            .signal_key = "sdp",
                            .signal_json = "{\"sdp\":\"v=0\\r\\n\"}",
                            .node = "n-2"};
  auto back = ClusterLink::DecodeCallRequest(ClusterLink::EncodeCallRequest(request));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->op, CallOp::kSignal);
  EXPECT_EQ(back->from, request.from);
  EXPECT_EQ(back->to, request.to);
  EXPECT_EQ(back->call, request.call);
  EXPECT_EQ(back->cid, request.cid);
  EXPECT_EQ(back->conv, 42);
  EXPECT_EQ(back->kind, CallKind::kVideo);
  EXPECT_EQ(back->signal_key, "sdp");
  EXPECT_EQ(back->signal_json, request.signal_json);
  EXPECT_EQ(back->node, "n-2");

  EXPECT_FALSE(ClusterLink::DecodeCallNote("C 2 3 9 4 1 1 7\nab"));       // Track out of range.
  EXPECT_FALSE(ClusterLink::DecodeCallNote("C 2 3 1 4 1 0\nab"));         // Nobody to tell.
  EXPECT_FALSE(ClusterLink::DecodeCallNote("C 2 3 1 4 1 3 7\nab"));       // Fewer users than said.
  EXPECT_FALSE(ClusterLink::DecodeCallNote("C 2 3 1 4 1 999999 7\nab"));  // More than could fit.
  EXPECT_FALSE(ClusterLink::DecodeCallRequest("K 1 2 3 4 5 6 0 1 99 0 0\nx"));  // Too short.
  EXPECT_FALSE(ClusterLink::DecodeCallRequest("K 99 2 3 4 5 6 0 0 0 0 0\n"));   // No such op.
}

}  // namespace
}  // namespace ringcast::chat
