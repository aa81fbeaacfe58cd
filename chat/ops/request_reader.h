// Reading a request of the chat protocol (proto/PROTOCOL.md, "The chat service") on any
// transport: the envelope every request has ("type" and "cid"), then the fields its operation
// names, by that operation's own parser (chat/ops/wire.h). One rule for all: a field given
// twice is refused, unknown fields are ignored, the first fault is the answer, and it echoes the
// request's cid whenever the request carried one.
//
// Owner: each shard's RequestPacing keeps one (its simdjson parser and padded buffer are reused, so
// a request allocates only for the strings it keeps).
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "chat/json_body.h"
#include "chat/ops/request.h"
#include "chat/protocol.h"

namespace ringcast::chat::ops {

struct Wire;

class RequestReader {
 public:
  explicit RequestReader(RequestLimits limits) : limits_(limits) {}

  // The operation `text` asks for (its wire), with *request filled by its parser; or nullptr with
  // *error filled.
  const Wire* Parse(std::string_view text, Request* request, RequestError* error);

  // --- For the operations' parsers ---------------------------------------------------------
  const RequestLimits& limits() const { return limits_; }

  // Reads the fields named in `names` (at most 32; never "type" or "cid", which the envelope
  // read): on_field(index, value) returns the field's fault or nullopt. False on the first fault
  // (or a field given twice), with the error set.
  template <typename OnField>
  bool Fields(std::span<const std::string_view> names, OnField on_field);
  // After Fields: whether the field at `index` of its names was present.
  bool Has(int index) const { return (seen_ & (uint32_t{1} << index)) != 0; }
  // Sets the error; returns false, for `return reader.Fail(...)`.
  bool Fail(std::string message);
  // "missing field \"<name>\"" unless the field at `index` was present.
  bool Need(int index, std::string_view name);
  // The requests that are answered by cid: it must be there, and 1 to kMaxCid bytes.
  bool NeedCid();

 private:
  bool ReadEnvelope(std::string* type);

  RequestLimits limits_;
  simdjson::ondemand::parser parser_;
  std::string buffer_;  // text + SIMDJSON_PADDING, reused.
  simdjson::ondemand::document doc_;
  RequestError* error_ = nullptr;
  bool has_cid_ = false;
  uint32_t seen_ = 0;
};

template <typename OnField>
bool RequestReader::Fields(std::span<const std::string_view> names, OnField on_field) {
  seen_ = 0;
  simdjson::ondemand::object object;
  doc_.rewind();
  if (doc_.get_object().get(object) != simdjson::SUCCESS) return Fail("not JSON");
  if (std::optional<MemberFault> fault = ReadNamedMembers(object, names, &seen_, on_field)) {
    return Fail(fault->malformed ? "not JSON" : std::move(fault->reason));
  }
  return true;
}

// The paging fields history and thread share: on_field's `which` of kPageFields into *out.
inline constexpr std::string_view kPageFields[] = {"before", "seen", "limit"};
std::optional<std::string> ReadPageField(int which, simdjson::ondemand::value value, PageAsk* out);

}  // namespace ringcast::chat::ops
