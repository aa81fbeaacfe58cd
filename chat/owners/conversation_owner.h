// ConversationOwner: the owner role for the conversations with
// ChatService::ConversationOwnerShard(id) == this shard (chat/README.md, "Who owns what").
//
// It knows which shards have sessions in each of its conversations (joined through their
// ConversationLink) and publishes every committed message, receipt and typing event to them,
// encoded once, in commit (= seq) order. It also keeps caches that save work: the newest seq
// published, the committed watermarks seen (a receipt that would not move them costs no
// write), and the newest committed messages while some shard has sessions in the conversation
// (a history page they cover is answered from memory).
//
// Every committed message goes through one reorder buffer (Accept), whoever reports it: the
// store's answer to a send, a duplicate of a send whose answer was lost, another node (cluster
// mode) or the store itself when it fills a gap. Only Accept publishes a message, as seq
// last_published + 1; a later one waits while the store is read for the missing seqs
// (chat/README.md, "Publishing in seq order"). Two entry points carry everything that reaches
// the shards:
//   - OnCommitted: every committed message of a conversation, in seq order, without a hole;
//   - Publish: every event (message, receipt, typing) on its way to the shards.
//
// Owner: its shard's thread (one per ChatShard). Memory is bounded by the conversations in use
// (chat/README.md, "Memory over a long uptime"): a record no shard has joined is forgotten after
// --idle-state-ttl without use.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "chat/chat_metrics.h"
#include "chat/owners/delivery_lag.h"
#include "core/net/connection.h"
#include "storage/chat_store.h"

namespace ringcast {
class Shard;
}

namespace ringcast::chat {

class ChatService;
class ClusterLink;

class ConversationOwner {
 public:
  // A local send's ack (encoded), carried by the delivery to its sender's shard when that
  // shard is a recipient (one mail instead of two); `json` is emptied once carried.
  struct Rider {
    ConnId origin;
    std::string json;
  };

  ConversationOwner(Shard& shard, ChatService& service, ChatMetrics& metrics);

  // --- From the shards' ConversationLinks -----------------------------------------------------
  // `shard` has sessions in `conv` now: answered with OnJoined there, after which everything
  // published reaches it. `start_seq`: see ConversationLink::Join (unused here yet).
  void Join(int64_t conv, uint32_t shard, uint64_t token, int64_t start_seq);
  void Leave(int64_t conv, uint32_t shard);
  void History(ConnId origin, int64_t conv, int64_t user, int64_t before, int64_t seen,
               uint32_t limit);
  void Watermark(ConnId origin, int64_t conv, int64_t user, bool read, int64_t seq);
  void Typing(int64_t conv, int64_t user, bool start);
  // The store's reply to a send from `origin` in `conv` (ConversationLink::Send): publishes
  // the message (Accept), then acks it.
  // `received_us`: when the send reached its shard (monotonic µs), for the ack latency.
  void OnAppended(ConnId origin, int64_t conv, std::string cid, int64_t received_us,
                  storage::Result<storage::AppendOutcome> result);

  // --- The two entry points -------------------------------------------------------------------
  // The committed message last_published + 1 of `message.conv` (from Accept, which orders
  // them): updates the record (last published, the recent messages, the sender's watermarks)
  // and publishes it, with the `riders` whose shard it goes to.
  void OnCommitted(const storage::Message& message, std::vector<Rider>* riders = nullptr);
  // Sends `json` to the sessions of `conv` on every shard that has some, encoded once. seq > 0:
  // a message, delivered at most once per connection and in seq order; `except_user`'s sessions
  // are skipped (0: none); `droppable` events are skipped for a connection far behind.
  void Publish(int64_t conv, int64_t seq, std::string_view json, int64_t except_user,
               bool droppable, std::vector<Rider>* riders = nullptr);

  // Forgets the owned conversations that nobody has joined or used for --idle-state-ttl.
  void ForgetIdle(int64_t now_ms);

  // --- Cluster mode (docs/cluster.md) -----------------------------------------------------------
  // A send from `origin` (ConversationLink::Send): committed here, or forwarded to the node
  // that writes the conversation and acked when its answer comes back ("Writers").
  void Send(ConnId origin, storage::NewMessage message, int64_t received_us);
  // A send another node forwarded here to commit; answered to `from_node`.
  void OnForwardedSend(std::string from_node, uint64_t forward_id, storage::NewMessage message);
  // The writing node's answer to a send forwarded from here.
  void OnForwardAnswer(uint64_t forward_id, storage::Result<storage::AppendOutcome> result);
  // A message another node committed (ClusterLink), or one read from the store to fill a gap.
  void OnRemoteMessage(storage::Message message);
  // Watermarks another node committed (-: not moved).
  void OnRemoteReceipt(int64_t conv, int64_t user, std::optional<int64_t> delivered,
                       std::optional<int64_t> read);
  // Publications on `conv` may have been missed (cluster mode), or a commit whose answer was
  // lost: compare with the store's newest seq.
  void CheckHead(int64_t conv);
  // Every tick (100 ms): fills gaps that waited --gap-fill-delay-ms, runs the checks.
  void OnTick(int64_t now_ms);
  // A refused send or change's error code and reason (proto/PROTOCOL.md, "Changes to messages");
  // the HTTP routes for changes answer with them too.
  static std::pair<std::string_view, std::string_view> RefusalOf(storage::Denial denial);

 private:
  struct Watermarks {
    int64_t delivered = 0;
    int64_t read = 0;
  };
  struct Ack {
    ConnId origin;
    std::string cid;
    int64_t received_us = 0;  // Monotonic: when the send reached its shard.
  };
  // A message ahead of last_published, and the acks of local sends waiting for it to go out.
  struct Early {
    storage::Message message;
    bool have_message = false;
    std::vector<Ack> acks;
  };
  // A conversation this shard owns.
  struct OwnedConv {
    uint64_t shard_mask = 0;      // Shards with sessions in it.
    int64_t last_published = -1;  // -1: nothing published since start.
    // Committed watermarks seen since start, per member (a lower bound of the stored ones).
    std::unordered_map<int64_t, Watermarks> watermarks;
    // The newest committed messages, contiguous, while some shard has sessions in it.
    std::deque<storage::Message> recent;
    int64_t last_used_ms = 0;  // Monotonic: the latest join, leave, commit or receipt.
    bool idle_listed = false;  // In idle_convs_.
    // While some shard has joined: the reorder buffer (chat/README.md, docs/cluster.md).
    std::map<int64_t, Early> early;
    int64_t known_head = 0;     // The newest seq known to be committed.
    int64_t gap_since_ms = -1;  // Monotonic: since when a seq is missing; -1: none.
    bool filling = false;       // A ReadRange is on its way.
    // The shards a mail to was refused, and what each still needs (delivery_lag.h).
    DeliveryLag lag;
  };

  // Messages one gap fill or refill reads at most (a conversation far behind catches up over
  // ticks).
  static constexpr uint32_t kFillLimit = 500;

  // The record of `conv`, created if need be, marked as used now.
  OwnedConv& Use(int64_t conv);
  // A send that waits for the writing node's answer; past its deadline it is committed here.
  struct Forwarded {
    ConnId origin;
    int64_t received_us = 0;
    std::string writer;
    storage::NewMessage message;
  };

  // Commits a send through this node's store (the local path, and a forward's fallback).
  void AppendHere(ConnId origin, storage::NewMessage message, int64_t received_us);
  // The acks and errors of a committed (or refused) send in `conv`; `publish`: tell the other
  // nodes (false when the writing node did).
  void Settle(ConnId origin, int64_t conv, std::string cid, int64_t received_us,
              storage::Result<storage::AppendOutcome> result, bool publish);
  // Forwards whose writer did not answer in time are committed here instead.
  void ExpireForwards(int64_t now_ms);
  // The reorder buffer (conversation_owner_order.cc). A committed message, from the store's
  // answer, another node or a gap fill, in any order and possibly again; `ack` (a local send's)
  // goes out once the message has.
  void Accept(const storage::Message& message, std::optional<Ack> ack);
  // A fresh commit at or below last_published with another message than the one published
  // there: the database lost acknowledged commits (a failover); ordering restarts at its seq.
  void FollowRewind(const storage::Message& message);
  // Publishes what the buffer holds from last_published + 1 on, and settles the gap.
  void Drain(int64_t conv, OwnedConv& owned);
  void Fill(int64_t conv, OwnedConv& owned);
  void RunChecks(int64_t now_ms);
  // No shard has sessions in `conv` any more: its seq state is forgotten, to be learnt again
  // from the next joiner, and in cluster mode its channel is no longer followed.
  void StopOrdering(int64_t conv, OwnedConv& owned);
  void SendAck(const Ack& ack, const storage::Message& message);
  // The ack, encoded and counted in the metrics.
  Rider MakeRider(const Ack& ack, const storage::Message& message);
  // An ack that no delivery carried, on its own (nothing when `rider` was carried).
  void SendRider(Rider& rider, const storage::Message& message);
  // Mail to one shard's SessionHost; false when refused (that shard is far behind).
  [[nodiscard]] bool PostJoined(uint32_t shard, int64_t conv, uint64_t token, int64_t last);
  [[nodiscard]] bool PostDelivery(uint32_t shard, const storage::Message& message);
  [[nodiscard]] bool PostText(ConnId conn, const std::string& json);
  // Sends the lagging shards of `conv` what they lack, in order (delivery_lag.h); `entry`'s
  // part is done when RefillShard returns true.
  void Refill(int64_t conv, OwnedConv& owned);
  bool RefillShard(int64_t conv, OwnedConv& owned, DeliveryLag::Entry& entry);
  void ReadForRefill(int64_t conv, DeliveryLag::Entry& entry);
  // The held acks of a shard that stopped lagging or left: they go as they are.
  void ReleaseAcks(std::deque<DeliveryLag::HeldAck> acks);
  void SendAcks(std::vector<Ack>& acks, const storage::Message& message);
  // An error event to one connection (SendTo), counted in the metrics.
  void SendError(ConnId conn, std::string_view code, std::string_view message,
                 std::string_view cid = {});
  // Lists `conv` for forgetting when no shard has sessions in it.
  void NoteIdle(int64_t conv, OwnedConv& owned);
  // A frame to one connection on any shard (SessionHost::SendText there).
  void SendTo(ConnId conn, std::string json);
  // Like SendTo, for the answer to a history request (SessionHost::FinishAnswer there).
  void AnswerTo(ConnId conn, std::string json);

  Shard& shard_;
  ChatService& service_;
  ChatMetrics& metrics_;
  std::unordered_map<int64_t, OwnedConv> owned_convs_;
  // Owned conversations that no shard has joined, with when they were listed (monotonic ms),
  // roughly oldest first.
  std::deque<std::pair<int64_t, int64_t>> idle_convs_;

  std::unordered_set<int64_t> gaps_;      // Joined conversations with a seq missing.
  std::unordered_set<int64_t> to_check_;  // Joined conversations to compare with the store.
  std::unordered_set<int64_t> lagging_;   // Conversations with a lagging shard, refilled per tick.
  bool checking_ = false;                 // A LastSeqs is on its way.
  int64_t next_check_ms_ = 0;             // Monotonic: no LastSeqs before (after a failed one).

  // Cluster mode.
  ClusterLink* const cluster_;
  std::unordered_map<uint64_t, Forwarded> forwarded_;  // By forward id.
  // (deadline, forward id), monotonic ms, oldest first; answered ones are skipped when due.
  std::deque<std::pair<int64_t, uint64_t>> forward_deadlines_;
  uint64_t next_forward_id_ = 1;
  // Writers that let a forward time out, with until when (monotonic ms) this node writes
  // their conversations itself.
  std::unordered_map<std::string, int64_t> unresponsive_writers_;
  int64_t next_full_check_ms_ = 0;  // Monotonic.
};

}  // namespace ringcast::chat
