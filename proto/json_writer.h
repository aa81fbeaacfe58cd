// JsonWriter: builds one JSON text (RFC 8259) into a std::string, escaping as it goes.
//
// Pure code. The chat protocol sends many small objects; this writes them without a DOM and
// without a separate escaping pass. Commas are placed automatically; keys and values must
// alternate inside objects (Key() then a value), as the grammar does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast {

class JsonWriter {
 public:
  JsonWriter() = default;
  explicit JsonWriter(size_t reserve) { out_.reserve(reserve); }

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  // The shortest text that reads back as `value`, with a fraction or an exponent so that it
  // reads back as a double (100 as "100.0"); null for NaN and the infinities, which JSON cannot
  // write (RFC 8259 §6).
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // A value that is already JSON text (e.g. stored message JSON); not checked.
  JsonWriter& Raw(std::string_view json);

  // Key-value shorthands.
  JsonWriter& Field(std::string_view key, std::string_view value) { return Key(key).String(value); }
  JsonWriter& Field(std::string_view key, const char* value) { return Key(key).String(value); }
  JsonWriter& Field(std::string_view key, int64_t value) { return Key(key).Int(value); }
  JsonWriter& Field(std::string_view key, int value) { return Key(key).Int(value); }
  JsonWriter& Field(std::string_view key, uint64_t value) { return Key(key).Uint(value); }
  JsonWriter& Field(std::string_view key, bool value) { return Key(key).Bool(value); }

  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

  // Appends `value` as a quoted JSON string: ", \, and control characters escaped; other bytes
  // (UTF-8) copied as they are, so valid UTF-8 in gives valid JSON out.
  static void AppendQuoted(std::string& out, std::string_view value);

 private:
  void BeforeValue();
  // An object's or an array's brackets (`open`, `close`: '{' '}' or '[' ']').
  JsonWriter& Open(char open);
  JsonWriter& Close(char close);
  template <typename Integer>
  JsonWriter& Number(Integer value);

  std::string out_;
  // Per open container: true once it holds an element (a comma is due before the next).
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

}  // namespace ringcast
