// Group roles (issue 25, "Groups"; proto/PROTOCOL.md, "Group roles"; storage/SCHEMA.md,
// version 12): who may change a group, and the body of the system entry that reports a change.
//
// Each membership row holds a role. A group has exactly one owner (its creator, until ownership
// is transferred); admins and the owner add and remove members and change the group's settings;
// only the owner names admins and hands ownership on; nobody removes or demotes the owner, who
// cannot leave while it is the owner. A 1:1 conversation's two members are plain members and
// none of this applies (its membership never changes).
//
// These are the rules of the SQLite store (sqlite_chat_store.cc, sqlite_group_store.cc);
// PostgreSQL's copies are the functions of pg_migrations/v12_groups.sql (rc_group_denial and the
// ones that call it): a change to one is a change to both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/store_types.h"

namespace ringcast::storage {

inline constexpr std::string_view kOwnerRole = "owner";
inline constexpr std::string_view kAdminRole = "admin";
inline constexpr std::string_view kMemberRole = "member";

// The settings' bounds, in bytes (HTTP refuses longer ones with 400).
inline constexpr size_t kMaxGroupName = 128;
inline constexpr size_t kMaxGroupTopic = 512;

inline bool IsManager(std::string_view role) { return role == kOwnerRole || role == kAdminRole; }

// Why `actor` (with `actor_role`) may not remove `target` (with `target_role`), or kNone. The
// actor removing itself is leaving: anyone but the owner may.
inline Denial RemoveDenial(int64_t actor, std::string_view actor_role, int64_t target,
                           std::string_view target_role) {
  if (actor == target) return actor_role == kOwnerRole ? Denial::kLastOwner : Denial::kNone;
  if (target_role == kOwnerRole) return Denial::kOwnerProtected;
  if (!IsManager(actor_role)) return Denial::kNotAdmin;
  // An admin removes members; only the owner removes an admin.
  if (target_role == kAdminRole && actor_role != kOwnerRole) return Denial::kNotAdmin;
  return Denial::kNone;
}

// Only the owner names admins and demotes them, and never itself.
inline Denial SetRoleDenial(std::string_view actor_role, std::string_view target_role) {
  if (actor_role != kOwnerRole) return Denial::kNotAdmin;
  if (target_role == kOwnerRole) return Denial::kOwnerProtected;
  return Denial::kNone;
}

// Who may delete a message besides its author (message_changes.h's MayDelete).
inline bool MayDeleteOthers(std::string_view role) { return IsManager(role); }

// A JSON string literal (quotes included) of `text`, which is valid UTF-8 (the HTTP layer
// checked it): only the characters JSON requires escaped are, as PostgreSQL's to_json escapes
// them (so that both stores write the same bodies).
inline void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const char* shorthand = c == '\b'   ? "\\b"
                            : c == '\f' ? "\\f"
                            : c == '\n' ? "\\n"
                            : c == '\r' ? "\\r"
                            : c == '\t' ? "\\t"
                                        : nullptr;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (shorthand != nullptr) {
      out += shorthand;
    } else if (byte < 0x20) {
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

// The body of a system entry (kind "system", proto/PROTOCOL.md "System entries"):
// {"action":…,"actor":…,"users":[…],"role":…,"name":…,"topic":…,"avatar":…}, the last five only
// when set.
struct SystemEvent {
  std::string_view action;  // added, removed, left, role, transferred, updated
  int64_t actor = 0;
  std::vector<int64_t> users;
  std::optional<std::string_view> role;
  std::optional<std::string_view> name;
  std::optional<std::string_view> topic;
  std::optional<std::string_view> avatar;  // An upload id, "" when cleared.
};

inline std::string SystemBody(const SystemEvent& event) {
  std::string out = "{\"action\":";
  AppendJsonString(out, event.action);
  out += ",\"actor\":";
  out += std::to_string(event.actor);
  if (!event.users.empty()) {
    out += ",\"users\":[";
    for (size_t i = 0; i < event.users.size(); ++i) {
      if (i > 0) out += ',';
      out += std::to_string(event.users[i]);
    }
    out += ']';
  }
  auto field = [&out](std::string_view key, const std::optional<std::string_view>& value) {
    if (!value) return;
    out += ",\"";
    out += key;
    out += "\":";
    AppendJsonString(out, *value);
  };
  field("role", event.role);
  field("name", event.name);
  field("topic", event.topic);
  field("avatar", event.avatar);
  out += '}';
  return out;
}

}  // namespace ringcast::storage
