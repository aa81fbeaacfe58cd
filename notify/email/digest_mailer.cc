#include "notify/email/digest_mailer.h"

#include <algorithm>
#include <ctime>

#include "core/log.h"
#include "notify/push/http_post.h"
#include "proto/json_writer.h"
#include "storage/await_reply.h"

namespace ringcast::notify {
namespace {

constexpr size_t kPreviewBytes = 200;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One line of a message's text: CR, LF and other controls as spaces (no header or line can be
// forged by a message), cut at `max` bytes without splitting a UTF-8 sequence.
std::string OneLine(std::string_view text, size_t max) {
  std::string out;
  for (char c : text.substr(0, std::min(text.size(), max))) {
    out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7F ? ' ' : c);
  }
  if (text.size() > max) {
    while (!out.empty() && (static_cast<uint8_t>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && (static_cast<uint8_t>(out.back()) & 0xC0) == 0xC0) out.pop_back();
    out.append("...");
  }
  return out;
}

std::string ConversationTitle(const storage::DigestConversation& conversation) {
  if (conversation.name) return OneLine(*conversation.name, 128);
  std::string title;
  for (const std::string& other : conversation.others) {
    if (!title.empty()) title.append(", ");
    title.append(other);
  }
  return title.empty() ? "conversation " + std::to_string(conversation.conv) : title;
}

std::string RfcDate(int64_t now_ms) {
  const time_t seconds = static_cast<time_t>(now_ms / 1000);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char out[64];
  strftime(out, sizeof(out), "%a, %d %b %Y %H:%M:%S +0000", &utc);
  return out;
}

}  // namespace

std::string ComposeDigest(const storage::Digest& digest, const DigestOptions& options,
                          int64_t now_ms) {
  int64_t unread = 0;
  for (const auto& conversation : digest.conversations) unread += conversation.unread;
  const std::string site = OneLine(options.site_name, 64);
  std::string out;
  out.append("From: ").append(site).append(" <").append(options.smtp.from).append(">\r\n");
  out.append("To: <").append(digest.email).append(">\r\n");
  out.append("Subject: ")
      .append(std::to_string(unread))
      .append(unread == 1 ? " unread message" : " unread messages");
  out.append(" on ").append(site).append("\r\n");
  out.append("Date: ").append(RfcDate(now_ms)).append("\r\n");
  // Unique per digest: the user and the newest seq of each conversation it covers.
  std::string id = std::to_string(digest.user);
  for (const auto& conversation : digest.conversations) {
    id.append(".")
        .append(std::to_string(conversation.conv))
        .append("-")
        .append(std::to_string(conversation.last_seq));
  }
  if (id.size() > 200) id = std::to_string(digest.user) + "." + std::to_string(now_ms);
  const size_t at = options.smtp.from.rfind('@');
  const std::string domain =
      at == std::string::npos ? "localhost" : options.smtp.from.substr(at + 1);
  out.append("Message-ID: <digest.").append(id).append("@").append(domain).append(">\r\n");
  out.append("Auto-Submitted: auto-generated\r\n");
  out.append("MIME-Version: 1.0\r\n");
  out.append("Content-Type: text/plain; charset=utf-8\r\n");
  out.append("Content-Transfer-Encoding: 8bit\r\n\r\n");
  out.append("Hello ").append(digest.username).append(",\r\n\r\n");
  out.append("you have unread messages in ")
      .append(std::to_string(digest.conversations.size()))
      .append(digest.conversations.size() == 1 ? " conversation:" : " conversations:")
      .append("\r\n\r\n");
  size_t listed = 0;
  for (const auto& conversation : digest.conversations) {
    if (listed++ == options.max_listed) {
      out.append("... and ")
          .append(std::to_string(digest.conversations.size() - options.max_listed))
          .append(" more.\r\n\r\n");
      break;
    }
    out.append("* ").append(ConversationTitle(conversation)).append(" (");
    out.append(std::to_string(conversation.unread)).append(" unread)\r\n");
    out.append("  ").append(conversation.latest_sender).append(": ");
    out.append(OneLine(conversation.latest.body, kPreviewBytes)).append("\r\n\r\n");
  }
  out.append("-- \r\nYou get this email because your account has this address and messages\r\n");
  out.append("waited for you. Remove the address from your account to get no more.\r\n");
  return out;
}

std::string DigestJob(const storage::Digest& digest) {
  JsonWriter writer;
  writer.BeginObject()
      .Field("user", digest.user)
      .Field("username", digest.username)
      .Field("email", digest.email)
      .Key("conversations")
      .BeginArray();
  for (const auto& conversation : digest.conversations) {
    writer.BeginObject()
        .Field("conv", conversation.conv)
        .Field("unread", conversation.unread)
        .Field("last_seq", conversation.last_seq)
        .Field("latest_seq", conversation.latest.seq)
        .EndObject();
  }
  return writer.EndArray().EndObject().Take();
}

DigestMailer::DigestMailer(storage::NotificationStore& store, DigestOptions options,
                           JobPublisher* jobs)
    : store_(store), options_(std::move(options)), jobs_(jobs) {
  InitCurl();  // Here, on the main thread at start: curl_global_init is not thread-safe.
}

DigestMailer::~DigestMailer() { Stop(); }

void DigestMailer::CollectMetrics(MetricSet& out) const {
  constexpr std::string_view kHelp =
      "Unread digests emailed (sent: the SMTP server accepted it) or not (failed: tried again)";
  out.Counter("ringcast_email_digests_total", kHelp, double(sent_.load(std::memory_order_relaxed)),
              {{"outcome", "sent"}});
  out.Counter("ringcast_email_digests_total", kHelp,
              double(failed_.load(std::memory_order_relaxed)), {{"outcome", "failed"}});
}

void DigestMailer::Start() {
  thread_.Start("email-digest", PeriodicThread::QuarterOf(options_.after),
                [this] { return Pass(); });
}

void DigestMailer::Stop() { thread_.Stop(); }

bool DigestMailer::Pass() {
  const int64_t cutoff =
      WallMs() - std::chrono::duration_cast<std::chrono::milliseconds>(options_.after).count();
  int64_t after_user = 0;
  if (lease_ != nullptr && !lease_->Hold()) return true;  // Another node mails.
  for (;;) {
    storage::Result<std::vector<storage::Digest>> due =
        storage::AwaitReply<std::vector<storage::Digest>>([&](auto reply) {
          store_.DueDigests(cutoff, after_user, options_.batch, std::move(reply));
        });
    if (!due.ok()) {
      RC_LOG(kWarn, "email digest: the store failed: %s", due.status().ToString().c_str());
      return true;  // The next pass asks again.
    }
    for (const storage::Digest& digest : *due) {
      if (thread_.stopping()) return false;
      // Refreshed before every email: a pass may outlast the lease's TTL.
      if (lease_ != nullptr && !lease_->Hold()) return true;
      after_user = digest.user;
      const std::string message = ComposeDigest(digest, options_, WallMs());
      if (std::string why = SendMail(options_.smtp, digest.email, message); !why.empty()) {
        // Not marked: due again at the next pass.
        failed_.fetch_add(1, std::memory_order_relaxed);
        RC_LOG(kWarn, "email digest to user %lld failed: %s", static_cast<long long>(digest.user),
               why.c_str());
        continue;
      }
      std::vector<std::pair<int64_t, int64_t>> covered;
      for (const auto& conversation : digest.conversations) {
        covered.emplace_back(conversation.conv, conversation.last_seq);
      }
      storage::Result<bool> marked = storage::AwaitReply<bool>([&](auto reply) {
        store_.MarkDigested(digest.user, std::move(covered), std::move(reply));
      });
      if (!marked.ok()) {
        RC_LOG(kWarn, "email digest: user %lld's watermark not kept (%s): sent again later",
               static_cast<long long>(digest.user), marked.status().ToString().c_str());
      }
      sent_.fetch_add(1, std::memory_order_relaxed);
      if (jobs_ != nullptr) jobs_->Publish("email.digest", DigestJob(digest));
    }
    if (due->size() < options_.batch) return true;
  }
}

}  // namespace ringcast::notify
