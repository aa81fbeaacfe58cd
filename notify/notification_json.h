// The JSON documents of notifications and jobs (notify/README.md shows each): what the
// webhook POSTs and what AMQP publishes. Pure code.
#pragma once

#include <string>

#include "notify/sink.h"
#include "storage/store_types.h"

namespace ringcast::notify {

// {"type":"notification","idempotency_key":...,"recipient":{...},"conversation":{...},
//  "count":N,"mention":bool,"latest":{...}}
std::string NotificationJson(const Notification& notification);
// {"type":"message","message":{...}}: a message committed (routing key message.committed).
std::string MessageJobJson(const storage::Message& message);
// {"type":"mention","user":U,"message":{...}}: one per mentioned member (routing key mention).
std::string MentionJobJson(int64_t user, const storage::Message& message);

}  // namespace ringcast::notify
