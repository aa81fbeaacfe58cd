// The chat's HTTP transports (sse_hub.h): channels of buffered events, their streams and polls.
#include "chat/sessions/sse_hub.h"

#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

#include "chat/chat_shard.h"
#include "chat/cluster/cluster_link.h"
#include "chat/protocol.h"
#include "chat/sessions/detached_sessions.h"
#include "chat/sessions/session_host.h"
#include "core/net/shared_frame.h"
#include "core/runtime/shard.h"

namespace ringcast::chat {
namespace {

constexpr std::string_view kStreamHead =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream\r\n"
    "Cache-Control: no-cache, no-store\r\n"
    // nginx passes the stream on as it comes instead of buffering it (X-Accel-Buffering).
    "X-Accel-Buffering: no\r\n"
    // The body ends with the connection: its length is not known, and a chunked encoding
    // would buy nothing, since a stream ends only when its session moves or ends.
    "Connection: close\r\n\r\n";

// The JSON payload of a server's text frame: no mask, FIN set (RFC 6455 §5.2).
std::string_view PayloadOf(const SharedFrame& frame) {
  const uint8_t* data = frame.data();
  const uint8_t length = data[1] & 0x7f;
  const size_t header = length < 126 ? 2 : length == 126 ? 4 : 10;
  return {reinterpret_cast<const char*>(data) + header, frame.size() - header};
}

uint64_t Pack(ConnId id) { return uint64_t{id.slot} << 32 | id.generation; }

}  // namespace

// A session's events into its channel.
class SseHub::Transport final : public SessionTransport {
 public:
  Transport(SseHub& hub, std::string key) : hub_(hub), key_(std::move(key)) {}
  void Send(std::string_view json) override { hub_.Push(key_, json, false); }
  void SendShared(SharedFrame* frame, Delivery delivery) override {
    hub_.Push(key_, PayloadOf(*frame), delivery == Delivery::kDroppable);
    frame->Release();
  }
  void Close(uint16_t code, std::string_view reason) override {
    hub_.OnSessionClosed(key_, code, reason);
  }
  bool Congested() const override { return hub_.Congested(key_); }
  void NotifyWhenUncongested() override { hub_.WantDrain(key_); }

 private:
  SseHub& hub_;
  const std::string key_;
};

// A streamed answer on this shard's connection: tells the channel (wherever it is) when the
// connection drains and when it goes.
class SseHub::StreamSource final : public BodySource {
 public:
  StreamSource(SseHub& hub, ConnId conn, uint32_t channel_shard, std::string key)
      : hub_(hub), conn_(conn), channel_shard_(channel_shard), key_(std::move(key)) {}
  uint32_t channel_shard() const { return channel_shard_; }
  const std::string& key() const { return key_; }

  void OnWritable() override {
    // What follows may end this stream (and destroy this object): nothing of it is read after.
    SseHub& hub = hub_;
    hub.OnShard(channel_shard_, [key = key_, conn = conn_](SseHub& channel_hub) {
      channel_hub.OnStreamWritable(key, conn);
    });
  }
  void OnGone() override {
    SseHub& hub = hub_;
    const ConnId conn = conn_;
    const uint32_t shard = channel_shard_;
    std::string key = key_;
    hub.sources_.erase(Pack(conn));  // Destroys this object.
    hub.OnShard(shard, [key = std::move(key), conn](SseHub& channel_hub) {
      channel_hub.OnStreamGone(key, conn);
    });
  }

 private:
  SseHub& hub_;
  const ConnId conn_;
  const uint32_t channel_shard_;
  const std::string key_;
};

SseHub::SseHub(Shard& shard, ChatService& service, DetachedSessions& sessions)
    : shard_(shard),
      service_(service),
      sessions_(sessions),
      config_(service.config()),
      clock_(service.clock()) {}

SseHub::~SseHub() = default;

template <typename Task>
void SseHub::OnShard(uint32_t shard, Task task) {
  if (shard == shard_.id()) return task(*this);
  service_.PostOrHold(shard,
                      [task = std::move(task)](ChatShard& self) mutable { task(self.sse()); });
}

SseHub::Channel* SseHub::Find(std::string_view key) {
  auto it = channels_.find(std::string(key));
  return it == channels_.end() ? nullptr : it->second.get();
}

std::optional<std::string> SseHub::NewKey() {
  // Unguessable and unrelated to any other (a function of a counter would let one id name the
  // next), then where it lives.
  uint8_t secret[kSseSecretBytes];
  if (RAND_bytes(secret, int(sizeof secret)) != 1) return std::nullopt;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key;
  key.reserve(2 * sizeof secret + 24);
  for (uint8_t byte : secret) {
    key.push_back(kHex[byte >> 4]);
    key.push_back(kHex[byte & 0xF]);
  }
  key.append("~").append(std::to_string(shard_.id()));
  if (ClusterLink* cluster = service_.cluster()) key.append("~").append(cluster->node_id());
  return key;
}

std::string SseHub::SessionEvent(const Channel& channel, bool resumed) const {
  JsonWriter data;
  data.BeginObject().Field("session", channel.key).Field("resumed", resumed).EndObject();
  // `retry`: how long an EventSource waits before it reconnects on its own.
  return "event: session\nretry: 1000\ndata: " + data.Take() + "\n\n";
}

std::string SseHub::PollBody(const Channel& channel) const {
  JsonWriter body;
  body.BeginObject().Field("session", channel.key).Key("events").BeginArray();
  for (const Event& event : channel.events) {
    body.BeginObject().Field("id", event.id).Key("data").Raw(event.json).EndObject();
  }
  return body.EndArray().EndObject().Take();
}

void SseHub::Count(const Channel& channel, int delta) {
  open_by_mode_[channel.mode == Mode::kStream ? 0 : 1] += size_t(delta);
}

// --- On the request's shard ------------------------------------------------------------------

void SseHub::Open(const DeferredHttp& deferred, Opening opening, Mode mode) {
  std::optional<std::string> made = NewKey();
  if (!made) {
    HttpApi::ConnectionClosed(service_, std::move(opening.address));
    JsonWriter body;
    return AnswerPoll(
        deferred, 503,
        body.BeginObject().Field("error", "no session id: the CSPRNG failed").EndObject().Take());
  }
  const std::string key = std::move(*made);
  auto owned = std::make_unique<Channel>();
  Channel& channel = *owned;
  channel.key = key;
  channel.user = opening.user;
  channel.mode = mode;
  channel.idle_since_ms = clock_.MonotonicMs();
  channels_.emplace(key, std::move(owned));
  Count(channel, +1);
  channel.session =
      sessions_.Open(opening.user, std::move(opening.jti), opening.exp_s,
                     std::move(opening.address), std::make_unique<Transport>(*this, key));
  if (mode == Mode::kPoll) {
    // Answered with the first events (hello once the session is ready), or empty at the
    // timeout: either way the answer names the session.
    channel.poll = Asker{shard_.id(), deferred};
    channel.poll_deadline_ms = clock_.MonotonicMs() + int64_t{config_.sse_poll_timeout_s} * 1000;
    return;
  }
  channel.stream = deferred.conn;
  channel.stream_shard = shard_.id();
  channel.last_write_ms = clock_.MonotonicMs();
  sessions_.SetConnection(channel.session, shard_.Find(deferred.conn));
  if (!StartStream(deferred, shard_.id(), key, SessionEvent(channel, false))) {
    OnStreamGone(key, deferred.conn);
  }
}

bool SseHub::StartStream(const DeferredHttp& deferred, uint32_t channel_shard, std::string key,
                         std::string_view first_bytes) {
  auto owned = std::make_unique<StreamSource>(*this, deferred.conn, channel_shard, std::move(key));
  StreamSource* source = owned.get();
  sources_[Pack(deferred.conn)] = std::move(owned);
  std::string head;
  head.reserve(kStreamHead.size() + first_bytes.size());
  head.append(kStreamHead).append(first_bytes);
  if (!shard_.StreamAnswer(deferred, 200, SharedFrame::Copy(head), source)) {
    sources_.erase(Pack(deferred.conn));
    return false;
  }
  return true;
}

void SseHub::StreamWrite(ConnId conn, std::string_view bytes, bool end) {
  auto it = sources_.find(Pack(conn));
  Connection* connection = shard_.Find(conn);
  if (it == sources_.end() || connection == nullptr) return;  // Gone: OnGone told the channel.
  bool cut = false;
  if (!bytes.empty()) {
    // The /ws rule (docs/architecture.md, "Slow consumers"): a queue already past the cap takes
    // nothing more. Here the stream ends instead of the session: its events are still in the
    // channel, and the client resumes from the last one it has.
    if (connection->send_queue().bytes() >= config_.max_outbound_bytes) {
      cut = end = true;
    } else {
      shard_.StreamBytes(conn, SharedFrame::Copy(bytes));
    }
  }
  if (!end) return;
  const uint32_t channel_shard = it->second->channel_shard();
  std::string key = it->second->key();
  shard_.EndStream(conn, false);  // The driver forgets the source first,
  sources_.erase(it);             // then it goes.
  if (cut) {
    OnShard(channel_shard,
            [key = std::move(key), conn](SseHub& hub) { hub.OnStreamGone(key, conn); });
  }
}

void SseHub::AnswerPoll(const DeferredHttp& deferred, int status, std::string_view body) {
  shard_.AnswerDeferred(deferred, status, "application/json", body, "Cache-Control: no-store\r\n");
}

// --- On the channel's shard ------------------------------------------------------------------

void SseHub::Write(Channel& channel, std::string bytes, bool end) {
  if (!channel.stream) return;
  channel.last_write_ms = clock_.MonotonicMs();
  const ConnId conn = *channel.stream;
  OnShard(channel.stream_shard, [conn, bytes = std::move(bytes), end](SseHub& hub) {
    hub.StreamWrite(conn, bytes, end);
  });
}

void SseHub::DetachStream(Channel& channel, bool end) {
  if (!channel.stream) return;
  const ConnId conn = *channel.stream;
  const uint32_t shard = channel.stream_shard;
  channel.stream.reset();
  channel.idle_since_ms = clock_.MonotonicMs();
  if (shard == shard_.id()) sessions_.SetConnection(channel.session, nullptr);
  if (end) OnShard(shard, [conn](SseHub& hub) { hub.StreamWrite(conn, {}, true); });
}

void SseHub::AnswerHeldPoll(Channel& channel, bool with_events) {
  if (!channel.poll) return;
  const Asker asker = *channel.poll;
  channel.poll.reset();
  channel.idle_since_ms = clock_.MonotonicMs();
  std::string body;
  if (with_events) {
    body = PollBody(channel);
  } else {
    JsonWriter empty;
    body = empty.BeginObject()
               .Field("session", channel.key)
               .Key("events")
               .BeginArray()
               .EndArray()
               .EndObject()
               .Take();
  }
  OnShard(asker.shard, [deferred = asker.deferred, body = std::move(body)](SseHub& hub) {
    hub.AnswerPoll(deferred, 200, body);
  });
}

void SseHub::DropAcked(Channel& channel, uint64_t upto) {
  channel.acked = std::max(channel.acked, upto);
  while (!channel.events.empty() && channel.events.front().id <= channel.acked) {
    channel.bytes -= channel.events.front().json.size();
    channel.events.pop_front();
  }
  if (channel.drain_wanted && !channel.ended && !Congested(channel.key)) {
    channel.drain_wanted = false;
    sessions_.OnDrain(channel.session);
  }
}

void SseHub::Push(const std::string& key, std::string_view json, bool droppable) {
  Channel* channel = Find(key);
  if (channel == nullptr || channel->ended) return;
  if (droppable) {
    // Worth nothing late (typing): only for a client that is there to take it now.
    if (!channel->stream && !channel->poll) return;
    if (channel->stream && channel->stream_shard == shard_.id()) {
      Connection* conn = shard_.Find(*channel->stream);
      if (conn != nullptr && conn->send_queue().bytes() > Connection::kDroppableBacklog) return;
    }
  }
  channel->events.push_back(Event{channel->next_id++, std::string(json)});
  channel->bytes += json.size();
  const Event& event = channel->events.back();
  if (channel->stream) {
    Write(*channel, FormatEvent(*channel, event));
    channel->written = event.id;
  }
  while (channel->events.size() > config_.sse_buffer_events ||
         (channel->bytes > config_.sse_buffer_bytes && channel->events.size() > 1)) {
    const Event& oldest = channel->events.front();
    // A client on a stream had it (written); a polling one or one between streams never did:
    // it would resume with a gap.
    if (!channel->closing && oldest.id > channel->written && oldest.id > channel->acked) {
      return Cut(*channel);
    }
    channel->bytes -= oldest.json.size();
    channel->events.pop_front();
  }
  if (channel->poll && !channel->poll_flush_queued) {
    // Answered after this iteration's other events, so that a burst goes in one answer.
    channel->poll_flush_queued = true;
    service_.PostOrHold(shard_.id(), [key](ChatShard& self) {
      SseHub& hub = self.sse();
      Channel* again = hub.Find(key);
      if (again == nullptr) return;
      again->poll_flush_queued = false;
      if (!again->events.empty()) hub.AnswerHeldPoll(*again);
    });
  }
}

void SseHub::Cut(Channel& channel) {
  // What the client missed is lost to it: it starts again (hello) and resumes by sync.
  channel.events.clear();
  channel.bytes = 0;
  channel.acked = channel.written = channel.next_id - 1;
  sessions_.Close(channel.session, 1008, Connection::kSlowConsumerReason);
}

void SseHub::OnSessionClosed(const std::string& key, uint16_t code, std::string_view reason) {
  Channel* channel = Find(key);
  if (channel == nullptr || channel->ended) return;
  // Closed before its hello (refused as it started: too many connections for this user,
  // storage unavailable): its client has no event to resume from, and its opening request
  // (the stream or the poll still waiting) takes the close now; nothing is kept for a resume.
  const bool refused = channel->next_id == 1;
  JsonWriter close;
  close.BeginObject()
      .Field("type", "close")
      .Field("code", int64_t{code})
      .Field("reason", reason)
      .EndObject();
  channel->closing = true;
  Push(key, close.str(), false);
  channel->ended = true;
  Count(*channel, -1);
  DetachStream(*channel, true);
  if (channel->poll) AnswerHeldPoll(*channel);
  const ConnId session = channel->session;
  channel->session = ConnId{};
  channel->idle_since_ms = clock_.MonotonicMs();
  // Not now: the session's host may be walking its sessions (a drain, a sweep).
  service_.PostOrHold(shard_.id(),
                      [session](ChatShard& self) { self.sessions().detached().Release(session); });
  if (refused) channels_.erase(key);
}

bool SseHub::Congested(const std::string& key) const {
  auto it = channels_.find(key);
  if (it == channels_.end()) return false;
  const Channel& channel = *it->second;
  // A stream elsewhere is judged there (it ends past --max-outbound-bytes); a polled client
  // is behind once half the buffer waits for it.
  if (channel.stream) return false;
  return channel.bytes >= config_.sse_buffer_bytes / 2 ||
         channel.events.size() >= config_.sse_buffer_events / 2;
}

void SseHub::WantDrain(const std::string& key) {
  if (Channel* channel = Find(key)) channel->drain_wanted = true;
}

bool SseHub::Resume(const Asker& asker, int64_t user, const std::string& key, uint64_t last) {
  Channel* channel = Find(key);
  if (channel == nullptr || channel->user != user) return false;
  const uint64_t newest = channel->next_id - 1;
  const uint64_t oldest = channel->events.empty() ? channel->next_id : channel->events.front().id;
  // Past the buffer (or ahead of it): the client cannot go on without a gap.
  if (last > newest || last + 1 < oldest) return false;
  if (channel->ended && last == newest) return false;  // It has everything, the close too.
  DetachStream(*channel, true);                        // An older stream of the same session ends.
  AnswerHeldPoll(*channel, false);
  if (!channel->ended && channel->mode != Mode::kStream) {
    Count(*channel, -1);
    channel->mode = Mode::kStream;
    Count(*channel, +1);
  }
  DropAcked(*channel, last);
  std::string bytes = SessionEvent(*channel, true);
  for (const Event& event : channel->events) bytes += FormatEvent(*channel, event);
  channel->written = newest;
  channel->last_write_ms = clock_.MonotonicMs();
  const ConnId conn = asker.deferred.conn;
  if (!channel->ended) {
    channel->stream = conn;
    channel->stream_shard = asker.shard;
    if (asker.shard == shard_.id()) {
      sessions_.SetConnection(channel->session, shard_.Find(conn));
    }
    sessions_.OnHeartbeat(channel->session);
  }
  const bool ended = channel->ended;
  OnShard(asker.shard, [deferred = asker.deferred, channel_shard = shard_.id(), key,
                        bytes = std::move(bytes), ended](SseHub& hub) {
    if (!hub.StartStream(deferred, channel_shard, key, bytes)) {
      if (!ended) {
        hub.OnShard(channel_shard, [key, conn = deferred.conn](SseHub& channel_hub) {
          channel_hub.OnStreamGone(key, conn);
        });
      }
      return;
    }
    if (ended) hub.StreamWrite(deferred.conn, {}, true);  // The close is in what was replayed.
  });
  return true;
}

void SseHub::Poll(const Asker& asker, int64_t user, const std::string& key, uint64_t after) {
  auto answer = [&](int status, std::string body) {
    OnShard(asker.shard, [deferred = asker.deferred, status, body = std::move(body)](SseHub& hub) {
      hub.AnswerPoll(deferred, status, body);
    });
  };
  auto error = [&](int status, std::string_view reason) {
    JsonWriter body;
    answer(status, body.BeginObject().Field("error", reason).EndObject().Take());
  };
  Channel* channel = Find(key);
  // Another user's session is answered as one that is not there: the answer tells nothing of
  // whether an id exists.
  if (channel == nullptr || channel->user != user) return error(404, "no such session");
  after = std::min(after, channel->next_id - 1);
  const uint64_t oldest = channel->events.empty() ? channel->next_id : channel->events.front().id;
  if (after + 1 < oldest) {
    // Events it never confirmed are gone (it streamed before, and fell behind the buffer).
    if (!channel->ended) Cut(*channel);
    return error(410, "events lost: open a new session");
  }
  DropAcked(*channel, after);
  if (channel->ended && channel->events.empty()) return error(404, "no such session");
  DetachStream(*channel, true);     // The client polls now.
  AnswerHeldPoll(*channel, false);  // An older poll is answered (empty) at once.
  if (!channel->ended) {
    sessions_.OnHeartbeat(channel->session);
    if (channel->mode != Mode::kPoll) {
      Count(*channel, -1);
      channel->mode = Mode::kPoll;
      Count(*channel, +1);
    }
  }
  channel->poll = asker;
  channel->poll_deadline_ms = clock_.MonotonicMs() + int64_t{config_.sse_poll_timeout_s} * 1000;
  if (!channel->events.empty()) AnswerHeldPoll(*channel);
}

bool SseHub::Post(int64_t user, const std::string& key, std::string_view body) {
  Channel* channel = Find(key);
  // Another user's session is one that is not there (Poll).
  if (channel == nullptr || channel->ended || channel->user != user) return false;
  const ConnId session = channel->session;
  while (std::optional<std::string_view> line = NextRequestLine(&body)) {
    sessions_.OnRequest(session, *line);
  }
  return true;
}

void SseHub::OnStreamGone(const std::string& key, ConnId conn) {
  Channel* channel = Find(key);
  if (channel == nullptr || !channel->stream || !(*channel->stream == conn)) return;
  DetachStream(*channel, false);
}

void SseHub::OnStreamWritable(const std::string& key, ConnId conn) {
  Channel* channel = Find(key);
  if (channel == nullptr || !channel->stream || !(*channel->stream == conn)) return;
  if (!channel->ended) sessions_.OnDrain(channel->session);
}

void SseHub::Sweep(int64_t now_ms) {
  const int64_t keepalive_ms = int64_t{config_.sse_keepalive_s} * 1000;
  const int64_t grace_ms = int64_t{config_.sse_grace_s} * 1000;
  std::vector<std::string> expired;
  for (auto& [key, owned] : channels_) {
    Channel& channel = *owned;
    if (channel.poll && now_ms >= channel.poll_deadline_ms) AnswerHeldPoll(channel);
    // A comment line: proxies and the client see the stream alive, and --idle-timeout (which
    // ends a streamed answer the client takes nothing of) does not strike.
    if (channel.stream && now_ms - channel.last_write_ms >= keepalive_ms) {
      Write(channel, ": keep-alive\n\n");
    }
    if (!channel.stream && !channel.poll && now_ms - channel.idle_since_ms >= grace_ms) {
      expired.push_back(key);
    }
  }
  for (const std::string& key : expired) {
    Channel* channel = Find(key);
    if (channel == nullptr) continue;
    if (!channel->ended) {
      sessions_.Close(channel->session, 1001, "no stream or poll within --sse-grace");
    }
    if (!channel->ended) Count(*channel, -1);  // Its session had gone some other way.
    channels_.erase(key);
  }
}

}  // namespace ringcast::chat
