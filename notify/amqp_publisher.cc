#include "notify/amqp_publisher.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/log.h"
#include "core/runtime/clock.h"

namespace ringcast::notify {
namespace {

constexpr int64_t kConfirmTimeoutMs = 5000;
constexpr int kChannel = 1;

bool ReplyOk(const amqp_rpc_reply_t& reply) { return reply.reply_type == AMQP_RESPONSE_NORMAL; }

amqp_bytes_t Bytes(const std::string& text) {
  return {text.size(), const_cast<char*>(text.data())};
}

}  // namespace

std::unique_ptr<AmqpPublisher> AmqpPublisher::Create(const std::string& url, std::string exchange,
                                                     size_t max_queued, std::string* error) {
  std::vector<char> buffer(url.begin(), url.end());
  buffer.push_back('\0');
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK || info.ssl) {
    *error = "--amqp must be amqp://user:pass@host:port/vhost (amqps:// is not supported)";
    return nullptr;
  }
  Target target{info.host, info.user, info.password, info.vhost, info.port};
  return std::unique_ptr<AmqpPublisher>(
      new AmqpPublisher(std::move(target), std::move(exchange), max_queued));
}

AmqpPublisher::AmqpPublisher(Target target, std::string exchange, size_t max_queued)
    : target_(std::move(target)), exchange_(std::move(exchange)), max_queued_(max_queued) {}

AmqpPublisher::~AmqpPublisher() { Stop(0); }

void AmqpPublisher::Publish(std::string routing_key, std::string json) {
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= max_queued_ || stopping_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queue_.emplace_back(std::move(routing_key), std::move(json));
  }
  ready_.notify_one();
}

void AmqpPublisher::Start() {
  thread_ = std::thread([this] { Run(); });
}

void AmqpPublisher::Stop(int64_t flush_ms) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      flush_deadline_ms_ = SystemClock().MonotonicMs() + flush_ms;
    }
  }
  ready_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AmqpPublisher::Run() {
  pthread_setname_np(pthread_self(), "amqp");
  int64_t backoff_ms = 100;
  for (;;) {
    std::pair<std::string, std::string> job;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() || (stopping_ && SystemClock().MonotonicMs() >= flush_deadline_ms_)) {
        break;
      }
      job = queue_.front();  // Stays queued until confirmed.
    }
    if (connection_ == nullptr && !Connect()) {
      std::unique_lock lock(mutex_);
      if (stopping_) break;
      ready_.wait_for(lock, std::chrono::milliseconds(backoff_ms), [this] { return stopping_; });
      backoff_ms = std::min<int64_t>(backoff_ms * 2, 10000);
      continue;
    }
    backoff_ms = 100;
    if (!Send(job)) {
      Disconnect();
      continue;
    }
    std::lock_guard lock(mutex_);
    queue_.pop_front();
  }
  Disconnect();
  std::lock_guard lock(mutex_);
  if (!queue_.empty()) {
    RC_LOG(kWarn, "amqp: %zu jobs not published at shutdown", queue_.size());
    dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
    queue_.clear();
  }
}

bool AmqpPublisher::Connect() {
  connects_.fetch_add(1, std::memory_order_relaxed);
  amqp_connection_state_t conn = amqp_new_connection();
  connection_ = conn;
  amqp_socket_t* socket = amqp_tcp_socket_new(conn);
  timeval timeout{5, 0};
  auto fail = [&](const char* what) {
    RC_LOG(kWarn, "amqp: %s:%d: %s failed; retrying", target_.host.c_str(), target_.port, what);
    Disconnect();
    return false;
  };
  if (socket == nullptr || amqp_socket_open_noblock(socket, target_.host.c_str(), target_.port,
                                                    &timeout) != AMQP_STATUS_OK) {
    return fail("connecting");
  }
  if (!ReplyOk(amqp_login(conn, target_.vhost.c_str(), 0, 131072, 30, AMQP_SASL_METHOD_PLAIN,
                          target_.user.c_str(), target_.password.c_str()))) {
    return fail("logging in");
  }
  amqp_channel_open(conn, kChannel);
  if (!ReplyOk(amqp_get_rpc_reply(conn))) return fail("opening a channel");
  amqp_exchange_declare(conn, kChannel, amqp_cstring_bytes(exchange_.c_str()),
                        amqp_cstring_bytes("topic"), /*passive=*/0, /*durable=*/1,
                        /*auto_delete=*/0, /*internal=*/0, amqp_empty_table);
  if (!ReplyOk(amqp_get_rpc_reply(conn))) return fail("declaring the exchange");
  amqp_confirm_select(conn, kChannel);
  if (!ReplyOk(amqp_get_rpc_reply(conn))) return fail("enabling publisher confirms");
  connected_.store(1, std::memory_order_relaxed);
  RC_LOG(kInfo, "amqp: connected to %s:%d, exchange %s", target_.host.c_str(), target_.port,
         exchange_.c_str());
  return true;
}

void AmqpPublisher::Disconnect() {
  if (connection_ == nullptr) return;
  auto conn = static_cast<amqp_connection_state_t>(connection_);
  if (connected_.exchange(0, std::memory_order_relaxed) != 0) {
    amqp_channel_close(conn, kChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  }
  amqp_destroy_connection(conn);
  connection_ = nullptr;
}

bool AmqpPublisher::Send(const std::pair<std::string, std::string>& job) {
  auto conn = static_cast<amqp_connection_state_t>(connection_);
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.content_type = amqp_cstring_bytes("application/json");
  props.delivery_mode = 2;  // Persistent.
  if (amqp_basic_publish(conn, kChannel, amqp_cstring_bytes(exchange_.c_str()), Bytes(job.first),
                         /*mandatory=*/0, /*immediate=*/0, &props,
                         Bytes(job.second)) != AMQP_STATUS_OK) {
    RC_LOG(kWarn, "amqp: publishing failed; reconnecting");
    return false;
  }
  // One job in flight: the next confirm is this job's.
  const int64_t deadline = SystemClock().MonotonicMs() + kConfirmTimeoutMs;
  for (;;) {
    const int64_t left = deadline - SystemClock().MonotonicMs();
    if (left <= 0) break;
    timeval timeout{left / 1000, static_cast<suseconds_t>((left % 1000) * 1000)};
    amqp_frame_t frame;
    if (amqp_simple_wait_frame_noblock(conn, &frame, &timeout) != AMQP_STATUS_OK) break;
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
      confirmed_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
      nacked_.fetch_add(1, std::memory_order_relaxed);
      RC_LOG(kWarn, "amqp: the broker refused a job (nack); sending it again");
      return false;
    }
    if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
        frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
      break;
    }
  }
  RC_LOG(kWarn, "amqp: no confirm within %lld ms; reconnecting",
         static_cast<long long>(kConfirmTimeoutMs));
  return false;
}

void AmqpPublisher::CollectMetrics(MetricSet& out) const {
  const char* help =
      "Background jobs for --amqp by outcome (confirmed by the broker, dropped "
      "with a full queue or at shutdown, nacked and sent again)";
  out.Counter("ringcast_jobs_total", help, double(confirmed_.load()), {{"outcome", "confirmed"}});
  out.Counter("ringcast_jobs_total", help, double(dropped_.load()), {{"outcome", "dropped"}});
  out.Counter("ringcast_jobs_total", help, double(nacked_.load()), {{"outcome", "nacked"}});
  out.Counter("ringcast_amqp_connects_total", "Connection attempts to the --amqp broker",
              double(connects_.load()));
  out.Gauge("ringcast_amqp_connected", "1 while connected to the --amqp broker",
            double(connected_.load()));
}

}  // namespace ringcast::notify
