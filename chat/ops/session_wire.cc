// The session's own requests (proto/PROTOCOL.md, "Keeping a connection" and "Token expiry"):
// ping, and auth, which gives the open connection a newer access token.
// What they do: chat/ops/session_ops.cc.
#include "chat/auth/jwt.h"
#include "chat/ops/wire.h"
#include "chat/stomp/stomp_mapping.h"
#include "proto/json_writer.h"

namespace ringcast::chat::ops {
namespace {
namespace ondemand = simdjson::ondemand;

bool ParsePing(RequestReader&, Request* request) {
  request->emplace<PingRequest>();
  return true;
}

constexpr std::string_view kAuthFields[] = {"token"};

bool ParseAuth(RequestReader& reader, Request* request) {
  AuthRequest& auth = request->emplace<AuthRequest>();
  if (!reader.Fields(kAuthFields, [&](int, ondemand::value value) {
        return ReadString(value, "token", &auth.token);
      })) {
    return false;
  }
  if (auth.token.empty()) return reader.Fail("missing field \"token\"");
  return auth.token.size() <= auth::kMaxTokenBytes ? true : reader.Fail("token too long");
}

// SEND /app/chat.auth: the token as CONNECT carries it.
std::optional<std::string> AuthFromStomp(const stomp::Frame& frame, std::string_view,
                                         std::string* error) {
  std::optional<std::string_view> token = stomp_map::TokenOf(frame);
  if (!token) {
    *error = "missing token (header \"passcode\", or \"Authorization: Bearer <token>\")";
    return std::nullopt;
  }
  JsonWriter json;
  return json.BeginObject().Field("type", "auth").Field("token", *token).EndObject().Take();
}

constexpr Wire kWires[] = {
    {.type = "ping", .parse = ParsePing},
    {.type = "auth",
     .parse = ParseAuth,
     .stomp_destination = "/app/chat.auth",
     .from_stomp = AuthFromStomp},
};

}  // namespace

std::span<const Wire> SessionWires() { return kWires; }

}  // namespace ringcast::chat::ops
