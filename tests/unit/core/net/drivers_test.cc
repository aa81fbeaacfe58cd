// The HTTP and WebSocket drivers against a real ring: a ShardSet of two shards runs in this
// process on 127.0.0.1, and the tests speak to it over plain blocking sockets, byte by byte
// where the point is a request or a frame arriving in pieces.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "core/net/http_exchange.h"
#include "core/net/shared_frame.h"
#include "core/runtime/shard.h"
#include "core/runtime/shard_set.h"
#include "proto/ws_frame.h"

namespace ringcast {
namespace {

// A request body counted as it streams in; answered with its size and byte sum at the end.
class CountingSink : public BodySink {
 public:
  explicit CountingSink(Shard& shard) : shard_(shard) {}
  void Start(DeferredHttp deferred) { deferred_ = deferred; }
  void OnBodyData(std::span<const uint8_t> data) override {
    for (uint8_t byte : data) sum_ += byte;
    size_ += data.size();
  }
  void OnBodyEnd() override {
    std::string answer = std::to_string(size_) + " " + std::to_string(sum_);
    shard_.AnswerDeferred(deferred_, 200, "text/plain", answer);
    delete this;
  }
  void OnBodyAbort() override { delete this; }

 private:
  Shard& shard_;
  DeferredHttp deferred_;
  uint64_t size_ = 0;
  uint64_t sum_ = 0;
};

// An answer of `left` bytes 'a'..'z' produced in pieces as the client reads.
class LetterSource : public BodySource {
 public:
  LetterSource(Shard& shard, ConnId conn, size_t left) : shard_(shard), conn_(conn), left_(left) {}
  void OnWritable() override {
    while (left_ > 0 && !shard_.StreamCongested(conn_)) {
      std::string piece;
      for (size_t i = 0; i < std::min<size_t>(left_, 4096); ++i) piece += char('a' + sent_++ % 26);
      left_ -= piece.size();
      shard_.StreamBytes(conn_, SharedFrame::Copy(piece));
    }
    if (left_ > 0) return shard_.NotifyWhenWritable(conn_);
    shard_.EndStream(conn_, true);
    delete this;
  }
  void OnGone() override { delete this; }

 private:
  Shard& shard_;
  ConnId conn_;
  size_t left_;
  size_t sent_ = 0;
};

class EchoHandler : public WebSocketHandler {
 public:
  void OnMessage(Connection& conn, ws::Opcode opcode, std::span<const uint8_t> payload) override {
    conn.SendMessage(opcode, payload);
  }
};

class TestApp : public Application {
 public:
  explicit TestApp(Shard& shard) : shard_(shard) {}

  bool StreamsBody(const http::Request& request) const override {
    return request.target == "/upload";
  }

  void OnRequest(HttpExchange& exchange) override {
    std::string_view target = exchange.request().target;
    if (target == "/echo") return exchange.Respond(200, "text/plain", exchange.body());
    if (target == "/ws") {
      exchange.Upgrade(&echo_);
      return;
    }
    if (target == "/upload") {
      auto* sink = new CountingSink(shard_);
      sink->Start(exchange.StreamBody(sink));
      return;
    }
    if (target == "/other-shard") {
      // Deferred, answered after a round trip through the other shard's mailbox.
      auto* deferred = new DeferredHttp(exchange.Defer());
      Mail there;
      there.ptr = deferred;
      there.a = shard_.id();
      there.run = [](Shard& other, const Mail& mail) {
        Mail back = mail;
        back.b = other.id();
        back.run = [](Shard& origin, const Mail& m) {
          auto* d = static_cast<DeferredHttp*>(m.ptr);
          origin.AnswerDeferred(*d, 200, "text/plain", "via shard " + std::to_string(m.b));
          delete d;
        };
        ASSERT_TRUE(other.Post(static_cast<uint32_t>(mail.a), back));
      };
      ASSERT_TRUE(shard_.Post((shard_.id() + 1) % shard_.shard_count(), there));
      return;
    }
    if (target == "/letters") {
      // A streamed answer starts from a later event, never inside OnRequest.
      auto* deferred = new DeferredHttp(exchange.Defer());
      Mail later;
      later.ptr = deferred;
      later.run = [](Shard& shard, const Mail& mail) {
        auto* d = static_cast<DeferredHttp*>(mail.ptr);
        constexpr size_t kSize = 200 * 1024;
        std::string head = HttpExchange::FormatHead(d->keep_alive, 200, "text/plain", kSize, {});
        shard.StreamAnswer(*d, 200, SharedFrame::Copy(head),
                           new LetterSource(shard, d->conn, kSize));
        delete d;
      };
      ASSERT_TRUE(shard_.Post(shard_.id(), later));
      return;
    }
    exchange.RespondError(404, "not found");
  }

 private:
  Shard& shard_;
  EchoHandler echo_;
};

uint16_t FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t size = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  close(fd);
  return ntohs(address.sin_port);
}

class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~Client() { close(fd_); }
  bool connected() const { return connected_; }

  void Send(std::string_view bytes) {
    ASSERT_EQ(send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), ssize_t(bytes.size()));
  }
  // One byte a time, each its own segment (and, mostly, its own receive on the server).
  void SendInPieces(std::string_view bytes) {
    for (char c : bytes) {
      Send(std::string_view(&c, 1));
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  // Reads until `size` bytes are buffered (or EOF / timeout); returns what is buffered.
  const std::string& ReadAtLeast(size_t size) {
    char chunk[65536];
    while (in_.size() < size) {
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) break;
      in_.append(chunk, size_t(n));
    }
    return in_;
  }
  // One HTTP response with a Content-Length body; consumed from the buffer.
  std::string ReadResponse() {
    size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
      size_t before = in_.size();
      if (ReadAtLeast(before + 1).size() == before) return {};
    }
    size_t length = 0;
    if (size_t at = in_.find("Content-Length: "); at != std::string::npos && at < end) {
      length = std::stoul(in_.substr(at + 16));
    }
    ReadAtLeast(end + 4 + length);
    std::string response = in_.substr(0, end + 4 + length);
    in_.erase(0, response.size());
    return response;
  }
  // Whether the server closed the connection (EOF) with nothing more to read.
  bool ReadEof() {
    char byte;
    return in_.empty() && recv(fd_, &byte, 1, 0) == 0;
  }
  std::string& buffered() { return in_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string in_;
};

std::string Body(const std::string& response) {
  size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : response.substr(end + 4);
}

// A masked client frame (RFC 6455 §5.3).
std::string ClientFrame(ws::Opcode opcode, bool fin, std::string_view payload) {
  const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
  uint8_t header[ws::kMaxHeaderSize];
  size_t header_size = ws::EncodeHeader(header, opcode, fin, payload.size(), key);
  std::string frame(reinterpret_cast<char*>(header), header_size);
  std::string masked(payload);
  ws::ApplyMask(reinterpret_cast<uint8_t*>(masked.data()), masked.size(), key);
  return frame + masked;
}

// One unmasked server frame from the front of `in` (small payloads: < 126 bytes).
struct ServerFrame {
  uint8_t first = 0;
  std::string payload;
};
bool TakeFrame(Client& client, ServerFrame* frame) {
  std::string& in = client.buffered();
  if (client.ReadAtLeast(2).size() < 2) return false;
  size_t size = uint8_t(in[1]) & 0x7F;
  if (size >= 126) return false;
  client.ReadAtLeast(2 + size);
  if (in.size() < 2 + size) return false;
  frame->first = uint8_t(in[0]);
  frame->payload = in.substr(2, size);
  in.erase(0, 2 + size);
  return true;
}

// The opening handshake (RFC 6455 §4.1, with §1.3's sample key and its accept value).
bool Upgrade(Client& client) {
  client.Send(
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  std::string handshake = client.ReadResponse();
  return handshake.rfind("HTTP/1.1 101", 0) == 0 &&
         handshake.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != std::string::npos;
}

class DriversTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.host = "127.0.0.1";
    config_.port = FreePort();
    config_.threads = 2;
    config_.workers = 1;
    config_.pin_threads = false;
    config_.max_connections = 64;
    config_.shutdown_timeout_s = 2;
    set_ = std::make_unique<ShardSet>(
        config_, [](Shard& shard) { return std::make_unique<TestApp>(shard); });
    runner_ = std::thread([this] { exit_status_ = set_->Run(); });
    for (int i = 0; i < 500; ++i) {  // Up to 5 s for both shards to listen.
      if (Client(config_.port).connected()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "the shards never listened";
  }
  void TearDown() override {
    pthread_kill(runner_.native_handle(), SIGTERM);  // ShardSet::Run takes it with sigwait.
    runner_.join();
    EXPECT_EQ(exit_status_, 0);
  }

  Config config_;
  std::unique_ptr<ShardSet> set_;
  std::thread runner_;
  int exit_status_ = -1;
};

TEST_F(DriversTest, RequestParsedFromPieces) {
  Client client(config_.port);
  // The head and the body arrive a byte at a time; a second, pipelined request follows whole.
  client.SendInPieces("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  client.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nbye");
  std::string first = client.ReadResponse();
  EXPECT_EQ(first.rfind("HTTP/1.1 200", 0), 0u) << first;
  EXPECT_EQ(Body(first), "hello");
  EXPECT_EQ(Body(client.ReadResponse()), "bye");
}

TEST_F(DriversTest, DeferredAnswerComesBackFromTheOtherShard) {
  for (int i = 0; i < 4; ++i) {  // Connections land on either shard (SO_REUSEPORT).
    Client client(config_.port);
    // A request pipelined behind the deferred one waits for its answer, then is answered.
    client.Send(
        "GET /other-shard HTTP/1.1\r\nHost: x\r\n\r\n"
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok");
    std::string deferred = client.ReadResponse();
    EXPECT_EQ(deferred.rfind("HTTP/1.1 200", 0), 0u) << deferred;
    EXPECT_EQ(Body(deferred).rfind("via shard ", 0), 0u) << deferred;
    EXPECT_EQ(Body(client.ReadResponse()), "ok");
  }
}

TEST_F(DriversTest, StreamedRequestBody) {
  Client client(config_.port);
  std::string body(300 * 1024, '\0');
  uint64_t sum = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    body[i] = char(i * 7);
    sum += uint8_t(body[i]);
  }
  client.Send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
              "\r\n\r\n");
  client.Send(body);
  EXPECT_EQ(Body(client.ReadResponse()), std::to_string(body.size()) + " " + std::to_string(sum));
}

TEST_F(DriversTest, StreamedAnswer) {
  Client client(config_.port);
  client.Send("GET /letters HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string body = Body(client.ReadResponse());
  ASSERT_EQ(body.size(), 200u * 1024);
  for (size_t i = 0; i < body.size(); i += 4099) ASSERT_EQ(body[i], char('a' + i % 26)) << i;
  // The connection is kept alive behind a streamed answer.
  client.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nmore");
  EXPECT_EQ(Body(client.ReadResponse()), "more");
}

TEST_F(DriversTest, WebSocketFragmentedMessageAndCloseHandshake) {
  Client client(config_.port);
  ASSERT_TRUE(Upgrade(client));

  // One text message in three fragments with a ping between them (§5.4: control frames may be
  // injected), each fragment arriving a byte at a time.
  client.SendInPieces(ClientFrame(ws::Opcode::kText, false, "frag"));
  client.Send(ClientFrame(ws::Opcode::kPing, true, "p"));
  client.SendInPieces(ClientFrame(ws::Opcode::kContinuation, false, "men"));
  client.Send(ClientFrame(ws::Opcode::kContinuation, true, "ted"));
  ServerFrame frame;
  ASSERT_TRUE(TakeFrame(client, &frame));
  EXPECT_EQ(frame.first, 0x80 | uint8_t(ws::Opcode::kPong));
  EXPECT_EQ(frame.payload, "p");
  ASSERT_TRUE(TakeFrame(client, &frame));
  EXPECT_EQ(frame.first, 0x80 | uint8_t(ws::Opcode::kText));
  EXPECT_EQ(frame.payload, "fragmented");

  // The client starts the closing handshake: the server echoes its code, then ends the TCP
  // connection (FIN after its close frame).
  uint8_t close_payload[125];
  size_t close_size = ws::EncodeClosePayload(close_payload, 1000, "done");
  client.Send(
      ClientFrame(ws::Opcode::kClose, true, {reinterpret_cast<char*>(close_payload), close_size}));
  ASSERT_TRUE(TakeFrame(client, &frame));
  EXPECT_EQ(frame.first, 0x80 | uint8_t(ws::Opcode::kClose));
  ASSERT_GE(frame.payload.size(), 2u);
  EXPECT_EQ((uint8_t(frame.payload[0]) << 8) | uint8_t(frame.payload[1]), 1000);
  EXPECT_TRUE(client.ReadEof());
}

TEST_F(DriversTest, ProtocolErrorClosesWith1002) {
  Client client(config_.port);
  ASSERT_TRUE(Upgrade(client));
  // A continuation with no message started (§5.4).
  client.Send(ClientFrame(ws::Opcode::kContinuation, true, "x"));
  ServerFrame frame;
  ASSERT_TRUE(TakeFrame(client, &frame));
  EXPECT_EQ(frame.first, 0x80 | uint8_t(ws::Opcode::kClose));
  ASSERT_GE(frame.payload.size(), 2u);
  EXPECT_EQ((uint8_t(frame.payload[0]) << 8) | uint8_t(frame.payload[1]), 1002);
}

}  // namespace
}  // namespace ringcast
