#include "notify/redis_lease.h"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

namespace ringcast::notify {
namespace {

// KEYS[1] rc:notifier, ARGV[1] this node, ARGV[2] the TTL in ms: 1 when this node holds it.
constexpr const char* kHoldScript =
    "local holder = redis.call('GET', KEYS[1]) "
    "if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end "
    "if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end "
    "return 0";

}  // namespace

bool RedisLease::Hold() {
  struct Answer {
    std::mutex mutex;
    std::condition_variable ready;
    std::optional<bool> held;
  };
  auto answer = std::make_shared<Answer>();
  bus_.Call({"EVAL", kHoldScript, "1", "rc:notifier", node_id_, std::to_string(kLeaseMs)},
            [answer](cluster::RedisReply reply) {
              std::lock_guard lock(answer->mutex);
              answer->held =
                  reply.type == cluster::RedisReply::Type::kInteger && reply.integer == 1;
              answer->ready.notify_all();
            });
  std::unique_lock lock(answer->mutex);
  answer->ready.wait_for(lock, std::chrono::milliseconds(kWaitMs),
                         [&] { return answer->held.has_value(); });
  return answer->held.value_or(false);
}

}  // namespace ringcast::notify
