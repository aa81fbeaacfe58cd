// What travels between a call's devices and the shard that holds the call (proto/PROTOCOL.md,
// "Calls: signalling"; chat/README.md, "Calls"): a CallRequest from a session to the holder,
// a CallNote from the holder to the devices. Both cross shards by mail and nodes over the
// Redis bus (ClusterLink), so they are plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/calls/call.h"
#include "chat/routed_id.h"

namespace ringcast::chat {

enum class CallOp : uint8_t {
  kInvite,
  kAccept,
  kDecline,
  kCancel,
  kHangUp,
  kRejoin,
  kSignal,
  kRinging,  // A device of `from.user` rang (the session's shard saw the call_ring go out).
  kDropped,  // `from`'s connection closed while in the call.
  kBlocked,  // `from.user` blocked `to.user`: a 1:1 call between them ends (proto/PROTOCOL.md).
};
inline constexpr uint8_t kLastCallOp = static_cast<uint8_t>(CallOp::kBlocked);

struct CallRequest {
  CallOp op = CallOp::kInvite;
  CallDevice from;   // The device that asks.
  std::string call;  // Every op but kInvite.
  std::string cid;   // Answered with call_ack or an error carrying it; empty: unanswered.
  int64_t conv = 0;  // kInvite.
  CallKind kind = CallKind::kAudio;  // kInvite.
  CallDevice to;                     // kSignal.
  std::string signal_key;            // kSignal: "sdp" or "candidate".
  std::string signal_json;           // kSignal: the object as RequestParser wrote it anew.
  // The node of `from`'s connection when it is not the holder's (cluster mode): the holder
  // drops the device if that node dies.
  std::string node;
  friend bool operator==(const CallRequest&, const CallRequest&) = default;
};

// What a device's session host does with a CallNote besides sending its JSON.
enum class CallTrack : uint8_t {
  kNone,
  kIn,        // The device is now in the call: its close is reported (kDropped).
  kOut,       // The device is out of the call.
  kRing,      // A ring: tell the holder that a device of the user rang (kRinging); kept, for the
              // user's devices that connect while it rings (their hello's `ringing`).
  kStopRing,  // The ring is over: forgotten.
};
inline constexpr uint8_t kLastCallTrack = static_cast<uint8_t>(CallTrack::kStopRing);

struct CallNote {
  // With a device: its user, alone. With device 0: every device of each of these users (a ring
  // and its end go to all the users a call rings as one note: one mail per shard and one
  // publication, however many they are; at most --call-ring-max).
  std::vector<int64_t> users;
  uint64_t device = 0;         // 0: every device of `users` but `except_device`.
  uint64_t except_device = 0;  // With device 0: the one that answered (it keeps its call).
  CallTrack track = CallTrack::kNone;
  int64_t conv = 0;  // kRing: the call's conversation (a removed member's rings are forgotten).
  std::string call;
  std::string json;
};

// A call's id names the shard, and in cluster mode the node, that holds it, so that any node
// routes a request to it without asking anyone: "<16 hex digits>/<shard>[/<node>]". The hex
// digits are random: an id never comes back, not even after a restart, and the record's cid
// ("call:<id>") stays unique for its sender.
using CallHolder = RoutedId;  // Its node empty: a single node's call.
std::string MakeCallId(uint64_t random, uint32_t shard, std::string_view node);
std::optional<CallHolder> ParseCallId(std::string_view id);

// A device id (hello's `device`) carries the shard of its connection in its low byte, so that
// a note for one device is one mail; the rest is random (unique across nodes, below 2^53 for
// JavaScript's numbers).
uint64_t MakeDeviceId(uint64_t random, uint32_t shard);
inline uint32_t DeviceShard(uint64_t device) { return uint32_t(device & 0xff); }

}  // namespace ringcast::chat
