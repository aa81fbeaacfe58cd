// A scratch directory under /tmp for one test, removed with everything in it when the object
// goes: tests that write files (databases, a web root, images, a server's log) share it rather
// than each pairing mkdtemp with its own clean-up.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace ringcast::testing {

class TempDir {
 public:
  // `prefix` names the directory (/tmp/<prefix>XXXXXX), so that a leftover says whose it is.
  explicit TempDir(std::string_view prefix = "ringcast_test_") {
    std::string pattern = "/tmp/" + std::string(prefix) + "XXXXXX";
    const char* made = mkdtemp(pattern.data());
    path_ = made != nullptr ? made : "";
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }

  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

}  // namespace ringcast::testing
