#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "core/flags.h"
#include "notify/notify_options.h"

namespace ringcast::notify {
namespace {

// A URL flag's check: the value starts with one of `schemes` (or is empty, where that means
// off); else `message`, which CLI11 prints after the flag's name.
CLI::Validator SchemeCheck(std::vector<std::string> schemes, bool empty_ok, std::string message) {
  return CLI::Validator(
      [schemes = std::move(schemes), empty_ok,
       message = std::move(message)](const std::string& value) {
        if (empty_ok && value.empty()) return std::string();
        for (const std::string& scheme : schemes) {
          if (value.starts_with(scheme)) return std::string();
        }
        return message;
      },
      "");
}

}  // namespace

void RegisterNotifyFlags(FlagRegistry& flags, NotifyOptions* options) {
  flags.Add({
      {"web-push", &options->web_push,
       "Send offline notifications to the browsers users subscribed (Web Push, "
       "POST /api/push/subscriptions); the subscription routes work either way"},
      {"vapid-subject", &options->vapid_subject,
       "Web Push: the contact that VAPID tokens name (sub, RFC 8292): a mailto: or https: "
       "URL where push services can reach this server's operator",
       SchemeCheck({"mailto:", "https:"}, false, "must start with mailto: or https:")},
      Bounded("push-max-subscriptions", &options->push_max_subscriptions, 1, 1000,
              "Web Push subscriptions (browsers) kept per user; a new one past it replaces the "
              "oldest"),
      Bounded("push-ttl", &options->push_ttl_s, 0, 28 * 86400,
              "Web Push: seconds a push service keeps a notification for an offline browser (TTL)"),
      Bounded("push-timeout-ms", &options->push_timeout_ms, 100, 600000,
              "Web Push: milliseconds one request to a push service may take"),
      {"push-allow-http", &options->push_allow_http,
       "Web Push: accept subscription endpoints over plain http (tests, push services "
       "on a private network); off: https only"},
      {"smtp", &options->smtp_url,
       "Email digests: smtp://[user:pass@]host[:port] (STARTTLS when offered) or smtps://; "
       "empty: no emails",
       SchemeCheck({"smtp://", "smtps://"}, true, "must be smtp://... or smtps://...")},
      {"email-from", &options->email_from, "Email digests: the sender address (envelope and From)"},
      Bounded("email-digest-after", &options->email_digest_after_s, 1, 30 * 86400,
              "Email digests: seconds a message stays unread and undelivered before its recipient "
              "is mailed a digest"),
      Bounded("email-digest-batch", &options->email_digest_batch, 1, 100000,
              "Email digests: users read from the store per query"),
      Bounded("notify-delay", &options->notify_delay_ms, 1, 86400000,
              "Milliseconds after a message is committed before a member who has neither read it "
              "nor had it delivered (offline everywhere) is notified; messages within this window "
              "of the first collapse into one notification (notify/README.md)"),
      Bounded("notify-poll-ms", &options->notify_poll_ms, 0, 60000,
              "How often the notifier looks for due notifications; 0: a quarter of --notify-delay "
              "(50 ms to 1 s)"),
      Bounded("notify-batch", &options->notify_batch, 1, 100000,
              "Due notifications the notifier reads and handles per poll at most"),
      Bounded("notify-max-attempts", &options->notify_max_attempts, 1, 1000,
              "Attempts per sink before a notification is dead-lettered (logged, counted, never "
              "retried)"),
      Bounded(
          "notify-backoff-ms", &options->notify_backoff_ms, 1, 600000,
          "Delay before a failed notification's first retry; it doubles per attempt, up to 60 s"),
      {"notify-webhook", &options->notify_webhook,
       "http:// or https:// URL that every due notification is POSTed to as signed JSON "
       "(notify/README.md); empty: no webhook"},
      {"notify-webhook-secret", &options->notify_webhook_secret,
       "HMAC-SHA256 key of the webhook's Ringcast-Signature header (needed with --notify-webhook)"},
      Bounded("notify-webhook-timeout-ms", &options->notify_webhook_timeout_ms, 100, 600000,
              "A webhook call not answered within this many milliseconds is retried"),
      {"amqp", &options->amqp_url,
       "amqp://user:pass@host:port/vhost: every background job is also published to this "
       "RabbitMQ (notify/README.md); empty: none",
       std::nullopt, "RINGCAST_AMQP_URL"},
      {"amqp-exchange", &options->amqp_exchange,
       "The topic exchange jobs are published to (declared durable)"},
      Bounded("amqp-max-queued", &options->amqp_max_queued, 1, 10000000,
              "Jobs waiting for the broker at most; more are dropped (and counted)"),
  });
  flags.AddSecretFile({"notify-webhook-secret", "--notify-webhook-secret-file",
                       "RINGCAST_NOTIFY_WEBHOOK_SECRET_FILE"});
  flags.AddSecretFile({"amqp", "--amqp-url-file", "RINGCAST_AMQP_URL_FILE"});
  flags.AddSecretFile({"smtp", "--smtp-url-file", "RINGCAST_SMTP_URL_FILE"});
  flags.AddCheck([options] {
    if (!options->notify_webhook.empty() && options->notify_webhook_secret.empty()) {
      std::fprintf(stderr,
                   "ringcast: --notify-webhook needs --notify-webhook-secret (or "
                   "--notify-webhook-secret-file): the receiver checks each call's signature\n");
      return false;
    }
    return true;
  });
}

}  // namespace ringcast::notify
