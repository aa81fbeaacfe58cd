// `@username` mentions in a message body: which names a body mentions (pure; both stores
// resolve the names among the conversation's members inside the append's transaction).
//
// A mention is '@' not preceded by a username character (so "bob@example.com" mentions nobody),
// followed by 1 to 32 username characters (A-Z a-z 0-9 _ . -, chat/protocol.h), with trailing
// dots dropped ("thanks @bob." names "bob"). Names come back lowercased (usernames compare
// ignoring ASCII case), without repeats, at most kMaxMentionNames (a body naming more is not
// refused: the rest are not mentions).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "storage/chat_store.h"

namespace ringcast::storage {

inline constexpr size_t kMaxMentionNames = 20;
// Explicit mentions (`mentions: [ids]` on send) kept per message; the parser refuses more.
inline constexpr size_t kMaxExplicitMentions = 50;

inline bool IsUsernameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

inline std::vector<std::string> MentionedNames(std::string_view body) {
  std::vector<std::string> names;
  for (size_t at = body.find('@'); at != std::string_view::npos; at = body.find('@', at + 1)) {
    if (at > 0 && IsUsernameChar(body[at - 1])) continue;
    size_t end = at + 1;
    while (end < body.size() && IsUsernameChar(body[end]) && end - at - 1 < 32) ++end;
    if (end < body.size() && IsUsernameChar(body[end])) continue;  // Longer than any username.
    std::string name(body.substr(at + 1, end - at - 1));
    while (!name.empty() && name.back() == '.') name.pop_back();
    if (name.empty()) continue;
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) continue;
    names.push_back(std::move(name));
    if (names.size() == kMaxMentionNames) break;
  }
  return names;
}

// Whether an append must look for mentions (explicit ones, or an '@' in a text body).
inline bool MayMention(const NewMessage& message) {
  return !message.mentions.empty() ||
         (message.kind == "text" && message.body.find('@') != std::string::npos);
}

}  // namespace ringcast::storage
