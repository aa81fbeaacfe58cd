// The sessions' indexes are unordered vectors (sessions by user, by conversation, by watched
// contact): removing one is a swap with the last.
#pragma once

#include <algorithm>
#include <vector>

namespace ringcast::chat {

// Removes one `item` from `items` (if there), not keeping the order.
template <typename T>
void EraseOne(std::vector<T>& items, const T& item) {
  auto it = std::find(items.begin(), items.end(), item);
  if (it == items.end()) return;
  *it = items.back();
  items.pop_back();
}

}  // namespace ringcast::chat
