#include "chat/ops/request_reader.h"

#include <charconv>
#include <utility>

#include "chat/ops/wire.h"
#include "proto/json_writer.h"

namespace ringcast::chat::ops {
namespace ondemand = simdjson::ondemand;

namespace {

constexpr std::string_view kEnvelopeFields[] = {"type", "cid"};

// What an error echoes of a "cid" that is not a string: a number's text as the client wrote it
// (an integer only within 64 bits: one past them is valid JSON that many parsers, simdjson's DOM
// among them, refuse, and the error is for the client to read). Other types echo nothing.
void EchoNumericCid(ondemand::value value, RequestError* error) {
  ondemand::json_type type;
  double number;
  if (value.type().get(type) != simdjson::SUCCESS || type != ondemand::json_type::number ||
      value.get_double().get(number) != simdjson::SUCCESS) {
    return;
  }
  std::string_view token = value.raw_json_token();
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t' || token.back() == '\n' ||
                            token.back() == '\r')) {
    token.remove_suffix(1);
  }
  const bool integer = token.find_first_of(".eE") == std::string_view::npos;
  int64_t as_int;
  if (!integer ||
      std::from_chars(token.data(), token.data() + token.size(), as_int).ec == std::errc()) {
    error->cid_json.assign(token);
  }
}

}  // namespace

bool RequestReader::Fail(std::string message) {
  error_->message = std::move(message);
  return false;
}

bool RequestReader::Need(int index, std::string_view name) {
  return Has(index) ? true : Fail("missing field \"" + std::string(name) + "\"");
}

bool RequestReader::NeedCid() {
  if (!has_cid_) return Fail("missing field \"cid\"");
  if (error_->cid.empty() || error_->cid.size() > RequestLimits::kMaxCid) {
    return Fail(
        FieldError("cid", "must be 1 to " + std::to_string(RequestLimits::kMaxCid) + " bytes"));
  }
  return true;
}

// The whole object is read before any fault is answered, so that the error carries the cid
// even when the fault comes first.
bool RequestReader::ReadEnvelope(std::string* type) {
  ondemand::object object;
  if (doc_.get_object().get(object) != simdjson::SUCCESS) return Fail("not a JSON object");
  uint32_t seen = 0;
  std::optional<std::string> fault;
  for (auto field : object) {
    std::string_view key;
    ondemand::value value;
    if (!ReadMember(field, &key, &value)) return Fail("not JSON");
    const int index = FieldIndex(kEnvelopeFields, key);
    if (index < 0) continue;
    std::optional<std::string> bad;
    if (seen & (uint32_t{1} << index)) {
      bad = DuplicateField(key);
    } else if (seen |= uint32_t{1} << index; index == 0) {
      bad = ReadString(value, key, type);
    } else if (bad = ReadString(value, key, &error_->cid); !bad) {
      has_cid_ = true;
      JsonWriter quoted;
      error_->cid_json = quoted.String(error_->cid).Take();
    } else if (bad->ends_with("must be a string")) {
      EchoNumericCid(value, error_);
    }
    if (bad && !fault) fault = std::move(bad);
  }
  if (!AtEnd(doc_)) return Fail("not JSON");
  if (fault) return Fail(std::move(*fault));
  return true;
}

const Wire* RequestReader::Parse(std::string_view text, Request* request, RequestError* error) {
  error_ = error;
  error->cid.clear();
  error->cid_json.clear();
  has_cid_ = false;
  if (IterateJson(parser_, buffer_, text, doc_) != simdjson::SUCCESS) {
    Fail("not JSON");
    return nullptr;
  }
  std::string type;
  if (!ReadEnvelope(&type)) return nullptr;
  const Wire* wire = FindWire(type);
  if (wire == nullptr) {
    Fail(type.empty() ? "missing field \"type\"" : "unknown type \"" + type + "\"");
    return nullptr;
  }
  return wire->parse(*this, request) ? wire : nullptr;
}

std::optional<std::string> ReadPageField(int which, ondemand::value value, PageAsk* out) {
  const std::string_view key = kPageFields[which];
  if (which == 0) return ReadNonNegative(value, key, &out->before);
  if (which == 1) return ReadNonNegative(value, key, &out->seen);
  int64_t limit;
  if (value.get_int64().get(limit) != simdjson::SUCCESS || limit < 1 ||
      limit > RequestLimits::kMaxHistory) {
    return FieldError(key,
                      "must be an integer from 1 to " + std::to_string(RequestLimits::kMaxHistory));
  }
  out->limit = static_cast<uint32_t>(limit);
  return std::nullopt;
}

}  // namespace ringcast::chat::ops
