#include "storage/search_store.h"

#include <algorithm>

namespace ringcast::storage {
namespace {

bool IsWordByte(char c) {
  return static_cast<unsigned char>(c) >= 0x80 || (c >= '0' && c <= '9') ||
         (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

struct Word {
  size_t begin;
  size_t end;
};

std::vector<Word> Words(std::string_view text) {
  std::vector<Word> words;
  for (size_t i = 0; i < text.size();) {
    if (!IsWordByte(text[i])) {
      ++i;
      continue;
    }
    const size_t begin = i;
    while (i < text.size() && IsWordByte(text[i])) ++i;
    words.push_back({begin, i});
  }
  return words;
}

}  // namespace

std::vector<std::string> SearchTerms(std::string_view text) {
  std::vector<std::string> terms;
  for (const Word& word : Words(text)) {
    std::string term(text.substr(word.begin, word.end - word.begin));
    std::transform(term.begin(), term.end(), term.begin(), AsciiLower);
    terms.push_back(std::move(term));
  }
  return terms;
}

Snippet Highlight(std::string_view body, const std::vector<std::string>& terms) {
  const std::vector<Word> words = Words(body);
  auto matches = [&](const Word& word) {
    std::string lower(body.substr(word.begin, word.end - word.begin));
    std::transform(lower.begin(), lower.end(), lower.begin(), AsciiLower);
    return std::find(terms.begin(), terms.end(), lower) != terms.end();
  };
  size_t first = 0;
  while (first < words.size() && !matches(words[first])) ++first;
  if (first == words.size()) first = 0;
  // A few words of what leads up to the first match, then the rest of the window.
  const size_t start = first > kSnippetWords / 4 ? first - kSnippetWords / 4 : 0;
  const size_t end = std::min(words.size(), start + kSnippetWords);
  const size_t from = start == 0 ? 0 : words[start].begin;
  const size_t to = end == words.size() ? body.size() : words[end - 1].end;
  Snippet out;
  if (start > 0) out.text = "…";
  // The passage goes in whole: the offsets are its own, shifted by what precedes it.
  const size_t shift = out.text.size();
  out.text += body.substr(from, to - from);
  if (end < words.size()) out.text += "…";
  for (size_t i = start; i < end; ++i) {
    if (!matches(words[i])) continue;
    out.matches.push_back({static_cast<uint32_t>(words[i].begin - from + shift),
                           static_cast<uint32_t>(words[i].end - from + shift)});
  }
  return out;
}

}  // namespace ringcast::storage
