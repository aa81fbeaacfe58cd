// How display names are searched (GET /api/users?q=; storage/SCHEMA.md "Profiles, logins and
// blocks"): a display name is split into words, each lowercased and stored in user_name_words,
// and a search prefix lowercased the same way is one byte range over that index, on both
// stores (SQLite's BINARY order, PostgreSQL's COLLATE "C").
//
// Case is folded for ASCII letters only: the server has no Unicode case tables, and a partial
// fold that differed between the stores would answer differently on each. Other characters
// (Cyrillic, CJK, emoji) match byte for byte, as typed.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast::storage {

inline char FoldAscii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// The distinct lowercased words of `name`, split at ASCII spaces and punctuation (every byte
// below 0x80 that is not a letter or a digit); a word keeps at most 64 bytes.
inline std::vector<std::string> NameWords(std::string_view name) {
  constexpr size_t kMaxWordBytes = 64;
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (!word.empty() && std::find(words.begin(), words.end(), word) == words.end()) {
      words.push_back(word);
    }
    word.clear();
  };
  for (char c : name) {
    const unsigned char byte = static_cast<unsigned char>(c);
    const bool ascii_word =
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (byte < 0x80 && !ascii_word) {
      flush();
    } else if (word.size() < kMaxWordBytes) {
      word.push_back(FoldAscii(c));
    }
  }
  flush();
  return words;
}

struct NameWordRange {
  std::string low, high;
};

// The words that start with `prefix` (folded as NameWords folds): [low, high) in byte order.
// nullopt for an empty prefix, or one that holds a separator (a word never does).
inline std::optional<NameWordRange> NameWordPrefixRange(std::string_view prefix) {
  std::vector<std::string> words = NameWords(prefix);
  if (words.size() != 1 || words[0].size() != prefix.size()) return std::nullopt;
  NameWordRange range{words[0], words[0]};
  // UTF-8 never holds 0xFF, so the last byte can always be incremented.
  range.high.back() = static_cast<char>(static_cast<unsigned char>(range.high.back()) + 1);
  return range;
}

}  // namespace ringcast::storage
