#include "chat/calls/ice_servers.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "proto/json_writer.h"

namespace ringcast::chat {

TurnCredential MakeTurnCredential(std::string_view secret, int64_t user, int64_t expires_s) {
  TurnCredential credential;
  credential.username = std::to_string(expires_s) + ":" + std::to_string(user);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(credential.username.data()),
       credential.username.size(), digest, &digest_size);
  // 4 output characters per 3 input bytes, padded, and the terminating NUL EVP_EncodeBlock adds.
  std::string encoded(4 * ((digest_size + 2) / 3) + 1, '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()), digest,
                                      static_cast<int>(digest_size));
  encoded.resize(static_cast<size_t>(written));
  credential.password = std::move(encoded);
  return credential;
}

std::string EncodeIceServers(const IceServerOptions& options, int64_t user, int64_t now_s) {
  JsonWriter writer;
  writer.BeginObject().Key("ice_servers").BeginArray();
  auto urls = [&writer](const std::vector<std::string>& list) {
    writer.Key("urls").BeginArray();
    for (const std::string& url : list) writer.String(url);
    writer.EndArray();
  };
  if (!options.stun_urls.empty()) {
    writer.BeginObject();
    urls(options.stun_urls);
    writer.EndObject();
  }
  const bool turn = !options.turn_urls.empty() && !options.turn_secret.empty();
  const int64_t expires_s = now_s + options.turn_ttl_s;
  if (turn) {
    const TurnCredential credential = MakeTurnCredential(options.turn_secret, user, expires_s);
    writer.BeginObject();
    urls(options.turn_urls);
    writer.Field("username", credential.username)
        .Field("credential", credential.password)
        .EndObject();
  }
  writer.EndArray().Key("expires_at");
  turn ? writer.Int(expires_s * 1000) : writer.Null();
  return writer.EndObject().Take();
}

std::optional<std::string> ParseIceUrls(std::string_view list, bool turn,
                                        std::vector<std::string>* out) {
  const std::string_view flag = turn ? "--turn-urls" : "--stun-urls";
  const std::string_view schemes[] = {turn ? "turn:" : "stun:", turn ? "turns:" : "stuns:"};
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view entry = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    if (entry.empty()) continue;
    std::string_view host;
    for (std::string_view scheme : schemes) {
      if (entry.starts_with(scheme)) host = entry.substr(scheme.size());
    }
    if (host.empty() || host.front() == ':' || host.front() == '?') {
      return std::string(flag) + ": \"" + std::string(entry) + "\" is not " +
             std::string(schemes[0]) + "HOST[:PORT] or " + std::string(schemes[1]) + "HOST[:PORT]";
    }
    for (char c : entry) {
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f || c == '"' || c == '\\') {
        return std::string(flag) + ": \"" + std::string(entry) +
               "\" holds a space, a quote, a backslash or a control character";
      }
    }
    out->emplace_back(entry);
  }
  return std::nullopt;
}

}  // namespace ringcast::chat
