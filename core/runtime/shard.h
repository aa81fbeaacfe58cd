// Shard: one thread, one io_uring, one listener, its connections, its timers and its part of
// the pub/sub tables. Shards share nothing mutable; they talk only through Mail (mailbox.h).
//
// Owner: its own thread, from Setup() to the end of Run(). Every public method below must be
// called on that thread, except RequestStop() (any thread) and DeliverLeftoverMail() (the main
// thread, after every shard has stopped).
//
// One loop iteration: flush (start sends for every connection with queued frames and nothing in
// flight, re-arm ended receives, publish recycled buffers, ring doorbells) → release connections
// whose last operation finished → submit and wait (bounded by the next timer tick) → drain
// inbound mail → dispatch completions → advance timers → run the handlers' deferred OnClose. Mail
// is drained before completions so a subscription announced by another shard before a client could
// have reacted to it is in place before that client's bytes are handled.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/config.h"
#include "core/io/buffer_ring.h"
#include "core/io/ring.h"
#include "core/metrics/shard_stats.h"
#include "core/net/body_stream.h"
#include "core/net/connection.h"
#include "core/net/http_exchange.h"
#include "core/pubsub/topic_table.h"
#include "core/runtime/access_log.h"
#include "core/runtime/mailbox.h"
#include "core/runtime/timer_wheel.h"
#include "core/runtime/worker_pool.h"

namespace ringcast {

class ShardSet;
namespace cluster {
class ClusterNode;
}

class Shard {
 public:
  static constexpr uint32_t kTickMs = 100;

  Shard(ShardSet& set, uint32_t id, const Config& config, MailboxMatrix& mailboxes);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // On the shard thread: ring, buffers, fixed file table, listener. Returns 0 or -errno with a
  // message already logged.
  int Setup();
  void SetApplication(std::unique_ptr<Application> app) { app_ = std::move(app); }
  void Run();

  // After every shard thread has exited, on the main thread: runs mail still addressed to this
  // shard by other shards (in their queues or overflow). Its inbox for other threads was
  // closed and drained by Run() itself.
  void DeliverLeftoverMail();

  // Any thread: begin graceful shutdown (stop accepting, let the application close its
  // connections (Application::OnShutdown), close the rest 1001, wait up to --shutdown-timeout
  // for them and for the application's work in flight (Application::Drained), exit Run). `hurry`:
  // skip what is left of that wait and close every connection now (a second SIGTERM).
  void RequestStop(bool hurry = false);
  int ring_fd() const { return ring_.fd(); }
  // user_data for an IORING_OP_MSG_RING that only wakes this shard.
  static uint64_t WakeupTag() { return Tag(Op::kDoorbell); }
  const RingFeatures& features() const { return ring_.features(); }
  // How PeerAddress() works here, for the start-up log.
  const char* peer_source_name() const;

  // The shard running on the calling thread (null on other threads). Connections rely on it
  // instead of storing a back-pointer each: they are only ever touched on their own shard.
  static Shard* Current() { return current_; }

  uint32_t id() const { return id_; }
  uint32_t shard_count() const { return mailboxes_.shards(); }
  const Config& config() const { return config_; }
  TopicTable& topics() { return topics_; }
  // Cluster mode: the link to the other nodes; null on a single node.
  cluster::ClusterNode* cluster() const;
  ShardSet& set() const { return set_; }
  Connection* Find(ConnId id);
  // The access log's per-connection records; null when --access-log is off.
  AccessLog* access_log() { return access_log_.get(); }
  size_t connection_count() const { return live_connections_; }
  // Any thread: connection_count() as of the last timer tick (the node registry's figure).
  size_t recent_connection_count() const {
    return recent_connections_.load(std::memory_order_relaxed);
  }

  // Runs mail.run on shard `target` (at this shard's next drain when it is this shard). FIFO per
  // pair of shards. Never blocks: mail that finds the pair's queue full waits in this shard's
  // overflow for `target`, which holds --max-mail-backlog mails at most. Past that the mail is
  // refused (false, counted, logged): the caller still owns what it points to and frees it.
  // Only a target that has stopped draining gets there (it is 4096 + backlog mails behind).
  [[nodiscard]] bool Post(uint32_t target, const Mail& mail);

  // Answers a request deferred with HttpExchange::Defer. False (and nothing sent) when the
  // connection has gone meanwhile.
  bool AnswerDeferred(const DeferredHttp& deferred, int status, std::string_view content_type,
                      std::string_view body, std::string_view extra_headers = {});
  // The same with the whole response already formatted (HttpExchange::FormatHead), built off
  // the shard (a file read on a worker): takes over the reference to `response`.
  bool AnswerDeferredBytes(const DeferredHttp& deferred, int status, SharedFrame* response);
  // Completes an upgrade deferred with HttpExchange::DeferUpgrade: answers 101 with `accept`,
  // installs `handler`, and hands it the frames the client sent behind its handshake. The
  // connection, or nullptr (nothing sent) when it has gone meanwhile.
  Connection* UpgradeDeferred(const DeferredHttp& deferred, std::string_view accept,
                              WebSocketHandler* handler);

  // --- Streamed bodies (core/net/body_stream.h; shard_stream.cc) ------------------------------
  // A request body streams into the BodySink its route gives HttpExchange::StreamBody (routes
  // say which requests stream: Application::StreamsBody). The sink paces the client: PauseBody
  // cancels the connection's receive (the kernel's socket buffer then fills and TCP stops the
  // client), ResumeBody arms it again. While the body streams the connection's request timer
  // (--handshake-timeout) counts from the last bytes received, and stands still while paused.
  void PauseBody(ConnId conn);
  void ResumeBody(ConnId conn);
  // Ends a streamed body early with an error answer; the connection closes after it (the rest of
  // the body is never read). The sink gets no further call. False when the connection is gone.
  bool RejectBody(ConnId conn, int status, std::string_view reason);
  // Answers a deferred request with `head` (FormatHead's bytes; the reference is taken over)
  // and a body that `source` produces as the client reads it (BodySource::OnWritable), until
  // EndStream. Pipelined requests wait until then. False (nothing sent) when the connection
  // is gone: `source` is then not called.
  bool StreamAnswer(const DeferredHttp& deferred, int status, SharedFrame* head,
                    BodySource* source);
  // The next body bytes of a streamed answer (the reference is taken over). False when the
  // connection has gone (the source then gets OnGone, or has had it).
  bool StreamBytes(ConnId conn, SharedFrame* bytes);
  // Whether the connection has half its --max-outbound-bytes or more unsent.
  bool StreamCongested(ConnId conn);
  // One OnWritable once the queue drains under half the cap (at once when it already is, at the
  // next iteration).
  void NotifyWhenWritable(ConnId conn);
  // The answer's last bytes are queued (`complete`), or it cannot be finished (the connection
  // closes after what was queued: a client sees a short body, never a wrong one).
  void EndStream(ConnId conn, bool complete);
  // File operations on this shard's ring: take an SQE (NewIoSqe), prepare it, and tag it with
  // IoTag(id, cookie) (io_uring_sqe_set_data64): target `id`'s IoTarget::OnIoComplete gets its
  // completion. Plain descriptors, never fixed ones. A target is removed only once none of its
  // operations is in flight. `cookie`: 24 bits.
  uint32_t AddIoTarget(IoTarget* target);
  void RemoveIoTarget(uint32_t id);
  io_uring_sqe* NewIoSqe() { return ring_.GetSqe(); }
  static uint64_t IoTag(uint32_t id, uint32_t cookie) { return Tag(Op::kIoTarget, id, cookie); }

  // Adds this shard's metrics (the engine's and the application's) to `out`.
  void CollectMetrics(MetricSet& out) const;

  // The peer's IP address of a connection still speaking HTTP ("" when unknown), as
  // `done(address)` on this shard: at once for plain descriptors (getpeername) and for direct
  // ones accepted with their address (kernels before 6.8, or --no-fixed-fd-install); else after
  // an IORING_OP_FIXED_FD_INSTALL (Linux 6.8) lends a plain fd to ask getpeername. `done` is
  // dropped if the connection closes first. Slow path (login rate limits), never per message.
  // shard_peer.cc explains the choice.
  void PeerAddress(Connection& conn, std::function<void(std::string)> done);

  // Runs `work()` on a worker thread (it may block), then `done(shard, result)` back on this
  // shard: the place for anything slow (password hashing, file reads). False when `work_class`
  // has its budget's pending tasks already (worker_pool.h; `done` is then never called and the
  // caller answers "busy").
  template <typename Work, typename Done>
  bool TryRunBlocking(WorkClass work_class, Work work, Done done) {
    return workers().TryRun(work_class, id_, std::move(work), std::move(done));
  }

 private:
  friend class Connection;
  friend class HttpExchange;

  enum class Op : uint8_t {
    kAccept = 1,
    kRecv,
    kSend,
    kShutdownWrite,
    kIgnore,
    kDoorbell,
    kInstallFd,  // PeerAddress on a direct descriptor.
    kIoTarget,   // A file operation: slot = IoTarget id, generation = its cookie.
  };
  static uint64_t Tag(Op op, uint32_t slot = 0, uint32_t generation = 0) {
    return (uint64_t{static_cast<uint8_t>(op)} << 56) | (uint64_t{generation & 0xFFFFFF} << 32) |
           slot;
  }

  WorkerPool& workers();

  // Peer addresses (shard_peer.cc).
  enum class PeerSource : uint8_t { kGetpeername, kFixedFdInstall, kRecordedAtAccept };
  struct AddressedAccept {  // One single-shot accept that returns the peer's address.
    sockaddr_storage address;
    socklen_t size;
    bool armed;
  };
  struct PeerRecord {  // An address kept from accept until the upgrade or the close.
    uint32_t generation;
    sa_family_t family;
    uint8_t bytes[16];
  };
  static std::string PeerAddressOf(int fd);
  void ChoosePeerSource();
  uint32_t AcceptsWanted() const;
  void ArmAddressedAccept(uint32_t index);
  void RecordPeer(Connection& conn, const AddressedAccept& accept);
  void ForgetPeer(Connection& conn);
  void OnInstalledFd(uint64_t tag, int32_t result);
  // The peer's address when it can be had at once (not by FIXED_FD_INSTALL), for the access log.
  std::string ImmediatePeerAddress(Connection& conn);

  // Loop phases.
  void FlushOutgoing();
  void DrainMail();
  void CloseInbox();  // As Run() ends: no more mail from other threads; run what was accepted.
  void Dispatch(io_uring_cqe* cqe);
  void AdvanceTimers();

  // Completions.
  void OnAccept(uint32_t index, int32_t result, uint32_t flags);
  void OnRecv(Connection& conn, int32_t result, uint32_t flags);
  void OnSend(Connection& conn, int32_t result);
  void OnTimer(Connection& conn);

  // Input.
  void HandleHttp(Connection& conn, std::span<uint8_t> data);
  void AfterHttpAnswer(Connection& conn, bool close);
  void StartWebSocket(Connection& conn, std::span<uint8_t> early_frames);
  Connection* TakeDeferred(const DeferredHttp& deferred);
  void ResumeHttp(Connection& conn);
  void HandleWebSocket(Connection& conn, std::span<uint8_t> data);
  void ReplyHttpError(Connection& conn, int status, std::string_view reason);
  // Streamed bodies (shard_stream.cc).
  struct HttpStream {
    BodySink* sink = nullptr;  // A request body still arriving.
    uint64_t body_left = 0;
    BodySource* source = nullptr;  // An answer still being produced.
    DeferredHttp deferred;         // The source's request.
  };
  // Gives the sink what `data` holds of the body; returns what follows it (the next request).
  std::span<uint8_t> FeedBody(Connection& conn, std::span<uint8_t> data);
  void StartBodyStream(Connection& conn, BodySink* sink, uint64_t length);
  void AbortStreams(Connection& conn);  // The connection is closing: tell its sink or source.
  void OnWritableAgain(Connection& conn);

  // Connection lifecycle.
  Connection* Open(int fd);
  void ArmAccept();
  void ArmRecv(Connection& conn);
  void MarkForFlush(Connection& conn);
  void StartSend(Connection& conn);
  void LeaveWebSocket(Connection& conn);  // Queues the handler's OnClose (once).
  void RunDeferredLeaves();
  void FinishAfterFlush(Connection& conn);  // Shut the write side once queued bytes are out.
  void Abort(Connection& conn);             // Close the socket now.
  // Asks the kernel to give up the connection's send in flight (its completion still comes,
  // with what it sent, or -ECANCELED having sent nothing of it).
  void CancelSend(Connection& conn);
  void CloseDescriptor(Connection& conn);
  void MaybeRelease(Connection& conn);
  void ScheduleTimer(Connection& conn, uint64_t deadline);
  void BeginShutdown();
  // While stopping: whether Run may leave its loop now (shard.cc says when).
  bool ReadyToLeave();
  void RingDoorbell(uint32_t target);
  bool WarnAllowed();
  uint64_t NowTick() const;
  uint64_t SecondsToTicks(uint32_t seconds) const { return uint64_t{seconds} * 1000 / kTickMs; }

  // Outbound mail that found its queue full, per target, retried every iteration.
  struct Outbox {
    std::deque<Mail> overflow;
    bool ring = false;
  };
  // msghdr + iovecs for one in-flight sendmsg; pooled, one per sending connection.
  struct SendBatch {
    static constexpr uint32_t kMaxIov = 64;
    msghdr msg;
    iovec iov[kMaxIov];
  };

  static thread_local Shard* current_;

  ShardSet& set_;
  const uint32_t id_;
  const Config& config_;
  MailboxMatrix& mailboxes_;
  Ring ring_;
  BufferRing buffers_;
  int listen_fd_ = -1;
  uint32_t accepts_armed_ = 0;  // Accept requests in flight (multishot: at most one).
  std::unique_ptr<Application> app_;
  std::unique_ptr<AccessLog> access_log_;
  TopicTable topics_;
  TimerWheel timers_;
  http::Limits http_limits_;

  std::vector<Connection*> slots_;
  std::vector<uint32_t> generations_;
  std::vector<uint32_t> free_slots_;
  size_t live_connections_ = 0;
  std::atomic<size_t> recent_connections_{0};  // Copied once per tick: off the hot path.
  std::vector<Connection*> flush_list_;
  std::vector<Connection*> release_list_;
  std::vector<Connection*> leave_list_;
  std::vector<SendBatch*> batches_;  // Indexed by slot while a sendmsg is in flight.
  std::vector<std::unique_ptr<SendBatch>> spare_batches_;
  std::vector<Outbox> outboxes_;
  struct PeerQuery {
    ConnId conn;
    std::function<void(std::string)> done;
  };
  std::unordered_map<uint64_t, PeerQuery> peer_queries_;  // By tag.
  PeerSource peer_source_ = PeerSource::kGetpeername;
  std::vector<AddressedAccept> addressed_accepts_;         // Only with kRecordedAtAccept.
  std::unordered_map<uint32_t, PeerRecord> http_peers_;    // By slot; HTTP connections only.
  std::unordered_map<uint32_t, HttpStream> http_streams_;  // By slot; only while streaming.
  std::unordered_map<uint32_t, IoTarget*> io_targets_;     // By id; AddIoTarget.
  uint32_t next_io_target_ = 0;

  ShardStats stats_;
  uint64_t refused_mail_ = 0;  // Post() calls refused for a full backlog.
  bool mail_left_ = false;     // The last DrainMail stopped at a bound: poll, do not sleep.

  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> hurry_requested_{false};
  bool in_request_ = false;  // Inside Application::OnRequest.
  uint64_t next_warning_tick_ = 0;
  bool stopping_ = false;
  bool quiet_ = false;      // Stopping, no connection left, the application drained.
  bool last_pass_ = false;  // Every shard quiet: one more iteration to run their last mail.
  uint64_t stop_deadline_ = 0;
  bool done_ = false;
};

}  // namespace ringcast
