#include <CLI/CLI.hpp>
#include <cstdio>

#include "core/flags.h"
#include "notify/notify_options.h"

namespace ringcast::notify {

void RegisterNotifyFlags(FlagRegistry& flags, NotifyOptions* options) {
  flags.AddSwitch("web-push", &options->web_push, "RINGCAST_WEB_PUSH",
                  "Send offline notifications to the browsers users subscribed (Web Push, "
                  "POST /api/push/subscriptions); the subscription routes work either way");
  flags
      .Add("--vapid-subject", &options->vapid_subject, "RINGCAST_VAPID_SUBJECT",
           "Web Push: the contact that VAPID tokens name (sub, RFC 8292): a mailto: or https: "
           "URL where push services can reach this server's operator")
      ->check([](const std::string& value) {
        return value.starts_with("mailto:") || value.starts_with("https:")
                   ? std::string()
                   : std::string("must start with mailto: or https:");
      });
  flags
      .Add("--push-max-subscriptions", &options->push_max_subscriptions,
           "RINGCAST_PUSH_MAX_SUBSCRIPTIONS",
           "Web Push subscriptions (browsers) kept per user; a new one past it replaces the "
           "oldest")
      ->check(CLI::Range(1, 1000));
  flags
      .Add("--push-ttl", &options->push_ttl_s, "RINGCAST_PUSH_TTL",
           "Web Push: seconds a push service keeps a notification for an offline browser (TTL)")
      ->check(CLI::Range(0, 28 * 86400));
  flags
      .Add("--push-timeout-ms", &options->push_timeout_ms, "RINGCAST_PUSH_TIMEOUT_MS",
           "Web Push: milliseconds one request to a push service may take")
      ->check(CLI::Range(100, 600000));
  flags.AddSwitch("push-allow-http", &options->push_allow_http, "RINGCAST_PUSH_ALLOW_HTTP",
                  "Web Push: accept subscription endpoints over plain http (tests, push services "
                  "on a private network); off: https only");
  flags
      .Add("--smtp", &options->smtp_url, "RINGCAST_SMTP",
           "Email digests: smtp://[user:pass@]host[:port] (STARTTLS when offered) or smtps://; "
           "empty: no emails")
      ->check([](const std::string& value) {
        return value.empty() || value.starts_with("smtp://") || value.starts_with("smtps://")
                   ? std::string()
                   : std::string("must be smtp://... or smtps://...");
      });
  flags.Add("--email-from", &options->email_from, "RINGCAST_EMAIL_FROM",
            "Email digests: the sender address (envelope and From)");
  flags
      .Add("--email-digest-after", &options->email_digest_after_s, "RINGCAST_EMAIL_DIGEST_AFTER",
           "Email digests: seconds a message stays unread and undelivered before its recipient "
           "is mailed a digest")
      ->check(CLI::Range(1, 30 * 86400));
  flags
      .Add("--email-digest-batch", &options->email_digest_batch, "RINGCAST_EMAIL_DIGEST_BATCH",
           "Email digests: users read from the store per query")
      ->check(CLI::Range(1, 100000));
  flags
      .Add("--notify-delay", &options->notify_delay_ms, "RINGCAST_NOTIFY_DELAY",
           "Milliseconds after a message is committed before a member who has neither read it "
           "nor had it delivered (offline everywhere) is notified; messages within this window "
           "of the first collapse into one notification (notify/README.md)")
      ->check(CLI::Range(1, 86400000));
  flags
      .Add("--notify-poll-ms", &options->notify_poll_ms, "RINGCAST_NOTIFY_POLL_MS",
           "How often the notifier looks for due notifications; 0: a quarter of --notify-delay "
           "(50 ms to 1 s)")
      ->check(CLI::Range(0, 60000));
  flags
      .Add("--notify-batch", &options->notify_batch, "RINGCAST_NOTIFY_BATCH",
           "Due notifications the notifier reads and handles per poll at most")
      ->check(CLI::Range(1, 100000));
  flags
      .Add("--notify-max-attempts", &options->notify_max_attempts, "RINGCAST_NOTIFY_MAX_ATTEMPTS",
           "Attempts per sink before a notification is dead-lettered (logged, counted, never "
           "retried)")
      ->check(CLI::Range(1, 1000));
  flags
      .Add("--notify-backoff-ms", &options->notify_backoff_ms, "RINGCAST_NOTIFY_BACKOFF_MS",
           "Delay before a failed notification's first retry; it doubles per attempt, up to 60 s")
      ->check(CLI::Range(1, 600000));
  flags.Add("--notify-webhook", &options->notify_webhook, "RINGCAST_NOTIFY_WEBHOOK",
            "http:// or https:// URL that every due notification is POSTed to as signed JSON "
            "(notify/README.md); empty: no webhook");
  flags.Add(
      "--notify-webhook-secret", &options->notify_webhook_secret, "RINGCAST_NOTIFY_WEBHOOK_SECRET",
      "HMAC-SHA256 key of the webhook's Ringcast-Signature header (needed with --notify-webhook)");
  flags
      .Add("--notify-webhook-timeout-ms", &options->notify_webhook_timeout_ms,
           "RINGCAST_NOTIFY_WEBHOOK_TIMEOUT_MS",
           "A webhook call not answered within this many milliseconds is retried")
      ->check(CLI::Range(100, 600000));
  flags.Add("--amqp", &options->amqp_url, "RINGCAST_AMQP_URL",
            "amqp://user:pass@host:port/vhost: every background job is also published to this "
            "RabbitMQ (notify/README.md); empty: none");
  flags.Add("--amqp-exchange", &options->amqp_exchange, "RINGCAST_AMQP_EXCHANGE",
            "The topic exchange jobs are published to (declared durable)");
  flags
      .Add("--amqp-max-queued", &options->amqp_max_queued, "RINGCAST_AMQP_MAX_QUEUED",
           "Jobs waiting for the broker at most; more are dropped (and counted)")
      ->check(CLI::Range(1, 10000000));
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
