// The ICE servers a client gives its RTCPeerConnection for a call (proto/PROTOCOL.md, "Calls:
// ICE servers"): the STUN URLs as they are, and the TURN URLs with a credential in coturn's TURN
// REST API scheme (its `use-auth-secret`): username "<expiry, Unix seconds>:<user id>",
// password base64(HMAC-SHA1(--turn-secret, username)). coturn recomputes the password from the
// secret it shares with us and refuses a username whose expiry has passed, so the secret never
// leaves the server and a credential a client leaks is one user's, until its expiry.
//
// Pure functions of the options, the user and the wall clock (coturn compares the expiry with
// its own wall clock): safe on any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast::chat {

struct IceServerOptions {
  std::vector<std::string> stun_urls;  // --stun-urls
  std::vector<std::string> turn_urls;  // --turn-urls
  std::string turn_secret;             // --turn-secret (coturn's static-auth-secret)
  uint32_t turn_ttl_s = 86400;         // --turn-ttl
};

struct TurnCredential {
  std::string username;  // "<expiry>:<user>"
  std::string password;  // base64, padded (RFC 4648 §4), as coturn computes it
};

TurnCredential MakeTurnCredential(std::string_view secret, int64_t user, int64_t expires_s);

// {"ice_servers":[{"urls":[stun…]},{"urls":[turn…],"username","credential"}],
//  "expires_at": ms or null}: an entry only for a kind of URL that is configured; expires_at
// when there is a TURN credential.
std::string EncodeIceServers(const IceServerOptions& options, int64_t user, int64_t now_s);

// Splits a comma-separated --stun-urls / --turn-urls value into `out` (spaces around entries
// are dropped). nullopt, or why the list is refused: an entry that is not
// stun:/stuns: (turn false) or turn:/turns: (turn true) followed by a host, or that holds a
// space, a quote, a backslash or a control character.
std::optional<std::string> ParseIceUrls(std::string_view list, bool turn,
                                        std::vector<std::string>* out);

}  // namespace ringcast::chat
