#include "proto/json_writer.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <random>
#include <string>

namespace ringcast {
namespace {

TEST(JsonWriter, ObjectsArraysAndCommas) {
  JsonWriter w;
  w.BeginObject()
      .Field("type", "message")
      .Field("seq", int64_t{42})
      .Field("ok", true)
      .Key("members")
      .BeginArray()
      .Int(1)
      .Int(-2)
      .BeginObject()
      .Field("user", 3)
      .EndObject()
      .EndArray()
      .Key("none")
      .Null()
      .Key("raw")
      .Raw("{\"a\":1}")
      .EndObject();
  EXPECT_EQ(w.str(),
            R"({"type":"message","seq":42,"ok":true,"members":[1,-2,{"user":3}],"none":null,)"
            R"("raw":{"a":1}})");
}

TEST(JsonWriter, EmptyContainersAndExtremes) {
  JsonWriter w;
  w.BeginArray()
      .BeginObject()
      .EndObject()
      .BeginArray()
      .EndArray()
      .Int(INT64_MIN)
      .Uint(UINT64_MAX)
      .EndArray();
  EXPECT_EQ(w.str(), "[{},[],-9223372036854775808,18446744073709551615]");
}

TEST(JsonWriter, EscapesQuotesBackslashesAndControls) {
  std::string out;
  JsonWriter::AppendQuoted(out, std::string("a\"b\\c\n\r\t\b\f\x01\x1f\x7f", 14));
  // The 14th byte is the NUL terminator, which must be escaped too.
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\x7f\\u0000\"");
  out.clear();
  JsonWriter::AppendQuoted(out, "h\xC3\xA9llo \xF0\x9F\x98\x80");  // UTF-8 passes through.
  EXPECT_EQ(out, "\"h\xC3\xA9llo \xF0\x9F\x98\x80\"");
}

TEST(JsonWriter, EveryByteStringRoundTripsThroughSimdjson) {
  // Strings made of every ASCII byte (controls included) in random order parse back exactly.
  std::mt19937 rng(11);
  simdjson::dom::parser parser;
  for (int round = 0; round < 200; ++round) {
    std::string value;
    for (int i = 0; i < 64; ++i) value.push_back(static_cast<char>(rng() % 128));
    JsonWriter w;
    w.BeginObject().Field("v", std::string_view(value)).EndObject();
    simdjson::padded_string json(w.str());
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << w.str();
    std::string_view parsed;
    ASSERT_EQ(doc["v"].get(parsed), simdjson::SUCCESS);
    EXPECT_EQ(parsed, value);
  }
}

}  // namespace
}  // namespace ringcast
