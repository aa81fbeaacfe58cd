// RecentCids: the (sender, cid) → message id pairs of the newest messages, which the SQLite store
// keeps in memory and adds to the message_cids table in bulk (storage/README.md, "WAL bytes per
// message"). An index keyed by sender gets one insert per message on the leaf of that sender's
// newest entries: written into every commit, that was half of the WAL written per message.
// Merged a chunk at a time, in key order, each leaf takes the many entries that gathered for it
// in one write.
//
// What it holds is a hint, never the truth: an entry of an append whose transaction was rolled
// back stays here (the writer learns of the rollback too late to take it out), so the store
// reads the row an entry names, and checks its sender and cid, before it believes it.
//
// Threads: Find, Add, Forget and NextChunk run on the store's writer thread, Merged on the
// thread that completes the merge's job (the writer or the syncer); one mutex covers all.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringcast::storage {

class RecentCids {
 public:
  struct Entry {
    int64_t sender = 0;
    std::string cid;
    int64_t id = 0;
  };

  std::optional<int64_t> Find(int64_t sender, std::string_view cid) const;
  void Add(int64_t sender, std::string cid, int64_t id);
  // Drops the entry for (sender, cid) if it still names `id` (a stale hint).
  void Forget(int64_t sender, std::string_view cid, int64_t id);
  size_t size() const;

  // `max` entries (or all held) in key order, starting after where the last chunk ended and
  // going on from the lowest key past the highest, so every entry is merged within one sweep.
  std::vector<Entry> NextChunk(size_t max);
  // Drops the chunk's entries once their rows are in message_cids (an entry that was replaced
  // meanwhile stays).
  void Merged(const std::vector<Entry>& chunk);
  // The smallest message id among the entries that are not in `chunk`: what message_cids may
  // still lack once the chunk is merged.
  std::optional<int64_t> LowestIdBesides(const std::vector<Entry>& chunk) const;

 private:
  using Key = std::pair<int64_t, std::string>;
  struct KeyLess {
    using is_transparent = void;
    bool operator()(const Key& a, const Key& b) const { return a < b; }
    bool operator()(const Key& a, const std::pair<int64_t, std::string_view>& b) const {
      return a.first != b.first ? a.first < b.first : std::string_view(a.second) < b.second;
    }
    bool operator()(const std::pair<int64_t, std::string_view>& a, const Key& b) const {
      return a.first != b.first ? a.first < b.first : a.second < std::string_view(b.second);
    }
  };

  mutable std::mutex mutex_;
  std::map<Key, int64_t, KeyLess> by_key_;
  std::multiset<int64_t> ids_;  // The ids of by_key_'s entries, for the lowest.
  Key sweep_from_;              // The next chunk starts above this key.
};

}  // namespace ringcast::storage
