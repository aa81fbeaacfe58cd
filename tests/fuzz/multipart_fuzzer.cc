// libFuzzer harness for http::MultipartReader (proto/multipart.h). The input's first byte
// picks the boundary's length (1..16, from the input's next bytes, mapped to bchars); the rest
// is the body, fed whole and then in pieces derived from the input.
//
// Invariants beyond "no crash, no sanitizer report": the outcome (status, file bytes, file
// name and type, whether the file completed) does not depend on how the body is split; the
// file bytes never exceed the body; OnFileStart is called at most once, before any data.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "proto/multipart.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using ringcast::http::MultipartReader;

struct Collect : MultipartReader::Sink {
  void OnFileStart(std::string_view name, std::string_view type) override {
    FUZZ_CHECK(starts == 0 && file.empty());
    ++starts;
    filename = name;
    content_type = type;
  }
  void OnFileData(std::span<const uint8_t> data) override {
    FUZZ_CHECK(starts == 1 && !data.empty());
    file.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  int starts = 0;
  std::string filename, content_type, file;
};

struct Outcome {
  MultipartReader::Status status;
  Collect sink;
  bool complete;
};

Outcome Run(const std::string& boundary, std::span<const uint8_t> body,
            const std::vector<size_t>& cuts) {
  MultipartReader reader(boundary);
  Outcome out{MultipartReader::Status::kNeedMore, {}, false};
  size_t at = 0;
  for (size_t cut : cuts) {
    if (cut < at || cut > body.size()) continue;
    out.status = reader.Feed(body.subspan(at, cut - at), out.sink);
    at = cut;
  }
  out.status = reader.Feed(body.subspan(at), out.sink);
  out.complete = reader.file_complete();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static constexpr char kBchars[] = "abcXYZ0189'()+_,-./:=? ";
  const size_t boundary_size = 1 + data[0] % 16;
  if (size < 1 + boundary_size) return 0;
  std::string boundary;
  for (size_t i = 0; i < boundary_size; ++i) {
    boundary.push_back(kBchars[data[1 + i] % (sizeof(kBchars) - 1)]);
  }
  if (boundary.back() == ' ') boundary.back() = 'b';
  // A copy of exactly the body, so ASan flags any read past its end.
  const size_t body_size = size - 1 - boundary_size;
  std::vector<uint8_t> body(data + 1 + boundary_size, data + size);
  const std::span<const uint8_t> view(body.data(), body_size);

  const Outcome whole = Run(boundary, view, {});
  FUZZ_CHECK(whole.sink.file.size() <= body_size);
  const uint32_t seed = static_cast<uint32_t>(data[size - 1] | data[size - 2] << 8);
  std::vector<size_t> cuts = ringcast::fuzz::SplitPoints(body_size, seed, 8);
  const Outcome split = Run(boundary, view, cuts);
  FUZZ_CHECK(split.status == whole.status);
  FUZZ_CHECK(split.sink.file == whole.sink.file);
  FUZZ_CHECK(split.sink.filename == whole.sink.filename);
  FUZZ_CHECK(split.sink.content_type == whole.sink.content_type);
  FUZZ_CHECK(split.complete == whole.complete);
  return 0;
}
