// ConvView: what one chat connection has been sent of one conversation, so that live delivery
// and sync answers together give it every message exactly once (proto/PROTOCOL.md, "sync").
//
// Owner: the Session (its connection's shard). Pure bookkeeping, no I/O.
//
// Live delivery covers the messages published to the shard after the session went live
// (seq > live_from), in seq order. A sync answer is read from the store and can race that
// stream either way: it may contain messages that already went out live, and messages that
// have not been published to the shard yet. So:
//   - everything in (live_from, sent] has reached the connection, live or in an answer, and live
//     delivery sends only seq > sent;
//   - `answered_` records which parts of (live_from, sent] reached it in an answer rather than
//     live. A sync answer gives what the client asked for except what it received live: a
//     client asking again gets messages again, but never one it already got as a live event.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace ringcast::chat {

class ConvView {
 public:
  // Ranges of answered messages above live_from kept at most; past that the oldest is
  // forgotten, and a later sync leaves those messages out as if they had arrived live (the
  // connection has had them either way). Only a sync racing live traffic adds a range.
  static constexpr size_t kMaxAnsweredRanges = 8;

  explicit ConvView(int64_t start_seq = 0) : start_seq_(start_seq) {}

  bool live() const { return live_from_ >= 0; }
  int64_t start_seq() const { return start_seq_; }

  // From now on every message with seq > `last_published` reaches this connection live
  // (last_published < 0: nothing published since the owner started; the store's last_seq at
  // session start stands in). Messages an earlier answer already gave stay given.
  void GoLive(int64_t last_published) {
    if (live()) return;
    live_from_ = last_published >= 0 ? last_published : start_seq_;
    if (sent_ > live_from_) {
      answered_.push_back({live_from_ + 1, sent_});
    } else {
      sent_ = live_from_;
    }
  }

  // A message published to this shard: true if it goes out live now (and is recorded).
  bool TakeLive(int64_t seq) {
    if (!live() || seq <= sent_) return false;
    sent_ = seq;
    return true;
  }

  // Whether a stored message the client asked for belongs in a sync answer: everything but what
  // this connection received live.
  bool WantsInAnswer(int64_t seq) const {
    if (!live() || seq <= live_from_ || seq > sent_) return true;
    return std::any_of(answered_.begin(), answered_.end(),
                       [seq](const Range& r) { return seq >= r.first && seq <= r.last; });
  }

  // The conversation's messages after `last` are gone from the database (a failover to a
  // standby that lacked them) and their seqs are handed out again: they go out again, live or
  // in an answer.
  void Rewind(int64_t last) {
    if (sent_ > last) sent_ = last;
    if (live_from_ > last) live_from_ = last;
    std::erase_if(answered_, [last](const Range& r) { return r.first > last; });
    if (!answered_.empty()) answered_.back().last = std::min(answered_.back().last, last);
  }

  // A sync answer went out whose newest message is `last` (the messages in it are consecutive
  // from the store): what it added above `sent` must not come again live.
  void RecordAnswered(int64_t last) {
    if (last <= sent_) return;
    int64_t first = sent_ + 1;
    sent_ = last;
    if (!live()) return;  // GoLive turns it into a range.
    if (!answered_.empty() && answered_.back().last + 1 >= first) {
      answered_.back().last = last;
      return;
    }
    if (answered_.size() == kMaxAnsweredRanges) answered_.erase(answered_.begin());
    answered_.push_back({first, last});
  }

 private:
  struct Range {
    int64_t first, last;
  };

  int64_t start_seq_;       // The conversation's last_seq when the session loaded it.
  int64_t live_from_ = -1;  // -1: not live yet.
  int64_t sent_ = -1;
  std::vector<Range> answered_;  // Disjoint, ascending, within (live_from, sent].
};

}  // namespace ringcast::chat
