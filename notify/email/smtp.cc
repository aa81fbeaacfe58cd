#include "notify/email/smtp.h"

#include <curl/curl.h>

#include <cstring>

#include "notify/push/http_post.h"

namespace ringcast::notify {
namespace {

struct Upload {
  std::string_view left;
};

size_t ReadMessage(char* buffer, size_t size, size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  const size_t n = std::min(size * count, upload->left.size());
  std::memcpy(buffer, upload->left.data(), n);
  upload->left.remove_prefix(n);
  return n;
}

std::string Bracketed(const std::string& address) { return "<" + address + ">"; }

}  // namespace

bool PlausibleEmail(std::string_view address) {
  if (address.size() < 3 || address.size() > 254) return false;
  const size_t at = address.rfind('@');
  if (at == 0 || at == std::string_view::npos || at + 1 == address.size()) return false;
  for (char c : address) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7F || c == '<' || c == '>' || c == ',' || c == '"') {
      return false;
    }
  }
  return address.substr(at + 1).find('.') != std::string_view::npos ||
         address.substr(at + 1) == "localhost";
}

std::string SendMail(const SmtpOptions& options, const std::string& to, std::string_view message) {
  InitCurl();
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return "curl_easy_init failed";
  Upload upload{message};
  curl_slist* recipients = curl_slist_append(nullptr, Bracketed(to).c_str());
  const std::string from = Bracketed(options.from);
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, options.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(curl, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
  curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, recipients);
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadMessage);
  curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  const CURLcode code = curl_easy_perform(curl);
  std::string why;
  if (code != CURLE_OK) why = error[0] != '\0' ? error : curl_easy_strerror(code);
  curl_slist_free_all(recipients);
  curl_easy_cleanup(curl);
  return why;
}

}  // namespace ringcast::notify
