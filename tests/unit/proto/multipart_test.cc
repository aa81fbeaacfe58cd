#include "proto/multipart.h"

#include <gtest/gtest.h>

#include <string>

namespace ringcast::http {
namespace {

struct Collected : MultipartReader::Sink {
  void OnFileStart(std::string_view name, std::string_view type) override {
    ++starts;
    filename = name;
    content_type = type;
  }
  void OnFileData(std::span<const uint8_t> data) override {
    file.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  int starts = 0;
  std::string filename, content_type, file;
};

std::span<const uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// A browser-like body: a text field, then the file, then another field.
std::string Body(std::string_view file, std::string_view boundary = "----WebKitFormBoundaryXyZ") {
  std::string body = "--";
  body.append(boundary).append("\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--");
  body.append(boundary).append(
      "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".png\"\r\n"
      "Content-Type: image/png\r\n\r\n");
  body.append(file).append("\r\n--").append(boundary);
  body.append("\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ny\r\n--");
  body.append(boundary).append("--\r\nepilogue");
  return body;
}

TEST(MultipartBoundary, ParsesQuotedAndBare) {
  EXPECT_EQ(MultipartBoundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(MultipartBoundary("Multipart/Form-Data;boundary=\"a b:c\""), "a b:c");
  EXPECT_FALSE(MultipartBoundary("multipart/form-data"));
  EXPECT_FALSE(MultipartBoundary("text/plain; boundary=abc"));
  EXPECT_FALSE(MultipartBoundary("multipart/form-data; boundary=a\x01"));
  EXPECT_FALSE(MultipartBoundary("multipart/form-data; boundary=" + std::string(71, 'a')));
}

TEST(MultipartReader, ExtractsTheFileAtEverySplitPoint) {
  // Contents chosen to look like delimiters: CR, CRLF--, a boundary prefix.
  const std::string file = "\r\n--\r\n------WebKitFormBoundaryXy\r\rdata\r\n";
  const std::string body = Body(file);
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    for (size_t cut2 = cut; cut2 <= body.size(); cut2 += 7) {
      MultipartReader reader("----WebKitFormBoundaryXyZ");
      Collected sink;
      auto s1 = reader.Feed(Bytes(std::string_view(body).substr(0, cut)), sink);
      ASSERT_NE(s1, MultipartReader::Status::kError) << cut;
      reader.Feed(Bytes(std::string_view(body).substr(cut, cut2 - cut)), sink);
      auto s3 = reader.Feed(Bytes(std::string_view(body).substr(cut2)), sink);
      ASSERT_EQ(s3, MultipartReader::Status::kDone) << cut << " " << cut2;
      EXPECT_EQ(sink.file, file) << cut << " " << cut2;
      EXPECT_EQ(sink.starts, 1);
      EXPECT_EQ(sink.filename, "a \"b\".png");
      EXPECT_EQ(sink.content_type, "image/png");
      EXPECT_TRUE(reader.file_complete());
    }
  }
}

TEST(MultipartReader, ByteAtATime) {
  const std::string file(3000, '\r');
  const std::string body = Body(file, "b");
  MultipartReader reader("b");
  Collected sink;
  MultipartReader::Status status = MultipartReader::Status::kNeedMore;
  for (char c : body) status = reader.Feed(Bytes(std::string_view(&c, 1)), sink);
  EXPECT_EQ(status, MultipartReader::Status::kDone);
  EXPECT_EQ(sink.file, file);
}

TEST(MultipartReader, EmptyFileAndPreamble) {
  std::string body =
      "preamble\r\n--B\r\nContent-Disposition: form-data; name=f; filename*=UTF-8''%E2%82%AC.txt"
      "\r\n\r\n\r\n--B--";
  MultipartReader reader("B");
  Collected sink;
  EXPECT_EQ(reader.Feed(Bytes(body), sink), MultipartReader::Status::kDone);
  EXPECT_EQ(sink.file, "");
  EXPECT_EQ(sink.filename, "\xE2\x82\xAC.txt");
  EXPECT_TRUE(reader.file_complete());
}

TEST(MultipartReader, NoFilePart) {
  MultipartReader reader("B");
  Collected sink;
  EXPECT_EQ(
      reader.Feed(Bytes("--B\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--B--"), sink),
      MultipartReader::Status::kDone);
  EXPECT_FALSE(reader.file_found());
}

TEST(MultipartReader, Errors) {
  {
    MultipartReader reader("B");
    Collected sink;
    EXPECT_EQ(reader.Feed(Bytes("--Bx"), sink), MultipartReader::Status::kError);
  }
  {
    MultipartReader reader("B");
    Collected sink;
    EXPECT_EQ(reader.Feed(Bytes("--B\r\nno colon\r\n\r\n"), sink), MultipartReader::Status::kError);
  }
  {
    MultipartReader reader("B");
    Collected sink;
    std::string body = "--B\r\nX: " + std::string(10000, 'a');
    EXPECT_EQ(reader.Feed(Bytes(body), sink), MultipartReader::Status::kError);
  }
  {  // Truncated: still waiting for more.
    MultipartReader reader("B");
    Collected sink;
    EXPECT_EQ(reader.Feed(
                  Bytes("--B\r\nContent-Disposition: form-data; filename=a\r\n\r\nxy\r\n--"), sink),
              MultipartReader::Status::kNeedMore);
    EXPECT_FALSE(reader.file_complete());
    EXPECT_EQ(sink.file, "xy");
  }
}

}  // namespace
}  // namespace ringcast::http
