#include "server/store_setup.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "core/log.h"
#include "notify/push/vapid_key.h"
#include "storage/store_factory.h"

namespace ringcast::server {
namespace {

constexpr const char* kSecretFile = "jwt-secret";

// The data dir's secret file: nullopt and *present false when there is none.
std::optional<auth::JwtSecret> ReadSecretFile(const std::filesystem::path& path, bool* present) {
  std::ifstream in(path);
  *present = bool(in);
  if (!in) return std::nullopt;
  std::string hex;
  std::getline(in, hex);
  auto secret = auth::JwtSecret::FromHex(hex);
  if (!secret) {
    std::fprintf(stderr, "ringcast: %s does not hold a hex secret of at least 32 bytes\n",
                 path.c_str());
  }
  return secret;
}

std::optional<auth::JwtSecret> GenerateSecret() {
  auto secret = auth::JwtSecret::Generate();
  if (!secret) std::fprintf(stderr, "ringcast: cannot generate a signing secret (RNG failure)\n");
  return secret;
}

std::optional<auth::JwtSecret> SecretFromFlag(const chat::Config& config) {
  auto secret = auth::JwtSecret::FromBytes(
      {reinterpret_cast<const uint8_t*>(config.jwt_secret.data()), config.jwt_secret.size()});
  if (!secret) std::fprintf(stderr, "ringcast: --jwt-secret must be at least 32 bytes\n");
  return secret;
}

// The signing secret on SQLite: the flag, else the data dir's file, else a new one written
// there (0600, atomically) so tokens survive restarts.
std::optional<auth::JwtSecret> LoadOrCreateSecret(const chat::Config& config) {
  if (!config.jwt_secret.empty()) return SecretFromFlag(config);
  std::filesystem::path path = std::filesystem::path(config.data_dir) / kSecretFile;
  bool present = false;
  if (auto secret = ReadSecretFile(path, &present); present) return secret;
  auto secret = GenerateSecret();
  if (!secret) return std::nullopt;
  std::filesystem::path temp = path;
  temp += ".tmp";
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  std::string text = secret->ToHex() + "\n";
  bool ok =
      fd >= 0 && write(fd, text.data(), text.size()) == ssize_t(text.size()) && fsync(fd) == 0;
  if (fd >= 0) close(fd);
  if (!ok || rename(temp.c_str(), path.c_str()) != 0) {
    std::fprintf(stderr, "ringcast: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
    return std::nullopt;
  }
  RC_LOG(kInfo, "generated a token signing secret in %s", path.c_str());
  return secret;
}

void LogStoreLine(bool warning, const std::string& line) {
  if (warning) {
    RC_LOG(kWarn, "%s", line.c_str());
  } else {
    RC_LOG(kInfo, "%s", line.c_str());
  }
}

// What this node proposes to a shared store: its data dir's secret (or a new one) unless
// --jwt-secret is given, and its VAPID key (or a new one).
bool ProposeShared(const chat::Config& config, storage::SharedSettings* settings) {
  if (config.jwt_secret.empty()) {
    bool present = false;
    auto candidate = ReadSecretFile(std::filesystem::path(config.data_dir) / kSecretFile, &present);
    if (!present) candidate = GenerateSecret();
    if (!candidate) return false;
    settings->jwt_secret_hex = candidate->ToHex();
  }
  std::string error;
  std::optional<std::string> vapid = notify::VapidKeyCandidate(config.data_dir, &error);
  if (!vapid) {
    std::fprintf(stderr, "ringcast: %s\n", error.c_str());
    return false;
  }
  settings->vapid_key_pem = std::move(*vapid);
  return true;
}

}  // namespace

std::optional<OpenedStore> OpenStoreWithSecrets(const chat::Config& config) {
  std::error_code dir_error;
  std::filesystem::create_directories(config.data_dir, dir_error);
  if (dir_error || access(config.data_dir.c_str(), W_OK | X_OK) != 0) {
    std::fprintf(stderr, "ringcast: --data-dir %s is not a writable directory: %s\n",
                 config.data_dir.c_str(),
                 dir_error ? dir_error.message().c_str() : std::strerror(errno));
    return std::nullopt;
  }
  storage::SharedSettings settings;
  std::optional<auth::JwtSecret> secret;
  if (storage::IsSharedStore(config)) {
    if (!ProposeShared(config, &settings)) return std::nullopt;
  } else {
    secret = LoadOrCreateSecret(config);
    if (!secret) return std::nullopt;
    std::string error;
    std::optional<notify::EcKey> vapid = notify::LoadOrCreateVapidKey(config.data_dir, &error);
    if (!vapid) {
      std::fprintf(stderr, "ringcast: %s\n", error.c_str());
      return std::nullopt;
    }
    settings.vapid_key_pem = vapid->PrivatePem();
  }
  std::string error;
  storage::StoreOptions options = config;
  // Other nodes commit too: the read replicas cannot go by what this node saw committed.
  options.sole_writer = config.redis_url.empty();
  std::unique_ptr<storage::ChatStore> store =
      storage::OpenStore(options, &settings, &LogStoreLine, &error);
  if (!store) {
    std::fprintf(stderr, "ringcast: %s\n", error.c_str());
    return std::nullopt;
  }
  if (storage::IsSharedStore(config)) {
    secret = settings.jwt_secret_hex.empty() ? SecretFromFlag(config)
                                             : auth::JwtSecret::FromHex(settings.jwt_secret_hex);
    if (!secret) {
      std::fprintf(stderr,
                   "ringcast: the database's server_settings.jwt_secret is not a hex "
                   "secret of at least 32 bytes\n");
      return std::nullopt;
    }
  }
  return OpenedStore{std::move(store), *secret, std::move(settings.vapid_key_pem)};
}

}  // namespace ringcast::server
