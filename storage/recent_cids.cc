#include "storage/recent_cids.h"

#include <algorithm>
#include <unordered_set>

namespace ringcast::storage {

std::optional<int64_t> RecentCids::Find(int64_t sender, std::string_view cid) const {
  std::lock_guard lock(mutex_);
  auto it = by_key_.find(std::pair<int64_t, std::string_view>(sender, cid));
  if (it == by_key_.end()) return std::nullopt;
  return it->second;
}

void RecentCids::Add(int64_t sender, std::string cid, int64_t id) {
  std::lock_guard lock(mutex_);
  auto [it, added] = by_key_.try_emplace(Key(sender, std::move(cid)), id);
  if (!added) {
    ids_.erase(ids_.find(it->second));
    it->second = id;
  }
  ids_.insert(id);
}

void RecentCids::Forget(int64_t sender, std::string_view cid, int64_t id) {
  std::lock_guard lock(mutex_);
  auto it = by_key_.find(std::pair<int64_t, std::string_view>(sender, cid));
  if (it == by_key_.end() || it->second != id) return;
  ids_.erase(ids_.find(id));
  by_key_.erase(it);
}

size_t RecentCids::size() const {
  std::lock_guard lock(mutex_);
  return by_key_.size();
}

std::vector<RecentCids::Entry> RecentCids::NextChunk(size_t max) {
  std::lock_guard lock(mutex_);
  std::vector<Entry> chunk;
  const size_t want = std::min(max, by_key_.size());
  chunk.reserve(want);
  // Past the top of the keys the chunk goes on from the lowest: stopping there would hand out a
  // few entries while appends keep adding more.
  for (auto it = by_key_.upper_bound(sweep_from_); chunk.size() < want; ++it) {
    if (it == by_key_.end()) it = by_key_.begin();
    chunk.push_back({it->first.first, it->first.second, it->second});
  }
  if (!chunk.empty()) sweep_from_ = Key(chunk.back().sender, chunk.back().cid);
  return chunk;
}

void RecentCids::Merged(const std::vector<Entry>& chunk) {
  std::lock_guard lock(mutex_);
  for (const Entry& entry : chunk) {
    auto it = by_key_.find(std::pair<int64_t, std::string_view>(entry.sender, entry.cid));
    if (it == by_key_.end() || it->second != entry.id) continue;
    ids_.erase(ids_.find(entry.id));
    by_key_.erase(it);
  }
}

std::optional<int64_t> RecentCids::LowestIdBesides(const std::vector<Entry>& chunk) const {
  std::unordered_set<int64_t> merging;
  for (const Entry& entry : chunk) merging.insert(entry.id);
  std::lock_guard lock(mutex_);
  for (int64_t id : ids_) {
    if (!merging.contains(id)) return id;
  }
  return std::nullopt;
}

}  // namespace ringcast::storage
