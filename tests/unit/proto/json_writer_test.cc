#include "proto/json_writer.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <limits>
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

// Doubles: the shortest text that reads back as the same value, always a JSON number.
TEST(JsonWriter, DoublesRoundTripAndStayJson) {
  for (double value :
       {0.5, -0.0, 1e-7, 1e22, 123456.789, -2.2250738585072014e-308, 1.7976931348623157e308, 3.0}) {
    JsonWriter w;
    const std::string text = w.BeginArray().Double(value).EndArray().Take();
    simdjson::dom::parser parser;
    simdjson::dom::element element;
    ASSERT_EQ(parser.parse(text).get(element), simdjson::SUCCESS) << text;
    simdjson::dom::element_type type;
    ASSERT_EQ(element.at(0).type().get(type), simdjson::SUCCESS);
    EXPECT_EQ(type, simdjson::dom::element_type::DOUBLE) << text;  // Not read as an integer.
    double back = 1;
    ASSERT_EQ(element.at(0).get_double().get(back), simdjson::SUCCESS) << text;
    EXPECT_EQ(back, value) << text;
    EXPECT_EQ(std::signbit(back), std::signbit(value)) << text;
  }
  JsonWriter w;
  EXPECT_EQ(w.BeginArray()
                .Double(3)
                .Double(-0.0)
                .Double(0.25)
                .Double(1e22)
                .Double(1.8446744073709552e19)
                .EndArray()
                .Take(),
            "[3.0,-0.0,0.25,1e+22,18446744073709551616.0]");
  w = JsonWriter();
  EXPECT_EQ(
      w.BeginArray().Double(std::numeric_limits<double>::infinity()).Double(NAN).EndArray().Take(),
      "[null,null]");
}

}  // namespace
}  // namespace ringcast
