// FlagRegistry: the one place where the command line, the RINGCAST_* environment and the
// --config file are read (that precedence: core/config_file.h). Each module declares its
// options struct and a Register…Flags(FlagRegistry&, …Options*) beside it that adds its flags,
// its secret files and its checks; the composition root (server/) calls them all, then Parse.
// A module's flags are one table of Flag rows, so that what every flag shares (its variable's
// name, the number check, the switch's --no- form) is written here once; Bounded (below) is the
// row of a number flag with its range.
//
// Module code sees CLI11 only to narrow a flag (a row's check: CLI::IsMember(...)): the parsing,
// the layers, --help, --print-config and the exit statuses are this class's.
//
// Main thread only, once, before anything starts. The registry must outlive Parse only: the
// options structs hold the values afterwards.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
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

  // One flag of a module's table. It is read from RINGCAST_<NAME> (upper case, '-' as '_')
  // unless `env` names another variable (README.md, "Flags": --redis is RINGCAST_REDIS_URL). A
  // bool is an on/off switch, --name and --no-name, true/false in its variable; any other value
  // takes an argument, and a number refuses text that is no number before `check` runs
  // (CLI11's range message would call "abc" too big). The default shown by --help and
  // --print-config is the value as it is when the flag is added.
  struct Flag {
    const char* name;  // Without the dashes: "max-upload-bytes".
    std::variant<std::string*, uint16_t*, uint32_t*, uint64_t*, bool*> value;
    std::string help;
    std::optional<CLI::Validator> check = std::nullopt;
    const char* env = nullptr;
  };
  // In the order given, which is --help's and --print-config's.
  void Add(std::initializer_list<Flag> flags);
  CLI::Option* Add(const Flag& flag);
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

// The row most number flags are: `value` held to [low, high]. The range keeps the bounds' own
// type (`uint64_t{1} << 40` where int's is too small), which --help names.
template <typename Value, typename Bound>
FlagRegistry::Flag Bounded(const char* name, Value* value, Bound low, Bound high,
                           std::string help) {
  return {name, value, std::move(help), CLI::Range(low, high)};
}

}  // namespace ringcast
