// Shard: one thread, one io_uring, one listener, its connections, its timers and its part of
// the pub/sub tables. Shards share nothing mutable; they talk only through Mail (mailbox.h).
//
// A Shard is the composition of its parts, each in its own file (docs/architecture.md has the
// table): the Reactor (ring, loop, completion handlers, mail, timers, stop), the
// ConnectionTable (slots, accept, receive, send, close), and the protocol drivers (HttpDriver,
// WsDriver). What the rest of the code (chat/, core/pubsub, core/cluster, the routes) holds is a
// Shard&, and the API below, which forwards to the part that does the work.
//
// Owner: its own thread, from Setup() to the end of Run(). Every public method below must be
// called on that thread, except RequestStop() (any thread) and DeliverLeftoverMail() (the main
// thread, after every shard has stopped).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/io/ring.h"
#include "core/metrics/shard_stats.h"
#include "core/net/body_stream.h"
#include "core/net/connection.h"
#include "core/net/connection_table.h"
#include "core/net/http_driver.h"
#include "core/net/http_exchange.h"
#include "core/net/ws_driver.h"
#include "core/pubsub/topic_table.h"
#include "core/runtime/access_log.h"
#include "core/runtime/mailbox.h"
#include "core/runtime/reactor.h"
#include "core/runtime/worker_pool.h"

namespace ringcast {

class ShardSet;
namespace cluster {
class ClusterNode;
}

class Shard : private Reactor::Owner {
 public:
  static constexpr uint32_t kTickMs = Reactor::kTickMs;

  Shard(ShardSet& set, uint32_t id, const Config& config, MailboxMatrix& mailboxes);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // On the shard thread: ring, buffers, fixed file table, listener. Returns 0 or -errno with a
  // message already logged.
  int Setup();
  void SetApplication(std::unique_ptr<Application> app) {
    app_ = std::move(app);
    http_.SetApplication(app_.get());
  }
  void Run();

  // After every shard thread has exited, on the main thread: runs mail still addressed to this
  // shard by other shards (in their queues or overflow). Its inbox for other threads was
  // closed and drained by Run() itself.
  void DeliverLeftoverMail();

  // Any thread: begin graceful shutdown (stop accepting, let the application close its
  // connections (Application::OnShutdown), close the rest 1001, wait up to --shutdown-timeout
  // for them and for the application's work in flight (Application::Drained), exit Run). `hurry`:
  // skip what is left of that wait and close every connection now (a second SIGTERM).
  void RequestStop(bool hurry = false) { reactor_.RequestStop(hurry); }
  int ring_fd() const { return reactor_.ring_fd(); }
  // user_data for an IORING_OP_MSG_RING that only wakes this shard.
  static uint64_t WakeupTag() { return MakeTag(Op::kDoorbell); }
  const RingFeatures& features() const { return reactor_.features(); }
  // How PeerAddress() works here, for the start-up log.
  const char* peer_source_name() const { return table_.peers().source_name(); }

  // The shard running on the calling thread (null on other threads). Connections rely on it
  // instead of storing a back-pointer each: they are only ever touched on their own shard.
  static Shard* Current() { return current_; }

  uint32_t id() const { return id_; }
  uint32_t shard_count() const { return reactor_.shard_count(); }
  const Config& config() const { return config_; }
  TopicTable& topics() { return topics_; }
  // Cluster mode: the link to the other nodes; null on a single node.
  cluster::ClusterNode* cluster() const;
  ShardSet& set() const { return set_; }
  Connection* Find(ConnId id) { return table_.Find(id); }
  // The access log's per-connection records; null when --access-log is off.
  AccessLog* access_log() { return access_log_.get(); }
  // The engine's counters (the drivers and Connection count into them).
  ShardStats& stats() { return stats_; }
  size_t connection_count() const { return table_.live(); }
  // Any thread: connection_count() as of the last timer tick (the node registry's figure).
  size_t recent_connection_count() const {
    return recent_connections_.load(std::memory_order_relaxed);
  }

  // Runs mail.run on shard `target` (at this shard's next drain when it is this shard). FIFO per
  // pair of shards. Never blocks: mail that finds the pair's queue full waits in this shard's
  // overflow for `target`, which holds --max-mail-backlog mails at most. Past that the mail is
  // refused (false, counted, logged): the caller still owns what it points to and frees it.
  // Only a target that has stopped draining gets there (it is 4096 + backlog mails behind).
  [[nodiscard]] bool Post(uint32_t target, const Mail& mail) { return reactor_.Post(target, mail); }

  // Answers a request deferred with HttpExchange::Defer. False (and nothing sent) when the
  // connection has gone meanwhile.
  bool AnswerDeferred(const DeferredHttp& deferred, int status, std::string_view content_type,
                      std::string_view body, std::string_view extra_headers = {}) {
    return http_.AnswerDeferred(deferred, status, content_type, body, extra_headers);
  }
  // The same with the whole response already formatted (HttpExchange::FormatHead), built off
  // the shard (a file read on a worker): takes over the reference to `response`.
  bool AnswerDeferredBytes(const DeferredHttp& deferred, int status, SharedFrame* response) {
    return http_.AnswerDeferredBytes(deferred, status, response);
  }
  // Completes an upgrade deferred with HttpExchange::DeferUpgrade: answers 101 with `accept`,
  // installs `handler`, and hands it the frames the client sent behind its handshake;
  // `extra_headers` go into the 101 (a subprotocol: "Sec-WebSocket-Protocol: v12.stomp\r\n"). The
  // connection, or nullptr (nothing sent) when it has gone meanwhile.
  Connection* UpgradeDeferred(const DeferredHttp& deferred, std::string_view accept,
                              WebSocketHandler* handler, std::string_view extra_headers = {}) {
    return http_.UpgradeDeferred(deferred, accept, handler, extra_headers);
  }

  // --- Streamed bodies (core/net/body_stream.h; core/net/http_stream.cc) -----------------------
  // A request body streams into the BodySink its route gives HttpExchange::StreamBody (routes
  // say which requests stream: Application::StreamsBody). The sink paces the client: PauseBody
  // cancels the connection's receive (the kernel's socket buffer then fills and TCP stops the
  // client), ResumeBody arms it again. While the body streams the connection's request timer
  // (--handshake-timeout) counts from the last bytes received, and stands still while paused.
  void PauseBody(ConnId conn) { http_.PauseBody(conn); }
  void ResumeBody(ConnId conn) { http_.ResumeBody(conn); }
  // Ends a streamed body early with an error answer; the connection closes after it (the rest of
  // the body is never read). The sink gets no further call. False when the connection is gone.
  bool RejectBody(ConnId conn, int status, std::string_view reason) {
    return http_.RejectBody(conn, status, reason);
  }
  // Answers a deferred request with `head` (FormatHead's bytes; the reference is taken over)
  // and a body that `source` produces as the client reads it (BodySource::OnWritable), until
  // EndStream. Pipelined requests wait until then. False (nothing sent) when the connection
  // is gone: `source` is then not called.
  bool StreamAnswer(const DeferredHttp& deferred, int status, SharedFrame* head,
                    BodySource* source) {
    return http_.StreamAnswer(deferred, status, head, source);
  }
  // The next body bytes of a streamed answer (the reference is taken over). False when the
  // connection has gone (the source then gets OnGone, or has had it).
  bool StreamBytes(ConnId conn, SharedFrame* bytes) { return http_.StreamBytes(conn, bytes); }
  // Whether the connection has half its --max-outbound-bytes or more unsent.
  bool StreamCongested(ConnId conn) { return http_.StreamCongested(conn); }
  // One OnWritable once the queue drains under half the cap (at once when it already is, at the
  // next iteration).
  void NotifyWhenWritable(ConnId conn) { http_.NotifyWhenWritable(*this, conn); }
  // The answer's last bytes are queued (`complete`), or it cannot be finished (the connection
  // closes after what was queued: a client sees a short body, never a wrong one).
  void EndStream(ConnId conn, bool complete) { http_.EndStream(conn, complete); }
  // File operations on this shard's ring: take an SQE (NewIoSqe), prepare it, and tag it with
  // IoTag(id, cookie) (io_uring_sqe_set_data64): target `id`'s IoTarget::OnIoComplete gets its
  // completion. Plain descriptors, never fixed ones. A target is removed only once none of its
  // operations is in flight. `cookie`: 24 bits.
  uint32_t AddIoTarget(IoTarget* target) { return reactor_.AddIoTarget(target); }
  void RemoveIoTarget(uint32_t id) { reactor_.RemoveIoTarget(id); }
  io_uring_sqe* NewIoSqe() { return reactor_.GetSqe(); }
  static uint64_t IoTag(uint32_t id, uint32_t cookie) { return MakeTag(Op::kIoTarget, id, cookie); }

  // Adds this shard's metrics (the engine's and the application's) to `out`.
  void CollectMetrics(MetricSet& out) const;

  // The peer's IP address of a connection still speaking HTTP ("" when unknown), as
  // `done(address)`, called at once: getpeername for plain descriptors, the address recorded at
  // accept for direct ones (core/net/peer_addresses.h). Slow path (login rate limits), never
  // per message.
  void PeerAddress(Connection& conn, const std::function<void(std::string)>& done) {
    table_.peers().Lookup(conn, done);
  }

  // --- The parts, for the code that works with them (Connection, the drivers, tests) --------
  Reactor& reactor() { return reactor_; }
  ConnectionTable& connections() { return table_; }
  HttpDriver& http() { return http_; }
  WsDriver& ws() { return ws_; }

  // Runs `work()` on a worker thread (it may block), then `done(shard, result)` back on this
  // shard: the place for anything slow (password hashing, file reads). False when `work_class`
  // has its budget's pending tasks already (worker_pool.h; `done` is then never called and the
  // caller answers "busy").
  template <typename Work, typename Done>
  bool TryRunBlocking(WorkClass work_class, Work work, Done done) {
    return workers().TryRun(work_class, id_, std::move(work), std::move(done));
  }

 private:
  WorkerPool& workers();

  // Reactor::Owner.
  void Flush() override { table_.Flush(); }
  void Release() override { table_.Release(); }
  bool Busy() const override;
  void BeginShutdown() override;
  void OnTimer(TimerEntry* entry) override { table_.OnTimer(entry); }
  void OnTick(uint64_t now) override;
  void EndIteration() override { ws_.RunDeferredLeaves(); }

  static thread_local Shard* current_;

  ShardSet& set_;
  const uint32_t id_;
  const Config& config_;
  // Destroyed in reverse: the connections before the application, the ring after it.
  ShardStats stats_;
  std::unique_ptr<AccessLog> access_log_;
  Reactor reactor_;
  std::unique_ptr<Application> app_;
  ConnectionTable table_;
  WsDriver ws_;
  HttpDriver http_;
  TopicTable topics_;
  std::atomic<size_t> recent_connections_{0};  // Copied once per tick: off the hot path.
  uint64_t next_cache_return_ = 0;             // Tick of the next ReturnThreadCache().
};

}  // namespace ringcast
