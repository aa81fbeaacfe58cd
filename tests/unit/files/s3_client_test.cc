// S3Client against a real S3 server: Ceph's RADOS gateway that tools/s3tmp starts on loopback
// (RINGCAST_TEST_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY, _REGION). Each test works in a bucket of
// its own. Skipped without the variables (ctest runs this binary under tools/s3tmp: needs_s3).
#include "files/s3_client.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <random>

namespace ringcast::files {
namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : value;
}

std::string Text(std::span<const uint8_t> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

S3Body Bytes(std::string_view text) {
  return S3Body{.bytes = {reinterpret_cast<const uint8_t*>(text.data()), text.size()}};
}

class S3ClientTest : public testing::Test {
 protected:
  void SetUp() override {
    endpoint_ = Env("RINGCAST_TEST_S3_ENDPOINT");
    if (endpoint_.empty()) GTEST_SKIP() << "needs RINGCAST_TEST_S3_ENDPOINT (tools/s3tmp run)";
    location_.endpoint = endpoint_;
    location_.region = Env("RINGCAST_TEST_S3_REGION");
    location_.credentials = {.access_key = Env("RINGCAST_TEST_S3_ACCESS_KEY"),
                             .secret_key = Env("RINGCAST_TEST_S3_SECRET_KEY")};
    location_.timeout = std::chrono::seconds(20);
    // A bucket per test: lowercase, unique in this server's life.
    static int serial = 0;
    location_.bucket = "t" + std::to_string(getpid()) + "-" + std::to_string(++serial);
    location_.prefix = "pre/";
    const S3Status made = MakeBucket(location_);
    ASSERT_TRUE(made.ok()) << made.ToString();
  }

  // CreateBucket is not the file store's business (an operator makes the bucket): a bare PUT.
  static S3Status MakeBucket(S3Location location) {
    location.prefix.clear();
    S3Client client(location);
    return client.Put("", S3Body{}, "");
  }

  std::string GetAll(S3Client& client, std::string_view key, uint64_t first = 0,
                     uint64_t length = 0, S3Status* status = nullptr) {
    std::string out;
    S3Status got = client.Get(key, first, length, [&](std::span<const uint8_t> bytes) {
      out.append(Text(bytes));
      return true;
    });
    if (status != nullptr) *status = got;
    return got.ok() ? out : "<" + got.ToString() + ">";
  }

  std::string endpoint_;
  S3Location location_;
};

TEST_F(S3ClientTest, PutHeadGetRangeAndKeysThatNeedEncoding) {
  S3Client client(location_);
  const std::string key = "dir/a b+c=é&x~.txt";
  std::string etag;
  ASSERT_TRUE(client.Put(key, Bytes("0123456789abcdef"), "text/plain", &etag).ok());
  EXPECT_EQ(etag, "4032af8d61035123906e58e067140cc5");  // MD5 of the bytes.
  S3Object head;
  const S3Status status = client.Head(key, &head);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(head.size, 16u);
  EXPECT_EQ(head.etag, etag);
  EXPECT_EQ(head.content_type, "text/plain");
  EXPECT_EQ(GetAll(client, key), "0123456789abcdef");
  EXPECT_EQ(GetAll(client, key, 10, 3), "abc");
  EXPECT_EQ(GetAll(client, key, 12), "cdef");
  EXPECT_TRUE(client.Head("missing", &head).not_found());
  S3Status missing;
  GetAll(client, "missing", 0, 0, &missing);
  EXPECT_EQ(missing.code, "NoSuchKey");
}

TEST_F(S3ClientTest, AWrongSecretIsRefused) {
  S3Location wrong = location_;
  wrong.credentials.secret_key.back() ^= 1;
  S3Client client(wrong);
  const S3Status status = client.Put("x", Bytes("x"), "");
  EXPECT_EQ(status.http, 403);
  EXPECT_EQ(status.code, "SignatureDoesNotMatch");
  wrong.credentials.access_key = "NOSUCHKEY0000000000";
  EXPECT_EQ(S3Client(wrong).Put("x", Bytes("x"), "").code, "InvalidAccessKeyId");
}

TEST_F(S3ClientTest, MultipartFromAFileCompletesAndALostPartIsRefused) {
  S3Client client(location_);
  // Two parts: 5 MiB (S3's least for a part that is not the last) and a small last one.
  std::string bytes(5 * 1024 * 1024 + 1000, '\0');
  std::mt19937 random(7);
  for (char& c : bytes) c = static_cast<char>(random());
  char path[] = "/tmp/s3partXXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));

  std::string upload;
  ASSERT_TRUE(client.CreateMultipart("big", "application/octet-stream", &upload).ok());
  std::vector<std::string> etags(2);
  ASSERT_TRUE(
      client.UploadPart("big", upload, 1, {.fd = fd, .offset = 0, .size = 5 << 20}, &etags[0])
          .ok());
  ASSERT_TRUE(
      client.UploadPart("big", upload, 2, {.fd = fd, .offset = 5 << 20, .size = 1000}, &etags[1])
          .ok());
  std::vector<S3Upload> open;
  ASSERT_TRUE(client.ListMultipart("", &open).ok());
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].key, "big");
  EXPECT_EQ(open[0].upload_id, upload);
  // A part named that was never uploaded.
  std::vector<std::string> lost = etags;
  lost.push_back("0123456789abcdef0123456789abcdef");
  EXPECT_EQ(client.CompleteMultipart("big", upload, lost).code, "InvalidPart");
  ASSERT_TRUE(client.CompleteMultipart("big", upload, etags).ok());
  EXPECT_EQ(GetAll(client, "big"), bytes);
  close(fd);

  // Aborted: gone from the list, and its parts with it.
  ASSERT_TRUE(client.CreateMultipart("dropped", "", &upload).ok());
  std::string etag;
  ASSERT_TRUE(client.UploadPart("dropped", upload, 1, Bytes("part"), &etag).ok());
  ASSERT_TRUE(client.AbortMultipart("dropped", upload).ok());
  open.clear();
  ASSERT_TRUE(client.ListMultipart("", &open).ok());
  EXPECT_TRUE(open.empty());
  S3Object head;
  EXPECT_TRUE(client.Head("dropped", &head).not_found());
}

TEST_F(S3ClientTest, CopyListAndDeleteMany) {
  S3Client client(location_);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client.Put("list/" + std::to_string(i), Bytes(std::to_string(i)), "").ok());
  }
  ASSERT_TRUE(client.Copy("list/0", "copied").ok());
  EXPECT_EQ(GetAll(client, "copied"), "0");
  std::string token;
  std::vector<S3Object> page;
  ASSERT_TRUE(client.List("list/", &token, &page).ok());
  ASSERT_EQ(page.size(), 5u);
  EXPECT_EQ(page[4].key, "list/4");
  EXPECT_EQ(page[4].size, 1u);
  EXPECT_TRUE(token.empty());
  std::vector<std::string> keys = {"list/0", "list/1", "list/2",   "list/3",
                                   "list/4", "copied", "never-was"};
  std::vector<std::string> failed;
  ASSERT_TRUE(client.DeleteMany(keys, &failed).ok());
  EXPECT_TRUE(failed.empty());
  page.clear();
  ASSERT_TRUE(client.List("", &token, &page).ok());
  EXPECT_TRUE(page.empty());
}

TEST_F(S3ClientTest, PresignedGetNeedsNoCredentialsAndRefusesATamperedUrl) {
  S3Client client(location_);
  ASSERT_TRUE(client.Put("photo one.jpg", Bytes("jpeg bytes"), "image/jpeg").ok());
  const std::string url =
      client.PresignGet("photo one.jpg", time(nullptr), 300, "attachment; filename=\"one.jpg\"");
  // Fetched as a browser would: no credentials, a plain client (curl's command line).
  const auto fetch = [](const std::string& target, std::string* disposition) {
    std::string command = "curl -s -D /dev/stderr -o /dev/stdout '" + target + "' 2>/tmp/s3h";
    FILE* pipe = popen(command.c_str(), "r");
    std::string body;
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) body.append(buffer, n);
    pclose(pipe);
    FILE* headers = fopen("/tmp/s3h", "r");
    std::string head;
    while ((n = fread(buffer, 1, sizeof(buffer), headers)) > 0) head.append(buffer, n);
    fclose(headers);
    const size_t at = head.find("Content-Disposition: ");
    *disposition =
        at == std::string::npos ? "" : head.substr(at + 21, head.find('\r', at) - at - 21);
    return body;
  };
  std::string disposition;
  EXPECT_EQ(fetch(url, &disposition), "jpeg bytes");
  EXPECT_EQ(disposition, "attachment; filename=\"one.jpg\"");
  std::string tampered = url;
  tampered.replace(tampered.find("photo%20one"), 11, "photo%20two");
  EXPECT_NE(fetch(tampered, &disposition).find("SignatureDoesNotMatch"), std::string::npos);
}

TEST_F(S3ClientTest, VirtualHostAddressing) {
  // The gateway serves bucket.localhost (rgw_dns_name); curl resolves *.localhost itself.
  S3Location location = location_;
  location.virtual_host = true;
  location.endpoint.replace(location.endpoint.find("127.0.0.1"), 9, "localhost");
  S3Client client(location);
  const S3Status status = client.Put("v", Bytes("virtual"), "");
  ASSERT_TRUE(status.ok()) << status.ToString();
  location_.virtual_host = false;
  S3Client path_style(location_);
  EXPECT_EQ(GetAll(path_style, "v"), "virtual");
}

TEST_F(S3ClientTest, NoServerIsNoAnswer) {
  S3Location location = location_;
  location.endpoint = "http://127.0.0.1:1";
  const S3Status status = S3Client(location).Put("x", Bytes("x"), "");
  EXPECT_EQ(status.http, 0);
  EXPECT_TRUE(status.transient());
}

}  // namespace
}  // namespace ringcast::files
