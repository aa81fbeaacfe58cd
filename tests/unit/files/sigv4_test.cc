// SigV4 against the examples AWS publishes in the S3 API reference ("Signature Calculations for
// the Authorization Header: Transferring Payload in a Single Chunk" and "Authenticating
// Requests: Using Query Parameters"): the same credentials, time and requests must give the
// same signatures, byte for byte.
#include "files/sigv4.h"

#include <gtest/gtest.h>

#include "files/s3_client.h"

namespace ringcast::files {
namespace {

const SigV4Credentials kExampleKeys{.access_key = "AKIAIOSFODNN7EXAMPLE",
                                    .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
constexpr std::string_view kExampleTime = "20130524T000000Z";
constexpr std::string_view kHost = "examplebucket.s3.amazonaws.com";
constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string Authorization(const std::vector<std::string>& headers) {
  for (const std::string& header : headers) {
    if (header.starts_with("Authorization: ")) return header.substr(15);
  }
  return {};
}

// AWS's header-signing examples: each request, the headers it signs and its signature.
struct HeaderExample {
  const char* name;
  SigV4Request request;
  const char* signed_headers;
  const char* signature;
};

TEST(SigV4Test, AwsHeaderExamples) {
  const std::string empty(kEmptySha256);
  const HeaderExample examples[] = {
      {"GET Object with a range",
       {.method = "GET",
        .host = kHost,
        .path = "/test.txt",
        .headers = {{"range", "bytes=0-9"}},
        .payload_sha256 = empty},
       "host;range;x-amz-content-sha256;x-amz-date",
       "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
      {"PUT Object with its payload's hash",
       {.method = "PUT",
        .host = kHost,
        .path = "/test$file.text",
        .headers = {{"date", "Fri, 24 May 2013 00:00:00 GMT"},
                    {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
        .payload_sha256 = Sha256Hex(std::string_view("Welcome to Amazon S3."))},
       "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
       "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
      {"a sub-resource with an empty value",
       {.method = "GET",
        .host = kHost,
        .path = "/",
        .query = {{"lifecycle", ""}},
        .payload_sha256 = empty},
       "host;x-amz-content-sha256;x-amz-date",
       "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
      {"a query given out of order (signed sorted)",
       {.method = "GET",
        .host = kHost,
        .path = "/",
        .query = {{"prefix", "J"}, {"max-keys", "2"}},
        .payload_sha256 = empty},
       "host;x-amz-content-sha256;x-amz-date",
       "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
  };
  EXPECT_EQ(examples[1].request.payload_sha256,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  for (const HeaderExample& example : examples) {
    EXPECT_EQ(Authorization(SignHeaders(example.request, kExampleKeys, "us-east-1", kExampleTime)),
              std::string("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
                          "s3/aws4_request, SignedHeaders=") +
                  example.signed_headers + ", Signature=" + example.signature)
        << example.name;
  }
}

TEST(SigV4Test, PresignedGet) {
  SigV4Request request{.method = "GET", .host = kHost, .path = "/test.txt"};
  EXPECT_EQ(PresignQuery(request, kExampleKeys, "us-east-1", kExampleTime, 86400),
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&"
            "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&"
            "X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&"
            "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(SigV4Test, SessionTokenIsSigned) {
  SigV4Request request{.method = "GET", .host = kHost, .path = "/test.txt"};
  SigV4Credentials temporary = kExampleKeys;
  temporary.session_token = "token/with+chars=";
  const auto headers = SignHeaders(request, temporary, "us-east-1", kExampleTime);
  EXPECT_NE(std::find(headers.begin(), headers.end(), "x-amz-security-token: token/with+chars="),
            headers.end());
  EXPECT_NE(Authorization(headers).find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;"
                                        "x-amz-security-token,"),
            std::string::npos);
  const std::string query = PresignQuery(request, temporary, "us-east-1", kExampleTime, 60);
  EXPECT_NE(query.find("X-Amz-Security-Token=token%2Fwith%2Bchars%3D"), std::string::npos);
}

TEST(SigV4Test, UriEncodeKeepsUnreservedAndSlashesOfPaths) {
  EXPECT_EQ(UriEncode("a b+c/é~_-.", true), "a%20b%2Bc/%C3%A9~_-.");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(AmzDate(1369353600), "20130524T000000Z");
}

TEST(S3UrlTest, BucketAndPrefix) {
  S3Location location;
  std::string error;
  ASSERT_TRUE(ParseS3Url("s3://my-bucket/chat/files", &location, &error)) << error;
  EXPECT_EQ(location.bucket, "my-bucket");
  EXPECT_EQ(location.prefix, "chat/files/");
  ASSERT_TRUE(ParseS3Url("s3://my.bucket", &location, &error)) << error;
  EXPECT_EQ(location.prefix, "");
  EXPECT_FALSE(ParseS3Url("s3://My_Bucket/x", &location, &error));
  EXPECT_FALSE(ParseS3Url("https://bucket/x", &location, &error));
  EXPECT_FALSE(ParseS3Url("s3://ab", &location, &error));
}

TEST(S3UrlTest, EndpointWithoutPathOrDefaultPort) {
  std::string error;
  EXPECT_EQ(NormalizeEndpoint("HTTPS://S3.Example.com:443/", &error), "https://s3.example.com");
  EXPECT_EQ(NormalizeEndpoint("http://127.0.0.1:7480", &error), "http://127.0.0.1:7480");
  EXPECT_EQ(NormalizeEndpoint("http://127.0.0.1:80", &error), "http://127.0.0.1");
  EXPECT_EQ(NormalizeEndpoint("s3.example.com", &error), "");
  EXPECT_EQ(NormalizeEndpoint("https://host/path", &error), "");
}

}  // namespace
}  // namespace ringcast::files
