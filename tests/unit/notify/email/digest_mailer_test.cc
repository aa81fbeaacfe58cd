#include "notify/email/digest_mailer.h"

#include <gtest/gtest.h>

#include "notify/email/smtp.h"

namespace ringcast::notify {
namespace {

storage::DigestConversation Conversation(int64_t conv, std::optional<std::string> name,
                                         std::vector<std::string> others, int64_t unread,
                                         std::string body) {
  storage::DigestConversation c;
  c.conv = conv;
  c.name = std::move(name);
  c.others = std::move(others);
  c.unread = unread;
  c.last_seq = 10 + conv;
  c.latest.body = std::move(body);
  c.latest_sender = "alice";
  return c;
}

TEST(DigestMailer, ListsEachConversationOnOneLineEach) {
  storage::Digest digest{.user = 7, .username = "bob", .email = "bob@example.org"};
  digest.conversations.push_back(Conversation(1, std::nullopt, {"alice"}, 2, "hi\r\nBcc: x@y.z"));
  digest.conversations.push_back(Conversation(2, "Trip", {"alice", "carol"}, 1, "ok"));
  DigestOptions options{.smtp = {.url = "smtp://x", .from = "ringcast@example.org"}};
  const std::string mail = ComposeDigest(digest, options, 1763840000000);
  const size_t blank = mail.find("\r\n\r\n");
  ASSERT_NE(blank, std::string::npos);
  const std::string headers = mail.substr(0, blank + 2);
  EXPECT_NE(headers.find("Subject: 3 unread messages on ringcast\r\n"), std::string::npos);
  EXPECT_NE(headers.find("To: <bob@example.org>\r\n"), std::string::npos);
  EXPECT_NE(headers.find("Date: Sat, 22 Nov 2025 19:33:20 +0000\r\n"), std::string::npos);
  EXPECT_NE(headers.find("Message-ID: <digest.7.1-11.2-12@example.org>\r\n"), std::string::npos);
  EXPECT_EQ(mail.find("Bcc:"), mail.find("Bcc: x@y.z"));  // Only inside a body line...
  EXPECT_NE(mail.find("  alice: hi  Bcc: x@y.z\r\n"), std::string::npos);  // ...made one line.
  EXPECT_NE(mail.find("* alice (2 unread)\r\n"), std::string::npos);
  EXPECT_NE(mail.find("* Trip (1 unread)\r\n"), std::string::npos);
  for (size_t at = mail.find('\n'); at != std::string::npos; at = mail.find('\n', at + 1)) {
    ASSERT_EQ(mail[at - 1], '\r') << "bare LF at " << at;
  }
}

TEST(DigestMailer, CutsLongListsAndBodies) {
  storage::Digest digest{.user = 1, .username = "bob", .email = "bob@example.org"};
  for (int i = 0; i < 5; ++i) {
    digest.conversations.push_back(Conversation(i, std::nullopt, {}, 1, std::string(300, 'x')));
  }
  DigestOptions options{.smtp = {.from = "r@example.org"}, .max_listed = 3};
  const std::string mail = ComposeDigest(digest, options, 0);
  EXPECT_NE(mail.find("... and 2 more."), std::string::npos);
  EXPECT_NE(mail.find(std::string(200, 'x') + "...\r\n"), std::string::npos);
  EXPECT_EQ(mail.find(std::string(201, 'x')), std::string::npos);
  EXPECT_NE(mail.find("* conversation 0 (1 unread)"), std::string::npos);
}

TEST(DigestMailer, JobNamesTheUserAndWhatTheDigestCovered) {
  storage::Digest digest{.user = 7, .username = "bob", .email = "bob@example.org"};
  digest.conversations.push_back(Conversation(3, std::nullopt, {"alice"}, 2, "hi"));
  digest.conversations[0].latest.seq = 13;
  EXPECT_EQ(DigestJob(digest),
            R"({"user":7,"username":"bob","email":"bob@example.org","conversations":)"
            R"([{"conv":3,"unread":2,"last_seq":13,"latest_seq":13}]})");
}

TEST(DigestMailer, PlausibleEmail) {
  EXPECT_TRUE(PlausibleEmail("bob@example.org"));
  EXPECT_TRUE(PlausibleEmail("b.o+b@sub.example.org"));
  EXPECT_TRUE(PlausibleEmail("root@localhost"));
  for (const char* bad : {"", "bob", "bob@", "@example.org", "bob@example", "a b@example.org",
                          "a@b\r\n.org", "<a@b.org>", "a,b@c.org"}) {
    EXPECT_FALSE(PlausibleEmail(bad)) << bad;
  }
  EXPECT_FALSE(PlausibleEmail(std::string(250, 'a') + "@b.org"));
}

}  // namespace
}  // namespace ringcast::notify
