// Json: a small ordered JSON value for ringcast-bench's --json report. Built once at the end of
// a run on the main thread; not for hot paths. Object keys keep insertion order so the file
// reads in the order the figures were computed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tools/bench/histogram.h"

namespace ringcast::bench {

class Json {
 public:
  enum class Type : uint8_t { kNull, kBool, kInt, kUint, kDouble, kString, kArray, kObject };

  Json() = default;
  Json(bool value) : type_(Type::kBool), bool_(value) {}                        // NOLINT: implicit
  Json(int value) : type_(Type::kInt), int_(value) {}                           // NOLINT
  Json(int64_t value) : type_(Type::kInt), int_(value) {}                       // NOLINT
  Json(uint32_t value) : type_(Type::kUint), uint_(value) {}                    // NOLINT
  Json(uint64_t value) : type_(Type::kUint), uint_(value) {}                    // NOLINT
  Json(double value) : type_(Type::kDouble), double_(value) {}                  // NOLINT
  Json(std::string value) : type_(Type::kString), string_(std::move(value)) {}  // NOLINT
  Json(std::string_view value) : Json(std::string(value)) {}                    // NOLINT
  Json(const char* value) : Json(std::string(value)) {}                         // NOLINT

  static Json Array() { return Json(Type::kArray); }
  static Json Object() { return Json(Type::kObject); }

  Type type() const { return type_; }
  // Object: replaces the value under `key` or appends it. Returns *this for chaining.
  Json& Set(std::string_view key, Json value);
  // Array: appends.
  Json& Push(Json value);
  // Object member or nullptr.
  const Json* Find(std::string_view key) const;
  size_t size() const { return items_.size(); }

  // Pretty-printed with two-space indentation. Non-finite doubles are written as null.
  std::string Dump() const;

 private:
  explicit Json(Type type) : type_(type) {}
  void DumpTo(std::string* out, int depth) const;

  Type type_ = Type::kNull;
  bool bool_ = false;
  int64_t int_ = 0;
  uint64_t uint_ = 0;
  double double_ = 0;
  std::string string_;
  std::vector<std::string> keys_;  // Object only, parallel to items_.
  std::vector<Json> items_;
};

// JSON string literal with RFC 8259 escapes, quotes included.
std::string JsonQuote(std::string_view text);

// {count, min, max, mean, p50, p90, p99, p99_9, p99_99, buckets: [[low, high, count], ...]}
// with only the non-empty buckets; values in the histogram's unit (nanoseconds).
Json HistogramToJson(const Histogram& histogram);

}  // namespace ringcast::bench
