#include "proto/json_writer.h"

#include <charconv>
#include <cmath>

namespace ringcast {

void JsonWriter::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!has_element_.empty()) {
    if (has_element_.back()) out_.push_back(',');
    has_element_.back() = true;
  }
}

JsonWriter& JsonWriter::Open(char open) {
  BeforeValue();
  out_.push_back(open);
  has_element_.push_back(false);
  return *this;
}

JsonWriter& JsonWriter::Close(char close) {
  out_.push_back(close);
  has_element_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::BeginObject() { return Open('{'); }
JsonWriter& JsonWriter::EndObject() { return Close('}'); }
JsonWriter& JsonWriter::BeginArray() { return Open('['); }
JsonWriter& JsonWriter::EndArray() { return Close(']'); }

JsonWriter& JsonWriter::Key(std::string_view key) {
  BeforeValue();
  AppendQuoted(out_, key);
  out_.push_back(':');
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view value) {
  BeforeValue();
  AppendQuoted(out_, value);
  return *this;
}

template <typename Integer>
JsonWriter& JsonWriter::Number(Integer value) {
  BeforeValue();
  char buffer[24];  // 20 digits and a sign at most.
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out_.append(buffer, end);
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t value) { return Number(value); }
JsonWriter& JsonWriter::Uint(uint64_t value) { return Number(value); }

JsonWriter& JsonWriter::Double(double value) {
  if (!std::isfinite(value)) return Null();
  BeforeValue();
  char buffer[32];  // The longest shortest form is 24 characters ("-2.2250738585072014e-308").
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out_.append(buffer, end);
  // "100" or "18446744073709551616" would read back as an integer, or not fit one: a double
  // stays a double.
  if (std::string_view(buffer, size_t(end - buffer)).find_first_of(".e") == std::string::npos) {
    out_.append(".0");
  }
  return *this;
}

JsonWriter& JsonWriter::Bool(bool value) {
  BeforeValue();
  out_.append(value ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::Null() {
  BeforeValue();
  out_.append("null");
  return *this;
}

JsonWriter& JsonWriter::Raw(std::string_view json) {
  BeforeValue();
  out_.append(json);
  return *this;
}

void JsonWriter::AppendQuoted(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  // A byte of kEscaped is written as a backslash and the byte of kEscapes at the same place.
  static constexpr std::string_view kEscaped = "\"\\\n\r\t\b\f";
  static constexpr std::string_view kEscapes = "\"\\nrtbf";
  out.push_back('"');
  size_t run = 0;  // Start of the pending run of bytes that need no escape.
  for (size_t i = 0; i < value.size(); ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(value.data() + run, i - run);
    run = i + 1;
    // RFC 8259 §7: the two-character escapes where there is one, else \u00XX.
    if (const size_t k = kEscaped.find(char(c)); k != std::string_view::npos) {
      out.push_back('\\');
      out.push_back(kEscapes[k]);
    } else {
      out.append("\\u00");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(value.data() + run, value.size() - run);
  out.push_back('"');
}

}  // namespace ringcast
