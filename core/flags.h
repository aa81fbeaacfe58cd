// FlagRegistry: the one place where the command line, the RINGCAST_* environment and the
// --config file are read (that precedence: core/config_file.h). Each module declares its
// options struct and a Register…Flags(FlagRegistry&, …Options*) beside it that adds its flags,
// its secret files and its checks; the composition root (server/) calls them all, then Parse.
//
// Module code sees CLI11 only to narrow a flag (->check(CLI::Range(...))): the parsing, the
// layers, --help, --print-config and the exit statuses are this class's.
//
// Main thread only, once, before anything starts. The registry must outlive Parse only: the
// options structs hold the values afterwards.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config_file.h"

namespace ringcast {

class FlagRegistry {
 public:
  // `description` heads --help; `print_version` answers --version.
  FlagRegistry(const std::string& description, std::function<void()> print_version);
  ~FlagRegistry();
  FlagRegistry(const FlagRegistry&) = delete;
  FlagRegistry& operator=(const FlagRegistry&) = delete;

  // `flag` ("--port") taking a value, also read from `env`; a number flag refuses text that is
  // no number before any range check (CLI11's range message would call "abc" too big). The
  // option's default, in --help and --print-config, is *value as it is now.
  // Defined for std::string, uint16_t, uint32_t and uint64_t values.
  template <typename Value>
  CLI::Option* Add(const char* flag, Value* value, const char* env, const std::string& help);
  // An on/off switch: --name and --no-name, `env` true/false; the default is *value.
  CLI::Option* AddSwitch(const char* name, bool* value, const char* env, const std::string& help);
  // A string owned by the registry, for a flag whose text a check turns into the option's
  // value (--trusted-proxies, --web-root); stable for the registry's life.
  std::string* Scratch();

  // A secret that may also be given as a file (--jwt-secret-file): core/config_file.h.
  void AddSecretFile(const SecretFile& secret);
  // Runs after every layer is applied, in the order added, before --print-config: false (with
  // its one-line reason already on stderr) makes Parse return 2. Checks across flags and
  // conversions of a flag's text into its option belong here.
  void AddCheck(std::function<bool()> check);
  // --print-config shows `value()` for `name` (a flag normalized by a check: --web-root's
  // effective folder) instead of the text given.
  void AddEffective(const std::string& name, std::function<std::string()> value);

  // Returns -1 to continue, or an exit status: 0 after --help, --print-config or --version, 2
  // after a bad flag, variable or file entry, an unreadable file or a failed check (its reason
  // on stderr, one line).
  int Parse(int argc, char** argv);

 private:
  std::unique_ptr<CLI::App> app_;
  std::function<void()> print_version_;
  std::string config_file_;
  bool print_config_ = false;
  bool print_version_flag_ = false;
  std::deque<std::string> scratch_;  // A deque: CLI11 holds pointers into it.
  std::vector<SecretFile> secrets_;
  std::vector<std::function<bool()>> checks_;
  std::map<std::string, std::function<std::string()>> effective_;
};

}  // namespace ringcast
