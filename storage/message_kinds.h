// The kinds of entry a conversation's seq stream holds besides what people write. A message's
// `kind` is otherwise the client's to choose (proto/PROTOCOL.md, "send"); these are written
// only by the server, so a send may not use them, and they neither count as unread nor notify.
#pragma once

#include <algorithm>
#include <array>
#include <string_view>

namespace ringcast::storage {

// Changes to an earlier message, naming it (proto/PROTOCOL.md, "Changes to messages").
inline constexpr std::string_view kEditKind = "edit";
inline constexpr std::string_view kDeleteKind = "delete";
inline constexpr std::string_view kReactionKind = "reaction";
inline constexpr std::string_view kPinKind = "pin";
inline constexpr std::string_view kUnpinKind = "unpin";
// What happened to the conversation itself (members, roles, name): written by the server.
inline constexpr std::string_view kSystemKind = "system";

inline constexpr std::array<std::string_view, 6> kServerKinds = {
    kEditKind, kDeleteKind, kReactionKind, kPinKind, kUnpinKind, kSystemKind};

inline bool IsServerKind(std::string_view kind) {
  return std::find(kServerKinds.begin(), kServerKinds.end(), kind) != kServerKinds.end();
}

// The same test in SQL, for counting what is unread in the store: `kind NOT IN (...)`, valid in
// SQLite and PostgreSQL alike.
inline constexpr std::string_view kOrdinaryKindSql =
    "kind NOT IN ('edit','delete','reaction','pin','unpin','system')";

}  // namespace ringcast::storage
