// Reading the JSON objects clients send (request bodies, WebSocket requests) with simdjson On
// Demand, one rule everywhere: a known field given twice is refused, unknown fields are ignored,
// a body that is not one JSON object is refused with JsonBodyFault's reason. Pure code.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "chat/protocol.h"

namespace ringcast::chat {

// Parses `text` into `doc`, using `buffer` for the padding simdjson reads past the end.
inline simdjson::error_code IterateJson(simdjson::ondemand::parser& parser, std::string& buffer,
                                        std::string_view text, simdjson::ondemand::document& doc) {
  buffer.assign(text);
  buffer.resize(text.size() + simdjson::SIMDJSON_PADDING);
  return parser.iterate(buffer.data(), text.size(), buffer.size()).get(doc);
}

// Nothing but whitespace after the value (On Demand stops reading where the caller stops).
inline bool AtEnd(simdjson::ondemand::document& doc) {
  return doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
}

inline std::string FieldError(std::string_view name, std::string_view fault) {
  return "field \"" + std::string(name) + "\" " + std::string(fault);
}

// RFC 8259 §4 leaves duplicate names' meaning to each parser, so "the last one wins" would let
// two readers of the same text (a proxy, a log, us) disagree, and it hides client bugs.
inline std::string DuplicateField(std::string_view key) {
  return "duplicate field \"" + std::string(key) + "\"";
}

// Index of `key` among `names` (at most 32: one bit each in the duplicate check), or -1 for a
// field the reader ignores.
inline int FieldIndex(std::span<const std::string_view> names, std::string_view key) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == key) return static_cast<int>(i);
  }
  return -1;
}

// One member of an object being walked (`for (auto field : object)`): its unescaped name and its
// value; false where the JSON is malformed.
inline bool ReadMember(simdjson::simdjson_result<simdjson::ondemand::field>& field,
                       std::string_view* name, simdjson::ondemand::value* value) {
  return field.unescaped_key().get(*name) == simdjson::SUCCESS &&
         field.value().get(*value) == simdjson::SUCCESS;
}

// Why a walk of an object's named members stopped: the first fault (on_field's, or a name given
// twice), or the JSON malformed, which each caller words its own way.
struct MemberFault {
  std::string reason;
  bool malformed = false;
};

// The members of `object` named in `names`, in order: on_field(index, value) for each, returning
// its fault or nullopt; other members are skipped, a name given twice is refused, and *seen
// marks the names read (bit `index`). Nullopt once every member is read.
template <typename OnField>
std::optional<MemberFault> ReadNamedMembers(simdjson::ondemand::object& object,
                                            std::span<const std::string_view> names, uint32_t* seen,
                                            OnField& on_field) {
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (!ReadMember(field, &key, &value)) return MemberFault{.malformed = true};
    const int index = FieldIndex(names, key);
    if (index < 0) continue;
    if (*seen & (uint32_t{1} << index)) return MemberFault{.reason = DuplicateField(key)};
    *seen |= uint32_t{1} << index;
    if (auto fault = on_field(index, value)) return MemberFault{.reason = std::move(*fault)};
  }
  return std::nullopt;
}

// Reads a string field, or says why it cannot: a value of another type, or a string simdjson
// will not unescape (a malformed escape, or a \u escape of a lone surrogate, which names no
// Unicode character) — two different faults a client needs told apart. U+0000 is refused:
// PostgreSQL's text cannot hold it, and no client means to send it, so what one store keeps is
// never what another would refuse.
inline std::optional<std::string> ReadString(simdjson::ondemand::value value, std::string_view name,
                                             std::string* out) {
  std::string_view text;
  const simdjson::error_code error = value.get_string().get(text);
  if (error == simdjson::SUCCESS) {
    if (text.find('\0') != std::string_view::npos) {
      return FieldError(name, "must not contain U+0000 (\\u0000)");
    }
    out->assign(text);
    return std::nullopt;
  }
  if (error == simdjson::INCORRECT_TYPE) return FieldError(name, "must be a string");
  return FieldError(name,
                    "is not a valid string: a malformed escape, or a \\u escape of a lone "
                    "surrogate (not a Unicode character)");
}

// A string or null (*out left empty). is_null() yields an error, not false, for a bad atom such
// as `nul`: taken as a bool it would throw simdjson_error, uncaught on a shard thread.
inline std::optional<std::string> ReadStringOrNull(simdjson::ondemand::value value,
                                                   std::string_view name,
                                                   std::optional<std::string>* out) {
  bool is_null = false;
  if (value.is_null().get(is_null) == simdjson::SUCCESS && is_null) {
    out->reset();
    return std::nullopt;
  }
  std::string text;
  if (auto fault = ReadString(value, name, &text)) {
    return fault->ends_with("must be a string") ? FieldError(name, "must be a string or null")
                                                : fault;
  }
  *out = std::move(text);
  return std::nullopt;
}

// A positive integer, a non-negative one, a boolean, an array of positive ids: the field's fault,
// or nullopt. `fault` tells the client which number a positive id is.
inline std::optional<std::string> ReadPositiveId(
    simdjson::ondemand::value value, std::string_view key, int64_t* out,
    std::string_view fault = "must be a positive integer") {
  int64_t id;
  if (value.get_int64().get(id) == simdjson::SUCCESS && id > 0) {
    *out = id;
    return std::nullopt;
  }
  return FieldError(key, fault);
}

inline std::optional<std::string> ReadNonNegative(simdjson::ondemand::value value,
                                                  std::string_view key, int64_t* out) {
  int64_t n;
  if (value.get_int64().get(n) == simdjson::SUCCESS && n >= 0) {
    *out = n;
    return std::nullopt;
  }
  return FieldError(key, "must be a non-negative integer");
}

inline std::optional<std::string> ReadBool(simdjson::ondemand::value value, std::string_view key,
                                           bool* out) {
  if (value.get_bool().get(*out) == simdjson::SUCCESS) return std::nullopt;
  return FieldError(key, "must be true or false");
}

inline std::optional<std::string> ReadIdArray(simdjson::ondemand::value value, std::string_view key,
                                              std::vector<int64_t>* out) {
  simdjson::ondemand::array array;
  if (value.get_array().get(array) != simdjson::SUCCESS) {
    return FieldError(key, "must be an array of user ids");
  }
  for (auto element : array) {
    simdjson::ondemand::value item;
    int64_t id;
    if (element.get(item) != simdjson::SUCCESS || item.get_int64().get(id) != simdjson::SUCCESS ||
        id <= 0) {
      return FieldError(key, "must be an array of positive integers");
    }
    out->push_back(id);
  }
  return std::nullopt;
}

// Walks the fields of a JSON object body: `on_field(index, value)` for each field named in
// `names` (by index), returning an error or nullopt; the first error is the answer.
template <typename OnField>
std::optional<std::string> ForEachField(std::string_view body,
                                        std::span<const std::string_view> names, OnField on_field) {
  simdjson::ondemand::parser parser;
  std::string buffer;
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (IterateJson(parser, buffer, body, doc) != simdjson::SUCCESS ||
      doc.get_object().get(object) != simdjson::SUCCESS) {
    return JsonBodyFault(body);
  }
  uint32_t seen = 0;
  if (std::optional<MemberFault> fault = ReadNamedMembers(object, names, &seen, on_field)) {
    return fault->malformed ? JsonBodyFault(body) : std::move(fault->reason);
  }
  if (!AtEnd(doc)) return "the body is not valid JSON: more follows its object";
  return std::nullopt;
}

}  // namespace ringcast::chat
