// The chat's work off the request path, built by the composition root from the flags: the
// notifier and its sinks (webhook, Web Push), the AMQP job publisher, the email digests and the
// upload sweeper (notify/README.md, chat/upload_sweeper.h). Each runs on threads of its own and
// takes only the store interface it uses; ChatService knows none of them, only the
// JobPublisher its owner shards publish committed messages to.
//
// Threads: built, attached, started and stopped on the main thread. Stop comes before the
// chat service's (which stops the store they all read).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chat/config.h"

namespace ringcast {
class ShardSet;
namespace chat {
class ChatService;
class UploadSweeper;
}  // namespace chat
namespace notify {
class AmqpPublisher;
class DigestMailer;
class Notifier;
class NotifierLease;
class PresenceProbe;
class WebPushSink;
}  // namespace notify
}  // namespace ringcast

namespace ringcast::server {

class Background {
 public:
  // Null (with a message on stderr) when a flag is unusable. `swept_files`: what a sweep had
  // moved aside when the process last died (PrepareFileStore), for the sweeper's first pass.
  static std::unique_ptr<Background> Create(const chat::Config& config, chat::ChatService& chat,
                                            std::vector<std::string> swept_files);
  ~Background();  // Stops.

  // Metrics sources, and in cluster mode one lease so that one node notifies and mails at a time.
  void Attach(ShardSet& shards);
  // Once the shards run.
  void Start();
  // Joins every thread: the digests and the sweeper, the notifier, then flushes the publisher.
  void Stop();

 private:
  explicit Background(const chat::Config& config);
  bool SetUpNotifier(chat::ChatService& chat);

  const chat::Config& config_;
  std::unique_ptr<notify::AmqpPublisher> amqp_;
  std::unique_ptr<notify::PresenceProbe> presence_probe_;
  notify::WebPushSink* web_push_sink_ = nullptr;  // With --web-push; notifier_ owns it.
  std::unique_ptr<notify::Notifier> notifier_;    // Null when nothing is configured to notify.
  std::unique_ptr<notify::DigestMailer> digest_mailer_;  // With --smtp.
  std::unique_ptr<notify::NotifierLease> lease_;         // Cluster mode, with either of them.
  std::unique_ptr<chat::UploadSweeper> upload_sweeper_;  // With --upload-orphan-ttl > 0.
};

}  // namespace ringcast::server
