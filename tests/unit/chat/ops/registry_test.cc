// The registry of the chat operations (chat/ops/README.md) against tests/data/operations.json,
// the samples tests/integration/test_operations.py sends over every transport: the same
// operations in the same order, each with one action, the same STOMP destinations; and each
// sample read by its own wire, also padded, also refused when cut short or a field is doubled.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "chat/ops/actions.h"
#include "chat/ops/request_reader.h"
#include "chat/ops/wire.h"
#include "proto/json_writer.h"

namespace ringcast::chat::ops {
namespace {

struct Sample {
  std::string type;
  std::string request;  // Its JSON, the placeholders filled.
  std::string stomp_destination;
};

// CONV, SEQ, THEIRS and TOKEN as the integration test fills them (CONV as a key too); here any
// valid values.
std::string Fill(std::string text) {
  for (auto [from, to] : {std::pair<std::string, std::string>{"\"CONV\":", "\"7\":"},
                          {"\"CONV\"", "7"},
                          {"\"SEQ\"", "3"},
                          {"\"THEIRS\"", "4"},
                          {"\"TOKEN\"", "\"a.b.c\""}}) {
    for (size_t at; (at = text.find(from)) != std::string::npos;) text.replace(at, from.size(), to);
  }
  return text;
}

std::vector<Sample> LoadSamples() {
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.load(RINGCAST_TEST_DATA "/operations.json");
  std::vector<Sample> samples;
  for (simdjson::dom::element operation : root["operations"].get_array()) {
    Sample sample{.type = std::string(operation["type"].get_string().value()),
                  .request = Fill(simdjson::minify(operation["request"])),
                  .stomp_destination = {}};
    simdjson::dom::element stomp = operation["stomp"];
    if (!stomp.is_null()) sample.stomp_destination = stomp["destination"].get_string().value();
    samples.push_back(std::move(sample));
  }
  return samples;
}

TEST(OperationsRegistryTest, TheSamplesAreTheRegistrysOperations) {
  EXPECT_EQ(RegistryFaults(), "");
  const std::vector<Sample> samples = LoadSamples();
  std::span<const Wire> wires = Wires();
  ASSERT_EQ(samples.size(), wires.size());
  std::set<std::string_view> types, destinations;
  for (size_t i = 0; i < wires.size(); ++i) {
    const Wire& wire = wires[i];
    EXPECT_EQ(wire.type, samples[i].type);
    EXPECT_TRUE(types.insert(wire.type).second) << "two wires for " << wire.type;
    EXPECT_NE(ActionOf(wire), nullptr) << wire.type;
    EXPECT_EQ(wire.stomp_destination, samples[i].stomp_destination) << wire.type;
    // Over STOMP, or explicitly not: a destination comes with its mapping.
    EXPECT_EQ(wire.stomp_destination.empty(), wire.from_stomp == nullptr) << wire.type;
    if (!wire.stomp_destination.empty()) {
      EXPECT_TRUE(destinations.insert(wire.stomp_destination).second);
      EXPECT_EQ(FindStompWire(wire.stomp_destination), &wire);
    }
    EXPECT_EQ(FindWire(wire.type), &wire);
  }
}

// Each sample is read by its own wire, whatever whitespace surrounds its tokens, by one reused
// reader; cut anywhere short of its end, or with a field given twice, it is refused with a reason.
TEST(OperationsRegistryTest, EverySampleParsesPaddedAndIsRefusedCutOrDoubled) {
  RequestReader reader(RequestLimits{});
  for (const Sample& sample : LoadSamples()) {
    Request request;
    RequestError error;
    const Wire* wire = reader.Parse(sample.request, &request, &error);
    ASSERT_NE(wire, nullptr) << sample.request << ": " << error.message;
    EXPECT_EQ(wire->type, sample.type);

    std::string padded;  // Whitespace after every structural character outside the strings.
    bool in_string = false;
    for (size_t i = 0; i < sample.request.size(); ++i) {
      const char c = sample.request[i];
      padded += c;
      if (in_string && c == '\\') {
        padded += sample.request[++i];
      } else if (c == '"') {
        in_string = !in_string;
      } else if (!in_string && (c == ',' || c == ':' || c == '{' || c == '[')) {
        padded += " \r\n\t";
      }
    }
    Request again;
    ASSERT_EQ(reader.Parse(" " + padded + "\n", &again, &error), wire) << padded;
    EXPECT_EQ(again, request) << sample.type;

    for (size_t cut = 0; cut < sample.request.size(); ++cut) {
      EXPECT_EQ(reader.Parse(sample.request.substr(0, cut), &again, &error), nullptr)
          << sample.request.substr(0, cut);
      EXPECT_FALSE(error.message.empty());
    }
    const std::string doubled =
        sample.request.substr(0, sample.request.size() - 1) + ",\"type\":\"" + sample.type + "\"}";
    EXPECT_EQ(reader.Parse(doubled, &again, &error), nullptr) << doubled;
    EXPECT_EQ(error.message, "duplicate field \"type\"");
  }
}

}  // namespace
}  // namespace ringcast::chat::ops
