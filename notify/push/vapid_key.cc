#include "notify/push/vapid_key.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ringcast::notify {
namespace {

// The file's key: nullopt and *present false when there is none.
std::optional<EcKey> ReadKeyFile(const std::filesystem::path& path, bool* present,
                                 std::string* error) {
  std::ifstream in(path);
  *present = bool(in);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  std::optional<EcKey> key = EcKey::FromPrivatePem(text.str());
  if (!key) *error = path.string() + " does not hold a P-256 private key (PEM)";
  return key;
}

}  // namespace

std::optional<EcKey> LoadOrCreateVapidKey(const std::string& data_dir, std::string* error) {
  const std::filesystem::path path = std::filesystem::path(data_dir) / kVapidKeyFile;
  bool present = false;
  if (auto key = ReadKeyFile(path, &present, error); present) return key;
  std::optional<EcKey> key = EcKey::Generate();
  if (!key) {
    *error = "cannot generate a VAPID key";
    return std::nullopt;
  }
  const std::string pem = key->PrivatePem();
  std::filesystem::path temp = path;
  temp += ".tmp";
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && write(fd, pem.data(), pem.size()) == ssize_t(pem.size()) && fsync(fd) == 0;
  if (fd >= 0) close(fd);
  if (!ok || rename(temp.c_str(), path.c_str()) != 0) {
    *error = "cannot write " + path.string() + ": " + std::strerror(errno);
    return std::nullopt;
  }
  return key;
}

std::optional<std::string> VapidKeyCandidate(const std::string& data_dir, std::string* error) {
  bool present = false;
  std::optional<EcKey> key =
      ReadKeyFile(std::filesystem::path(data_dir) / kVapidKeyFile, &present, error);
  if (!present) key = EcKey::Generate();
  if (!key) {
    if (!present) *error = "cannot generate a VAPID key";
    return std::nullopt;
  }
  return key->PrivatePem();
}

}  // namespace ringcast::notify
