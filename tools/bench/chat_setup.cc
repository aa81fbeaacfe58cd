#include "tools/bench/chat_setup.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "proto/json_writer.h"
#include "tools/bench/scenario.h"
#include "tools/bench/system_info.h"

namespace ringcast::bench {
namespace {

// One keep-alive HTTP/1.1 connection with blocking I/O.
class HttpClient {
 public:
  HttpClient(const ChatSetupPlan& plan, uint32_t source) : plan_(plan), source_(source) {}
  ~HttpClient() { Close(); }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  bool Post(std::string_view target, std::string_view body, std::string_view token,
            HttpAnswer* answer, std::string* error) {
    std::string request =
        "POST " + std::string(target) + " HTTP/1.1\r\nHost: " + plan_.host_header +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n";
    if (!token.empty()) request += "Authorization: Bearer " + std::string(token) + "\r\n";
    request += "\r\n";
    request += body;
    // A kept-alive connection the server has closed meanwhile fails before any answer byte;
    // only then is the request sent again, on a new connection.
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = fd_ >= 0;
      if (!reused && !Connect(error)) return false;
      bool answered_nothing = false;
      if (Exchange(request, answer, &answered_nothing, error)) return true;
      Close();
      if (!(reused && answered_nothing)) return false;
    }
    return false;
  }

 private:
  bool Connect(std::string* error) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      *error = std::string("socket: ") + strerror(errno);
      return false;
    }
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(plan_.timeout_s);
    tv.tv_usec = static_cast<suseconds_t>((plan_.timeout_s - static_cast<double>(tv.tv_sec)) * 1e6);
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (source_ != 0) {
      setsockopt(fd_, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
      sockaddr_in source{};
      source.sin_family = AF_INET;
      source.sin_addr.s_addr = htonl(source_);
      if (bind(fd_, reinterpret_cast<const sockaddr*>(&source), sizeof(source)) != 0) {
        *error = "bind to " + Ipv4ToString(source_) + ": " + strerror(errno);
        Close();
        return false;
      }
    }
    if (connect(fd_, reinterpret_cast<const sockaddr*>(&plan_.target), sizeof(plan_.target)) != 0) {
      *error = std::string("connect: ") + strerror(errno);
      Close();
      return false;
    }
    return true;
  }

  bool Exchange(const std::string& request, HttpAnswer* answer, bool* answered_nothing,
                std::string* error) {
    for (size_t sent = 0; sent < request.size();) {
      const ssize_t n = send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        *answered_nothing = true;
        *error = std::string("send: ") + strerror(errno);
        return false;
      }
      sent += static_cast<size_t>(n);
    }
    bool got_bytes = !in_.empty();
    while (true) {
      size_t used = 0;
      const HttpParse parsed = ParseHttpAnswer(in_, answer, &used, error);
      if (parsed == HttpParse::kError) return false;
      if (parsed == HttpParse::kOk) {
        in_.erase(0, used);
        if (answer->close) Close();
        return true;
      }
      char buf[16384];
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        *answered_nothing = !got_bytes;
        *error = n == 0 ? "the server closed the connection"
                        : (errno == EAGAIN || errno == EWOULDBLOCK
                               ? "no answer within " + Fixed(plan_.timeout_s, 0) + " s"
                               : std::string("recv: ") + strerror(errno));
        return false;
      }
      got_bytes = true;
      in_.append(buf, static_cast<size_t>(n));
    }
  }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    in_.clear();
  }

  const ChatSetupPlan& plan_;
  const uint32_t source_;
  int fd_ = -1;
  std::string in_;
};

std::string Describe(std::string_view what, const HttpAnswer& answer) {
  std::string out = std::string(what) + ": status " + std::to_string(answer.status);
  std::string reason;
  if (JsonObjectString(answer.body, "error", &reason)) {
    out += " (" + reason + ")";
  } else if (!answer.body.empty()) {
    out += " (" + answer.body.substr(0, 200) + ")";
  }
  if (answer.status == 404) out += "; does the server serve the chat API?";
  if (answer.status == 429) {
    out +=
        "; the server limits registrations and logins per client address and logins per "
        "username: start it with --register-rate-ip, --login-rate-ip (and --login-rate-user) "
        "high for a benchmark";
  }
  return out;
}

// Runs `work(client, index)` for index 0 .. count-1 on plan.threads threads; stops at the first
// failure. Prints a progress line a second unless quiet.
template <typename Work>
bool ForEach(const ChatSetupPlan& plan, uint32_t count, const char* what, Work work,
             std::string* error) {
  std::atomic<uint32_t> next{0};
  std::atomic<uint32_t> done{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::vector<std::thread> threads;
  const uint32_t n = std::max<uint32_t>(1, std::min(plan.threads, count));
  for (uint32_t t = 0; t < n; ++t) {
    const uint32_t source = plan.sources.empty() ? 0 : plan.sources[t % plan.sources.size()];
    threads.emplace_back([&, source] {
      HttpClient client(plan, source);
      std::string reason;
      while (!failed.load(std::memory_order_relaxed)) {
        const uint32_t i = next.fetch_add(1, std::memory_order_relaxed);
        if (i >= count) break;
        if (!work(client, i, &reason)) {
          std::lock_guard lock(mutex);
          if (!failed.exchange(true)) *error = reason;
          break;
        }
        done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  const int64_t start = NowNs();
  int64_t next_line = start + 1'000'000'000;
  while (done.load(std::memory_order_relaxed) < count && !failed.load(std::memory_order_relaxed)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const int64_t now = NowNs();
    if (!plan.quiet && now >= next_line) {
      next_line += 1'000'000'000;
      fprintf(stderr, "[setup %4.0fs] %s: %s / %s\n", static_cast<double>(now - start) / 1e9, what,
              WithCommas(done.load()).c_str(), WithCommas(count).c_str());
    }
  }
  for (std::thread& t : threads) t.join();
  return !failed.load();
}

}  // namespace

bool RunChatSetup(const ChatSetupPlan& plan, ChatSetupResult* result, std::string* error) {
  const ChatLayout& layout = plan.layout;
  result->user_ids.assign(layout.users, 0);
  result->tokens.assign(layout.users, "");
  result->conv_ids.assign(layout.groups, 0);

  int64_t start = NowNs();
  const bool users_ok = ForEach(
      plan, layout.users, "users registered and logged in",
      [&](HttpClient& client, uint32_t i, std::string* reason) {
        const std::string name = plan.prefix + std::to_string(i);
        JsonWriter body;
        body.BeginObject().Field("username", name).Field("password", plan.password).EndObject();
        HttpAnswer answer;
        if (!client.Post("/api/register", body.str(), "", &answer, reason)) {
          *reason = "POST /api/register: " + *reason;
          return false;
        }
        uint64_t id = 0;
        if (answer.status != 201 || !JsonObjectUint(answer.body, "user_id", &id)) {
          *reason = Describe("POST /api/register " + name, answer);
          return false;
        }
        if (!client.Post("/api/login", body.str(), "", &answer, reason)) {
          *reason = "POST /api/login: " + *reason;
          return false;
        }
        uint64_t login_id = 0;
        std::string token;
        if (answer.status != 200 || !JsonObjectString(answer.body, "token", &token) ||
            !JsonObjectUint(answer.body, "user_id", &login_id)) {
          *reason = Describe("POST /api/login " + name, answer);
          return false;
        }
        if (login_id != id) {
          *reason = "login of " + name + " answered user " + std::to_string(login_id) +
                    ", registration " + std::to_string(id);
          return false;
        }
        result->user_ids[i] = id;
        result->tokens[i] = std::move(token);
        return true;
      },
      error);
  if (!users_ok) return false;
  result->users_seconds = static_cast<double>(NowNs() - start) / 1e9;

  start = NowNs();
  const bool groups_ok = ForEach(
      plan, layout.groups, "groups created",
      [&](HttpClient& client, uint32_t g, std::string* reason) {
        JsonWriter body;
        body.BeginObject().Key("members").BeginArray();
        for (uint32_t j = 1; j < layout.group_size; ++j) {
          body.Uint(result->user_ids[layout.Member(g, j)]);
        }
        body.EndArray().Field("name", "bench-" + std::to_string(g)).Field("group", true);
        body.EndObject();
        HttpAnswer answer;
        const std::string& token = result->tokens[layout.Member(g, 0)];
        if (!client.Post("/api/conversations", body.str(), token, &answer, reason)) {
          *reason = "POST /api/conversations: " + *reason;
          return false;
        }
        uint64_t id = 0;
        if ((answer.status != 201 && answer.status != 200) ||
            !JsonObjectUint(answer.body, "id", &id)) {
          *reason = Describe("POST /api/conversations (group " + std::to_string(g) + ")", answer);
          return false;
        }
        result->conv_ids[g] = id;
        return true;
      },
      error);
  if (!groups_ok) return false;
  result->groups_seconds = static_cast<double>(NowNs() - start) / 1e9;
  return true;
}

}  // namespace ringcast::bench
