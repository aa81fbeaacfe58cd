#include "chat/calls/signal_payload.h"

#include <algorithm>
#include <vector>

#include "chat/json_body.h"
#include "proto/json_writer.h"

namespace ringcast::chat {
namespace {

namespace ondemand = simdjson::ondemand;

// Copies one value at a time into `out_`, counting values and depth. Every read is checked:
// On Demand validates a value only when it is read, so nothing of the client's is skipped.
class PayloadCopy {
 public:
  explicit PayloadCopy(JsonWriter& out) : out_(out) {}

  // The fault (without the field's name), or nullopt.
  std::optional<std::string> Value(ondemand::value value, size_t depth) {
    if (++values_ > SignalPayloadLimits::kMaxValues) {
      return "holds more than " + std::to_string(SignalPayloadLimits::kMaxValues) + " values";
    }
    ondemand::json_type type;
    if (value.type().get(type) != simdjson::SUCCESS) return Malformed();
    switch (type) {
      case ondemand::json_type::object:
        return Object(value, depth + 1);
      case ondemand::json_type::array:
        return Array(value, depth + 1);
      case ondemand::json_type::string: {
        std::string_view text;
        if (value.get_string().get(text) != simdjson::SUCCESS) return Malformed();
        out_.String(text);
        return std::nullopt;
      }
      case ondemand::json_type::number:
        return Number(value);
      case ondemand::json_type::boolean: {
        bool flag;
        if (value.get_bool().get(flag) != simdjson::SUCCESS) return Malformed();
        out_.Bool(flag);
        return std::nullopt;
      }
      case ondemand::json_type::null: {
        bool null = false;
        if (value.is_null().get(null) != simdjson::SUCCESS || !null) return Malformed();
        out_.Null();
        return std::nullopt;
      }
    }
    return Malformed();
  }

  bool malformed() const { return malformed_; }

 private:
  std::optional<std::string> Malformed() {
    malformed_ = true;
    return "is not valid JSON";
  }

  std::optional<std::string> Deep(size_t depth) const {
    if (depth <= SignalPayloadLimits::kMaxDepth) return std::nullopt;
    return "is nested deeper than " + std::to_string(SignalPayloadLimits::kMaxDepth) + " levels";
  }

  std::optional<std::string> Object(ondemand::value value, size_t depth) {
    if (auto fault = Deep(depth)) return fault;
    ondemand::object object;
    if (value.get_object().get(object) != simdjson::SUCCESS) return Malformed();
    out_.BeginObject();
    // Views into the parser's string buffer, valid while the request's document is.
    std::vector<std::string_view> names;
    for (auto field : object) {
      std::string_view name;
      ondemand::value member;
      if (!ReadMember(field, &name, &member)) return Malformed();
      names.push_back(name);
      out_.Key(name);
      if (auto fault = Value(member, depth)) return fault;
    }
    out_.EndObject();
    // RFC 8259 §4 leaves a repeated name's meaning to each reader: the peer's and ours would
    // disagree on what was relayed.
    std::sort(names.begin(), names.end());
    if (std::adjacent_find(names.begin(), names.end()) != names.end()) {
      return "has a name twice in one object";
    }
    return std::nullopt;
  }

  std::optional<std::string> Array(ondemand::value value, size_t depth) {
    if (auto fault = Deep(depth)) return fault;
    ondemand::array array;
    if (value.get_array().get(array) != simdjson::SUCCESS) return Malformed();
    out_.BeginArray();
    for (auto element : array) {
      ondemand::value item;
      if (element.get(item) != simdjson::SUCCESS) return Malformed();
      if (auto fault = Value(item, depth)) return fault;
    }
    out_.EndArray();
    return std::nullopt;
  }

  std::optional<std::string> Number(ondemand::value value) {
    ondemand::number number;
    if (value.get_number().get(number) != simdjson::SUCCESS) {
      // Malformed, or an integer past 64 bits, or past a double's range: valid JSON that the
      // peers' parsers would not read alike either.
      malformed_ = true;
      return "holds a number that is not valid JSON or does not fit 64 bits";
    }
    switch (number.get_number_type()) {
      case ondemand::number_type::signed_integer:
        out_.Int(number.get_int64());
        break;
      case ondemand::number_type::unsigned_integer:
        out_.Uint(number.get_uint64());
        break;
      case ondemand::number_type::floating_point_number:
        out_.Double(number.get_double());
        break;
    }
    return std::nullopt;
  }

  JsonWriter& out_;
  size_t values_ = 0;
  bool malformed_ = false;
};

}  // namespace

std::optional<std::string> ReadSignalPayload(ondemand::value value, std::string_view key,
                                             std::string* out, bool* malformed) {
  *malformed = false;
  const auto fault = [key](std::string_view what) { return FieldError(key, what); };
  ondemand::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS) {
    *malformed = true;
    return fault("is not valid JSON");
  }
  if (type != ondemand::json_type::object) return fault("must be an object");
  JsonWriter writer;
  PayloadCopy copy(writer);
  if (std::optional<std::string> bad = copy.Value(value, 0)) {
    *malformed = copy.malformed();
    return fault(*bad);
  }
  *out = writer.Take();
  return std::nullopt;
}

}  // namespace ringcast::chat
