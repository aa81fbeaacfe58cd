// The configuration file reader: the TOML/INI subset ringcast takes (core/config_file.h).
#include "core/config_file.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringcast {
namespace {

std::vector<ConfigFileEntry> Parse(std::string_view text) {
  std::vector<ConfigFileEntry> entries;
  std::string error;
  EXPECT_TRUE(ParseConfigText(text, &entries, &error)) << error;
  return entries;
}

std::string Error(std::string_view text) {
  std::vector<ConfigFileEntry> entries;
  std::string error;
  EXPECT_FALSE(ParseConfigText(text, &entries, &error));
  return error;
}

TEST(ConfigFileTest, TomlValuesCommentsAndQuotes) {
  auto entries = Parse(
      "# a comment\n"
      "\n"
      "port = 8081   # inline\n"
      "raw-channels = true\n"
      "host = \"127.0.0.1\"\n"
      "database-url = \"postgres://u:pa#ss;word@db/x\"  # '#' inside quotes is kept\n"
      "trusted-proxies = \"10.0.0.5,10.1.0.0/16\"\n"
      "jwt_secret = \"a \\\"quoted\\\" \\\\ secret\"\n"
      "web-root = 'C:\\literal'\r\n");
  ASSERT_EQ(entries.size(), 7u);
  EXPECT_EQ(entries[0].key, "port");
  EXPECT_EQ(entries[0].value, "8081");
  EXPECT_EQ(entries[0].line, 3);
  EXPECT_EQ(entries[1].value, "true");
  EXPECT_EQ(entries[2].value, "127.0.0.1");
  EXPECT_EQ(entries[3].value, "postgres://u:pa#ss;word@db/x");
  EXPECT_EQ(entries[4].value, "10.0.0.5,10.1.0.0/16");  // One value, not split at commas.
  EXPECT_EQ(entries[5].key, "jwt_secret");
  EXPECT_EQ(entries[5].value, "a \"quoted\" \\ secret");
  EXPECT_EQ(entries[6].value, "C:\\literal");
}

TEST(ConfigFileTest, IniWithRingcastSection) {
  auto entries = Parse(
      "; ini comment\n"
      "[ringcast]\n"
      "port=9000 ; trailing\n"
      "log-level = debug\n"
      "password = a#b\n");  // No blank before '#': part of the value.
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].value, "9000");
  EXPECT_EQ(entries[1].value, "debug");
  EXPECT_EQ(entries[2].value, "a#b");
}

TEST(ConfigFileTest, MalformedLinesNameTheLine) {
  EXPECT_EQ(Error("port = 1\nnonsense\n"), "2: expected key = value");
  EXPECT_EQ(Error("[server]\nport = 1\n"),
            "1: unknown section [server]: keys go at the top level, or under [ringcast]");
  EXPECT_EQ(Error("host = \"open\n"), "1: host: unterminated string");
  EXPECT_EQ(Error("host = \"a\" b\n"), "1: host: unexpected text after the closing quote");
  EXPECT_EQ(Error("port = 1\nport = 2\n"), "2: port given twice (also on line 1)");
  EXPECT_EQ(Error("max_body_bytes = 1\nmax-body-bytes = 2\n"),
            "2: max-body-bytes given twice (also on line 1)");
}

TEST(ConfigFileTest, RedactPassword) {
  EXPECT_EQ(RedactPassword("postgres://ringcast:s3cret@db:5432/x"),
            "postgres://ringcast:<redacted>@db:5432/x");
  EXPECT_EQ(RedactPassword("redis://:s3cret@cache:6379/0"), "redis://:<redacted>@cache:6379/0");
  EXPECT_EQ(RedactPassword("host=db password=s3cret dbname=x"),
            "host=db password=<redacted> dbname=x");
  EXPECT_EQ(RedactPassword("postgres://db/x?user=u&password=s3cret&sslmode=require"),
            "postgres://db/x?user=u&password=<redacted>&sslmode=require");
  EXPECT_EQ(RedactPassword("postgres://u@db/x"), "postgres://u@db/x");
  EXPECT_EQ(RedactPassword("redis://:a1@x:1,redis://y:2,redis+sentinel://u:b2@s1,s2/m?"
                           "sentinel_password=c3"),
            "redis://:<redacted>@x:1,redis://y:2,redis+sentinel://u:<redacted>@s1,s2/m?"
            "sentinel_password=<redacted>");
}

}  // namespace
}  // namespace ringcast
