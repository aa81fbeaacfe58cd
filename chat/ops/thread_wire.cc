// Threads (proto/PROTOCOL.md, "Replies and threads"): a thread's page of replies and the
// reader's watermark in it. Both from the store: the owner's cache of recent messages is by seq,
// not by thread. Not over STOMP.
// What they do: chat/ops/thread_ops.cc.
#include "chat/ops/wire.h"

namespace ringcast::chat::ops {
namespace {
namespace ondemand = simdjson::ondemand;

enum Field : int { kConv, kRoot, kSeq, kBefore, kSeen, kLimit };
constexpr std::string_view kFields[] = {"conv", "root", "seq", "before", "seen", "limit"};

// The fields both read; `page` null for thread_read (it takes no paging).
bool ReadThread(RequestReader& reader, int64_t* conv, int64_t* root, int64_t* seq, PageAsk* page) {
  const size_t taken = page != nullptr ? std::size(kFields) : size_t{kBefore};
  return reader.Fields(std::span(kFields).first(taken),
                       [&](int field, ondemand::value value) -> std::optional<std::string> {
                         switch (static_cast<Field>(field)) {
                           case kConv:
                             return ReadPositiveId(value, "conv", conv);
                           case kRoot:
                             return ReadPositiveId(
                                 value, "root", root,
                                 "must be a positive integer (the seq of a thread's root)");
                           case kSeq:
                             return ReadNonNegative(value, "seq", seq);
                           default:
                             return ReadPageField(field - kBefore, value, page);
                         }
                       }) &&
         reader.Need(kConv, "conv") && reader.Need(kRoot, "root");
}

bool ParseThread(RequestReader& reader, Request* request) {
  ThreadRequest& thread = request->emplace<ThreadRequest>();
  int64_t seq = 0;
  return ReadThread(reader, &thread.conv, &thread.root, &seq, &thread.page);
}

bool ParseThreadRead(RequestReader& reader, Request* request) {
  ThreadReadRequest& mark = request->emplace<ThreadReadRequest>();
  return ReadThread(reader, &mark.conv, &mark.root, &mark.seq, nullptr) && reader.Need(kSeq, "seq");
}

constexpr Wire kWires[] = {
    {.type = "thread", .parse = ParseThread},
    {.type = "thread_read", .parse = ParseThreadRead},
};

}  // namespace

std::span<const Wire> ThreadWires() { return kWires; }

}  // namespace ringcast::chat::ops
