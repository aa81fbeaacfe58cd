#include "tools/bench/json.h"

#include <charconv>
#include <cmath>

#include "proto/json_writer.h"

namespace ringcast::bench {

Json& Json::Set(std::string_view key, Json value) {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) {
      items_[i] = std::move(value);
      return *this;
    }
  }
  keys_.emplace_back(key);
  items_.push_back(std::move(value));
  return *this;
}

Json& Json::Push(Json value) {
  items_.push_back(std::move(value));
  return *this;
}

const Json* Json::Find(std::string_view key) const {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) return &items_[i];
  }
  return nullptr;
}

std::string Json::Dump() const {
  std::string out;
  DumpTo(&out, 0);
  out += '\n';
  return out;
}

std::string JsonQuote(std::string_view text) {
  std::string out;
  JsonWriter::AppendQuoted(out, text);
  return out;
}

void Json::DumpTo(std::string* out, int depth) const {
  auto newline = [out](int d) {
    *out += '\n';
    out->append(static_cast<size_t>(d) * 2, ' ');
  };
  switch (type_) {
    case Type::kNull:
      *out += "null";
      break;
    case Type::kBool:
      *out += bool_ ? "true" : "false";
      break;
    case Type::kInt:
      *out += std::to_string(int_);
      break;
    case Type::kUint:
      *out += std::to_string(uint_);
      break;
    case Type::kDouble: {
      if (!std::isfinite(double_)) {
        *out += "null";
        break;
      }
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), double_);
      out->append(buf, ec == std::errc() ? end : buf);
      break;
    }
    case Type::kString:
      *out += JsonQuote(string_);
      break;
    case Type::kArray: {
      // Arrays of scalars (one histogram bucket) stay on one line; arrays of containers put
      // each item on its own line.
      bool flat = true;
      for (const Json& item : items_) {
        if (item.type_ == Type::kObject || item.type_ == Type::kArray) flat = false;
      }
      *out += '[';
      for (size_t i = 0; i < items_.size(); ++i) {
        if (i > 0) *out += flat ? ", " : ",";
        if (!flat) newline(depth + 1);
        items_[i].DumpTo(out, depth + 1);
      }
      if (!flat && !items_.empty()) newline(depth);
      *out += ']';
      break;
    }
    case Type::kObject: {
      *out += '{';
      for (size_t i = 0; i < items_.size(); ++i) {
        if (i > 0) *out += ',';
        newline(depth + 1);
        *out += JsonQuote(keys_[i]);
        *out += ": ";
        items_[i].DumpTo(out, depth + 1);
      }
      if (!items_.empty()) newline(depth);
      *out += '}';
      break;
    }
  }
}

Json HistogramToJson(const Histogram& histogram) {
  Json out = Json::Object();
  out.Set("count", histogram.count());
  out.Set("min", histogram.min());
  out.Set("max", histogram.max());
  out.Set("mean", histogram.mean());
  out.Set("p50", histogram.Percentile(50));
  out.Set("p90", histogram.Percentile(90));
  out.Set("p99", histogram.Percentile(99));
  out.Set("p99_9", histogram.Percentile(99.9));
  out.Set("p99_99", histogram.Percentile(99.99));
  Json buckets = Json::Array();
  for (size_t i = 0; i < Histogram::kBucketCount; ++i) {
    const uint64_t n = histogram.BucketCount(i);
    if (n == 0) continue;
    buckets.Push(
        Json::Array().Push(Histogram::BucketLow(i)).Push(Histogram::BucketHigh(i)).Push(n));
  }
  out.Set("buckets", std::move(buckets));
  return out;
}

}  // namespace ringcast::bench
