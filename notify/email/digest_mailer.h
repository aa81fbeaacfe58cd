// DigestMailer: the unread digest by email (notify/README.md, "Email digest"). Once a user with
// an email address has had a message from someone else neither read nor delivered to any of
// their connections for longer than --email-digest-after, they get one email listing their
// unread conversations (name or members, unread count, the latest message); the messages it
// covered never go out again (email_digests, a durable watermark per member, moved after the
// send). A crash between the send and the watermark's commit sends that digest once more:
// at least once, never lost.
//
// Owns one thread of its own (never a shard): every interval (a quarter of the delay, 1 s to
// 60 s) it asks the store for due users, --email-digest-batch at a time, and mails them one by
// one. With a JobPublisher (AMQP) each digest sent is also published as `email.digest`. In
// cluster mode it mails only while this node holds the notifier's lease (rc:notifier,
// notify/redis_lease.h), asked before every email: one node mails at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "core/metrics/metric_set.h"
#include "core/runtime/periodic_thread.h"
#include "notify/email/smtp.h"
#include "notify/notifier.h"
#include "notify/sink.h"
#include "storage/notification_store.h"

namespace ringcast::notify {

struct DigestOptions {
  SmtpOptions smtp;
  std::chrono::seconds after{900};  // --email-digest-after
  uint32_t batch = 100;             // --email-digest-batch: users per store query.
  uint32_t max_listed = 20;         // Conversations written out in one email; the rest counted.
  std::string site_name = "ringcast";
};

// The email (headers and body, CRLF) of `digest`, From `from`, dated `now_ms`.
std::string ComposeDigest(const storage::Digest& digest, const DigestOptions& options,
                          int64_t now_ms);
// The `email.digest` job's JSON (notify/README.md).
std::string DigestJob(const storage::Digest& digest);

class DigestMailer {
 public:
  // `store` (and `jobs`, which may be null) outlive the mailer.
  DigestMailer(storage::NotificationStore& store, DigestOptions options, JobPublisher* jobs);
  ~DigestMailer();  // Stops.

  // Cluster mode, before Start: mail only while holding `lease` (the notifier's).
  void SetLease(NotifierLease* lease) { lease_ = lease; }
  void Start();
  // Waits for the email being sent, if any (at most the SMTP timeout). Idempotent.
  void Stop();

  // Any thread: digests sent and failed (docs/metrics.md).
  void CollectMetrics(MetricSet& out) const;

 private:
  // One pass over every due user; false when stopping.
  bool Pass();

  storage::NotificationStore& store_;
  const DigestOptions options_;
  JobPublisher* jobs_;
  NotifierLease* lease_ = nullptr;
  PeriodicThread thread_;
  std::atomic<uint64_t> sent_{0}, failed_{0};
};

}  // namespace ringcast::notify
