// SseHub: the chat's HTTP transports of one shard (proto/PROTOCOL.md, "SSE and long
// polling"): a chat session whose events reach its client as Server-Sent Events on a streamed
// answer (GET /sse) or as answers to long polls (GET /sse/poll), and whose requests arrive as
// POST /sse/send. The routes are api/transport_routes.cc's; this is their state.
//
// Owner: its shard's thread (one per ChatShard). A session is an ordinary SessionHost session
// (DetachedSessions::Open) on the shard that opened it, whose transport (SseTransport)
// appends each event to its channel here. A channel outlives the requests that carry it:
//   - events: the recent ones, numbered 1, 2, ... (an SSE event's `id` is "<session>:<n>"),
//     bounded by --sse-buffer-bytes and --sse-buffer-events. A client that resumes with the
//     number of the last event it has (Last-Event-ID, or a poll's `after`) gets the rest, with
//     no gap and no duplicate; what a client has confirmed is dropped. An event the client
//     never got that has to make room cuts the session (1008, the /ws slow-consumer close): it
//     starts again with hello and resumes by sync.
//   - at most one stream: a connection on any shard of this node (a reconnect lands on any
//     shard: the bytes go there by mail), or one poll waiting (--sse-poll-timeout). A session's
//     `conn` is its stream's connection when that is on this shard, so that congestion holds its
//     requests back as for /ws; a stream whose connection has --max-outbound-bytes unsent is
//     ended (its client resumes from its Last-Event-ID, losing nothing still buffered).
//   - --sse-grace: how long a session with no stream and no poll lives on, for a resume.
// A channel whose session has ended keeps its last events (the `close` event among them) for
// the grace too, so that a poll still learns why.
//
// Invariants: ids in `events` are consecutive and below next_id; acked <= next_id - 1; a
// channel has a stream or a poll or neither, never both.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "chat/sessions/session_transport.h"
#include "chat/sessions/sse_wire.h"
#include "core/net/body_stream.h"
#include "core/net/http_exchange.h"

namespace ringcast {
class Clock;
class Shard;
}  // namespace ringcast

namespace ringcast::chat {

class ChatService;
class DetachedSessions;
struct Config;

class SseHub {
 public:
  enum class Mode : uint8_t { kStream, kPoll };
  // Who asked (the HTTP request's shard, and the request waiting there for its answer).
  struct Asker {
    uint32_t shard = 0;
    DeferredHttp deferred;
  };
  struct Opening {
    int64_t user = 0;
    std::string jti;
    int64_t exp_s = 0;
    std::string address;  // Counted (--max-conns-per-ip) until the session ends.
  };
  SseHub(Shard& shard, ChatService& service, DetachedSessions& sessions);
  ~SseHub();

  // --- On the shard of the request (the transport routes) --------------------------------------
  // A new session here, its events streamed on `deferred`'s connection (GET /sse) or answered
  // to it as a poll (GET /sse/poll without a session).
  void Open(const DeferredHttp& deferred, Opening opening, Mode mode);
  // The response head and first bytes of a stream whose channel is on `channel_shard`: the
  // answer starts; its later bytes come by StreamWrite. False when the connection has gone.
  bool StartStream(const DeferredHttp& deferred, uint32_t channel_shard, std::string key,
                   std::string_view first_bytes);
  // Bytes for a stream of this shard (the channel is elsewhere); `end` ends it after them.
  void StreamWrite(ConnId conn, std::string_view bytes, bool end);
  void AnswerPoll(const DeferredHttp& deferred, int status, std::string_view body);

  // --- On the channel's shard (direct, or by mail from the request's shard) -----------------
  // GET /sse with a Last-Event-ID of one of this shard's channels: the stream resumes after
  // event `last` (true), or nothing is done (false: the asker opens a new session).
  bool Resume(const Asker& asker, int64_t user, const std::string& key, uint64_t last);
  // GET /sse/poll?session=&after=: answered now when events after `after` are there, else held.
  void Poll(const Asker& asker, int64_t user, const std::string& key, uint64_t after);
  // POST /sse/send: each line of `body` is one request of the chat protocol. False when the
  // session is not there, has ended, or is another user's (one answer for all three).
  bool Post(int64_t user, const std::string& key, std::string_view body);
  // A stream of this channel's (on `conn`) has gone, or cannot take more.
  void OnStreamGone(const std::string& key, ConnId conn);
  void OnStreamWritable(const std::string& key, ConnId conn);

  // Once a second: keep-alives, polls past their timeout, channels past their grace.
  void Sweep(int64_t now_ms);

  // The sessions on each transport, for the metrics.
  size_t streamed() const { return open_by_mode_[0]; }
  size_t polled() const { return open_by_mode_[1]; }
  // Every channel held: open sessions', and ended ones' kept for --sse-grace.
  size_t channel_count() const { return channels_.size(); }

 private:
  class Transport;
  class StreamSource;
  struct Event {
    uint64_t id = 0;
    std::string json;
  };
  struct Channel {
    std::string key;
    ConnId session;  // The DetachedSessions' id; cleared once the session has ended.
    int64_t user = 0;
    Mode mode = Mode::kStream;
    std::deque<Event> events;
    uint64_t bytes = 0;
    uint64_t next_id = 1;
    uint64_t acked = 0;    // The client has every event up to this one.
    uint64_t written = 0;  // Queued on the current stream up to this one.
    std::optional<ConnId> stream;
    uint32_t stream_shard = 0;
    std::optional<Asker> poll;
    int64_t poll_deadline_ms = 0;
    int64_t idle_since_ms = 0;  // Neither stream nor poll since (monotonic).
    int64_t last_write_ms = 0;  // On the stream: keep-alives after --sse-keepalive of silence.
    bool closing = false;       // Its close event is being added: nothing is cut for it.
    bool ended = false;
    bool drain_wanted = false;       // DetachedSessions::OnDrain once acked events make room.
    bool poll_flush_queued = false;  // The held poll is answered once this iteration is over.
  };

  // From the session's transport.
  void Push(const std::string& key, std::string_view json, bool droppable);
  void OnSessionClosed(const std::string& key, uint16_t code, std::string_view reason);
  bool Congested(const std::string& key) const;
  void WantDrain(const std::string& key);

  Channel* Find(std::string_view key);
  // A new session's id; nullopt when the CSPRNG fails.
  std::optional<std::string> NewKey();
  static std::string FormatEvent(const Channel& channel, const Event& event) {
    return FormatSseEvent(channel.key, event.id, event.json);
  }
  std::string SessionEvent(const Channel& channel, bool resumed) const;
  std::string PollBody(const Channel& channel) const;
  // Writes to the channel's stream (here or on its shard); `end` ends it after them.
  void Write(Channel& channel, std::string bytes, bool end = false);
  void DetachStream(Channel& channel, bool end);
  // `with_events` false: a poll superseded by a newer request, answered empty (the newer one
  // gets the events).
  void AnswerHeldPoll(Channel& channel, bool with_events = true);
  void DropAcked(Channel& channel, uint64_t upto);
  // The client fell behind past the buffer: the session is cut.
  void Cut(Channel& channel);
  void Count(const Channel& channel, int delta);
  void Forget(const std::string& key);
  // Runs `task(hub)` on `shard`'s hub: at once here, else by mail.
  template <typename Task>
  void OnShard(uint32_t shard, Task task);

  Shard& shard_;
  ChatService& service_;
  DetachedSessions& sessions_;
  const Config& config_;
  const Clock& clock_;
  std::unordered_map<std::string, std::unique_ptr<Channel>> channels_;
  // The streamed answers on this shard's connections (whatever shard their channel is on).
  std::unordered_map<uint64_t, std::unique_ptr<StreamSource>> sources_;
  size_t open_by_mode_[2] = {0, 0};
};

}  // namespace ringcast::chat
