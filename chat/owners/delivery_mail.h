// DeliveryMail: the hot mail of the chat's fan-out, a conversation's event from its owner shard
// to one shard with sessions in it (ConversationOwner::Publish, the refill's PostDelivery),
// packed into the Mail's own words so that posting one allocates nothing.
//
// Owner: built on the owner shard, run (or, when refused, released) once. The mail owns one
// reference to the frame (and the ack ride, when one rides) until it runs on the target shard,
// where LocalConversations::DeliverLocal takes the reference; a mail that is refused or dropped
// unrun (at shutdown) is released with Release(), which frees what it owns.
//
// Layout (the run function says which): ptr the frame, a the conversation, b its seq; an event
// with no seq (a receipt, typing) has the user it skips in b, and a droppable one (typing) its
// own run function. The publish time (monotonic µs, for the delivery latency) travels in the
// frame's stamp, its low 32 bits: a latency is their difference modulo 2^32, right up to 71
// minutes. The sender's ack riding with its shard's delivery (docs/architecture.md, "Thread
// crossings") is the one case with an allocation: the ride (ack text and connection) replaces
// the frame in ptr, one per send, never one per recipient shard.
#pragma once

#include <cstdint>
#include <string>

#include "core/net/connection.h"
#include "core/net/shared_frame.h"
#include "core/runtime/mailbox.h"

namespace ringcast::chat {

class ChatShard;

struct Delivery {
  int64_t conv = 0;
  int64_t seq = 0;  // 0 for an event that is not a message (receipt, typing).
  int64_t except_user = 0;
  bool droppable = false;
  SharedFrame* frame = nullptr;  // One reference.
  int64_t published_us = 0;      // Monotonic; 0 for an event.
  // The sender's ack, to its connection on the target shard; empty when none rides.
  ConnId ack_to;
  std::string ack;
};

class DeliveryMail {
 public:
  // Takes the frame's reference and moves the ack out of `delivery`. A message's publish time
  // is written to the frame's stamp: every mail of one publish carries the same, so only the
  // first Pack of a frame writes it.
  static Mail Pack(Delivery& delivery);
  // On the target shard: what Pack took (the frame's reference and the ack go to the caller).
  // `now_us` (monotonic) rebuilds the publish time from the stamp.
  static Delivery Unpack(const Mail& mail, int64_t now_us);
  // A mail that will not run: releases the frame's reference and frees the ack ride.
  static void Release(const Mail& mail);

 private:
  struct AckRide;
  enum class Kind : uint8_t { kMessage, kEvent, kDroppable, kAcked };
  static Kind KindOf(const Mail& mail);
  static Delivery UnpackAs(const Mail& mail, Kind kind, int64_t now_us);
  static void RunMessage(Shard& shard, const Mail& mail);
  static void RunEvent(Shard& shard, const Mail& mail);
  static void RunDroppable(Shard& shard, const Mail& mail);
  static void RunAcked(Shard& shard, const Mail& mail);
  static void Run(const Mail& mail, Kind kind);
};

}  // namespace ringcast::chat
