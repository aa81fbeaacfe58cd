// One blocking email over SMTP with libcurl, for the digest mailer's thread (never a shard).
// smtp:// upgrades with STARTTLS when the server offers it (and goes on in the clear when it
// does not: CURLUSESSL_TRY); smtps:// is TLS from the start. Credentials come in the URL
// (smtp://user:pass@host:587); TLS peers are verified against the system's CAs.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace ringcast::notify {

struct SmtpOptions {
  std::string url;   // --smtp
  std::string from;  // --email-from: the envelope sender and the From header.
  std::chrono::milliseconds timeout{30000};
};

// Sends `message` (RFC 5322: headers, a blank line, the body; CRLF line ends) to `to`. Returns
// an empty string, or why it failed.
std::string SendMail(const SmtpOptions& options, const std::string& to, std::string_view message);

// A loose check of an address typed by a user (not verified): local@domain, printable ASCII or
// UTF-8, no spaces, no angle brackets, no CR/LF (which would inject headers), at most 254 bytes.
bool PlausibleEmail(std::string_view address);

}  // namespace ringcast::notify
